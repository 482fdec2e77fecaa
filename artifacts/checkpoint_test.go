package artifacts

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/internal/testenv"
)

// resolvedFor is the recorded resolved config with train.precision set, as each
// checkpoint's config records it.
func resolvedFor(t testing.TB, precision string) map[string]any {
	cfg, err := ReadYAMLConfig(filepath.Join(input, "run", "config.resolved.yaml"))
	require.NoError(t, err)
	cfg["train"].(map[string]any)["precision"] = precision
	return cfg
}

// testGoodCheckpoints reads the good checkpoints under dir (recorded or freshly generated).
func testGoodCheckpoints(t *testing.T, dir string) {
	type testCase struct {
		path      string
		step      int
		precision string
		top       string
		scaler    bool
		dtypes    []string
		storages  int
	}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(dir, tc.path)
		ck, err := CheckCheckpoint(path, tc.step, tc.precision, resolvedFor(t, tc.precision))
		require.NoError(t, err)
		require.Equal(t, tc.top, ck.Top)
		require.Equal(t, tc.step, ck.GlobalStep)
		require.Equal(t, tc.scaler, ck.HasScaler)
		require.Equal(t, tc.dtypes, ck.DTypes())
		require.Len(t, ck.Storages, tc.storages)
		require.Equal(t, []string{"global_step", "unet", "optimizer", "precision", "scaler", "config"}, ck.Keys)
		for _, s := range ck.Storages {
			require.Equal(t, "cpu", s.Device)
			require.Positive(t, s.Bytes)
		}
		if tc.top != "archive" {
			require.Empty(t, ck.Notes)
		}
	}
	// 2 conv + 2 group-norm tensors, and AdamW's step, exp_avg, exp_avg_sq for each.
	const unetAndAdam = 4 + 4*3
	for _, tc := range []testCase{
		{"good/fp32/checkpoint-1.pt", 1, "fp32", "checkpoint-1", false, []string{"float32"}, unetAndAdam},
		{"good/fp32/checkpoint-2.pt", 2, "fp32", "checkpoint-2", false, []string{"float32"}, unetAndAdam},
		{"good/fp16/checkpoint-2.pt", 2, "fp16", "checkpoint-2", true, []string{"float32"}, unetAndAdam},
		{"good/bf16/checkpoint-2.pt", 2, "bf16", "checkpoint-2", false, []string{"float32"}, unetAndAdam},
		{"good/archive/checkpoint-1.pt", 1, "fp32", "archive", false, []string{"float32"}, unetAndAdam},
		{"good/dtypes/checkpoint-1.pt", 1, "fp32", "checkpoint-1", false,
			[]string{"bfloat16", "bool", "complex64", "float16", "float32", "float64", "int16", "int32", "int64", "int8", "uint8"}, 10 + 1 + unetAndAdam - 4},
		// cube (and its views), broadcast, half (and its view), copy.
		{"good/views/checkpoint-1.pt", 1, "fp32", "checkpoint-1", false, []string{"bfloat16", "float32"}, 4 + unetAndAdam - 4},
	} {
		t.Run(tc.path, func(t *testing.T) { run(t, tc) })
	}
}

