package gpuenv

import (
	"fmt"
	"strings"
	"sync"
)

// Only returns a Library that shows lib's GPU with that UUID alone, for a run pinned to it
// (CUDA_VISIBLE_DEVICES=<uuid>): DeviceCount is 1, and GPU(0), Health(0) and Sample(0) are that
// GPU's, under its own NVML index (GPU.Index, every message, the Sampler's gpu column: "GPU 3",
// not "GPU 0"). WatchXid delivers its Xids only, and those NVML cannot tie to any device (GPU
// -1): better reported by every pinned run than by none. The GPU is looked up by UUID at each
// Init; when no GPU has it, DeviceCount returns an error that names the UUIDs NVML sees.
func Only(lib Library, uuid string) Library { return &only{Library: lib, uuid: uuid} }

type only struct {
	Library
	uuid string

	mu    sync.Mutex
	index int   // lib's index of the GPU, as the last Init found it
	err   error // why the last Init found none
}

func (o *only) Init() error {
	if err := o.Library.Init(); err != nil {
		return err
	}
	index, err := o.find()
	o.mu.Lock()
	defer o.mu.Unlock()
	o.index, o.err = index, err
	return nil
}

// find returns the index of the GPU with o.uuid. A GPU whose other facts cannot be read is
// still found by its UUID: its errors are reported when it is read.
func (o *only) find() (int, error) {
	n, err := o.Library.DeviceCount()
	if err != nil {
		return -1, err
	}
	seen := make([]string, 0, n)
	for i := range n {
		g, err := o.Library.GPU(i)
		switch {
		case g.UUID == o.uuid && g.UUID != "":
			return i, nil
		case g.UUID != "":
			seen = append(seen, fmt.Sprintf("GPU %d %s", i, g.UUID))
		default:
			seen = append(seen, fmt.Sprintf("GPU %d unreadable (%v)", i, err))
		}
	}
	if n == 0 {
		seen = append(seen, "no GPU")
	}
	return -1, fmt.Errorf("no GPU has UUID %q: NVML sees %s", o.uuid, strings.Join(seen, ", "))
}

// device maps the one index callers see, 0, to lib's.
func (o *only) device(i int) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case o.err != nil:
		return -1, o.err
	case i != 0:
		return -1, fmt.Errorf("GPU %d: no such device (only GPU %d, %s, is shown)", i, o.index, o.uuid)
	}
	return o.index, nil
}

func (o *only) DeviceCount() (int, error) {
	if _, err := o.Library.DeviceCount(); err != nil {
		return 0, err
	}
	if _, err := o.device(0); err != nil {
		return 0, err
	}
	return 1, nil
}

func (o *only) GPU(i int) (GPU, error) {
	d, err := o.device(i)
	if err != nil {
		return GPU{Index: i, PersistenceMode: "n/a", ECCMode: "n/a", MIGMode: "n/a"}, err
	}
	return o.Library.GPU(d)
}

func (o *only) Health(i int) (DeviceHealth, error) {
	d, err := o.device(i)
	if err != nil {
		return DeviceHealth{ECCUncorrected: -1, Processes: -1}, err
	}
	return o.Library.Health(d)
}

func (o *only) Sample(i int) (Sample, error) {
	d, err := o.device(i)
	if err != nil {
		return Sample{MemUsedMiB: -1, UtilPct: -1, TempC: -1, PowerW: -1, SMClockMHz: -1, ClockEventReasons: -1, PCIeGen: -1, PCIeWidth: -1}, err
	}
	return o.Library.Sample(d)
}

func (o *only) WatchXid() (XidWatch, error) {
	d, err := o.device(0)
	if err != nil {
		return nil, err
	}
	w, err := o.Library.WatchXid()
	if err != nil {
		return nil, err
	}
	return &onlyXid{XidWatch: w, gpu: d}, nil
}

// onlyXid passes on the Xids of one GPU, and those of no known GPU.
type onlyXid struct {
	XidWatch
	gpu int
}

func (w *onlyXid) Poll() ([]XidEvent, error) {
	events, err := w.XidWatch.Poll()
	kept := events[:0]
	for _, e := range events {
		if e.GPU == w.gpu || e.GPU < 0 {
			kept = append(kept, e)
		}
	}
	return kept, err
}
