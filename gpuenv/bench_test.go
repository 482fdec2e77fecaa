package gpuenv_test

import (
	"io"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
	"github.com/difftrain/gpusmoke/internal/benchratio"
)

// stubLibrary answers instantly, so a benchmark over it measures the sampler's own cost.
type stubLibrary struct{ gpus int }

func (stubLibrary) Init() error                             { return nil }
func (stubLibrary) Shutdown() error                         { return nil }
func (stubLibrary) System() (gpuenv.System, error)          { return gpuenv.System{}, nil }
func (l stubLibrary) DeviceCount() (int, error)             { return l.gpus, nil }
func (stubLibrary) GPU(i int) (gpuenv.GPU, error)           { return gpuenv.GPU{Index: i}, nil }
func (stubLibrary) Health(int) (gpuenv.DeviceHealth, error) { return gpuenv.DeviceHealth{}, nil }
func (stubLibrary) WatchXid() (gpuenv.XidWatch, error)      { return stubWatch{}, nil }
func (stubLibrary) Sample(i int) (gpuenv.Sample, error) {
	return gpuenv.Sample{MemUsedMiB: 21870, UtilPct: 97, TempC: 66, PowerW: 431.25, SMClockMHz: 1980, PCIeGen: 5, PCIeWidth: 16}, nil
}

type stubWatch struct{}

func (stubWatch) Poll() ([]gpuenv.XidEvent, error) { return nil, nil }
func (stubWatch) Close() error                     { return nil }

// BenchmarkSamplerSample measures one sampling round (Xid poll, every GPU read, CSV row) over
// go-nvml's mock of an RTX 4090 and of a DGX H200 (8 GPUs), against the same round over the
// stub library with as many GPUs, which is gpuenv's own overhead alone: x-baseline is what the
// library calls cost on top. Over the mocks the figure includes the mocks' own call recording;
// real NVML calls add a few microseconds each (ioctls). The sampler's CPU per second is this
// cost times the rate: reported at 1 Hz (the default) and 10 Hz.
func BenchmarkSamplerSample(b *testing.B) {
	// round returns one sampling round over a fresh lib: go-nvml's mocks record every call,
	// so each sub-benchmark starts with new ones.
	round := func(b *testing.B, lib gpuenv.Library) func() error {
		if err := lib.Init(); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { lib.Shutdown() })
		s := gpuenv.NewSampler(lib, time.Second, io.Discard)
		b.Cleanup(func() { s.Close() })
		sample := gpuenv.SampleRound(s, "train")
		return func() error {
			sample()
			return nil
		}
	}
	for _, bc := range []struct {
		name string
		gpus int
		mock func() gpuenv.Library
	}{
		{"rtx4090", 1, func() gpuenv.Library { return nvmlbind.FromNVML(gpufake.NewRTX4090()) }},
		{"h200x8", 8, func() gpuenv.Library { return nvmlbind.FromNVML(gpufake.NewH200()) }},
	} {
		var stub, mock func() error
		b.Run(bc.name, benchratio.Family{
			Setup: func(b *testing.B) {
				stub, mock = round(b, stubLibrary{gpus: bc.gpus}), round(b, bc.mock())
			},
			Baseline: func() error { return stub() },
			Suite:    func() error { return mock() },
			Metrics: func(b *testing.B, _ bool, perSample, _ float64) {
				b.ReportMetric(perSample, "ns/sample")
				b.ReportMetric(perSample*1/1e3, "cpu-µs/s@1Hz")
				b.ReportMetric(perSample*10/1e3, "cpu-µs/s@10Hz")
			},
		}.Run)
	}
}
