package template

import (
	"fmt"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/view"
)

// A metaValue is what a Run Metadata field or an environment bullet is filled with: the value,
// shown as code when code is set. ok is false for a field the run cannot fill (no operator
// given): it stays blank.
type metaValue struct {
	v        string
	code, ok bool
}

func text(v string) metaValue { return metaValue{v: v, ok: true} }

// orNR is v, or "not recorded".
func orNR(v string) metaValue {
	if v == "" {
		return text(view.NotRecorded)
	}
	return text(v)
}

// metaRoles are the template's metadata fields, each with what fills it: the first whose key
// matches the field (lower case, Markdown emphasis and a trailing colon trimmed, white space
// collapsed) fills it. A field none matches may name packages (packageVersions); else it is
// not filled.
var metaRoles = []struct {
	key  func(k string) bool
	fill func(f *filler) metaValue
}{
	{is("date", "date (utc)", "run date", "date/time"), (*filler).date},
	{is("operator", "tester", "test engineer"), func(f *filler) metaValue { return metaValue{v: f.opts.Operator, ok: f.opts.Operator != ""} }},
	{is("location", "region", "cloud"), (*filler).location},
	{is("machine", "instance", "host", "instance type"), (*filler).machine},
	{is("vram", "gpu memory"), (*filler).vram},
	{prefix("gpu"), func(f *filler) metaValue { return text(f.e.GPUShort()) }},
	{contains("driver"), envFact(func(f *filler) string { return f.e.Env.NVML.DriverVersion })},
	{is("cudnn", "cudnn version"), envFact(func(f *filler) string { return f.e.Env.Python.Torch.CuDNN })},
	{prefix("cuda"), envFact((*filler).cuda)},
	{is("python", "python version"), (*filler).python},
	{is("pytorch", "pytorch version", "torch", "torch version"), envFact(func(f *filler) string { return f.e.Env.Python.Torch.Version })},
	{is("os", "os version", "operating system"), envFact((*filler).os)},
	{is("repo path", "repository path", "repo", "repository", "difftrain path"), func(f *filler) metaValue {
		return metaValue{v: f.e.Run.DifftrainDir, code: true, ok: f.e.Run.DifftrainDir != ""}
	}},
	{is("git commit", "commit", "git sha"), (*filler).commit},
	{prefix("working tree clean", "clean working tree", "tree clean"), (*filler).clean},
	{either(prefix("overall"), is("verdict")), func(f *filler) metaValue { return text(f.e.VerdictText()) }},
	{isSummary, func(f *filler) metaValue {
		return text("warnings: " + f.e.Warnings() + "; NaNs: " + f.e.NaNs() + "; failures: " + failures(f.e))
	}},
	{either(contains("artifact"), contains("log path"), is("logs")), (*filler).paths},
	{prefix("deviation"), func(f *filler) metaValue { return text(deviations(f.e)) }},
	{is("warnings"), func(f *filler) metaValue { return text(f.e.Warnings()) }},
	{is("nans", "nan", "nan losses"), func(f *filler) metaValue { return text(f.e.NaNs()) }},
	{is("failures", "errors", "issues encountered", "issues"), func(f *filler) metaValue { return text(failures(f.e)) }},
}

func is(keys ...string) func(string) bool {
	return func(k string) bool {
		for _, key := range keys {
			if k == key {
				return true
			}
		}
		return false
	}
}

func prefix(keys ...string) func(string) bool {
	return func(k string) bool {
		for _, key := range keys {
			if strings.HasPrefix(k, key) {
				return true
			}
		}
		return false
	}
}

func contains(word string) func(string) bool {
	return func(k string) bool { return strings.Contains(k, word) }
}

func either(keys ...func(string) bool) func(string) bool {
	return func(k string) bool {
		for _, key := range keys {
			if key(k) {
				return true
			}
		}
		return false
	}
}

// isSummary is a field that sums the run's problems up: "Warnings / NaNs / failures".
func isSummary(k string) bool {
	return strings.Contains(k, "warning") && (strings.Contains(k, "nan") || strings.Contains(k, "fail"))
}

// envFact fills a field from gpu_env.json: "not recorded" when the run recorded none, or
// when fact is empty.
func envFact(fact func(f *filler) string) func(f *filler) metaValue {
	return func(f *filler) metaValue {
		if f.e.Env == nil {
			return text(view.NotRecorded)
		}
		return orNR(fact(f))
	}
}

