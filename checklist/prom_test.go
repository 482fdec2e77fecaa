package checklist

import (
	"bytes"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/recorded"
	"github.com/difftrain/gpusmoke/view"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// parseProm parses b as node_exporter's textfile collector does (the Prometheus text format,
// legacy metric and label names), and checks what the parser does not: a HELP and a gauge TYPE
// for every family, no sample timestamp (the collector refuses them), no label set twice in
// a family, and a trailing newline.
func parseProm(t *testing.T, b []byte) map[string]*dto.MetricFamily {
	t.Helper()
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("smoke.prom does not parse: %v\n%s", err, b)
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		t.Error("smoke.prom does not end with a newline")
	}
	for name, mf := range fams {
		if mf.Help == nil || mf.GetHelp() == "" || mf.GetType() != dto.MetricType_GAUGE {
			t.Errorf("%s: HELP %q, TYPE %v; want a HELP and a gauge", name, mf.GetHelp(), mf.GetType())
		}
		seen := map[string]bool{}
		for _, m := range mf.Metric {
			if m.TimestampMs != nil {
				t.Errorf("%s: a sample has a timestamp", name)
			}
			key := labelString(m)
			if seen[key] {
				t.Errorf("%s{%s} twice", name, key)
			}
			seen[key] = true
		}
	}
	return fams
}

func labelString(m *dto.Metric) string {
	var parts []string
	for _, l := range m.Label {
		parts = append(parts, l.GetName()+"="+strconv.Quote(l.GetValue()))
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// gauges is a family's samples by their labels ("result=\"PASS\",section=\"04-train\"").
func gauges(t *testing.T, fams map[string]*dto.MetricFamily, name string) map[string]float64 {
	t.Helper()
	mf, ok := fams[name]
	if !ok {
		t.Fatalf("smoke.prom has no %s", name)
	}
	out := map[string]float64{}
	for _, m := range mf.Metric {
		out[labelString(m)] = m.GetGauge().GetValue()
	}
	return out
}

func unix(t *testing.T, v string) float64 {
	t.Helper()
	tm, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		t.Fatal(err)
	}
	return float64(tm.UnixNano()) / 1e9
}

// Every recorded run's smoke.prom, written by Render beside summary.json, parses, and every
// value in it is what summary.json says.
func TestPromRecorded(t *testing.T) {
	for _, c := range recordedCases {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), c.name)
			renderInto(t, c.name, dir)
			s, err := evidence.ReadSummary(dir)
			if err != nil {
				t.Fatal(err)
			}
			fams := parseProm(t, recorded.ReadFile(t, filepath.Join(dir, evidence.PromFile)))

			wantFams := []string{"gpusmoke_failed", "gpusmoke_plan_deviations", "gpusmoke_run_info", "gpusmoke_run_start_timestamp_seconds",
				"gpusmoke_section_failed", "gpusmoke_section_result", "gpusmoke_verdict"}
			if s.FinishedUTC != "" {
				wantFams = append(wantFams, "gpusmoke_run_finish_timestamp_seconds")
			}
			if s.Node != nil {
				wantFams = append(wantFams, "gpusmoke_gpu_failed", "gpusmoke_gpu_train_seconds", "gpusmoke_bad_gpus")
				failed := gauges(t, fams, "gpusmoke_gpu_failed")
				for _, g := range s.Node.GPUs {
					want := 0.0
					if g.Bad {
						want = 1
					}
					if got := failed[`gpu="`+strconv.Itoa(g.Index)+`",uuid="`+g.UUID+`"`]; got != want {
						t.Errorf("gpusmoke_gpu_failed of gpu%d: %v, want %v", g.Index, got, want)
					}
				}
			}
			var names []string
			for n := range fams {
				names = append(names, n)
			}
			slices.Sort(names)
			slices.Sort(wantFams)
			if !slices.Equal(names, wantFams) {
				t.Errorf("families %q, want %q", names, wantFams)
			}

			info := gauges(t, fams, "gpusmoke_run_info")
			wantInfo := labelString(&dto.Metric{Label: []*dto.LabelPair{
				lp("host", s.Host), lp("gpu", view.GPUWords(s.GPUs)), lp("driver", s.Driver), lp("harness", s.Harness.Version),
				lp("target", s.Target), lp("plan", s.Plan.Name), lp("plan_sha256", s.Plan.SHA256),
				lp("fixture", strconv.FormatBool(s.Fixture)), lp("gpu_used", strconv.FormatBool(s.GPUUsed))}})
			if len(info) != 1 || info[wantInfo] != 1 {
				t.Errorf("gpusmoke_run_info %v, want {%s} 1", info, wantInfo)
			}

			verdicts := gauges(t, fams, "gpusmoke_verdict")
			if len(verdicts) != len(evidence.Verdicts) {
				t.Errorf("gpusmoke_verdict has %d series, want %d", len(verdicts), len(evidence.Verdicts))
			}
			for _, v := range evidence.Verdicts {
				if want := b2f(v == s.Verdict); verdicts[`verdict="`+v+`"`] != want {
					t.Errorf("gpusmoke_verdict{verdict=%q} = %v, want %v", v, verdicts[`verdict="`+v+`"`], want)
				}
			}
			if got := gauges(t, fams, "gpusmoke_failed")[""]; got != b2f(s.Verdict == evidence.Fail || s.Verdict == evidence.Interrupted) {
				t.Errorf("gpusmoke_failed %v, verdict %s", got, s.Verdict)
			}

			results := gauges(t, fams, "gpusmoke_section_result")
			failed := gauges(t, fams, "gpusmoke_section_failed")
			if len(results) != len(s.Sections)*len(evidence.Results) || len(failed) != len(s.Sections) {
				t.Errorf("%d section_result and %d section_failed series for %d sections", len(results), len(failed), len(s.Sections))
			}
			for _, sec := range s.Sections {
				for _, r := range evidence.Results {
					key := `result="` + r + `",section="` + sec.ID + `"`
					if v, ok := results[key]; !ok || v != b2f(r == sec.Result) {
						t.Errorf("gpusmoke_section_result{%s} = %v (present %v); summary.json: %s", key, v, ok, sec.Result)
					}
				}
				want := b2f(sec.Result == evidence.Fail || sec.Result == evidence.Interrupted)
				if v := failed[`section="`+sec.ID+`"`]; v != want {
					t.Errorf("gpusmoke_section_failed{section=%q} = %v, want %v (%s)", sec.ID, v, want, sec.Result)
				}
			}

			if got := gauges(t, fams, "gpusmoke_run_start_timestamp_seconds")[""]; got != unix(t, s.StartedUTC) {
				t.Errorf("start %v, summary.json's started_utc %s", got, s.StartedUTC)
			}
			if s.FinishedUTC != "" {
				if got := gauges(t, fams, "gpusmoke_run_finish_timestamp_seconds")[""]; got != unix(t, s.FinishedUTC) {
					t.Errorf("finish %v, summary.json's finished_utc %s", got, s.FinishedUTC)
				}
			}
		})
	}
}

