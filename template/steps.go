package template

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/view"
)

// outcome is what a template row or item whose command cell names cands records: its result
// (PASS, FAIL or NA) and its note, in markdown. The first of matchers that knows the row says
// which section ran it; a row that none knows is NA, not in this plan (notInPlan).
func (f *filler) outcome(cands []string) (result, note string) {
	for _, m := range matchers {
		if result, note, ok := m(f, cands); ok {
			return result, note
		}
	}
	return f.notInPlan(cands, "")
}

// matchers find the section that ran a row, in order. A row is matched by what its command
// does (role) before its exact words: the template's commands need not be the plan's.
var matchers = []func(f *filler, cands []string) (result, note string, ok bool){
	each((*filler).role),
	each((*filler).sameCommand),
	(*filler).artifactCheck,
	each((*filler).nvidiaSMI),
	each((*filler).ampPrep),
	each((*filler).deviated),
}

// each tries m on each candidate command in turn.
func each(m func(f *filler, c string) (string, string, bool)) func(*filler, []string) (string, string, bool) {
	return func(f *filler, cands []string) (string, string, bool) {
		for _, c := range cands {
			if result, note, ok := m(f, c); ok {
				return result, note, true
			}
		}
		return "", "", false
	}
}

// cpuOnly is what a row whose expectation needs a GPU says on a run without GPU mode: the
// verdict counts what needs CUDA as NA there (evidence/verdict.go), and so does the row.
const cpuOnly = "a CPU-only run (GPU mode off): what needs CUDA is NA"

// role matches a template command to what the run did by what the command does, not its exact
// words: the repo-root check, the CUDA probe, an editable install of the checkout, a pytest lane
// (the template runs `pytest ...`, the plan `python -m pytest ...` with the suite's options),
// and an AMP run (the template runs the tracked config after editing it by hand; the harness
// runs a temporary copy, as the runbook requires).
func (f *filler) role(c string) (result, note string, ok bool) {
	w := shellWords(c)
	switch {
	case len(w) == 1 && w[0] == "pwd":
		return f.pwd()
	case strings.Contains(c, "torch.cuda.is_available"):
		return f.cudaProbe()
	case isPipInstall(w):
		return f.install(c, w)
	case pytestArgs(w) != nil:
		for _, s := range f.e.Sections {
			if a := pytestArgs(shellWords(NormalizeCommand(s.Command))); a != nil && slices.Equal(a, pytestArgs(w)) {
				result, note := f.sectionOutcome(s, c)
				return result, note, true
			}
		}
	case isScript(w, "train_text_to_image.py"):
		return f.amp(c)
	}
	return "", "", false
}

func (f *filler) pwd() (string, string, bool) {
	e := f.e
	if e.Run.DifftrainDir == "" {
		return evidence.NA, "the checkout's path was not recorded", true
	}
	return evidence.Pass, view.Text(fmt.Sprintf("commands ran in the workspace %s, the parent of the checkout %s", e.Run.Workspace, e.Run.DifftrainDir)), true
}

// cudaProbe is the row of `python -c "import torch; print(torch.cuda.is_available())"`: what
// preflight's probe of torch found.
func (f *filler) cudaProbe() (string, string, bool) {
	e := f.e
	if s, found := f.named("preflight"); found {
		f.used[s.Section] = true
	}
	if e.Env == nil || e.Env.Python.Torch.Version == "" {
		return evidence.NA, "preflight's probe of torch was not recorded", true
	}
	t := e.Env.Python.Torch
	if t.Version == gpuenv.NotInstalled {
		return evidence.NA, view.Text("torch was not installed at preflight (" + e.Run.Python + ")"), true
	}
	probe := fmt.Sprintf("preflight's probe: torch %s says %s", t.Version, pyBool(t.CUDAAvailable))
	switch {
	case t.CUDAAvailable:
		return evidence.Pass, view.Text(probe), true
	case !e.Run.GPUMode:
		return evidence.NA, view.Text(probe + "; " + cpuOnly), true
	}
	return evidence.Fail, view.Text(probe), true
}

