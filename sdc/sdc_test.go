package sdc

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// tensors are two checkpoints of two tensors each; with a changed digest from index bad on.
func tensors(bad int) []Digest {
	var out []Digest
	for i, name := range []string{"checkpoint-1.pt/unet.w", "checkpoint-1.pt/unet.b", "checkpoint-2.pt/unet.w", "checkpoint-2.pt/unet.b"} {
		sha := fmt.Sprintf("%064d", i)
		if bad >= 0 && i >= bad {
			sha = fmt.Sprintf("%064d", i+100)
		}
		out = append(out, Digest{Checkpoint: name[:15], Tensor: name[16:], SHA256: sha})
	}
	return out
}

var good = Member{Losses: []string{"1.049752", "1.059952"}, Tensors: tensors(-1), Comparable: true}

// like is good named name, with changes.
func like(name string, change func(m *Member)) Member {
	m := good
	m.Name = name
	m.Losses = append([]string(nil), good.Losses...)
	m.Tensors = append([]Digest(nil), good.Tensors...)
	if change != nil {
		change(&m)
	}
	return m
}

// perturbed computes differently from step 2's loss and from checkpoint-1.pt's second tensor.
func perturbed(m *Member) { m.Losses[1], m.Tensors = "1.059953", tensors(1) }

