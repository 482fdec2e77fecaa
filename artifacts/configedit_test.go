package artifacts

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

const sampleConfig = `# smoke config
train:
  seed: 123
  precision: fp32 # fp32|fp16|bf16
  max_steps: 2
data:
  data_root: data/smoke_text2image   # relative to the workspace
  image_size: 64
`

func TestSetPrecisionKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "smoke.yaml")
	dst := filepath.Join(dir, "_tmp_run", "smoke_fp16.yaml")
	require.NoError(t, os.WriteFile(src, []byte(sampleConfig), 0o644))
	require.NoError(t, SetPrecision(src, dst, "fp16"))
	got, err := os.ReadFile(dst)
	require.NoError(t, err)
	require.Equal(t, strings.Replace(sampleConfig, "precision: fp32", "precision: fp16", 1), string(got))
	p, err := ConfigString(dst, "train.precision")
	require.NoError(t, err)
	require.Equal(t, "fp16", p)
	n, err := ConfigInt(dst, "train.max_steps")
	require.NoError(t, err)
	require.Equal(t, 2, n)
}

func TestConfigErrorsNameFileAndField(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "c.yaml")
	require.NoError(t, os.WriteFile(src, []byte(sampleConfig), 0o644))
	_, err := ConfigString(src, "train.nope")
	require.EqualError(t, err, src+": train.nope: missing")
	_, err = ConfigInt(src, "data.data_root")
	require.EqualError(t, err, src+`: data.data_root: "data/smoke_text2image" is not an integer`)
	_, err = ConfigString(src, "train")
	require.EqualError(t, err, src+": train: not a scalar")
	err = SetPrecision(filepath.Join(dir, "missing.yaml"), filepath.Join(dir, "x.yaml"), "fp16")
	require.ErrorContains(t, err, "missing.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("- a\n- b\n"), 0o644))
	_, err = ConfigString(bad, "train.seed")
	require.EqualError(t, err, "parse "+bad+": not a YAML mapping")
}

func TestSetPrecisionQuotedAndFlow(t *testing.T) {
	dir := t.TempDir()
	run := func(in, want, wantErr string) {
		t.Helper()
		src, dst := filepath.Join(dir, "c.yaml"), filepath.Join(dir, "d.yaml")
		require.NoError(t, os.WriteFile(src, []byte(in), 0o644))
		err := SetPrecision(src, dst, "bf16")
		if wantErr != "" {
			require.ErrorContains(t, err, wantErr)
			return
		}
		require.NoError(t, err)
		got, err := os.ReadFile(dst)
		require.NoError(t, err)
		require.Equal(t, want, string(got))
	}
	run("train:\n  precision: \"fp32\"  # q\n", "train:\n  precision: bf16  # q\n", "")
	run("train: {seed: 1, precision: 'fp32'}\n", "train: {seed: 1, precision: bf16}\n", "")
	run("train:\n  precision: |\n    fp32\n", "", "cannot be edited in place")
	run("data:\n  x: 1\n", "", "train.precision: missing")
}
