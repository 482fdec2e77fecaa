package evidence

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Each finding of VerifySums on its own: one edited, one deleted or one added file, with every
// other file as WriteSums left it. (TestWriteSums_VerifySums checks them all at once.)
func TestVerifySums_OneFinding(t *testing.T) {
	type testCase struct {
		name                       string
		change                     func(t *testing.T, out string)
		mismatched, missing, extra []string
		names                      string // the file the error must name
	}
	run := func(t *testing.T, tc testCase) {
		out := t.TempDir()
		writeFile(t, filepath.Join(out, JUnitFile), "<testsuites/>")
		writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1 loss=0.1\n")
		writeFile(t, filepath.Join(out, CopiesDir, "train", "env.json"), "{}")
		require.NoError(t, WriteSums(out))
		require.NoError(t, VerifySums(out))

		tc.change(t, out)
		err := VerifySums(out)
		require.Error(t, err)
		var se *SumsError
		require.ErrorAs(t, err, &se)
		require.Equal(t, tc.mismatched, se.Mismatched, "mismatched")
		require.Equal(t, tc.missing, se.Missing, "missing")
		require.Equal(t, tc.extra, se.Extra, "extra")
		require.ErrorContains(t, err, tc.names)
	}
	for _, tc := range []testCase{
		{name: "a hash mismatch alone", change: func(t *testing.T, out string) {
			// Same size, one byte changed: only the hash can tell.
			writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1 loss=0.2\n")
		}, mismatched: []string{"logs/04-train.log"}, names: "logs/04-train.log"},
		{name: "a missing file alone", change: func(t *testing.T, out string) {
			require.NoError(t, os.Remove(filepath.Join(out, CopiesDir, "train", "env.json")))
		}, missing: []string{"artifacts/train/env.json"}, names: "artifacts/train/env.json"},
		{name: "an extra file alone", change: func(t *testing.T, out string) {
			writeFile(t, filepath.Join(out, ReportFile), "# report\n")
		}, extra: []string{ReportFile}, names: ReportFile},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}