// install is the row of an editable install of the checkout: the install section's result when
// it pip installed the checkout with every extra the row names, else NA: fewer extras are not
// this row. An install section that ran no pip (an import check in its place) is for deviated
// and notInPlan.
func (f *filler) install(c string, w []string) (string, string, bool) {
	s, found := f.named("install")
	ran := shellWords(NormalizeCommand(s.Command))
	if !found || !isPipInstall(ran) {
		return "", "", false
	}
	if missing := slices.DeleteFunc(extras(w), func(x string) bool { return slices.Contains(extras(ran), x) }); len(missing) > 0 {
		word := " extra"
		if len(missing) > 1 {
			word = " extras"
		}
		result, note := f.notInPlan([]string{c}, view.Text("it installs the "+strings.Join(missing, ", ")+word+" too"))
		return result, note, true
	}
	result, note := f.sectionOutcome(s, c)
	return result, note, true
}

// amp is the row of an AMP run as the template writes it: the tracked config, with an output
// directory ending _fp16 or _bf16.
func (f *filler) amp(c string) (string, string, bool) {
	out := flagOf(c, "--output-dir")
	for _, p := range []string{"fp16", "bf16"} {
		if strings.HasSuffix(path.Clean(out), "_"+p) && !strings.Contains(configBase(c), p) {
			s, found := f.named("amp-" + p)
			if !found {
				return "", "", false
			}
			result, note := f.sectionOutcome(s, c, view.Text("train.precision: "+p+" set in a temporary config, not by editing the tracked one"))
			return result, note, true
		}
	}
	return "", "", false
}

// sameCommand is the section that ran the row's command, word for word after NormalizeCommand.
func (f *filler) sameCommand(c string) (string, string, bool) {
	for _, s := range f.e.Sections {
		if s.Command != "" && NormalizeCommand(s.Command) == c {
			result, note := f.sectionOutcome(s, c)
			return result, note, true
		}
	}
	return "", "", false
}

// artifactCheck is a row whose every command names a file the runbook's step 5 checks: the
// artifacts section's result, and for a single file the copy the evidence keeps of it.
func (f *filler) artifactCheck(cands []string) (string, string, bool) {
	s, ok := f.named(artifactSectionName)
	if !ok || slices.ContainsFunc(cands, func(c string) bool { return !isArtifactCheck(strings.Fields(c)) }) {
		return "", "", false
	}
	kept := ""
	if w := strings.Fields(cands[0]); len(cands) == 1 && len(w) == 1 {
		if fl, ok := f.copyOf(w[0]); ok {
			kept = fmt.Sprintf("kept as %s (sha256 %s…)", fl.Path, fl.SHA256[:12])
		} else {
			kept = "no copy in " + evidence.CopiesDir + "/"
		}
	}
	result, note := f.sectionOutcome(s, "", view.Text(kept))
	return result, note, true
}

// nvidiaSMI is the row of nvidia-smi: preflight records its output.
func (f *filler) nvidiaSMI(c string) (string, string, bool) {
	e := f.e
	s, ok := f.named("preflight")
	if w := strings.Fields(c); !ok || len(w) == 0 || w[0] != "nvidia-smi" {
		return "", "", false
	}
	out := e.OutPath(evidence.NvidiaSMIFile)
	switch {
	case !e.HasSMI:
		f.used[s.Section] = true
		return evidence.NA, "nvidia-smi output not recorded", true
	case e.Env == nil || !e.Env.NVML.Available:
		f.used[s.Section] = true
		why := "no GPU visible: " + firstLine(e.SMI) + "; output in " + out
		if !e.Run.GPUMode {
			return evidence.NA, view.Text(why + "; " + cpuOnly), true
		}
		return evidence.Fail, view.Text(why), true
	}
	result, note := f.sectionOutcome(s, "", view.Text("output in "+out))
	return result, note, true
}

