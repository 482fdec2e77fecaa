package checklist

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/printable"
	"github.com/difftrain/gpusmoke/view"
)

// promText is smoke.prom (Prom) of the run.
func promText(e *view.Evidence, _ view.Options) ([]byte, string, error) {
	s := summaryOf(e)
	return Prom(&s), "", nil
}

// Prom renders smoke.prom (evidence.PromFile) from the run's summary.json (s): the run's result
// in node_exporter's textfile-collector format, for a fleet's dashboards and alerts. Copy or
// link it into the collector's directory (--collector.textfile.directory); node_exporter adds
// its own instance label. Its gauges, each documented in its
// HELP line:
//
//	gpusmoke_run_info{host,gpu,driver,harness,target,plan,plan_sha256,fixture,gpu_used} 1
//	gpusmoke_plan_deviations                   the steps whose command differs from the runbook
//	gpusmoke_verdict{verdict}                  1 for the run's verdict, 0 for each other one
//	gpusmoke_failed                            1 when the run failed or was interrupted
//	gpusmoke_section_result{section,result}    1 for the section's result, 0 for each other one
//	gpusmoke_section_failed{section}           1 when the section failed or was interrupted
//	gpusmoke_run_start_timestamp_seconds       started_utc as unix seconds
//	gpusmoke_run_finish_timestamp_seconds      finished_utc (absent until the run ended)
//	gpusmoke_gpu_failed{gpu,uuid}              a node run's GPU: 1 when it failed
//	gpusmoke_gpu_train_seconds{gpu,uuid}       a node run's GPU: its training's wall time
//	gpusmoke_bad_gpus                          a node run: how many of its GPUs failed
//
// The design, for alert rules: an enum is a "state set", one series per possible value with 1
// for the value it has and 0 for the others (as kube-state-metrics writes a pod's phase), so
// that every series exists on every node whatever the result, and a result that changes from
// one run to the next changes a value rather than making one series vanish and another appear.
// `gpusmoke_section_result{result="FAIL"} == 1` alerts on a section and says which;
// gpusmoke_failed and gpusmoke_section_failed are the same facts as plain 0/1 numbers for
// `== 1` alerts and for sums over a fleet (`sum(gpusmoke_failed)` is the nodes to send back). A
// SKIPPED section is not failed: sections after a failure are SKIPPED, and only the first one
// caused it. The timestamps let a rule catch a node whose last run is old:
// `time() - gpusmoke_run_finish_timestamp_seconds > 7*86400`. No sample carries a timestamp
// (the textfile collector refuses them). Label values are escaped as the format says: \\, \"
// and \n.
func Prom(s *evidence.Summary) []byte {
	var w promWriter
	w.family("gpusmoke_run_info", "The gpusmoke run whose results follow: the host, its GPUs and driver as NVML saw them, the harness version, what ran (difftrain, difftrain with stand-in model packages, or the bundled fixture), the plan and its sha256, and whether the training used a GPU. Always 1.")
	w.sample("gpusmoke_run_info", "1", "host", s.Host, "gpu", view.GPUWords(s.GPUs), "driver", s.Driver,
		"harness", s.Harness.Version, "target", s.Target, "plan", s.Plan.Name, "plan_sha256", s.Plan.SHA256,
		"fixture", strconv.FormatBool(s.Fixture), "gpu_used", strconv.FormatBool(s.GPUUsed))
	w.family("gpusmoke_plan_deviations", "The steps of the plan that ran whose command differs from the runbook's, each with a written reason.")
	w.sample("gpusmoke_plan_deviations", strconv.Itoa(s.Plan.Deviations))

	w.family("gpusmoke_verdict", "The run's verdict: 1 for the verdict it has, 0 for each of the others ("+strings.Join(evidence.Verdicts, ", ")+").")
	w.stateSet("gpusmoke_verdict", "verdict", evidence.Verdicts, s.Verdict)
	w.family("gpusmoke_failed", "1 when the run failed or was interrupted, else 0 (PASS, or INCOMPLETE: a -run filter left sections out).")
	w.sample("gpusmoke_failed", bit(evidence.ExitCode(s.Verdict) == evidence.ExitFailed))

	w.family("gpusmoke_section_result", "Each section's result: 1 for the result it has, 0 for each of the others ("+strings.Join(evidence.Results, ", ")+").")
	for _, sec := range s.Sections {
		w.stateSet("gpusmoke_section_result", "result", evidence.Results, sec.Result, "section", sec.ID)
	}
	w.family("gpusmoke_section_failed", "1 when the section failed or was interrupted, else 0 (a section SKIPPED after an earlier failure is 0).")
	for _, sec := range s.Sections {
		w.sample("gpusmoke_section_failed", bit(sec.Result == evidence.Fail || sec.Result == evidence.Interrupted), "section", sec.ID)
	}
	if s.Node != nil {
		w.node(s.Node)
	}
	for _, t := range []struct{ name, help, v string }{
		{"gpusmoke_run_start_timestamp_seconds", "When the run started, in seconds since the Unix epoch.", s.StartedUTC},
		{"gpusmoke_run_finish_timestamp_seconds", "When the run ended, in seconds since the Unix epoch.", s.FinishedUTC},
	} {
		if sec, ok := unixSeconds(t.v); ok {
			w.family(t.name, t.help)
			w.sample(t.name, sec)
		}
	}
	return w.Bytes()
}

