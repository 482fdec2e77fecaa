package artifacts

import (
	"fmt"
	"math"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// EnvJSONFile is the name difftrain gives env.json in its output directory.
const EnvJSONFile = "env.json"

// MemoryTolerance is how far env.json's devices[0].total_memory_bytes may be from NVML's
// memory total, as a fraction of NVML's. torch reports cudaGetDeviceProperties' totalGlobalMem,
// which leaves out memory the driver reserves; NVML counts it (an RTX 4090: 23.65 GiB from
// torch, 23.99 GiB from NVML, 1.4% apart).
const MemoryTolerance = 0.05

// EnvJSON is difftrain's env.json: the interpreter, torch and CUDA as the training process saw them.
type EnvJSON struct {
	Path          string   `json:"-"` // the file it was read from
	CreatedUTC    string   `json:"created_utc"`
	Python        string   `json:"python"`
	Platform      string   `json:"platform"`
	Executable    string   `json:"executable"`
	Argv          []string `json:"argv"`
	TorchVersion  string   `json:"torch_version"`
	CUDAAvailable bool     `json:"cuda_available"`
	CUDAVersion   *string  `json:"cuda_version"`  // nil: null (a CPU-only torch)
	CuDNNVersion  *int64   `json:"cudnn_version"` // nil: null
	DeviceCount   int64    `json:"device_count"`
	Devices       []Device `json:"devices"`
}

// Device is one entry of env.json's devices: torch.cuda.get_device_properties(index).
type Device struct {
	Index               int64  `json:"index"`
	Name                string `json:"name"`
	TotalMemoryBytes    int64  `json:"total_memory_bytes"`
	Major               int64  `json:"major"`
	Minor               int64  `json:"minor"`
	MultiProcessorCount int64  `json:"multi_processor_count"`
}

// ReadEnvJSON reads env.json and checks that it has every key of the contract with the
// contract's type. Keys the contract does not name are allowed.
func ReadEnvJSON(path string) (*EnvJSON, error) {
	data, err := evidence.ReadFileLimit(path, MaxEnvJSONBytes)
	if err != nil {
		return nil, readErr("read env.json", err)
	}
	env, err := ParseEnvJSON(path, data)
	if err != nil {
		return nil, err
	}
	return env, nil
}

// ParseEnvJSON checks env.json's content; name is the file named in errors.
func ParseEnvJSON(name string, data []byte) (*EnvJSON, error) {
	v, err := decodeJSONFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON: %v", name, err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON object, got %s", name, typeName(v))
	}
	o := obj{file: name, m: m}
	e := &EnvJSON{Path: name}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"created_utc", &e.CreatedUTC}, {"python", &e.Python}, {"platform", &e.Platform},
		{"executable", &e.Executable}, {"torch_version", &e.TorchVersion},
	} {
		if *f.dst, err = o.str(f.key); err != nil {
			return nil, err
		}
	}
	argv, err := o.list("argv")
	if err != nil {
		return nil, err
	}
	for i, a := range argv {
		s, ok := a.(string)
		if !ok {
			return nil, fmt.Errorf("%s: argv[%d]: want string, got %s", name, i, typeName(a))
		}
		e.Argv = append(e.Argv, s)
	}
	if e.CUDAAvailable, err = o.boolean("cuda_available"); err != nil {
		return nil, err
	}
	if e.CUDAVersion, err = o.strOrNull("cuda_version"); err != nil {
		return nil, err
	}
	if e.CuDNNVersion, err = o.intOrNull("cudnn_version"); err != nil {
		return nil, err
	}
	if e.DeviceCount, err = o.integer("device_count"); err != nil {
		return nil, err
	}
	devices, err := o.list("devices")
	if err != nil {
		return nil, err
	}
	for i, d := range devices {
		dm, ok := d.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: devices[%d]: want object, got %s", name, i, typeName(d))
		}
		do := obj{file: name, path: fmt.Sprintf("devices[%d]", i), m: dm}
		var dev Device
		if dev.Name, err = do.str("name"); err != nil {
			return nil, err
		}
		for _, f := range []struct {
			key string
			dst *int64
		}{
			{"index", &dev.Index}, {"total_memory_bytes", &dev.TotalMemoryBytes}, {"major", &dev.Major},
			{"minor", &dev.Minor}, {"multi_processor_count", &dev.MultiProcessorCount},
		} {
			if *f.dst, err = do.integer(f.key); err != nil {
				return nil, err
			}
		}
		e.Devices = append(e.Devices, dev)
	}
	if e.DeviceCount != int64(len(e.Devices)) {
		return nil, fmt.Errorf("%s: device_count: %d, but devices lists %d", name, e.DeviceCount, len(e.Devices))
	}
	if !e.CUDAAvailable && e.DeviceCount != 0 {
		return nil, fmt.Errorf("%s: device_count: %d with cuda_available false", name, e.DeviceCount)
	}
	return e, nil
}

// GPU is what NVML says about device 0, for CheckGPU.
type GPU struct {
	Name        string // nvmlDeviceGetName, e.g. "NVIDIA GeForce RTX 4090"
	MemoryBytes uint64 // nvmlDeviceGetMemoryInfo total
}

// CheckGPU checks that torch saw CUDA and that its device 0 is the GPU NVML reports: the
// same name, and a total memory within MemoryTolerance of NVML's.
func (e *EnvJSON) CheckGPU(want GPU) error {
	file := e.Path
	if !e.CUDAAvailable {
		return fmt.Errorf("%s: cuda_available: false, want true (torch %s saw no CUDA device)", file, e.TorchVersion)
	}
	if len(e.Devices) == 0 {
		return fmt.Errorf("%s: devices: empty, want device 0 = %s", file, want.Name)
	}
	d := e.Devices[0]
	if strings.TrimSpace(d.Name) != strings.TrimSpace(want.Name) {
		return fmt.Errorf("%s: devices[0].name: %q, NVML says %q", file, d.Name, want.Name)
	}
	if want.MemoryBytes > 0 {
		diff := math.Abs(float64(d.TotalMemoryBytes)-float64(want.MemoryBytes)) / float64(want.MemoryBytes)
		if diff > MemoryTolerance {
			return fmt.Errorf("%s: devices[0].total_memory_bytes: %d, NVML says %d (%.1f%% apart, tolerance %.0f%%)",
				file, d.TotalMemoryBytes, want.MemoryBytes, 100*diff, 100*MemoryTolerance)
		}
	}
	return nil
}
