package gpuenv

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/internal/testenv"
)

// fakePython copies testdata/python/<script> into a temporary directory as an executable
// "python3", with the canned probe result next to it: a file from testdata/python, or a Python
// value marshalled to JSON. It returns the interpreter's path.
func fakePython(t *testing.T, script string, result any) string {
	t.Helper()
	dir := t.TempDir()
	b, err := os.ReadFile(filepath.Join("testdata", "python", script))
	require.NoError(t, err)
	path := filepath.Join(dir, "python3")
	require.NoError(t, os.WriteFile(path, b, 0o755))
	var js []byte
	switch r := result.(type) {
	case nil:
		return path
	case string:
		js, err = os.ReadFile(filepath.Join("testdata", "python", r))
	default:
		js, err = json.Marshal(r)
	}
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "probe.json"), js, 0o644))
	return path
}

func TestProbeReadsTheCannedStack(t *testing.T) {
	py := fakePython(t, "fake.sh", "rtx4090.json")
	p, err := probePython(context.Background(), Options{Python: py})
	require.NoError(t, err)
	require.Equal(t, Python{
		Interpreter: py,
		Executable:  "/opt/venv/bin/python3",
		Version:     "3.11.9",
		Torch: Torch{
			Version:       "2.5.1+cu124",
			CUDA:          "12.4",
			CuDNN:         "90100",
			CUDAAvailable: true,
			Devices:       []string{"NVIDIA GeForce RTX 4090"},
			BF16Supported: true,
		},
		Packages: map[string]string{
			"diffusers":    "0.31.0",
			"transformers": "4.46.3",
			"datasets":     "3.1.0",
			"torchvision":  "0.20.1+cu124",
			"accelerate":   "1.1.1",
			"numpy":        "1.26.4",
			"Pillow":       "11.0.0",
		},
	}, p)
}

func TestProbeMissingPackagesReadNotInstalled(t *testing.T) {
	py := fakePython(t, "fake.sh", "missing.json")
	p, err := probePython(context.Background(), Options{Python: py})
	require.NoError(t, err)
	require.Empty(t, p.Error)
	require.Equal(t, NotInstalled, p.Torch.Version)
	require.Equal(t, map[string]string{
		"diffusers":    NotInstalled,
		"transformers": NotInstalled, // absent from the output
		"datasets":     NotInstalled,
		"torchvision":  NotInstalled,
		"accelerate":   NotInstalled,
		"numpy":        "2.1.3",
		"Pillow":       NotInstalled,
	}, p.Packages)
}

func TestProbeRunsInDirWithEnv(t *testing.T) {
	dir := t.TempDir()
	script := "#!/bin/sh\nprintf 'GPUENV_PROBE {\"version\": \"%s|%s\"}\\n' \"$(pwd)\" \"$PROBE_TEST_VAR\"\n"
	py := filepath.Join(t.TempDir(), "python3")
	require.NoError(t, os.WriteFile(py, []byte(script), 0o755))
	p, err := probePython(context.Background(), Options{Python: py, Dir: dir, Env: []string{"PROBE_TEST_VAR=set"}})
	require.NoError(t, err)
	require.Equal(t, dir+"|set", p.Version)
}

func TestProbeBrokenInterpreters(t *testing.T) {
	type testCase struct {
		name    string
		python  func(t *testing.T) string
		timeout time.Duration
		want    string // the error after "probe python <path>: "
	}
	run := func(t *testing.T, tc testCase) {
		py := tc.python(t)
		start := time.Now()
		p, err := probePython(context.Background(), Options{Python: py, Timeout: tc.timeout})
		require.Error(t, err)
		require.Equal(t, "probe python "+py+": "+tc.want, err.Error())
		require.Equal(t, err.Error(), p.Error, "the facts keep the error")
		require.Equal(t, py, p.Interpreter)
		if tc.timeout > 0 {
			// The process group is killed: the sleeping child does not hold the pipes open (it
			// would for 30 s). The slack is for a busy machine.
			require.Less(t, time.Since(start), tc.timeout+5*time.Second)
		}
	}
	for _, tc := range []testCase{
		{
			name:   "missing shared library",
			python: func(t *testing.T) string { return fakePython(t, "broken.sh", nil) },
			want:   "exit status 127: python3: error while loading shared libraries: libpython3.11.so.1.0: cannot open shared object file: No such file or directory",
		},
		{
			name:   "no such file",
			python: func(t *testing.T) string { return filepath.Join(t.TempDir(), "venv", "bin", "python3") },
			want:   "fork/exec {py}: no such file or directory",
		},
		{
			name:   "not python",
			python: func(t *testing.T) string { return fakePython(t, "garbage.sh", nil) },
			want:   `no "GPUENV_PROBE" line in its output: Hello from a wrapper script`,
		},
		{
			name:    "hangs",
			python:  func(t *testing.T) string { return fakePython(t, "hang.sh", nil) },
			timeout: 300 * time.Millisecond,
			want:    "timed out after 300ms",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.want, "{py}") {
				py := tc.python(t)
				tc.want = strings.ReplaceAll(tc.want, "{py}", py)
				tc.python = func(*testing.T) string { return py }
			}
			run(t, tc)
		})
	}
}

// The real probe script, under the real interpreters of this machine.
func TestProbeRealInterpreter(t *testing.T) {
	for _, py := range []string{"python3", "/usr/bin/python3"} {
		t.Run(py, func(t *testing.T) {
			path, err := exec.LookPath(py)
			if err != nil {
				t.Skipf("%s not found", py)
			}
			// The user's PYTHONPATH or PYTHONHOME must not decide what either sees.
			py := func(code string) ([]byte, error) {
				cmd := exec.Command(path, "-c", code)
				cmd.Env = testenv.Clean()
				return cmd.Output()
			}
			out, err := py("import platform; print(platform.python_version())")
			require.NoError(t, err)
			p, err := probePython(context.Background(), Options{Python: path, Env: testenv.Clean()})
			require.NoError(t, err)
			require.Equal(t, strings.TrimSpace(string(out)), p.Version)
			require.Len(t, p.Packages, len(probePackages))

			torch, err := py("import torch; print(torch.__version__); print(torch.version.cuda)")
			if err != nil {
				require.Equal(t, NotInstalled, p.Torch.Version)
				return
			}
			lines := strings.Split(strings.TrimSpace(string(torch)), "\n")
			require.Equal(t, lines[0], p.Torch.Version)
			if lines[1] == "None" {
				require.Empty(t, p.Torch.CUDA, "a CPU-only build")
			} else {
				require.Equal(t, lines[1], p.Torch.CUDA)
			}
		})
	}
}

// A probe whose interpreter prints without end (a chatty sitecustomize) is cut at
// maxProbeOutput: an error that says so, and the suite's memory stays bounded.
func TestProbeOutputIsBounded(t *testing.T) {
	py := filepath.Join(t.TempDir(), "python3")
	script := "#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\0' x\necho\necho 'GPUENV_PROBE {}'\n"
	require.NoError(t, os.WriteFile(py, []byte(script), 0o755))
	p, err := probePython(context.Background(), Options{Python: py})
	require.ErrorContains(t, err, "larger than 1048576 bytes")
	require.Contains(t, p.Error, py)
}
