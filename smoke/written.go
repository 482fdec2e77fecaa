package smoke

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"syscall"
)

// A stamp tells one version of a file from another: a rewrite changes its modification or
// change time (nanoseconds), and a replacement its inode.
type stamp struct {
	size         int64
	mtime, ctime syscall.Timespec
	ino          uint64
}

func stampOf(fi fs.FileInfo) stamp {
	st, _ := fi.Sys().(*syscall.Stat_t)
	if st == nil {
		return stamp{size: fi.Size()}
	}
	return stamp{size: fi.Size(), mtime: st.Mtim, ctime: st.Ctim, ino: st.Ino}
}

// maxSnapshotFiles bounds the files one snapshot records: an output directory holds a handful.
const maxSnapshotFiles = 10000

// snapshot records the files under dir (absolute paths) and their stamps; a missing dir is
// empty. A directory for which skipDir (when not nil) is true, given its path relative to dir,
// is left out.
func snapshot(dir string, skipDir func(rel string, d fs.DirEntry) bool) (map[string]stamp, error) {
	out := map[string]stamp{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == dir {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() {
			if rel, _ := filepath.Rel(dir, p); skipDir != nil && p != dir && skipDir(filepath.ToSlash(rel), d) {
				return fs.SkipDir
			}
			return nil
		}
		if len(out) >= maxSnapshotFiles {
			return fmt.Errorf("more than %d files", maxSnapshotFiles)
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		out[p] = stampOf(fi)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return out, nil
}

// writtenDuring is what a step's command wrote in dir: the files it created or rewrote, with
// their stamps when it ended.
func writtenDuring(before, after map[string]stamp) map[string]stamp {
	out := map[string]stamp{}
	for p, st := range after {
		if old, ok := before[p]; !ok || old != st {
			out[p] = st
		}
	}
	return out
}

// requireWrittenBy fails the section unless each path was written by step's command in this
// run and is unchanged since. When step did not run in this process (a section run alone with
// -run), the files already there are checked, and the section's notes and the report say so.
func (c *Section) requireWrittenBy(step string, paths ...string) {
	c.T.Helper()
	su := c.Suite
	su.mu.Lock()
	written, ran := su.written[step]
	su.mu.Unlock()
	if !ran {
		c.checkedExisting(step, paths...)
		return
	}
	for _, p := range paths {
		st, ok := written[p]
		if !ok {
			c.Fatalf("%s: %s was not written by %s's command in this run", c.Step.ID(), p, step)
		}
		fi, err := os.Stat(p)
		if err != nil {
			c.Fatalf("%s: %s: %v", c.Step.ID(), p, err)
		}
		if stampOf(fi) != st {
			c.Fatalf("%s: %s changed after %s wrote it", c.Step.ID(), p, step)
		}
	}
}

// checkedExisting records that the section checked files that no step of this run wrote.
func (c *Section) checkedExisting(step string, paths ...string) {
	dirs := []string{}
	for _, p := range paths {
		if d := filepath.Dir(p); !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	for _, d := range dirs {
		c.Notef("checked the files already in %s: %s did not run in this run, so they may come from an earlier one", d, step)
	}
	su := c.Suite
	su.mu.Lock()
	defer su.mu.Unlock()
	if !slices.Contains(su.Info.CheckedExisting, c.Step.ID()) {
		su.Info.CheckedExisting = append(su.Info.CheckedExisting, c.Step.ID())
	}
}
