package evidence

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTail(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "log")
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	b.WriteString(strings.Repeat("y", 2<<20) + "\n")
	b.WriteString("last \xff\n")
	require.NoError(t, os.WriteFile(p, []byte(b.String()), 0o644))
	got, err := Tail(p, 40)
	require.NoError(t, err)
	lines := strings.Split(got, "\n")
	require.Len(t, lines, 1, "only the last line fits after the 2 MiB line's cut start")
	require.Equal(t, "last \uFFFD", lines[0])

	small := filepath.Join(dir, "small")
	require.NoError(t, os.WriteFile(small, []byte("a\nb\nc\n"), 0o644))
	got, err = Tail(small, 2)
	require.NoError(t, err)
	require.Equal(t, "b\nc", got)

	_, err = Tail(filepath.Join(dir, "nope"), 2)
	require.ErrorContains(t, err, "nope")
}
