package smoke

import (
	"fmt"
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
	err          error
}

func readGit(dir string) gitState {
	var g gitState
	run := func(args ...string) string {
		if g.err != nil {
			return ""
		}
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
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
	for _, line := range strings.Split(status, "\n") {
		switch {
		case line == "":
		case strings.HasPrefix(line, "?? "):
			g.untracked = append(g.untracked, line[3:])
		default:
			g.tracked = append(g.tracked, line)
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
		c.Notef("tracked files not checked: %v", base.err)
		return
	}
	now := readGit(su.Settings.DifftrainDir)
	rule := fmt.Sprintf("%s left the checkout's tracked files and HEAD unchanged", c.Step.ID())
	var problems []string
	if now.err != nil {
		problems = append(problems, now.err.Error())
	} else {
		if now.head != base.head {
			problems = append(problems, fmt.Sprintf("HEAD moved from %s to %s", short(base.head), short(now.head)))
		}
		for _, l := range now.tracked {
			if !slices.Contains(base.tracked, l) {
				problems = append(problems, strings.TrimSpace(l))
			}
		}
	}
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

// declaredDirs are the directories inside the checkout that the plan's commands write to
// (their --output-dir, which also holds the AMP sections' temporary configs), relative to it.
func (su *Suite) declaredDirs() []string {
	var dirs []string
	for _, st := range su.Settings.Plan.Steps {
		v := st.Flag("--output-dir")
		if v == "" {
			continue
		}
		if !filepath.IsAbs(v) {
			v = filepath.Join(su.Settings.Workspace, v)
		}
		rel, err := filepath.Rel(su.Settings.DifftrainDir, v)
		if rel = filepath.ToSlash(rel); err == nil && rel != "." && !strings.HasPrefix(rel, "..") && !slices.Contains(dirs, rel) {
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
