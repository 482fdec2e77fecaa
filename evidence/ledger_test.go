package evidence

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// The ledger names every file that is not as the harness wrote it, and its seal verifies.
func TestLedger(t *testing.T) {
	out := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(out, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(text), 0o644))
	}
	l := NewLedger(out)
	for _, f := range []string{RunFile, "logs/03-validate.log", "gpu_env.json", "logs/04-train.log", "artifacts/04-train/env.json"} {
		write(f, "as the harness wrote "+f)
		require.NoError(t, l.Record(f))
	}
	hw := NewHashWriter(&discard{})
	_, _ = hw.Write([]byte("utc,step\n"))
	sum, size := hw.Sum()
	l.RecordHash(filepath.Join(out, TelemetryFile), sum, size)
	write(TelemetryFile, "utc,step\n")
	write(JUnitFile, "gotestsum's") // written by others, left out
	write(LockFile, "123")          // unsealed

	f, err := l.Check(JUnitFile, JSONFile)
	require.NoError(t, err)
	require.True(t, f.OK(), f.String())

	write("planted.txt", "hf_xxx")                                                   // a file the harness never wrote
	write("logs/03-validate.log", "a replaced log, longer than before")              // changed, size differs
	write("gpu_env.json", "as the harness wrote gpu_env.jsoX")                       // changed, same size
	require.NoError(t, os.Remove(filepath.Join(out, "artifacts/04-train/env.json"))) // removed
	f, err = l.Seal(JUnitFile, JSONFile)
	require.NoError(t, err)
	require.Equal(t, []string{"planted.txt"}, f.Foreign)
	require.Equal(t, []string{"gpu_env.json", "logs/03-validate.log"}, f.Changed)
	require.Equal(t, []string{"artifacts/04-train/env.json"}, f.Removed)
	require.Equal(t, "planted.txt not written by the harness; gpu_env.json, logs/03-validate.log changed after the harness wrote it; "+
		"artifacts/04-train/env.json removed after the harness wrote it", f.String())

	// The seal covers what is on disk but others' files, so that the evidence stays verifiable
	// (the findings fail the run); the renderer adds the rest.
	err = VerifySums(out)
	var se *SumsError
	require.ErrorAs(t, err, &se)
	require.Equal(t, []string{JUnitFile}, se.Extra)
	require.NoError(t, Reseal(out, JUnitFile, JSONFile))
	require.NoError(t, VerifySums(out))
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
