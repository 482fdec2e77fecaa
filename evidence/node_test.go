package evidence

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestSlowFindings(t *testing.T) {
	gpus := func(secs ...float64) []NodeGPU {
		var out []NodeGPU
		for i, s := range secs {
			out = append(out, NodeGPU{Index: i, TrainSeconds: s})
		}
		return out
	}
	none := func(NodeGPU) string { return "" }
	warn := NodeRules{SlowFactor: 1.5, Slow: "warn"}

	got := SlowFindings(gpus(10, 10.5, 9.8, 16, 10.1), warn, none)
	require.Len(t, got, 1, "16 s is more than 1.5 times the median of 10.1 s")
	require.Equal(t, 3, got[0].GPU)
	require.False(t, got[0].Fail, "SMOKE_SLOW=warn names it only")
	require.Contains(t, got[0].Message, "GPU 3 trained in 16.0 s, 1.6 times the node's median of 10.1 s")

	require.Empty(t, SlowFindings(gpus(10, 10.5, 9.8, 15, 10.1), warn, none), "15 s is 1.49 times the median: not slow")
	require.Empty(t, SlowFindings(gpus(10, 100), NodeRules{SlowFactor: 20, Slow: "warn"}, none), "the median of two is their mean (55 s)")
	require.Len(t, SlowFindings(gpus(10, 12, 20, 29), warn, none), 1, "the median of an even count is the mean of the middle two (16 s)")
	require.Empty(t, SlowFindings(gpus(10, 0, 0), warn, none), "one GPU that trained has nothing to compare with")

	fail := SlowFindings(gpus(10, 10, 30), NodeRules{SlowFactor: 1.5, Slow: "fail"}, func(g NodeGPU) string { return "PCIe gen 3 x4" })
	require.Len(t, fail, 1)
	require.True(t, fail[0].Fail, "SMOKE_SLOW=fail fails the node")
	require.Contains(t, fail[0].Message, "; PCIe gen 3 x4")
}

func TestParseNodeRules(t *testing.T) {
	env := func(kv map[string]string) func(string) string { return func(k string) string { return kv[k] } }
	r, err := ParseNodeRules(env(nil))
	require.NoError(t, err)
	require.Equal(t, NodeRules{SlowFactor: 1.5, Slow: "warn"}, r)
	for _, bad := range []map[string]string{
		{"SMOKE_SLOW_FACTOR": "1"}, {"SMOKE_SLOW_FACTOR": "fast"}, {"SMOKE_SLOW_FACTOR": "NaN"},
		{"SMOKE_SLOW": "maybe"}, {"SMOKE_SDC": "strict"},
	} {
		_, err := ParseNodeRules(env(bad))
		for k, v := range bad {
			require.ErrorContains(t, err, k+"="+v+": want")
		}
	}
}
