package gpuenv_test

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
	"github.com/difftrain/gpusmoke/internal/testenv"
)

// rtx4090Stack is the canned probe result testdata/python/rtx4090.json, as a value to vary.
func rtx4090Stack(t *testing.T) gpuenv.Python {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "python", "rtx4090.json"))
	require.NoError(t, err)
	var p gpuenv.Python
	require.NoError(t, json.Unmarshal(b, &p))
	return p
}

func TestCollectRTX4090(t *testing.T) {
	py := gpuenv.FakePython(t, "fake.sh", "rtx4090.json")
	before := time.Now().UTC().Truncate(time.Second)
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewRTX4090()), Python: py, Strict: true})
	require.NoError(t, err)

	require.Equal(t, gpuenv.SchemaVersion, f.SchemaVersion)
	at, err := time.Parse(time.RFC3339, f.CollectedUTC)
	require.NoError(t, err)
	require.False(t, at.Before(before))
	require.True(t, strings.HasSuffix(f.CollectedUTC, "Z"), "UTC: %s", f.CollectedUTC)

	require.True(t, f.NVML.Available)
	require.Empty(t, f.NVML.Error)
	require.Equal(t, "560.35.03", f.NVML.DriverVersion)
	require.Equal(t, "12.6", f.NVML.CUDADriverVersion)
	require.Equal(t, "12.560.35.03", f.NVML.NVMLVersion)
	require.Len(t, f.NVML.GPUs, 1)
	require.Equal(t, "NVIDIA GeForce RTX 4090", f.NVML.GPUs[0].Name)
	require.Equal(t, uint64(24564)<<20, f.NVML.GPUs[0].MemoryTotalBytes)
	require.Equal(t, "8.9", f.NVML.GPUs[0].ComputeCapability)

	host, _ := os.Hostname()
	require.Equal(t, host, f.Host.Hostname)
	require.NotZero(t, f.Host.CPUCores)

	require.Equal(t, "2.5.1+cu124", f.Python.Torch.Version)
	require.Equal(t, "0.31.0", f.Python.Packages["diffusers"])
	require.Empty(t, f.Health)
	require.Empty(t, f.Notes, "torch cu124 on a CUDA 12.6 driver, same device name: nothing to remark")
}

func TestCollectH200RendersCUDA124(t *testing.T) {
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewH200()), Strict: true})
	require.NoError(t, err)
	require.Equal(t, "550.54.15", f.NVML.DriverVersion)
	require.Equal(t, "12.4", f.NVML.CUDADriverVersion)
	require.Len(t, f.NVML.GPUs, 8)
	require.Equal(t, "not probed: no interpreter configured", f.Python.Error)
}

func TestStrictWithoutDriverFailsFast(t *testing.T) {
	for name, lib := range map[string]gpuenv.Library{
		"no library":        nvmlbind.FromNVML(gpufake.NoDriver()),
		"driver not loaded": nvmlbind.FromNVML(gpufake.FailInit(nvml.ERROR_DRIVER_NOT_LOADED)),
		"no GPU":            nvmlbind.FromNVML(gpufake.NoGPU()),
		"real NVML":         nvmlbind.New(), // this machine has no driver; the device machine has one
	} {
		t.Run(name, func(t *testing.T) {
			if name == "real NVML" && hasGPU() {
				t.Skip("this machine has an NVIDIA driver and GPU")
			}
			// The interpreter would hang: strict mode must not get as far as the probe.
			py := gpuenv.FakePython(t, "hang.sh", nil)
			start := time.Now()
			f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: lib, Python: py, Timeout: 5 * time.Second, Strict: true})
			require.Less(t, time.Since(start), 2*time.Second)
			require.Error(t, err)
			require.True(t, strings.HasPrefix(err.Error(), "no NVIDIA driver/GPU: "), err.Error())
			require.NotNil(t, f, "the facts are kept as evidence")
			require.False(t, f.NVML.Available)
			require.Equal(t, err.Error(), f.NVML.Error)
			require.Empty(t, f.NVML.GPUs)
			require.NotEmpty(t, f.Host.Hostname)
		})
	}
}

// hasGPU reports whether the real NVML finds a GPU here.
func hasGPU() bool {
	lib := nvmlbind.New()
	if lib.Init() != nil {
		return false
	}
	defer lib.Shutdown()
	n, err := lib.DeviceCount()
	return err == nil && n > 0
}

func TestStrictNoGPUMessage(t *testing.T) {
	_, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NoGPU()), Strict: true})
	require.EqualError(t, err, "no NVIDIA driver/GPU: NVML found no GPU (driver 560.35.03)")
}

func TestNonStrictWithoutDriverGoesOn(t *testing.T) {
	py := gpuenv.FakePython(t, "fake.sh", "missing.json")
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NoDriver()), Python: py})
	require.NoError(t, err)
	require.False(t, f.NVML.Available)
	require.Equal(t, "no NVIDIA driver/GPU: nvml init: ERROR_LIBRARY_NOT_FOUND (libnvidia-ml.so.1 not found: no NVIDIA driver installed)", f.NVML.Error)
	require.Empty(t, f.Notes, "the NVML error is said once, in NVML.Error")
	require.Equal(t, "3.12.3", f.Python.Version, "the probe still ran")
	require.Empty(t, f.Fatal())
}

func TestBrokenInterpreterIsAnErrorInBothModes(t *testing.T) {
	for _, strict := range []bool{false, true} {
		py := gpuenv.FakePython(t, "broken.sh", nil)
		f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewRTX4090()), Python: py, Strict: strict})
		require.ErrorContains(t, err, "probe python "+py+": exit status 127")
		require.True(t, f.NVML.Available)
		require.Equal(t, err.Error(), f.Python.Error)
		require.Empty(t, f.Notes, "no cross-check without a probe result")
	}
}

