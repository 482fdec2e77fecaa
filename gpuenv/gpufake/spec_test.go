package gpufake_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/gpuenv/gpufake"
	"github.com/difftrain/gpusmoke/gpuenv/nvmlbind"
)

func open(t *testing.T, f *gpufake.Fake) gpuenv.Library {
	t.Helper()
	lib := nvmlbind.FromNVML(f)
	require.NoError(t, lib.Init())
	t.Cleanup(func() { require.NoError(t, lib.Shutdown()) })
	return lib
}

// Each fault lands on GPU 0, or on the GPU its @<index> names, and nowhere else.
func TestParsePutsFaultsOnTheirGPU(t *testing.T) {
	f, name, err := gpufake.Parse("h200,xid=79@3,ecc@2,pcie=3x4@5,load@5,busy,throttle@6")
	require.NoError(t, err)
	require.Equal(t, "DGX H200", name)
	lib := open(t, f)

	for i := range 8 {
		h, err := lib.Health(i)
		require.NoError(t, err)
		s, err := lib.Sample(i)
		require.NoError(t, err)
		wantECC, wantUtil, wantGen, wantWidth, wantEvents := int64(0), int64(0), int64(5), int64(16), gpuenv.ClockEventGPUIdle
		switch i {
		case 0:
			wantUtil, wantEvents = 100, 0 // busy: someone else's job
		case 2:
			wantECC = 3
		case 5:
			wantUtil, wantGen, wantWidth, wantEvents = 97, 3, 4, 0
		case 6:
			wantEvents = gpuenv.ClockEventHWSlowdown
		}
		require.Equal(t, wantECC, h.ECCUncorrected, "GPU %d", i)
		require.Equal(t, wantUtil, s.UtilPct, "GPU %d", i)
		require.Equal(t, [2]int64{wantGen, wantWidth}, [2]int64{s.PCIeGen, s.PCIeWidth}, "GPU %d", i)
		require.Equal(t, int64(wantEvents), s.ClockEventReasons, "GPU %d", i)
		require.Equal(t, i == 0, h.Processes > 0, "GPU %d", i)
	}
	w, err := lib.WatchXid()
	require.NoError(t, err)
	events, err := w.Poll()
	require.NoError(t, err)
	require.Equal(t, []gpuenv.XidEvent{{GPU: 3, Xid: 79}}, events)
	require.NoError(t, w.Close())
}

func TestParseDefaultsToTheRTX4090(t *testing.T) {
	for _, spec := range []string{"", "rtx4090"} {
		f, name, err := gpufake.Parse(spec)
		require.NoError(t, err)
		require.Equal(t, "RTX 4090", name)
		require.Len(t, f.Devices, 1)
	}
	f, _, err := gpufake.Parse("rtx4090,xid=13,ecc")
	require.NoError(t, err)
	h, err := open(t, f).Health(0)
	require.NoError(t, err)
	require.Equal(t, int64(3), h.ECCUncorrected)
}

func TestParseRefusesBadSpecs(t *testing.T) {
	const faults = " (xid=<n>, ecc, busy, throttle, load, pcie=<gen>x<width>; @<index> for a GPU other than 0)"
	for spec, want := range map[string]string{
		"a100":             `unknown GPU "a100" (rtx4090, h200)`,
		",ecc":             `unknown GPU "" (rtx4090, h200)`,
		"h200,xid=x":       `xid=x: "x" is not a number`,
		"h200,xid":         `xid: "" is not a number`,
		"h200,fire":        `unknown fault "fire"` + faults,
		"h200,":            `unknown fault ""` + faults,
		"h200,ecc=3":       `ecc=3: ecc takes no value`,
		"h200,ecc@8":       `ecc@8: GPU 8 does not exist: the fake has 8 GPUs, 0-7`,
		"rtx4090,xid=79@1": `xid=79@1: GPU 1 does not exist: the fake has 1 GPU, 0`,
		"h200,ecc@-1":      `ecc@-1: "-1" is not a GPU index`,
		"h200,ecc@":        `ecc@: "" is not a GPU index`,
		"h200,ecc@1@2":     `ecc@1@2: "1@2" is not a GPU index`,
		"h200,pcie=3@5":    `pcie=3@5: "3" is not <gen>x<width>, such as 3x4`,
		"h200,pcie=0x4":    `pcie=0x4: "0x4" is not <gen>x<width>, such as 3x4`,
		"h200,pcie=3x":     `pcie=3x: "3x" is not <gen>x<width>, such as 3x4`,
		"h200,load=97":     `load=97: load takes no value`,
	} {
		f, _, err := gpufake.Parse(spec)
		require.EqualError(t, err, want, "%q", spec)
		require.Nil(t, f)
	}
}
