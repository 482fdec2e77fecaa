package evidence

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// CheckSealed refuses a directory changed since it was sealed, and a seal it cannot read: a
// SHA256SUMS with a malformed line proves nothing, so the directory is not taken as sealed.
func TestCheckSealed(t *testing.T) {
	for _, tc := range []struct {
		name    string
		change  func(t *testing.T, out string)
		wantErr string // "" for accepted; @S is SHA256SUMS's path
	}{
		{name: "unchanged", change: func(*testing.T, string) {}},
		{name: "a document rendered again", change: func(t *testing.T, out string) {
			writeFile(t, filepath.Join(out, ReportFile), "# report, rendered again\n")
		}},
		{name: "a log changed", change: func(t *testing.T, out string) {
			writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1 loss=0.2\n")
		}, wantErr: "logs/04-train.log changed since the run sealed it"},
		{name: "a malformed line added", change: func(t *testing.T, out string) {
			f, err := os.OpenFile(filepath.Join(out, SumsFile), os.O_APPEND|os.O_WRONLY, 0)
			require.NoError(t, err)
			_, err = f.WriteString("not-a-sha256  logs/forged.log\n")
			require.NoError(t, err)
			require.NoError(t, f.Close())
		}, wantErr: `@S: line 3: want "<sha256>  <path>"`},
		{name: "a line cut short", change: func(t *testing.T, out string) {
			p := filepath.Join(out, SumsFile)
			b := readFile(t, p)
			writeFile(t, p, b[:len(b)-20])
		}, wantErr: "@S: line 2: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := t.TempDir()
			writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1 loss=0.1\n")
			writeFile(t, filepath.Join(out, CopiesDir, "train", "env.json"), "{}")
			require.NoError(t, WriteSums(out))
			require.NoError(t, CheckSealed(out))

			tc.change(t, out)
			err := CheckSealed(out)
			if tc.wantErr == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err, "the directory must not be taken as sealed")
			require.Contains(t, err.Error(), strings.ReplaceAll(tc.wantErr, "@S", filepath.Join(out, SumsFile)))
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// A directory never sealed has nothing to check.
func TestCheckSealed_NeverSealed(t *testing.T) {
	out := t.TempDir()
	writeFile(t, filepath.Join(out, LogsDir, "04-train.log"), "step=1\n")
	require.NoError(t, CheckSealed(out))
}
