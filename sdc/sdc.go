// Package sdc compares the results of one deterministic training run made on several GPUs (a
// node) or several nodes (a fleet) and names the one that computes differently, as a GPU with
// silent data corruption does: one rule, used by the node report and by the fleet report.
package sdc

import (
	"fmt"
	"slices"
	"strings"
)

// Digest is one tensor of one checkpoint and the SHA-256 of its values (artifacts.TensorDigests).
type Digest struct {
	Checkpoint string `json:"checkpoint"` // "checkpoint-1.pt"
	Tensor     string `json:"tensor"`     // "unet.conv_in.weight"
	SHA256     string `json:"sha256"`
}

// Member is one run's results: a GPU of a node, or a node of a fleet.
type Member struct {
	Name       string
	Losses     []string // the loss logged at each step, as logged; Losses[i] is step i+1's
	Tensors    []Digest // every tensor of every compared checkpoint, in order
	Comparable bool     // false when the run was not deterministic or did not train
	Why        string   // why it cannot be compared, when it cannot
}

// Outlier is a member whose results differ from the majority's.
type Outlier struct {
	Name       string
	Agreeing   int    // how many members agree on the majority's results
	FirstStep  int    // the first step whose loss differs; 0 when every loss is the same
	Loss, Want string // at FirstStep: its loss and the majority's ("" where one logged none)
	Checkpoint string // the first tensor whose bytes differ, in order; "" when none does
	Tensor     string
	Differ     int // how many tensors differ
	Of         int // how many tensors the majority has
}

// Skipped is a member that could not be compared.
type Skipped struct{ Name, Why string }

// Result is what Compare found.
type Result struct {
	Compared    int        // members compared
	Steps       int        // losses per member (of the majority, or the first group)
	Tensors     int        // tensors per member (likewise)
	Groups      [][]string // members with identical results, largest group first
	Majority    []string   // the largest group when it is larger than every other; nil otherwise, and with fewer than two compared
	Outliers    []Outlier  // the members outside the majority, in the members' order
	NotCompared []Skipped
}

// Compare groups the comparable members by identical results (every loss, every tensor's
// bytes). The majority is the largest group when it is strictly larger than every other; each
// member outside it is an Outlier, with the first step and the first tensor that differ. With
// no majority (1 vs 1, 2 vs 2), or fewer than two members to compare, no member is named.
func Compare(members []Member) Result {
	var r Result
	var groups [][]int // indexes into members
	for i, m := range members {
		switch {
		case !m.Comparable:
			r.NotCompared = append(r.NotCompared, Skipped{m.Name, m.Why})
			continue
		case len(m.Losses) == 0 && len(m.Tensors) == 0:
			r.NotCompared = append(r.NotCompared, Skipped{m.Name, "no step losses and no tensors"})
			continue
		}
		r.Compared++
		j := slices.IndexFunc(groups, func(g []int) bool { return same(&members[g[0]], &m) })
		if j < 0 {
			groups = append(groups, nil)
			j = len(groups) - 1
		}
		groups[j] = append(groups[j], i)
	}
	if len(groups) == 0 {
		return r
	}
	slices.SortStableFunc(groups, func(a, b []int) int { return len(b) - len(a) })
	for _, g := range groups {
		names := make([]string, len(g))
		for k, i := range g {
			names[k] = members[i].Name
		}
		r.Groups = append(r.Groups, names)
	}
	want := &members[groups[0][0]]
	r.Steps, r.Tensors = len(want.Losses), len(want.Tensors)
	if r.Compared < 2 || len(groups) > 1 && len(groups[0]) == len(groups[1]) {
		return r
	}
	r.Majority = r.Groups[0]
	others := slices.Concat(groups[1:]...)
	slices.Sort(others)
	for _, i := range others {
		r.Outliers = append(r.Outliers, outlier(&members[i], want, len(groups[0])))
	}
	return r
}

func same(a, b *Member) bool {
	return slices.Equal(a.Losses, b.Losses) && slices.Equal(a.Tensors, b.Tensors)
}

// outlier says where m's results first differ from want's.
func outlier(m, want *Member, agreeing int) Outlier {
	o := Outlier{Name: m.Name, Agreeing: agreeing, Of: len(want.Tensors)}
	for i := range max(len(m.Losses), len(want.Losses)) {
		got, w := at(m.Losses, i), at(want.Losses, i)
		if got != w {
			o.FirstStep, o.Loss, o.Want = i+1, got, w
			break
		}
	}
	for i := range max(len(m.Tensors), len(want.Tensors)) {
		got, w := at(m.Tensors, i), at(want.Tensors, i)
		if got == w {
			continue
		}
		if o.Differ++; o.Differ == 1 {
			o.Checkpoint, o.Tensor = got.Checkpoint, got.Tensor
			if o.Tensor == "" {
				o.Checkpoint, o.Tensor = w.Checkpoint, w.Tensor
			}
		}
	}
	return o
}

// at is l[i], or the zero value past its end.
func at[T any](l []T, i int) T {
	var zero T
	if i < len(l) {
		return l[i]
	}
	return zero
}

// String is the outlier's line in a report.
func (o Outlier) String() string {
	var parts []string
	if o.FirstStep > 0 {
		parts = append(parts, fmt.Sprintf("step %d loss %s, the others %s", o.FirstStep, orNone(o.Loss), orNone(o.Want)))
	}
	if o.Differ > 0 {
		parts = append(parts, fmt.Sprintf("%d of %d tensors differ, first %s in %s", o.Differ, o.Of, o.Tensor, o.Checkpoint))
	}
	return fmt.Sprintf("%s computes differently from the %d that agree: %s", o.Name, o.Agreeing, strings.Join(parts, "; "))
}

func orNone(s string) string {
	if s == "" {
		return "(none logged)"
	}
	return s
}