func TestCrossChecks(t *testing.T) {
	type testCase struct {
		name   string
		driver int // NVML's CUDA driver version; 0 keeps the fake's 12060
		torch  func(*gpuenv.Torch)
		want   string // the note, and in strict mode the error after "cross-check: "
		fatal  bool
		// always: the finding fails preflight without -tags gpu too (a GPU torch cannot use).
		always bool
	}
	run := func(t *testing.T, tc testCase) {
		p := rtx4090Stack(t)
		tc.torch(&p.Torch)
		for _, strict := range []bool{false, true} {
			fake := gpufake.NewRTX4090()
			if tc.driver != 0 {
				fake.CudaDriverVersion = tc.driver
			}
			py := gpuenv.FakePython(t, "fake.sh", p)
			f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(fake), Python: py, Strict: strict})
			require.Equal(t, []string{tc.want}, f.Notes)
			finding := gpuenv.Finding{Severity: gpuenv.Fatal, GPU: -1, Message: tc.want}
			if tc.always {
				finding = gpuenv.Always(finding)
			}
			if strict && tc.fatal {
				require.EqualError(t, err, "cross-check: "+tc.want)
				require.Equal(t, []gpuenv.Finding{finding}, f.Fatal())
				continue
			}
			require.NoError(t, err, "no error without -tags gpu: preflight fails on f.Fatal()")
			if tc.always {
				require.Equal(t, []gpuenv.Finding{finding}, f.Fatal())
				continue
			}
			require.Empty(t, f.Fatal())
		}
	}
	for _, tc := range []testCase{
		{
			name:  "torch built for a newer CUDA major than the driver",
			torch: func(t *gpuenv.Torch) { t.Version, t.CUDA = "2.9.0+cu130", "13.0" },
			want:  "torch 2.9.0+cu130 is built for CUDA 13.0, newer than driver 560.35.03 supports (CUDA 12.6)",
			fatal: true,
		},
		{
			name:   "torch built for a newer CUDA minor runs through minor-version compatibility",
			driver: 12020,
			torch:  func(*gpuenv.Torch) {},
			want:   "torch 2.5.1+cu124 is built for CUDA 12.4 and driver 560.35.03 supports CUDA 12.2: it runs through CUDA minor-version compatibility",
		},
		{
			name: "CPU-only torch",
			torch: func(t *gpuenv.Torch) {
				t.Version, t.CUDA, t.CuDNN, t.CUDAAvailable, t.Devices, t.BF16Supported = "2.5.1+cpu", "", "", false, nil, false
			},
			want:   "torch 2.5.1+cpu (a CPU-only build) sees no CUDA device while NVML sees 1 GPU(s): the run would train on the CPU",
			fatal:  true,
			always: true,
		},
		{
			name:   "CUDA torch sees no device",
			torch:  func(t *gpuenv.Torch) { t.CUDAAvailable, t.Devices = false, nil },
			want:   "torch 2.5.1+cu124 sees no CUDA device while NVML sees 1 GPU(s): the run would train on the CPU",
			fatal:  true,
			always: true,
		},
		{
			name:  "device names differ",
			torch: func(t *gpuenv.Torch) { t.Devices = []string{"NVIDIA GeForce RTX 4080"} },
			want:  `torch names cuda:0 "NVIDIA GeForce RTX 4080" but NVML reports "NVIDIA GeForce RTX 4090"`,
			fatal: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

// torch may be installed by the runbook's first step, after the preflight: a note, not a failure.
func TestCrossCheckTorchNotInstalled(t *testing.T) {
	py := gpuenv.FakePython(t, "fake.sh", "missing.json")
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewRTX4090()), Python: py, Strict: true})
	require.NoError(t, err)
	require.Equal(t, []string{"torch is not installed in " + py}, f.Notes)
}

func TestCrossCheckMatchesNamesOnAnyGPU(t *testing.T) {
	p := rtx4090Stack(t)
	p.Torch.Devices = []string{"NVIDIA H200 141GB HBM3e", "NVIDIA H200 141GB HBM3e"}
	p.Torch.CUDA = "12.4"
	py := gpuenv.FakePython(t, "fake.sh", p)
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.FromNVML(gpufake.NewH200()), Python: py, Strict: true})
	require.NoError(t, err)
	require.Empty(t, f.Notes)
}

// This machine, as the suite sees it: the real NVML and the system interpreter, if any.
func TestCollectHere(t *testing.T) {
	py, _ := exec.LookPath("python3")
	f, err := gpuenv.Collect(context.Background(), gpuenv.Options{Lib: nvmlbind.New(), Python: py, Env: testenv.Clean()})
	require.NoError(t, err)
	if hasGPU() {
		require.True(t, f.NVML.Available)
		require.NotEmpty(t, f.NVML.GPUs)
		require.Regexp(t, `^\d+\.\d+$`, f.NVML.CUDADriverVersion)
	} else {
		require.False(t, f.NVML.Available)
		require.True(t, strings.HasPrefix(f.NVML.Error, gpuenv.NoGPUPrefix), f.NVML.Error)
	}
	if py != "" {
		require.Empty(t, f.Python.Error)
		require.NotEmpty(t, f.Python.Version)
	}
	path := filepath.Join(t.TempDir(), evidence.GPUEnvFile)
	writeFacts(t, path, f)
	got, err := gpuenv.Read(path)
	require.NoError(t, err)
	require.Equal(t, f, got)
}