// promWriter writes the text format: families (HELP and TYPE) and their samples.
type promWriter struct{ bytes.Buffer }

func (w *promWriter) family(name, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", name, escapeHelp(help), name)
}

// sample writes one sample; labels are name, value pairs.
func (w *promWriter) sample(name string, v string, labels ...string) {
	w.WriteString(name)
	if len(labels) > 0 {
		w.WriteByte('{')
		for i := 0; i+1 < len(labels); i += 2 {
			if i > 0 {
				w.WriteByte(',')
			}
			w.WriteString(labels[i] + `="` + escapeLabel(labels[i+1]) + `"`)
		}
		w.WriteByte('}')
	}
	w.WriteString(" " + v + "\n")
}

// stateSet writes one sample per possible value (and the value had, when it is not one of
// them, so that a value this renderer does not know still shows): 1 for the value had, else 0.
func (w *promWriter) stateSet(name, label string, values []string, had string, labels ...string) {
	if !slices.Contains(values, had) {
		values = append(values[:len(values):len(values)], had)
	}
	for _, v := range values {
		w.sample(name, bit(v == had), append(labels[:len(labels):len(labels)], label, v)...)
	}
}

// node writes a node run's families: each GPU's failure and training time, and the bad GPUs.
func (w *promWriter) node(n *evidence.SummaryNode) {
	w.family("gpusmoke_gpu_failed", "In a node run, 1 when the GPU's own run of the plan failed or was interrupted, or a finding that fails the node names it, else 0.")
	for _, g := range n.GPUs {
		w.sample("gpusmoke_gpu_failed", bit(g.Bad), "gpu", strconv.Itoa(g.Index), "uuid", g.UUID)
	}
	w.family("gpusmoke_gpu_train_seconds", "In a node run, the training section's wall time on the GPU.")
	for _, g := range n.GPUs {
		if g.TrainSeconds > 0 {
			w.sample("gpusmoke_gpu_train_seconds", strconv.FormatFloat(g.TrainSeconds, 'f', -1, 64), "gpu", strconv.Itoa(g.Index), "uuid", g.UUID)
		}
	}
	w.family("gpusmoke_bad_gpus", "In a node run, the GPUs that failed their run or that a finding that fails the node names.")
	w.sample("gpusmoke_bad_gpus", strconv.Itoa(n.BadGPUs))
}

func bit(ok bool) string {
	if ok {
		return "1"
	}
	return "0"
}

// unixSeconds is an RFC 3339 time as seconds since the epoch, with its fraction when it has one.
func unixSeconds(v string) (string, bool) {
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return "", false
	}
	sec := strconv.FormatInt(t.Unix(), 10)
	if ns := t.Nanosecond(); ns != 0 {
		sec += strings.TrimRight(fmt.Sprintf(".%09d", ns), "0")
	}
	return sec, true
}

// escapeLabel escapes a label value as the text format wants: backslash, double quote and
// line feed; every other control character is made visible (printable).
func escapeLabel(s string) string {
	return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(printable.String(s))
}

// escapeHelp escapes a HELP text: backslash and line feed.
func escapeHelp(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(s)
}