func lp(name, value string) *dto.LabelPair { return &dto.LabelPair{Name: &name, Value: &value} }

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// A host name, a section and a verdict the text format cannot take as they are: a quote, a
// backslash and a line break. Written as they are, the parser refuses the line; Prom escapes
// them, and the parser gives back exactly the values.
func TestPromEscapes(t *testing.T) {
	host := "node \"7\" \\ rack\nB"
	section := `04-tr"ain\`
	// The line a writer that does not escape would produce: refused.
	naive := "# HELP x x\n# TYPE x gauge\nx{host=\"" + host + "\"} 1\n"
	p := expfmt.NewTextParser(model.LegacyValidation)
	if _, err := p.TextToMetricFamilies(strings.NewReader(naive)); err == nil {
		t.Fatal("the parser accepts an unescaped quote and line break: the case tests nothing")
	}

	s := &evidence.Summary{
		Verdict: "FAIL\"ED", Host: host, Driver: "560.35.03",
		GPUs:       []evidence.SummaryGPU{{Name: "GPU \\\"X\""}},
		StartedUTC: "2026-12-01T00:53:16.25Z", FinishedUTC: "not a time",
		Sections: []evidence.SummarySection{{ID: section, Result: "GREEN\n"}},
	}
	b := Prom(s)
	fams := parseProm(t, b)
	info := fams["gpusmoke_run_info"].Metric[0]
	got := map[string]string{}
	for _, l := range info.Label {
		got[l.GetName()] = l.GetValue()
	}
	if got["host"] != host || got["gpu"] != s.GPUs[0].Name {
		t.Errorf("labels read back: host %q, gpu %q", got["host"], got["gpu"])
	}
	if v := gauges(t, fams, "gpusmoke_verdict")[`verdict="FAIL\"ED"`]; v != 1 {
		t.Errorf("an unknown verdict is not shown as 1: %v", gauges(t, fams, "gpusmoke_verdict"))
	}
	if v := gauges(t, fams, "gpusmoke_failed")[""]; v != 1 {
		t.Errorf("an unknown verdict counts as failed: gpusmoke_failed %v", v)
	}
	if v := gauges(t, fams, "gpusmoke_section_result")[labelString(&dto.Metric{Label: []*dto.LabelPair{lp("section", section), lp("result", "GREEN\n")}})]; v != 1 {
		t.Errorf("section result read back: %v", gauges(t, fams, "gpusmoke_section_result"))
	}
	if v := gauges(t, fams, "gpusmoke_run_start_timestamp_seconds")[""]; v != 1796086396.25 {
		t.Errorf("start %v, want 1796086396.25", v)
	}
	if _, ok := fams["gpusmoke_run_finish_timestamp_seconds"]; ok {
		t.Error("a finish time that is not a time is written")
	}
	if !strings.Contains(string(b), `host="node \"7\" \\ rack\nB"`) {
		t.Errorf("host not escaped as the format says:\n%s", b)
	}
}
