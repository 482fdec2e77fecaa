package evidence

import (
	"path/filepath"
	"strings"
)

// Within says whether p is dir or lies inside it, and returns p relative to dir. Both are made
// absolute and their symlinks resolved where they exist (the longest existing prefix of each),
// so that a path spelt through a symlink is where it leads: a checkout reached through a
// symlinked parent, or difftrain's Path.resolve()d paths. It is the one containment check of
// the harness.
func Within(dir, p string) (string, bool) {
	rel, err := filepath.Rel(canonical(dir), canonical(p))
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", false
	}
	return rel, true
}

// canonical makes p absolute and resolves the symlinks of its longest existing prefix.
func canonical(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}