// ampPrep is a row that prepares an AMP run by hand (copying the config, setting
// train.precision): the AMP section does it itself.
func (f *filler) ampPrep(c string) (string, string, bool) {
	s, ok := f.prepSection(c)
	if !ok {
		return "", "", false
	}
	extra := "done by " + s.ID() + " itself"
	for _, t := range f.e.Run.TempConfigs {
		if path.Base(t) == configBase(s.Command) {
			extra += " (" + t + ")"
		}
	}
	result, note := f.sectionOutcome(s, "", view.Text(extra))
	return result, note, true
}

// deviated is the runbook's command for a step the plan runs another way: not in this plan,
// with the section that ran in its place.
func (f *filler) deviated(c string) (string, string, bool) {
	for _, d := range f.e.Deviations() {
		if d.Runbook == "" || NormalizeCommand(d.Runbook) != c {
			continue
		}
		if s, ok := f.section(d.Section); ok {
			result, note := f.notInPlan([]string{c}, "", s)
			return result, note, true
		}
	}
	return "", "", false
}

type stepRole struct {
	does  func(w []string) bool
	same  string
	parts []string
}

// stepRoles are what a template's step command does (does, on its shell words), with the
// sections of a plan that do that work, by name: same runs it itself (another way: its command
// is shown), parts do it between them in a plan that runs it another way (the runbook's plan
// runs the GPU smoke lane's steps by their scripts; the pytest-lanes plan runs the scripts'
// work inside its GPU lane).
var stepRoles = []stepRole{
	{isPipInstall, "install", nil},
	{pytestMarked("not slow"), "unit-lane", nil},
	{pytestMarked("cuda"), "gpu-lane", []string{"lane-artifacts", "dataset", "validate", "train", artifactSectionName}},
	{func(w []string) bool { return isScript(w, "make_dummy_imagefolder.py") }, "dataset", []string{"gpu-lane"}},
	{func(w []string) bool { return isScript(w, "validate_config.py") }, "validate", []string{"gpu-lane", "lane-artifacts"}},
	{training(""), "train", []string{"gpu-lane", "lane-artifacts"}},
	{training("resume"), "resume", nil},
	{training("fp16"), "amp-fp16", nil},
	{training("bf16"), "amp-bf16", nil},
	{isArtifactCheck, artifactSectionName, []string{"lane-artifacts"}},
}

// notInPlan is a row that no section of the plan ran: NA, "not in this plan", why when known,
// and what did its work in its place: own (by default stepRoles' same), with the command it ran
// and its deviation, and stepRoles' parts.
func (f *filler) notInPlan(cands []string, why string, own ...evidence.Section) (string, string) {
	same, parts := "", []string(nil)
	for _, c := range cands {
		if i := slices.IndexFunc(stepRoles, func(r stepRole) bool { return r.does(shellWords(c)) }); i >= 0 {
			same, parts = stepRoles[i].same, stepRoles[i].parts
			break
		}
	}
	var placed, deviation []string
	for _, s := range f.e.Sections {
		switch {
		case slices.ContainsFunc(own, func(o evidence.Section) bool { return o.Section == s.Section }) || len(own) == 0 && s.Name == same:
			f.used[s.Section] = true
			p := s.ID() + " " + s.Result
			if s.ExitCode != nil && s.Command != "" {
				p += ", which ran " + view.Code(s.Command)
			}
			placed = append(placed, p)
			if s.Deviation != "" {
				deviation = append(deviation, "deviation: "+view.Text(s.Deviation))
			}
		case slices.Contains(parts, s.Name):
			placed = append(placed, s.ID()+" "+s.Result)
		}
	}
	note := "not in this plan"
	if p := f.e.Run.Plan.Name; p != "" {
		note += " (" + view.Text(p) + ")"
	}
	switch {
	case why != "" && len(placed) == 0:
		return evidence.NA, note + ": " + why + "; no section of it does this"
	case len(placed) == 0:
		return evidence.NA, note + ": no section of it does this"
	case why != "":
		note += ": " + why
	}
	return evidence.NA, strings.Join(append([]string{note + "; in its place: " + strings.Join(placed, ", ")}, deviation...), "; ")
}

