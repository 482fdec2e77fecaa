package gpuenv

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Select reads the operator's choice of GPUs for a node run against the machine: "all", or NVML
// indexes separated by commas ("0,3,5"). It returns the chosen GPUs, read from lib, in index
// order. Errors are one line that names the bad item and what NVML sees ("GPU 9 does not exist:
// NVML sees 8 GPUs, 0-7"); the caller says which setting it was. Duplicates, negatives, spaces,
// empty items and anything but digits are refused; so is a GPU whose UUID cannot be read, since
// its run cannot be pinned to it. lib is initialised for the call and given back.
//
// "all" means the GPUs this process was given: where visible (CUDA_VISIBLE_DEVICES, as a
// scheduler sets it) names fewer GPUs than NVML sees (NVML ignores it: Slurm without device
// constraints), all is those, never a GPU given to another job (visibleGPUs).
func Select(lib Library, spec, visible string) ([]GPU, error) {
	if err := lib.Init(); err != nil {
		return nil, fmt.Errorf("%s%w", NoGPUPrefix, err)
	}
	defer lib.Shutdown()
	n, err := lib.DeviceCount()
	if err != nil {
		return nil, fmt.Errorf("%s%w", NoGPUPrefix, err)
	}
	if n == 0 {
		return nil, fmt.Errorf("%sNVML found no GPU", NoGPUPrefix)
	}
	type read struct {
		g   GPU
		err error
	}
	reads := map[int]read{} // each GPU is read from NVML once
	gpu := func(i int) (GPU, error) {
		r, ok := reads[i]
		if !ok {
			r.g, r.err = lib.GPU(i)
			reads[i] = r
		}
		return r.g, r.err
	}
	picked, err := parseGPUs(spec, n)
	if err == nil && spec == "all" && visible != "" {
		picked, err = visibleGPUs(gpu, n, visible)
	}
	if err != nil {
		return nil, err
	}
	out := make([]GPU, 0, len(picked))
	for k, i := range picked {
		g, err := gpu(i) // a GPU that is read with errors but has its UUID is run: its preflight says what is wrong
		if g.UUID != "" {
			out = append(out, g)
			continue
		}
		why := "NVML gives none"
		if err != nil {
			why = err.Error()
		}
		msg := fmt.Sprintf("GPU %d cannot be pinned: its UUID cannot be read (%s); reset or replace it", i, why)
		if len(picked) > 1 {
			others := make([]string, 0, len(picked)-1)
			for _, j := range slices.Delete(slices.Clone(picked), k, k+1) {
				others = append(others, strconv.Itoa(j))
			}
			msg += ", or leave it out: " + strings.Join(others, ",")
		}
		return nil, fmt.Errorf("%s", msg)
	}
	return out, nil
}

// parseGPUs reads spec against n GPUs: the indexes it chooses, in order.
func parseGPUs(spec string, n int) ([]int, error) {
	sees := fmt.Sprintf("NVML sees %d GPUs, 0-%d", n, n-1)
	if n == 1 {
		sees = "NVML sees 1 GPU, 0"
	}
	const how = "write all, or NVML indexes such as 0,3,5"
	if spec == "all" {
		all := make([]int, n)
		for i := range all {
			all[i] = i
		}
		return all, nil
	}
	if spec == "" {
		return nil, fmt.Errorf("empty: %s (%s)", how, sees)
	}
	var out []int
	for k, item := range strings.Split(spec, ",") {
		digits := item != "" && strings.Trim(item, "0123456789") == ""
		i, err := strconv.Atoi(item)
		switch {
		case item == "":
			return nil, fmt.Errorf("item %d is empty: %s (%s)", k+1, how, sees)
		case strings.TrimSpace(item) != item:
			return nil, fmt.Errorf("%q has spaces: write the list without them, such as 0,3,5 (%s)", item, sees)
		case len(item) > 1 && item[0] == '-' && strings.Trim(item[1:], "0123456789") == "":
			return nil, fmt.Errorf("%q is not a GPU index: GPU indexes start at 0 (%s)", item, sees)
		case !digits:
			return nil, fmt.Errorf("%q is not a GPU index: %s (%s)", item, how, sees)
		case err != nil || i >= n:
			return nil, fmt.Errorf("GPU %s does not exist: %s", item, sees)
		case slices.Contains(out, i):
			return nil, fmt.Errorf("GPU %d is listed twice (%s)", i, sees)
		}
		out = append(out, i)
	}
	slices.Sort(out)
	return out, nil
}

// visibleGPUs are the NVML indexes of the GPUs that CUDA_VISIBLE_DEVICES (visible) names, of
// the n that NVML sees: by UUID (or a UUID's prefix, as CUDA takes it), or by CUDA index. CUDA
// indexes name every GPU when they are as many as NVML sees (the job's devices are constrained,
// and CUDA counts from 0 among them); otherwise a CUDA index is an NVML index only where the
// GPUs are all one model (CUDA's fastest-first order is then NVML's PCI order). Elsewhere, and
// for MIG devices, the operator names the GPUs in SMOKE_GPUS.
func visibleGPUs(gpu func(int) (GPU, error), n int, visible string) ([]int, error) {
	bad := func(why string) error {
		return fmt.Errorf("CUDA_VISIBLE_DEVICES=%s %s: name the GPUs to run in SMOKE_GPUS (NVML indexes, such as 0,3)", visible, why)
	}
	gpus := make([]GPU, n)
	for i := range gpus {
		gpus[i], _ = gpu(i) // a GPU that cannot be read has no UUID to match; Select says so if it is picked
	}
	var out []int
	byIndex := false
	for _, item := range strings.Split(visible, ",") {
		item = strings.TrimSpace(item)
		switch {
		case strings.HasPrefix(item, "MIG-"):
			return nil, bad("names a MIG device, and a node run takes whole GPUs")
		case strings.HasPrefix(item, "GPU-"):
			var match []int
			for i, g := range gpus {
				if g.UUID != "" && strings.HasPrefix(g.UUID, item) {
					match = append(match, i)
				}
			}
			switch len(match) {
			case 0:
				return nil, bad(fmt.Sprintf("names %s, a GPU that NVML does not see", item))
			case 1:
				out = append(out, match[0])
			default:
				return nil, bad(fmt.Sprintf("names %s, the start of %d GPUs' UUIDs", item, len(match)))
			}
		case item != "" && strings.Trim(item, "0123456789") == "":
			i, err := strconv.Atoi(item)
			if err != nil {
				i = n
			}
			out, byIndex = append(out, i), true
		default:
			return nil, bad(fmt.Sprintf("has %q, neither a CUDA index nor a GPU UUID", item))
		}
	}
	slices.Sort(out)
	out = slices.Compact(out)
	switch {
	case !byIndex:
		return out, nil
	case len(out) == n:
		return parseGPUs("all", n)
	case out[len(out)-1] >= n:
		return nil, bad(fmt.Sprintf("names CUDA device %d, and NVML sees %d GPUs", out[len(out)-1], n))
	case slices.ContainsFunc(gpus, func(g GPU) bool { return g.Name != gpus[0].Name }):
		return nil, bad("names GPUs by CUDA index on a node whose GPUs are not all one model (CUDA's order may not be NVML's)")
	}
	return out, nil
}