func TestCompare(t *testing.T) {
	type testCase struct {
		name     string
		members  []Member
		groups   [][]string
		majority []string
		outliers []Outlier
		skipped  []Skipped
	}
	run := func(t *testing.T, tc testCase) {
		r := Compare(tc.members)
		require.Equal(t, tc.groups, r.Groups)
		require.Equal(t, tc.majority, r.Majority)
		require.Equal(t, tc.outliers, r.Outliers)
		require.Equal(t, tc.skipped, r.NotCompared)
		compared := 0
		for _, g := range tc.groups {
			compared += len(g)
		}
		require.Equal(t, compared, r.Compared)
	}
	out := Outlier{Name: "gpu2", Agreeing: 3, FirstStep: 2, Loss: "1.059953", Want: "1.059952",
		Checkpoint: "checkpoint-1.pt", Tensor: "unet.b", Differ: 3, Of: 4}
	for _, tc := range []testCase{
		{name: "all agree", members: []Member{like("gpu0", nil), like("gpu1", nil), like("gpu2", nil)},
			groups: [][]string{{"gpu0", "gpu1", "gpu2"}}, majority: []string{"gpu0", "gpu1", "gpu2"}},
		{name: "one of four differs", members: []Member{like("gpu0", nil), like("gpu1", nil), like("gpu2", perturbed), like("gpu3", nil)},
			groups: [][]string{{"gpu0", "gpu1", "gpu3"}, {"gpu2"}}, majority: []string{"gpu0", "gpu1", "gpu3"}, outliers: []Outlier{out}},
		{name: "the first member is the one that differs", members: []Member{like("gpu2", perturbed), like("gpu0", nil), like("gpu1", nil), like("gpu3", nil)},
			groups: [][]string{{"gpu0", "gpu1", "gpu3"}, {"gpu2"}}, majority: []string{"gpu0", "gpu1", "gpu3"}, outliers: []Outlier{out}},
		{name: "one of three differs: two agree", members: []Member{like("gpu0", nil), like("gpu1", nil), like("gpu2", perturbed)},
			groups: [][]string{{"gpu0", "gpu1"}, {"gpu2"}}, majority: []string{"gpu0", "gpu1"},
			outliers: []Outlier{{Name: "gpu2", Agreeing: 2, FirstStep: 2, Loss: "1.059953", Want: "1.059952", Checkpoint: "checkpoint-1.pt", Tensor: "unet.b", Differ: 3, Of: 4}}},
		{name: "1 vs 1: no majority, no culprit", members: []Member{like("gpu0", nil), like("gpu1", perturbed)},
			groups: [][]string{{"gpu0"}, {"gpu1"}}},
		{name: "2 vs 2: no majority", members: []Member{like("a", nil), like("b", perturbed), like("c", perturbed), like("d", nil)},
			groups: [][]string{{"a", "d"}, {"b", "c"}}},
		{name: "2 vs 1 vs 1: the two are the majority", members: []Member{like("a", nil), like("b", perturbed), like("c", nil),
			like("d", func(m *Member) { m.Tensors = tensors(3) })},
			groups: [][]string{{"a", "c"}, {"b"}, {"d"}}, majority: []string{"a", "c"},
			outliers: []Outlier{
				{Name: "b", Agreeing: 2, FirstStep: 2, Loss: "1.059953", Want: "1.059952", Checkpoint: "checkpoint-1.pt", Tensor: "unet.b", Differ: 3, Of: 4},
				{Name: "d", Agreeing: 2, Checkpoint: "checkpoint-2.pt", Tensor: "unet.b", Differ: 1, Of: 4}}},
		{name: "a step missing, a tensor missing", members: []Member{like("a", nil), like("b", nil),
			like("c", func(m *Member) { m.Losses, m.Tensors = m.Losses[:1], m.Tensors[:2] })},
			groups: [][]string{{"a", "b"}, {"c"}}, majority: []string{"a", "b"},
			outliers: []Outlier{{Name: "c", Agreeing: 2, FirstStep: 2, Want: "1.059952", Checkpoint: "checkpoint-2.pt", Tensor: "unet.w", Differ: 2, Of: 4}}},
		{name: "members that cannot be compared are left out, and said", members: []Member{
			like("a", nil), like("b", func(m *Member) { m.Comparable, m.Why = false, "not deterministic" }),
			like("c", func(m *Member) { m.Losses, m.Tensors = nil, nil }), like("d", nil)},
			groups: [][]string{{"a", "d"}}, majority: []string{"a", "d"},
			skipped: []Skipped{{"b", "not deterministic"}, {"c", "no step losses and no tensors"}}},
		{name: "one: no majority of one", members: []Member{like("gpu0", nil), like("gpu1", func(m *Member) { m.Comparable, m.Why = false, "not deterministic" })},
			groups: [][]string{{"gpu0"}}, skipped: []Skipped{{"gpu1", "not deterministic"}}},
		{name: "nothing", members: nil},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestDecide(t *testing.T) {
	type want struct {
		fail, warn bool
		say        string
	}
	four := Compare([]Member{like("gpu0", nil), like("gpu1", nil), like("gpu2", perturbed), like("gpu3", nil)})
	three := Compare([]Member{like("gpu0", nil), like("gpu1", nil), like("gpu2", perturbed)})
	two := Compare([]Member{like("gpu0", nil), like("gpu1", perturbed)})
	same := Compare([]Member{like("gpu0", nil), like("gpu1", nil), like("gpu2", func(m *Member) { m.Comparable, m.Why = false, "section 04 failed" })})
	alone := Compare([]Member{like("gpu0", nil), like("gpu1", func(m *Member) { m.Comparable, m.Why = false, "not deterministic" })})
	const gpu2 = "gpu2 computes differently from the %d that agree: step 2 loss 1.059953, the others 1.059952; 3 of 4 tensors differ, first unet.b in checkpoint-1.pt"
	for _, tc := range []struct {
		name string
		r    Result
		mode string
		want want
	}{
		{"3 agree against one: fails", four, ModeUnset, want{fail: true, say: fmt.Sprintf(gpu2, 3)}},
		{"3 agree, warn", four, ModeWarn, want{warn: true, say: fmt.Sprintf(gpu2, 3)}},
		{"3 agree, off", four, ModeOff, want{say: "not compared (SMOKE_SDC=off)"}},
		{"2 agree against one: fails", three, ModeUnset, want{fail: true, say: fmt.Sprintf(gpu2, 2)}},
		{"2 agree, warn", three, ModeWarn, want{warn: true, say: fmt.Sprintf(gpu2, 2)}},
		{"2 agree, fail", three, ModeFail, want{fail: true, say: fmt.Sprintf(gpu2, 2)}},
		{"1 vs 1 warns, naming no one", two, ModeUnset, want{warn: true, say: "the runs differ and no majority agrees (gpu0 | gpu1): no run can be named"}},
		{"1 vs 1, fail", two, ModeFail, want{fail: true, say: "the runs differ and no majority agrees (gpu0 | gpu1): no run can be named"}},
		{"all the same", same, ModeFail, want{say: "2 runs computed the same: the same loss at each of 2 steps and the same bytes in 4 tensors; left out: gpu2 (section 04 failed)"}},
		{"one comparable: nothing compared, never a pass", alone, ModeFail, want{say: "not compared: 1 of 2 runs can be compared, two are needed; left out: gpu1 (not deterministic)"}},
		{"nothing", Compare(nil), ModeUnset, want{say: "not compared: 0 of 0 runs can be compared, two are needed"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.r, tc.mode)
			require.Equal(t, tc.want, want{d.Fail, d.Warn, d.Say})
		})
	}
}

func TestCheckMode(t *testing.T) {
	for _, m := range []string{"", "fail", "warn", "off"} {
		require.NoError(t, CheckMode(m))
	}
	require.EqualError(t, CheckMode("FAIL"), "SMOKE_SDC=FAIL: want fail, warn or off")
}