// sectionOutcome is a row's result and note from the section s that ran it: the section, the
// command it ran when its words are not the row's (row, normalized; "" for a row that names no
// command of a section), its time, its notes and extra (markdown).
func (f *filler) sectionOutcome(s evidence.Section, row string, extra ...string) (string, string) {
	f.used[s.Section] = true
	head, result := s.ID(), s.Result
	if result != evidence.Pass && result != evidence.Fail { // NA, SKIPPED, INTERRUPTED, NOT RUN
		head += " " + s.Result
		result = evidence.NA
	}
	if s.Duration != "" {
		head += " in " + s.Duration + " s"
	}
	if row != "" && s.ExitCode != nil && s.Command != "" && NormalizeCommand(s.Command) != row {
		head += ", which ran " + view.Code(s.Command)
	}
	var notes []string
	if n := view.Notes(s); n != "" {
		notes = append(notes, view.Text(n))
	}
	for _, x := range extra {
		if x != "" {
			notes = append(notes, x)
		}
	}
	return result, strings.Join(append([]string{head}, f.once(notes)...), "; ")
}

// pytestArgs are the arguments of a pytest command (`pytest ...` or `python -m pytest ...`)
// but the options the suite adds to a lane (evidence.LaneFlags), or nil when w runs no pytest.
func pytestArgs(w []string) []string {
	for i, a := range w {
		if a == "pytest" && (i == 0 || i >= 2 && w[i-1] == "-m") {
			args := []string{}
			for j := i + 1; j < len(w); j++ {
				if slices.Contains(evidence.LaneFlags, w[j]) {
					j++
					continue
				}
				args = append(args, w[j])
			}
			return args
		}
	}
	return nil
}

// pytestMarked says whether a command runs pytest with a -m expression that holds marker. The
// expression is the words after -m up to the next option: NormalizeCommand drops its quotes.
func pytestMarked(marker string) func(w []string) bool {
	return func(w []string) bool {
		a := pytestArgs(w)
		i := slices.Index(a, "-m")
		if i < 0 {
			return false
		}
		expr := a[i+1:]
		if j := slices.IndexFunc(expr, func(x string) bool { return strings.HasPrefix(x, "-") }); j >= 0 {
			expr = expr[:j]
		}
		return strings.Contains(" "+strings.Join(expr, " ")+" ", " "+marker+" ")
	}
}

// isScript says whether a command runs the checkout's script of that name.
func isScript(w []string, name string) bool {
	return slices.ContainsFunc(w, func(a string) bool { return path.Base(a) == name })
}

// training says whether a command runs the training script as kind: "resume" (--resume-from),
// "fp16" or "bf16" (named in its config or output directory), or "" for the plain fp32 run.
func training(kind string) func(w []string) bool {
	return func(w []string) bool {
		if !isScript(w, "train_text_to_image.py") {
			return false
		}
		got, args := "", strings.Join(w, " ")
		switch {
		case slices.Contains(w, "--resume-from"):
			got = "resume"
		case strings.Contains(args, "fp16"):
			got = "fp16"
		case strings.Contains(args, "bf16"):
			got = "bf16"
		}
		return got == kind
	}
}

// isPipInstall says whether a command pip installs the difftrain checkout.
func isPipInstall(w []string) bool {
	return slices.Contains(w, "pip") && slices.Contains(w, "install") && slices.ContainsFunc(w, isCheckoutSpec)
}

// isCheckoutSpec says whether a pip argument installs the difftrain checkout: "./difftrain",
// "./difftrain[text2image]", ".[text2image,dev]".
func isCheckoutSpec(a string) bool {
	base, _, _ := strings.Cut(a, "[")
	base = strings.TrimSuffix(base, "/")
	return path.Base(base) == "difftrain" || base == "."
}

