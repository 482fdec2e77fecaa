package evidence

import (
	"path/filepath"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCaseProperties(t *testing.T) {
	c := Case{ID: "tests.test_config::test_roundtrip[a]", Result: Skipped, Reason: "CUDA is required for this smoke test."}
	props := map[string]string{}
	for _, p := range c.Properties(7) {
		props[p[0]] = p[1]
	}
	got, n, ok, err := CaseFromProperties(props)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 7, n)
	require.Equal(t, c, got)

	_, _, ok, err = CaseFromProperties(map[string]string{PropSection: "04"})
	require.NoError(t, err)
	require.False(t, ok, "a section's properties name no case")

	props[PropResult] = NotRun
	_, _, _, err = CaseFromProperties(props)
	require.EqualError(t, err, `property result: "NOT RUN" is not one of PASS, FAIL, SKIPPED`)
}

func TestCounts(t *testing.T) {
	require.Equal(t, "no tests", Counts(nil))
	require.Equal(t, "2 passed, 1 failed, 1 skipped", Counts([]Case{{Result: Pass}, {Result: Skipped}, {Result: Fail}, {Result: Pass}}))
	require.Equal(t, "3 skipped", Counts([]Case{{Result: Skipped}, {Result: Skipped}, {Result: Skipped}}))
}

// The JUnit properties are the record's one encoding and SectionFromProperties its inverse: every
// section of every recorded run's run.json reads back from its properties as it was (the plan's
// fields, which run.json alone holds, aside). This is why junit.xml and run.json give one run.
func TestPropertiesRoundTripRecordedSections(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("..", "checklist", "testdata", "runs", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no recorded runs: %v", err)
	}
	n := 0
	for _, dir := range dirs {
		run, err := ReadRun(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range run.Sections {
			props := map[string]string{}
			for _, p := range s.Properties() {
				props[p[0]] = p[1]
			}
			got, ok, err := SectionFromProperties(props)
			if err != nil || !ok {
				t.Fatalf("%s %s: %v", dir, s.ID(), err)
			}
			want := s
			want.Title, want.Expected, want.Optional, want.Deviation, want.Test, want.Cases = "", "", false, "", "", nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("%s %s: read back as\n%+v\nwant\n%+v", dir, s.ID(), got, want)
			}
			n++
		}
	}
	if n < 100 {
		t.Errorf("only %d sections checked", n)
	}
}

// The telemetry peaks read back whole, what each GPU showed at load included (no recorded run
// used a GPU).
func TestPropertiesRoundTripPeaks(t *testing.T) {
	s := Section{Section: "04", Name: "train", Result: Pass, Peaks: &Peaks{MemMiB: "900", UtilPct: "97", TempC: "62", PowerW: "380",
		AtLoad: []string{"GPU 3 at load (4 samples): SM clock down to 1980 MHz; PCIe gen 3 x4"}}}
	props := map[string]string{}
	for _, p := range s.Properties() {
		props[p[0]] = p[1]
	}
	got, ok, err := SectionFromProperties(props)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, s.Peaks, got.Peaks)
}
