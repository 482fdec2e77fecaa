package smoke

// TEMPORARY until h-gpu lands gpuenv.Select and gpuenv.Only.

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/gpuenv"
)

func gpuenvSelect(lib gpuenv.Library, spec string) ([]gpuenv.GPU, error) {
	if err := lib.Init(); err != nil {
		return nil, err
	}
	defer lib.Shutdown()
	n, err := lib.DeviceCount()
	if err != nil {
		return nil, err
	}
	var idx []int
	if spec == "all" {
		for i := range n {
			idx = append(idx, i)
		}
	} else {
		for _, p := range strings.Split(spec, ",") {
			i, err := strconv.Atoi(p)
			if err != nil || i < 0 || i >= n {
				return nil, fmt.Errorf("GPU %q does not exist: NVML sees %d", p, n)
			}
			idx = append(idx, i)
		}
	}
	var out []gpuenv.GPU
	for _, i := range idx {
		g, err := lib.GPU(i)
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

type onlyLib struct {
	gpuenv.Library
	uuid string
	idx  int
}

func gpuenvOnly(lib gpuenv.Library, uuid string) gpuenv.Library {
	return &onlyLib{Library: lib, uuid: uuid, idx: -1}
}

func (o *onlyLib) find() (int, error) {
	n, err := o.Library.DeviceCount()
	if err != nil {
		return 0, err
	}
	for i := range n {
		if g, err := o.Library.GPU(i); err == nil && g.UUID == o.uuid {
			return i, nil
		}
	}
	return 0, fmt.Errorf("no GPU with UUID %s", o.uuid)
}
func (o *onlyLib) DeviceCount() (int, error) {
	i, err := o.find()
	if err != nil {
		return 0, err
	}
	o.idx = i
	return 1, nil
}
func (o *onlyLib) GPU(int) (gpuenv.GPU, error)             { return o.Library.GPU(o.idx) }
func (o *onlyLib) Health(int) (gpuenv.DeviceHealth, error) { return o.Library.Health(o.idx) }
func (o *onlyLib) Sample(int) (gpuenv.Sample, error)       { return o.Library.Sample(o.idx) }
