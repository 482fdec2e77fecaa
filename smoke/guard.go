package smoke

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// gitState is the checkout's HEAD and `git status --porcelain` at one moment.
type gitState struct {
	head, branch string
	tracked      []string // porcelain lines for tracked files that differ from HEAD
	untracked    []string // paths git neither tracks nor ignores
	// dirty holds the sha256 of each tracked file that differs from HEAD ("" when it is
	// gone): a step that edits an already-modified file again changes no status line.
	dirty map[string]string
	err   error
}

func readGit(dir string) gitState {
	var g gitState
	run := func(args ...string) string {
		if g.err != nil {
			return ""
		}
		// The checkout's own config must not blind git to a rewrite that keeps the size and
		// the modification time: git then compares the change time and the inode too.
		cmd := exec.Command("git", append([]string{"-c", "core.trustctime=true", "-c", "core.checkStat=default"}, args...)...)
		cmd.Dir = dir
		// git status refreshes the checkout's .git/index as a side effect: not here.
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		if err != nil {
			msg := err.Error()
			if ee, ok := err.(*exec.ExitError); ok {
				msg = strings.TrimSpace(string(ee.Stderr))
			}
			g.err = fmt.Errorf("git %s in %s: %s", args[0], dir, msg)
		}
		return strings.TrimRight(string(out), "\n")
	}
	g.head = run("rev-parse", "HEAD")
	g.branch = run("rev-parse", "--abbrev-ref", "HEAD")
	status := run("status", "--porcelain", "--untracked-files=all")
	g.dirty = map[string]string{}
	for _, line := range strings.Split(status, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "?? "):
			g.untracked = append(g.untracked, line[3:])
		default:
			g.tracked = append(g.tracked, line)
			if len(line) > 3 {
				path := line[3:]
				if _, to, renamed := strings.Cut(path, " -> "); renamed {
					path = to
				}
				sum, _, _ := evidence.HashFile(filepath.Join(dir, path))
				g.dirty[path] = sum
			}
		}
	}
	return g
}

func (g gitState) info() evidence.GitInfo {
	if g.err != nil {
		return evidence.GitInfo{Error: g.err.Error()}
	}
	status := strings.Join(append(slices.Clone(g.tracked), prefixed("?? ", g.untracked)...), "\n")
	return evidence.GitInfo{IsRepo: true, Commit: g.head, Branch: g.branch,
		Clean: len(g.tracked) == 0 && len(g.untracked) == 0, Status: status}
}

func prefixed(p string, xs []string) []string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = p + x
	}
	return out
}

// guardTracked fails the section if the step changed HEAD or a tracked file of the checkout
// (runbook: "Do not modify tracked files"), and records new untracked files for the report.
func (c *Section) guardTracked() {
	c.T.Helper()
	su := c.Suite
	base := su.baseGit
	if base.err != nil {
		c.guardFiles()
		return
	}
	now := readGit(su.Settings.DifftrainDir)
	rule := fmt.Sprintf("%s left the checkout's tracked files and HEAD unchanged", c.Step.ID())
	problems := trackedChanges(base, now)
	declared := su.declaredDirs()
	su.mu.Lock()
	for _, u := range now.untracked {
		if slices.ContainsFunc(declared, func(d string) bool { return u == d || strings.HasPrefix(u, d+"/") }) {
			continue
		}
		if !slices.Contains(base.untracked, u) && !slices.Contains(su.Info.Untracked, u) {
			su.Info.Untracked = append(su.Info.Untracked, u)
		}
	}
	su.mu.Unlock()
	su.guard(rule, len(problems) == 0, strings.Join(problems, ", "))
	if len(problems) > 0 {
		c.Fatalf("%s modified the difftrain checkout (runbook: do not modify tracked files): %s", c.Step.ID(), strings.Join(problems, ", "))
	}
}

// trackedChanges are the ways the checkout's HEAD and tracked files differ from base.
func trackedChanges(base, now gitState) []string {
	if now.err != nil {
		return []string{now.err.Error()}
	}
	var problems []string
	if now.head != base.head {
		problems = append(problems, fmt.Sprintf("HEAD moved from %s to %s", short(base.head), short(now.head)))
	}
	for _, l := range now.tracked {
		if !slices.Contains(base.tracked, l) {
			problems = append(problems, strings.TrimSpace(l))
		}
	}
	for path, sum := range now.dirty {
		if before, ok := base.dirty[path]; ok && before != sum {
			problems = append(problems, path+" changed again (it was already modified before the run)")
		}
	}
	return problems
}

// declaredDirs are the directories inside the checkout that the plan's commands write to
// (their --output-dir, which also holds the AMP sections' temporary configs, and the pytest
// lanes' LaneTempRoot), relative to it.
func (su *Suite) declaredDirs() []string {
	var dirs []string
	for _, st := range su.Settings.Plan.Steps {
		v := st.Flag("--output-dir")
		if isLane(st) {
			v = LaneTempRoot
		}
		if v == "" {
			continue
		}
		rel, inside := evidence.Within(su.Settings.DifftrainDir, su.Settings.path(v))
		if rel = filepath.ToSlash(rel); inside && rel != "." && !slices.Contains(dirs, rel) {
			dirs = append(dirs, rel)
		}
	}
	return dirs
}

// guard records a guardrail the suite checked, for the report.
func (su *Suite) guard(rule string, ok bool, detail string) {
	su.mu.Lock()
	defer su.mu.Unlock()
	su.Info.Guardrails = append(su.Info.Guardrails, evidence.Guardrail{Rule: rule, OK: ok, Detail: detail})
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}

// fileStamps records every file of a checkout that is not a git repository (absolute path →
// stamp). The plan's output directories and Python's caches are left out.
func (su *Suite) fileStamps() (map[string]stamp, error) {
	skip := su.declaredDirs()
	return snapshot(su.Settings.DifftrainDir, func(rel string, d os.DirEntry) bool {
		return d.Name() == "__pycache__" || slices.Contains(skip, rel)
	})
}

// guardFiles is guardTracked for a checkout that is not a git repository: every file's stamp
// (size, times, inode) before the run and after the step; a changed, new or gone file outside
// the plan's output directories fails the step.
func (c *Section) guardFiles() {
	c.T.Helper()
	su := c.Suite
	now, err := su.fileStamps()
	rule := fmt.Sprintf("%s left the checkout's files unchanged (no git: every file compared)", c.Step.ID())
	var problems []string
	if err != nil {
		problems = append(problems, err.Error())
	} else {
		rel := func(p string) string {
			r, _ := filepath.Rel(su.Settings.DifftrainDir, p)
			return filepath.ToSlash(r)
		}
		for p, st := range now {
			if old, ok := su.baseFiles[p]; !ok {
				problems = append(problems, rel(p)+" (new)")
			} else if old != st {
				problems = append(problems, rel(p)+" (changed)")
			}
		}
		for p := range su.baseFiles {
			if _, ok := now[p]; !ok {
				problems = append(problems, rel(p)+" (gone)")
			}
		}
	}
	slices.Sort(problems)
	su.guard(rule, len(problems) == 0, strings.Join(problems, ", "))
	if len(problems) > 0 {
		c.Fatalf("%s modified the difftrain checkout (runbook: do not modify tracked files; not a git repository, so every file was compared): %s",
			c.Step.ID(), strings.Join(problems, ", "))
	}
}