// meta is what fills a Run Metadata field or an environment bullet (metaRoles).
func (f *filler) meta(field string) metaValue {
	k := strings.ToLower(strings.TrimSpace(strings.Trim(strings.TrimSpace(field), "*_:")))
	k = strings.Join(strings.Fields(k), " ")
	for _, r := range metaRoles {
		if r.key(k) {
			return r.fill(f)
		}
	}
	return f.packageVersions(k)
}

func (f *filler) date() metaValue {
	t, _ := time.Parse(time.RFC3339, f.e.Run.StartedUTC)
	return text(t.UTC().Format("2006-01-02 15:04 UTC"))
}

func (f *filler) location() metaValue {
	switch {
	case f.opts.Location != "":
		return text(f.opts.Location)
	case f.e.Env == nil || f.e.Env.Host.SysVendor == "":
		return metaValue{}
	}
	return text(f.e.Env.Host.SysVendor)
}

func (f *filler) machine() metaValue {
	env := f.e.Env
	if env == nil {
		return text(view.NotRecorded)
	}
	v := env.Host.Hostname
	if inst := strings.TrimSpace(env.Host.SysVendor + " " + env.Host.ProductName); inst != "" {
		v = strings.TrimSpace(v + " (" + inst + ")")
	}
	return orNR(v)
}

func (f *filler) vram() metaValue {
	if f.e.Env == nil || len(f.e.Env.NVML.GPUs) == 0 {
		return text(view.NotRecorded)
	}
	return text(view.MiB(f.e.Env.NVML.GPUs[0].MemoryTotalBytes))
}

func (f *filler) cuda() string {
	var parts []string
	if v := f.e.Env.NVML.CUDADriverVersion; v != "" {
		parts = append(parts, v+" (driver)")
	}
	if v := f.e.Env.Python.Torch.CUDA; v != "" {
		parts = append(parts, v+" (torch build)")
	}
	return strings.Join(parts, "; ")
}

func (f *filler) python() metaValue {
	v := ""
	if f.e.Env != nil {
		v = f.e.Env.Python.Version
	}
	if f.e.Run.Python != "" {
		v = strings.TrimSpace(v + " (" + f.e.Run.Python + ")")
	}
	return orNR(v)
}

func (f *filler) os() string {
	h := f.e.Env.Host
	if h.Kernel != "" {
		return h.OS + ", kernel " + h.Kernel
	}
	return h.OS
}

func (f *filler) commit() metaValue {
	g := f.e.Run.Git
	if !g.IsRepo {
		return text(f.e.GitState())
	}
	return text(strings.TrimSpace(g.Commit + view.Paren(g.Branch)))
}

func (f *filler) clean() metaValue {
	switch {
	case !f.e.Run.Git.IsRepo:
		return text("NA (not a git repository)")
	case f.e.Run.Git.Clean:
		return text("Y")
	}
	return text("N")
}

func (f *filler) paths() metaValue {
	e := f.e
	return text(fmt.Sprintf("checklist %s; logs %s; artifacts %s", e.OutPath(evidence.ChecklistFile),
		e.OutPath(evidence.LogsDir+"/"), e.OutPath(evidence.CopiesDir+"/")))
}

// packageVersions fills a field that names packages of view.EnvPackages ("diffusers version",
// "diffusers/transformers version") with each one's version.
func (f *filler) packageVersions(k string) metaValue {
	if f.e.Env == nil {
		return metaValue{}
	}
	var pkgs []string
	for _, w := range strings.FieldsFunc(k, func(r rune) bool { return r == '/' || r == ',' || r == ' ' }) {
		for _, p := range view.EnvPackages {
			if strings.EqualFold(w, p) {
				pkgs = append(pkgs, p+" "+orNR(f.e.Env.Python.Packages[p]).v)
			}
		}
	}
	if len(pkgs) == 0 {
		return metaValue{}
	}
	return text(strings.Join(pkgs, " / "))
}

// deviations is each deviation's section and reason, joined; "none" when the plan has none.
func deviations(e *view.Evidence) string {
	var parts []string
	for _, d := range e.Deviations() {
		parts = append(parts, view.DeviationID(d)+": "+view.OrDash(d.Reason))
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

// failures is each failure, joined; "none" when nothing failed.
func failures(e *view.Evidence) string {
	var parts []string
	for _, f := range e.Failures() {
		parts = append(parts, f.Where+" "+f.Result+": "+f.Reason)
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "; ")
}

func (m metaValue) markdown() string {
	if m.code {
		return view.Code(m.v)
	}
	return view.Text(m.v)
}