// testBrokenCheckpoints checks that each broken checkpoint under dir fails with an error
// naming the file and the field.
func testBrokenCheckpoints(t *testing.T, dir string) {
	type testCase struct {
		name    string
		wantErr string // after "<path>: "
	}
	run := func(t *testing.T, tc testCase) {
		path := filepath.Join(dir, "broken", tc.name, "checkpoint-1.pt")
		_, err := CheckCheckpoint(path, 1, "fp32", resolvedFor(t, "fp32"))
		require.Error(t, err)
		require.True(t, strings.HasPrefix(err.Error(), path+": "), err.Error())
		require.Contains(t, err.Error(), tc.wantErr)
		require.NotContains(t, err.Error(), "\n")
	}
	for _, tc := range []testCase{
		{"truncated", "not a torch zip archive"},
		{"empty", "not a torch zip archive"},
		{"legacy", "legacy (pre-1.6, _use_new_zipfile_serialization=False) torch.save file"},
		{"notdict", "checkpoint-1/data.pkl: payload: want a dict, got list"},
		{"badpickle", "checkpoint-1/data.pkl: pickle ends at byte"},
		{"nodatapkl", "checkpoint-1/data.pkl: missing"},
		{"twotops", `entry "other/version": a second top folder besides "checkpoint-1"`},
		{"missingdata", "checkpoint-1/data/0: missing (storage FloatStorage of 4 elements)"},
		{"shortdata", "checkpoint-1/data/0: 12 bytes, want 16 (4 float32 elements)"},
		{"nostep", "global_step: missing"},
		{"steptype", `global_step: want a non-negative int, got string "1"`},
		{"wrongstep", "global_step: 2, want 1"},
		{"wrongprecision", `precision: "bf16", want "fp32"`},
		{"fp32scaler", "scaler: a dict of 5 keys, want None for fp32"},
		{"configmismatch", "config.train.seed: got 999, want 123 (compared with the resolved config)"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
	t.Run("noscaler", func(t *testing.T) {
		path := filepath.Join(dir, "broken", "noscaler", "checkpoint-1.pt")
		_, err := CheckCheckpoint(path, 1, "fp16", resolvedFor(t, "fp16"))
		require.EqualError(t, err, path+": scaler: None, want GradScaler state for fp16")
	})
}

func TestCheckCheckpoint_Recorded(t *testing.T) {
	testGoodCheckpoints(t, filepath.Join(input, "checkpoints"))
}

func TestCheckCheckpoint_RecordedBroken(t *testing.T) {
	testBrokenCheckpoints(t, filepath.Join(input, "checkpoints"))
}

func TestReadCheckpoint_Storages(t *testing.T) {
	ck, err := ReadCheckpoint(filepath.Join(input, "checkpoints", "good", "fp16", "checkpoint-2.pt"))
	require.NoError(t, err)
	// 0.weight of Conv2d(2, 2, 1): 2x2x1x1 float32.
	require.Equal(t, Storage{Key: "0", Type: "FloatStorage", DType: "float32", Device: "cpu", Numel: 4, Bytes: 16}, ck.Storages[0])
	require.Equal(t, map[string]any{"scale": 65536.0, "growth_factor": 2.0, "backoff_factor": 0.5, "growth_interval": 2000, "_growth_tracker": 2}, ck.Scaler)
	require.EqualValues(t, 16, ck.Tensors)
	require.Equal(t, "fp16", ck.Config["train"].(map[string]any)["precision"])

	ck, err = ReadCheckpoint(filepath.Join(input, "checkpoints", "good", "archive", "checkpoint-1.pt"))
	require.NoError(t, err)
	require.Equal(t, []string{`top folder "archive" is not the file's stem "checkpoint-1"`}, ck.Notes)

	// A transposed view and a row share the storage of "base"; the view's bounds are checked.
	ck, err = ReadCheckpoint(filepath.Join(input, "checkpoints", "good", "dtypes", "checkpoint-1.pt"))
	require.NoError(t, err)
	require.Equal(t, len(ck.Storages)+2, ck.Tensors)
}

func TestCheckCheckpoint_NameAndStep(t *testing.T) {
	path := filepath.Join(input, "checkpoints", "good", "fp32", "checkpoint-2.pt")
	_, err := CheckCheckpoint(path, 1, "fp32", nil)
	require.EqualError(t, err, path+": file name says step 2, want checkpoint-1.pt")
	_, err = ReadCheckpoint(filepath.Join(input, "checkpoints", "good"))
	require.ErrorContains(t, err, "is a directory")
	_, err = ReadCheckpoint(filepath.Join(input, "checkpoints", "nope.pt"))
	require.ErrorContains(t, err, "nope.pt")
}

// pickleCases are data.pkl payloads written by Python's pickle (see gen_fixtures.py) that a
// hostile or broken checkpoint could hold.
func TestDecodePayload_Hostile(t *testing.T) {
	type testCase struct {
		file    string
		wantErr string
	}
	run := func(t *testing.T, tc testCase) {
		data, err := os.ReadFile(filepath.Join(input, "pickles", tc.file))
		require.NoError(t, err)
		_, err = DecodePayload(data)
		require.ErrorContains(t, err, tc.wantErr)
	}
	for _, tc := range []testCase{
		{"cyclic_list.pkl", "config: nested deeper than 100"},
		{"cyclic_dict.pkl", "config: nested deeper than 100"},
		{"laughs.pkl", "config: more than 1000000 values"},
		{"huge_bytes.pkl", "pickle: opcode 0x42 at byte 2: 2147483647 bytes, only 0 follow"},
		{"huge_frame.pkl", "pickle: FRAME at byte 2: 1099511627776 bytes"},
		{"long_int.pkl", "pickle: long integer of 2000 bytes"},
		{"no_stop.pkl", "without STOP"},
		{"bad_opcode.pkl", "unknown opcode 0xff"},
		{"tensor_out_of_bounds.pkl", "reaches element 4 of storage 0, which has 4"},
		{"storage_conflict.pkl", "storage 0: referenced as FloatStorage[4] on cpu and as HalfStorage[4] on cpu"},
		{"bad_persistent_id.pkl", "persistent id: kind \"module\", want 'storage'"},
		{"storage_key_path.pkl", "storage key \"../x\" is not a plain name"},
		{"odd_dict.pkl", "malformed pickle: "},
	} {
		t.Run(tc.file, func(t *testing.T) { run(t, tc) })
	}
}

func TestDecodePayload_UnknownGlobals(t *testing.T) {
	// A payload whose config calls os.system: nothing runs, the call is kept by name.
	data, err := os.ReadFile(filepath.Join(input, "pickles", "os_system.pkl"))
	require.NoError(t, err)
	p, err := DecodePayload(data)
	require.NoError(t, err)
	obj, ok := p.Dict["config"].(*Object)
	require.True(t, ok, "%T", p.Dict["config"])
	require.Equal(t, "posix.system", obj.Class)
	require.Equal(t, []any{"echo pwned"}, obj.Args)
}

// pythonWith returns an interpreter that imports the modules (comma-separated): $SMOKE_PYTHON,
// /usr/bin/python3 or python3 on PATH, the first that does. It runs with testenv.Clean, as every
// Python of these tests must: the user's PYTHONPATH, PYTHONHOME or PIP_* change nothing.
func pythonWith(t *testing.T, modules string) string {
	t.Helper()
	var candidates []string
	if p := os.Getenv("SMOKE_PYTHON"); p != "" {
		candidates = append(candidates, p)
	}
	candidates = append(candidates, "/usr/bin/python3", "python3")
	for _, p := range candidates {
		if pythonCmd(p, "-c", "import "+modules).Run() == nil {
			return p
		}
	}
	t.Skipf("no python that imports %s among %v: install python3-torch, python3-yaml and python3-pytest (Debian)", modules, candidates)
	return ""
}

// pythonCmd is the command py args, with testenv.Clean's environment.
func pythonCmd(py string, args ...string) *exec.Cmd {
	cmd := exec.Command(py, args...)
	cmd.Env = testenv.Clean()
	return cmd
}

// TestCheckCheckpoint_FreshTorch writes every fixture again with this machine's torch.save and
// runs the same checks on them.
func TestCheckCheckpoint_FreshTorch(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips running torch")
	}
	py := pythonWith(t, "torch, yaml")
	out := t.TempDir()
	cmd := pythonCmd(py, filepath.Join("testdata", "gen_fixtures.py"), "--out", out)
	got, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", got)
	t.Run("good", func(t *testing.T) { testGoodCheckpoints(t, filepath.Join(out, "checkpoints")) })
	t.Run("broken", func(t *testing.T) { testBrokenCheckpoints(t, filepath.Join(out, "checkpoints")) })
	t.Run("digests", func(t *testing.T) { testDigests(t, filepath.Join(out, "checkpoints")) })
}

// FuzzReadCheckpoint reads arbitrary bytes as a checkpoint file: no panic, one-line errors,
// and a checkpoint it accepts is consistent.
func FuzzReadCheckpoint(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		ck, err := ReadCheckpointFrom("checkpoint-1.pt", bytes.NewReader(data), int64(len(data)))
		if err != nil {
			require.NotContains(t, err.Error(), "\n")
			return
		}
		for _, s := range ck.Storages {
			require.GreaterOrEqual(t, s.Bytes, int64(0))
		}
	})
}

// FuzzDecodePayload runs arbitrary bytes as data.pkl, where a zip's CRC does not stop the
// mutations before the pickle machine.
func FuzzDecodePayload(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := DecodePayload(data)
		if err != nil {
			require.NotContains(t, err.Error(), "\n")
			return
		}
		require.NotNil(t, p.Dict)
	})
}
