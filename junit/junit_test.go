package junit

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Every recorded junit.xml (gotestsum's) reads and writes back byte for byte: a rewrite that
// changes nothing loses nothing.
func TestRoundTrip(t *testing.T) {
	files, err := filepath.Glob("../checklist/testdata/runs/*/junit.xml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, p := range files {
		d, err := Read(p, 64<<20)
		require.NoError(t, err, p)
		require.NotEmpty(t, d.AllCases(), p)
		b, err := d.Encode()
		require.NoError(t, err)
		want, err := os.ReadFile(p)
		require.NoError(t, err)
		if !bytes.Contains(want, []byte("<system-out>")) { // as gotestsum wrote it
			require.Equal(t, string(want), string(b), p)
			continue
		}
		again, err := Parse(p, b)
		require.NoError(t, err)
		require.Equal(t, d, again, p)
	}
}
