package evidence

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Within compares resolved paths: a directory reached through a symlinked parent, or a path
// spelt through one, is where it leads; a path that does not exist yet is resolved as far as
// it exists.
func TestWithin(t *testing.T) {
	real := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(real, "difftrain", "docs"), 0o755))
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(real, link))
	for _, tc := range []struct {
		dir, p, rel string
		inside      bool
	}{
		{filepath.Join(link, "difftrain"), filepath.Join(real, "difftrain", "docs"), "docs", true},
		{filepath.Join(real, "difftrain"), filepath.Join(link, "difftrain", "out", "new"), "out/new", true},
		{filepath.Join(real, "difftrain"), filepath.Join(link, "difftrain"), ".", true},
		{filepath.Join(real, "difftrain"), filepath.Join(link, "difftrain-other"), "", false},
		{filepath.Join(real, "difftrain"), filepath.Join(real, "difftrain", "..", "x"), "", false},
		{filepath.Join(link, "difftrain"), real, "", false},
	} {
		rel, inside := Within(tc.dir, tc.p)
		require.Equal(t, tc.inside, inside, "%s in %s", tc.p, tc.dir)
		require.Equal(t, tc.rel, filepath.ToSlash(rel), "%s in %s", tc.p, tc.dir)
	}
}