// extras are the extras a pip install of the checkout names: [text2image,dev].
func extras(w []string) []string {
	var out []string
	for _, a := range w {
		if _, x, ok := strings.Cut(a, "["); ok && isCheckoutSpec(a) {
			for _, e := range strings.Split(strings.TrimSuffix(x, "]"), ",") {
				if e = strings.TrimSpace(e); e != "" {
					out = append(out, e)
				}
			}
		}
	}
	return out
}

// firstLine is the first non-blank line of text, trimmed.
func firstLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func (f *filler) section(number string) (evidence.Section, bool) {
	for _, s := range f.e.Sections {
		if s.Section == number {
			return s, true
		}
	}
	return evidence.Section{}, false
}

// named is the section of that name.
func (f *filler) named(name string) (evidence.Section, bool) {
	for _, s := range f.e.Sections {
		if s.Name == name {
			return s, true
		}
	}
	return evidence.Section{}, false
}

// copyOf is the evidence copy of a runbook artifact path such as ./difftrain/_tmp_run/env.json:
// artifacts/<section>/<name>, copied by the section whose command writes into that directory.
func (f *filler) copyOf(p string) (view.File, bool) {
	dir := path.Clean(path.Dir(p))
	var best view.File
	for _, fl := range f.e.Files {
		if fl.Missing || path.Base(fl.Path) != path.Base(p) || path.Dir(path.Dir(fl.Path)) != evidence.CopiesDir {
			continue
		}
		for _, s := range f.e.Sections {
			if s.ID() == path.Base(path.Dir(fl.Path)) && path.Clean(flagOf(s.Command, "--output-dir")) == dir &&
				(best.Path == "" || fl.Path > best.Path) {
				best = fl // the latest section's: training overwrites validation's files of the same name
			}
		}
	}
	return best, best.Path != ""
}

// flagOf is the value of the option flag in a command line, or "".
func flagOf(cmd, flag string) string {
	v, _ := evidence.Flag(shellWords(cmd), flag)
	return v
}

// configBase is the base name of a command's --config value.
func configBase(cmd string) string {
	if v := flagOf(cmd, "--config"); v != "" {
		return path.Base(v)
	}
	return ""
}

// prepSection is the AMP section that does what candidate c prepares by hand: copying the
// smoke config to the AMP section's temporary config, or editing train.precision.
func (f *filler) prepSection(c string) (evidence.Section, bool) {
	w := strings.Fields(c)
	if len(w) >= 3 && w[0] == "cp" {
		target := path.Base(w[len(w)-1])
		for _, s := range f.e.Sections {
			if s.Command != "" && configBase(s.Command) == target {
				return s, true
			}
		}
		return evidence.Section{}, false
	}
	if strings.Contains(c, "train.precision") {
		for _, s := range f.e.Sections {
			if strings.Contains(configBase(s.Command), "fp16") {
				return s, true
			}
		}
	}
	return evidence.Section{}, false
}

// artifactSectionName is the section that checks difftrain's output files; a template row
// whose command cell only names those files is matched to it.
const artifactSectionName = "artifacts"

// runbookArtifacts are the repro files the runbook's step 5 lists (the checkpoints match checkptRE).
var runbookArtifacts = []string{"env.json", "config.resolved.yaml", "run_manifest.json"}

// isArtifactCheck says whether a command only lists, tests or hashes the files the runbook's
// step 5 checks.
func isArtifactCheck(words []string) bool {
	if len(words) > 0 && slices.Contains([]string{"ls", "stat", "test", "[", "sha256sum", "du", "file"}, words[0]) {
		words = words[1:]
	}
	n := 0
	for _, w := range words {
		if strings.HasPrefix(w, "-") || w == "]" {
			continue
		}
		b := path.Base(w)
		if !slices.Contains(runbookArtifacts, b) && !checkptRE.MatchString(b) {
			return false
		}
		n++
	}
	return n > 0
}
