package smoke

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/redact"
)

// Leftover handling (SMOKE_LEFTOVERS): a checkout is usually reused on an instance, and files an
// earlier run left in an output directory would otherwise be checked as if this run wrote them.
const (
	LeftoversStop = "stop" // the default: the run stops before anything runs, naming the directory
	LeftoversMove = "move" // they are moved into SMOKE_OUT/leftovers/ and the run goes on
)

// outputDirs are the output directories whose content the selected steps create, in run order
// (in a node run, the GPUs' workspaces):
// a step's --output-dir, unless the first selected step that uses the directory reads what is
// already there (the resume, or the artifact checks run without the training). Those are checked
// as they are, and the report says so.
func (s *Settings) outputDirs(selected func(step string) bool) []string {
	if s.GPUs != "" {
		// A node run writes only into its GPUs' workspaces, which it creates.
		return []string{s.nodeRoot()}
	}
	var dirs, seen []string
	train, _ := s.Plan.Step("train")
	for _, st := range s.Plan.Steps {
		if st.Skip || !selected(st.Name) {
			continue
		}
		dir, creates := st.Flag("--output-dir"), st.Flag("--resume-from") == ""
		if st.Name == "artifacts" {
			dir, creates = train.Flag("--output-dir"), false
		}
		if dir == "" {
			continue
		}
		dir = s.path(dir)
		if slices.Contains(seen, dir) {
			continue
		}
		seen = append(seen, dir)
		if creates {
			dirs = append(dirs, dir)
		}
	}
	return dirs
}

// path resolves a runbook path such as ./difftrain/_tmp_run against the workspace.
func (s *Settings) path(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(s.Workspace, p)
}

// findLeftovers lists the output directories the selected steps create that already hold
// files. With SMOKE_LEFTOVERS=stop (the default) they are an error, one line that names every
// one; with move, they are moved into SMOKE_OUT/leftovers/ and returned. Moved files are
// evidence: they are redacted with red first (evidence.RedactTree), and a binary one that holds
// a secret is an error, before anything moves. Nothing is ever deleted.
func (s *Settings) findLeftovers(selected func(step string) bool, red *redact.Redactor) ([]evidence.Leftover, error) {
	var found []evidence.Leftover
	var named []string
	for _, dir := range s.outputDirs(selected) {
		files, size, example, err := dirFiles(dir)
		if err != nil {
			return nil, fmt.Errorf("look for leftovers: %w", err)
		}
		if files == 0 {
			continue
		}
		if s.Leftovers != LeftoversMove {
			named = append(named, fmt.Sprintf("%s (%d file(s), e.g. %s)", dir, files, example))
			continue
		}
		if err := evidence.RedactTree(dir, red); err != nil {
			return nil, fmt.Errorf("SMOKE_LEFTOVERS=move: %w", err)
		}
		found = append(found, evidence.Leftover{Dir: dir, Files: files, Bytes: size})
	}
	if len(named) > 0 {
		return nil, fmt.Errorf("leftovers from an earlier run in %s: move them away, or set SMOKE_LEFTOVERS=move to move them into the evidence",
			strings.Join(named, "; "))
	}
	for i, l := range found {
		rel, inside := evidence.Within(s.Workspace, l.Dir)
		if !inside {
			rel = strings.TrimPrefix(filepath.Clean(l.Dir), string(filepath.Separator))
		}
		if err := moveDir(l.Dir, filepath.Join(s.Out, evidence.LeftoversDir, rel)); err != nil {
			return nil, fmt.Errorf("SMOKE_LEFTOVERS=move: %w", err)
		}
		found[i].MovedTo = filepath.Join(evidence.LeftoversDir, rel)
	}
	return found, nil
}

// dirFiles counts the files under dir (a missing dir has none) and names one of them.
func dirFiles(dir string) (n int, size int64, example string, err error) {
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			return nil
		}
		n++
		if example == "" {
			example, _ = filepath.Rel(dir, p)
		}
		if fi, err := d.Info(); err == nil {
			size += fi.Size()
		}
		return nil
	})
	return n, size, example, err
}

// moveDir moves src to dst: a rename, or across file systems a copy of the tree and then the
// removal of src. Symlinks are moved as links, never followed.
func moveDir(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("move %s: %w", src, err)
	}
	err := os.Rename(src, dst)
	if err == nil || !errors.Is(err, syscall.EXDEV) {
		if err != nil {
			return fmt.Errorf("move %s to %s: %w", src, dst, err)
		}
		return nil
	}
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		return fmt.Errorf("move %s to %s: copy: %w", src, dst, err)
	}
	if err := os.RemoveAll(src); err != nil {
		return fmt.Errorf("move %s to %s: remove the original after copying: %w", src, dst, err)
	}
	return nil
}
