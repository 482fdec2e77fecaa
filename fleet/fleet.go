// Package fleet reports on a fleet of smoke runs, one evidence directory per instance (a node of
// a Slurm job, a pod of an Indexed Job), from their summary.json alone: fleet.md and fleet.json,
// the failures grouped by reason.
package fleet

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/printable"
	"github.com/difftrain/gpusmoke/view"
)

// The fleet report: several runs, one evidence directory per instance (a node of a Slurm job,
// a pod of an Indexed Job), read from their summary.json alone so that a fleet of a thousand
// renders in well under a second, into fleet.md and fleet.json (Report).

// Member is one run of a fleet: the name the report gives it and its evidence directory.
type Member struct {
	Name string
	Dir  string
}

// MatrixMax is the most instances the sections × instances matrix is drawn for; beyond
// it the matrix would not fit a page, and fleet.md says so in one line.
const MatrixMax = 8

// Report limits that keep fleet.md's lines readable whatever the fleet's size: a reason is cut
// to maxReasonChars (fleet.json has it whole), and a group names at most maxGroupNames instances.
const (
	maxReasonChars = 200
	maxGroupNames  = 10
)

// Dir is the members of a fleet directory root: with no nodes, every subdirectory of
// root (hidden ones aside), in natural order (n2 before n10); with nodes, root/<node> for
// each, in the order given, whether or not it exists (one that does not is MISSING).
func Dir(root string, nodes []string) ([]Member, error) {
	if st, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("fleet: %s is not a directory", root)
	}
	var out []Member
	if len(nodes) > 0 {
		seen := map[string]bool{}
		for _, n := range nodes {
			if n == "" || n == "." || n == ".." || strings.ContainsRune(n, '/') {
				return nil, fmt.Errorf("fleet: %q is not a node name (a directory name under %s)", n, root)
			}
			if seen[n] {
				return nil, fmt.Errorf("fleet: node %s is named twice", n)
			}
			seen[n] = true
			out = append(out, Member{Name: n, Dir: filepath.Join(root, n)})
		}
		return out, nil
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			continue
		}
		isDir := e.IsDir()
		if e.Type()&fs.ModeSymlink != 0 { // a node's directory may be a link to its storage
			st, err := os.Stat(filepath.Join(root, e.Name()))
			isDir = err == nil && st.IsDir()
		}
		if isDir {
			out = append(out, Member{Name: e.Name(), Dir: filepath.Join(root, e.Name())})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("fleet: %s holds no evidence directories", root)
	}
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(naturalCompare(a.Name, b.Name), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// Members names each of dirs by its base name, or by its whole path when two base names are
// the same.
func Members(dirs []string) []Member {
	out := make([]Member, len(dirs))
	seen := map[string]int{}
	for i, d := range dirs {
		out[i] = Member{Name: filepath.Base(filepath.Clean(d)), Dir: d}
		seen[out[i].Name]++
	}
	for i, d := range dirs {
		if seen[out[i].Name] > 1 {
			out[i].Name = filepath.ToSlash(filepath.Clean(d))
		}
	}
	return out
}

// naturalCompare orders names with their runs of digits compared as numbers: "n2" < "n10".
func naturalCompare(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			x, y := strings.TrimLeft(a[:da], "0"), strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(x), len(y)); c != 0 {
				return c
			}
			if c := strings.Compare(x, y); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if a[0] != b[0] {
			return cmp.Compare(a[0], b[0])
		}
		a, b = a[1:], b[1:]
	}
	return cmp.Compare(len(a), len(b))
}

func digitRun(s string) int {
	n := 0
	for n < len(s) && s[n] >= '0' && s[n] <= '9' {
		n++
	}
	return n
}

// Build reads each instance's summary.json (several at once: fleet storage is often a
// network file system) and sums the fleet up. An instance whose summary.json is absent or
// unreadable is MISSING, with the reason; it never stops the report. base is the directory
// fleet.json will be written to: each instance's Dir is made relative to it when below it.
//
// sdcMode is SMOKE_SDC's value: how a run whose results differ from its group's majority
// counts (compareResults).
func Build(members []Member, base, sdcMode string) *Report {
	f := &Report{
		SchemaVersion: SchemaVersion,
		Counts:        map[string]int{},
		Instances:     make([]Instance, len(members)),
		Failures:      []Group{},
		Compared:      []Compared{},
	}
	absBase, _ := filepath.Abs(base)
	missingKeys := make([]string, len(members))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(len(members), max(8, 2*runtime.GOMAXPROCS(0))) {
		wg.Go(func() {
			for i := range work {
				f.Instances[i], missingKeys[i] = readInstance(members[i], absBase)
			}
		})
	}
	for i := range members {
		work <- i
	}
	close(work)
	wg.Wait()

	groups := map[[3]string]int{} // verdict, section, reason → index in f.Failures
	incomplete := false
	for i, in := range f.Instances {
		f.Counts[in.Verdict]++
		if isFixture(in) {
			f.FixtureRuns++
		}
		if isConformance(in) {
			f.ConformanceRuns++
		}
		if isCPUOnly(in) {
			f.CPUOnlyRuns++
		}
		incomplete = incomplete || in.Verdict == evidence.Incomplete
		if in.Verdict == evidence.Pass || in.Verdict == evidence.Incomplete {
			continue
		}
		for _, fl := range failures(in, missingKeys[i]) {
			k := [3]string{fl.verdict, fl.section, fl.reason}
			j, ok := groups[k]
			if !ok {
				j = len(f.Failures)
				groups[k] = j
				f.Failures = append(f.Failures, Group{Verdict: fl.verdict, Section: fl.section, Reason: fl.reason, GPUs: fl.gpu})
			}
			f.Failures[j].Instances = append(f.Failures[j].Instances, fl.name)
		}
	}
	f.countGPUs()
	f.compareResults(sdcMode)
	for _, c := range f.Compared {
		if c.Fail {
			f.Failures = append(f.Failures, Group{Verdict: evidence.Fail, Reason: "computes differently from its group's majority (" + c.Group + "): " + c.Say, Instances: c.Differ})
		}
	}
	slices.SortStableFunc(f.Failures, func(a, b Group) int { return len(b.Instances) - len(a.Instances) })
	switch {
	case len(f.Failures) > 0:
		f.Verdict = evidence.Fail
	case incomplete:
		f.Verdict = evidence.Incomplete
	default:
		f.Verdict = evidence.Pass
	}
	f.ExitCode = evidence.ExitCode(f.Verdict)
	return f
}

// readInstance reads one instance's summary.json. For a MISSING instance it also returns why,
// with its directory written as {out}: what failureKey groups it by.
func readInstance(in Member, absBase string) (Instance, string) {
	fi := Instance{Name: in.Name, Dir: relDir(in.Dir, absBase)}
	sum := filepath.Join(in.Dir, evidence.SummaryFile)
	missing := func(why string) (Instance, string) {
		// The paths as the report shows them (fi.Dir), and as the group's key.
		fi.Verdict, fi.ExitCode = evidence.Missing, 1
		fi.MissingReason = strings.NewReplacer(sum, path.Join(fi.Dir, evidence.SummaryFile), in.Dir, fi.Dir).Replace(why)
		return fi, strings.NewReplacer(sum, "{out}/"+evidence.SummaryFile, in.Dir, "{out}").Replace(why)
	}
	switch st, err := os.Stat(in.Dir); {
	case errors.Is(err, fs.ErrNotExist):
		return missing("no evidence directory " + in.Dir)
	case err != nil:
		return missing(err.Error())
	case !st.IsDir():
		return missing(in.Dir + " is not a directory")
	}
	s, err := evidence.ReadSummary(in.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return missing("no " + sum + ": the run did not end, or was never rendered")
	}
	if err != nil {
		return missing(err.Error())
	}
	fi.Verdict, fi.ExitCode = s.Verdict, evidence.ExitCode(s.Verdict)
	fi.Host, fi.GPU, fi.Driver = s.Host, view.GPUWords(s.GPUs), s.Driver
	if len(s.GPUs) > 0 {
		fi.GPUs = s.GPUs
	}
	if len(s.Sections) > 0 {
		fi.Sections = s.Sections
	}
	fi.Fixture, fi.Target, fi.Plan, fi.GPUUsed = s.Fixture, s.Target, s.Plan.Name, s.GPUUsed
	fi.StartedUTC, fi.FinishedUTC, fi.Out = s.StartedUTC, s.FinishedUTC, s.Out
	fi.FirstFailure, fi.PeakMemMiB = s.FirstFailure, s.PeakMemMiB
	fi.Node, fi.Computed = s.Node, s.Computed
	return fi, ""
}

// relDir is dir relative to absBase when it lies below it, else absolute.
func relDir(dir, absBase string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return dir
	}
	if rel, err := filepath.Rel(absBase, abs); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
		return filepath.ToSlash(rel)
	}
	return abs
}

// failureKey is what a failed instance is grouped by: its first failure's section and that
// failure's reason, normalised (normaliseReason); for a MISSING instance, why it is missing
// (missing, with its directory already written as {out}), normalised.
func failureKey(in Instance, missing string) (section, reason string) {
	switch {
	case in.Verdict == evidence.Missing:
		return "", normaliseReason(missing, in)
	case in.FirstFailure == nil:
		return "", "no section failed: a guardrail or the suite did (see its checklist.md)"
	}
	return in.FirstFailure.ID, normaliseReason(reasonText(in.FirstFailure), in)
}

// reasonText is a failure's reason without the "04-train: " its section's name often starts
// it with (the report shows the section beside it).
func reasonText(s *evidence.SummarySection) string {
	r := strings.TrimSpace(strings.TrimPrefix(s.Reason, s.ID+": "))
	if r == "" {
		return "(no reason recorded)"
	}
	return r
}

// What differs between two nodes that failed for the same reason, each replaced by a
// placeholder (normaliseReason).
var (
	reTimestamp = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?`)
	reUUID      = regexp.MustCompile(`(?i)\b(?:GPU-|MIG-)?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b`)
	rePCI       = regexp.MustCompile(`(?i)\b(?:[0-9a-f]{4,8}:)?[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]\b`)
	reHex       = regexp.MustCompile(`(?i)\b0x[0-9a-f]+\b`)
	rePID       = regexp.MustCompile(`(?i)\bpid([ =:]+)\d+`)
	reDuration  = regexp.MustCompile(`\b\d+(?:\.\d+)?( ?)(ms|s|min|h)\b`)
	reDecimal   = regexp.MustCompile(`\b\d+\.\d+(?:\.\d+)*\b`)
)

// normaliseReason turns one instance's failure reason into the words it shares with every
// other instance that failed the same way, so that "3 instances: Xid 79 in 04-train" is one
// group however the nodes are named. The rule, in order:
//
//   - the run's own directory becomes {out}: its SMOKE_OUT as summary.json records it (and, for
//     a MISSING instance, the directory the report looked in: readInstance);
//   - timestamps become {time}, GPU and MIG UUIDs {uuid}, PCI bus ids {pci}, hex numbers {hex},
//     process ids "pid {n}";
//   - a number with a time unit becomes "{n}s" (an interruption "after 12s" and "after 15s"),
//     and any other number with a decimal point {n} (memory in an OOM message, a version);
//   - the instance's name and its host name become {host} where they stand as whole words, when
//     at least 3 characters long (a shorter one is too likely to be an ordinary word).
//
// A placeholder is a word in braces: plain text in markdown, read in fleet.md as it is written
// (angle brackets would be HTML there, and escaped into entities).
//
// Whole numbers stay: an exit code, an Xid, a step or a GPU index is what tells two failures
// apart. Other paths stay too: a checkout or a file outside the run's directory is the same on
// every node of a uniform fleet, and when it is not, the difference may be the failure.
func normaliseReason(reason string, in Instance) string {
	r := reason
	if out := strings.TrimSuffix(in.Out, "/"); len(out) > 1 {
		r = strings.ReplaceAll(r, out, "{out}")
	}
	r = reTimestamp.ReplaceAllString(r, "{time}")
	r = reUUID.ReplaceAllString(r, "{uuid}")
	r = rePCI.ReplaceAllString(r, "{pci}")
	r = reHex.ReplaceAllString(r, "{hex}")
	r = rePID.ReplaceAllString(r, "pid$1{n}")
	r = reDuration.ReplaceAllString(r, "{n}$1$2")
	r = reDecimal.ReplaceAllString(r, "{n}")
	words := []string{in.Name, in.Host}
	if len(in.Name) < len(in.Host) { // the longer first: a host name often starts with the node's
		words[0], words[1] = words[1], words[0]
	}
	for _, w := range words {
		if len(w) >= 3 {
			r = regexp.MustCompile(`\b`+regexp.QuoteMeta(w)+`\b`).ReplaceAllString(r, "{host}")
		}
	}
	return r
}

// Write reads the fleet of instances and writes its report to the markdown file md
// and fleet.json beside it (evidence.FleetJSONPath), then appends the markdown to
// opts.StepSummary when set. It returns the fleet and the files written. Only a file that
// cannot be written is an error: a run that cannot be read is MISSING in the report.
func Write(md string, members []Member, opts view.Options) (*Report, []string, error) {
	if len(members) == 0 {
		return nil, nil, fmt.Errorf("fleet: no evidence directories")
	}
	base := filepath.Dir(md)
	f := Build(members, base, opts.SDC)
	var b bytes.Buffer
	Markdown(&b, f, opts)
	if err := evidence.WriteFileAtomic(md, b.Bytes(), 0o644); err != nil {
		return f, nil, err
	}
	written := []string{md}
	js := JSONPath(md)
	data, err := evidence.EncodeJSON(f, nil)
	if err == nil {
		err = evidence.WriteFileAtomic(js, data, 0o644)
	}
	if err != nil {
		return f, written, err
	}
	written = append(written, js)
	if opts.StepSummary != "" {
		if err := view.AppendFile(opts.StepSummary, b.Bytes()); err != nil {
			return f, written, err
		}
		written = append(written, opts.StepSummary)
	}
	return f, written, nil
}

// Markdown writes fleet.md: the verdict and counts, the banners said once for the whole
// fleet (fixture, conformance, CPU-only runs), the failures grouped by reason, which instance ran
// which plan when they ran several, the sections × instances matrix (sections in their plans'
// order) when the fleet has at most MatrixMax instances, and one row per instance.
func Markdown(b *bytes.Buffer, f *Report, opts view.Options) {
	n := len(f.Instances)
	fmt.Fprintf(b, "# difftrain smoke fleet: %s\n\n", view.Plural(n, "instance"))
	fmt.Fprintf(b, "Verdict: **%s** (%s)\n\n", f.Verdict, Counts(f))
	for _, bn := range banners {
		if k := count(f, bn.of); k > 0 {
			fmt.Fprintf(b, bn.format+"\n\n", ofN(k, n)+someNames(f, k, bn.of))
		}
	}

	b.WriteString("## Failures by reason\n\n")
	if len(f.Failures) == 0 {
		b.WriteString("None: no instance failed, was interrupted or is missing.\n")
	}
	for _, g := range f.Failures {
		where := g.Verdict
		if g.Section != "" {
			where += " in " + view.Code(g.Section)
		}
		unit := "instance"
		if g.GPUs {
			unit = "GPU"
		}
		fmt.Fprintf(b, "- **%s** %s: %s — %s\n", view.Plural(len(g.Instances), unit), where,
			view.Text(cut(g.Reason, maxReasonChars)), view.Text(nameList(g.Instances)))
	}

	writeCompared(b, f)
	writeNodes(b, f)

	b.WriteString("\n## Sections × instances\n\n")
	writePlans(b, f)
	if n > MatrixMax {
		fmt.Fprintf(b, "Not drawn: %d instances are more than %d. Each instance's checklist.md has its sections; fleet.json has them all.\n", n, MatrixMax)
	} else {
		writeFleetMatrix(b, f)
	}

	b.WriteString("\n## Instances\n\n")
	b.WriteString(view.Header("Instance", "Host", "GPU", "Driver", "Verdict", "First failure", "Reason", "Peak memory"))
	for _, in := range f.Instances {
		gpu, first, reason, peak := "no GPU", "—", "—", "—"
		if in.GPU != "" {
			gpu = view.Text(in.GPU)
		}
		switch {
		case in.Verdict == evidence.Missing:
			gpu, reason = "—", view.Text(cut(in.MissingReason, maxReasonChars))
		case in.FirstFailure != nil:
			first, reason = view.Code(in.FirstFailure.ID), view.Text(cut(reasonText(in.FirstFailure), maxReasonChars))
		}
		if in.PeakMemMiB != "" {
			peak = view.Text(in.PeakMemMiB) + " MiB"
		}
		verdict := view.ResultCell(in.Verdict)
		if in.Verdict == evidence.Missing {
			verdict = "**" + in.Verdict + "**"
		}
		b.WriteString(view.Row(instanceLink(in), view.OrDash(view.Text(in.Host)), gpu, view.OrDash(view.Text(in.Driver)), verdict,
			first, reason, peak) + "\n")
	}
	fmt.Fprintf(b, "\n---\n\nRendered %s from each instance's %s. Links and fleet.json's `dir` are relative to this file's directory, or absolute for a directory outside it.\n",
		opts.Time().Format("2006-01-02 15:04:05 UTC"), evidence.SummaryFile)
}

// banners are what fleet.md says once for the whole fleet, above the failures, each when it is
// true of some instance (of): format's %s is how many, and which when they are few.
var banners = []struct {
	of     func(Instance) bool
	format string
}{
	{isFixture, "> **FIXTURE RUNS:** %s ran the bundled stand-in for difftrain, not a real checkout. These results check the harness, not difftrain."},
	{isConformance, "> **CONFORMANCE RUNS:** %s ran difftrain with stand-in model packages: its own code ran, but not the model libraries it ships with."},
	{isCPUOnly, "**CPU only:** %s used no GPU."},
}

func isFixture(in Instance) bool { return in.Fixture }

// isConformance is a run of difftrain with the stand-in model packages (make conformance).
func isConformance(in Instance) bool { return in.Target == evidence.TargetStandins }

func isCPUOnly(in Instance) bool { return in.Verdict != evidence.Missing && !in.GPUUsed }

// count is how many instances of is true of.
func count(f *Report, of func(Instance) bool) int {
	k := 0
	for _, in := range f.Instances {
		if of(in) {
			k++
		}
	}
	return k
}

// writePlans says, when the instances ran more than one plan, which ran which: the matrix then
// holds sections that some instances' plans do not have.
func writePlans(b *bytes.Buffer, f *Report) {
	var plans []string
	who := map[string][]string{}
	for _, in := range f.Instances {
		if in.Plan == "" {
			continue
		}
		if who[in.Plan] == nil {
			plans = append(plans, in.Plan)
		}
		who[in.Plan] = append(who[in.Plan], in.Name)
	}
	if len(plans) < 2 {
		return
	}
	parts := make([]string, len(plans))
	for i, p := range plans {
		parts[i] = view.Text(nameList(who[p]) + ": " + p)
	}
	fmt.Fprintf(b, "The instances ran %d plans. %s. A section that is not in an instance's plan is —.\n\n", len(plans), strings.Join(parts, "; "))
}

// mergeOrder is one order of the sections that keeps each instance's (its plan's) order: a
// section not yet listed goes just before the next of its own order that is, else at the end.
// The sections that plans share are listed once; each plan's own follow its order.
func mergeOrder(orders [][]string) []string {
	var out []string
	for _, order := range orders {
		for i, id := range order {
			if slices.Contains(out, id) {
				continue
			}
			at := len(out)
			for _, next := range order[i+1:] {
				if j := slices.Index(out, next); j >= 0 {
					at = j
					break
				}
			}
			out = slices.Insert(out, at, id)
		}
	}
	return out
}

// writeFleetMatrix writes each section's result per instance, and the verdicts.
func writeFleetMatrix(b *bytes.Buffer, f *Report) {
	orders := make([][]string, len(f.Instances))
	for i, in := range f.Instances {
		for _, s := range in.Sections {
			orders[i] = append(orders[i], s.ID)
		}
	}
	ids := mergeOrder(orders)
	names := []string{"Section"}
	for _, in := range f.Instances {
		names = append(names, view.Text(in.Name))
	}
	b.WriteString(view.Header(names...))
	for _, id := range ids {
		cells := []string{view.Text(id)}
		for _, in := range f.Instances {
			cell := "—"
			for _, s := range in.Sections {
				if s.ID == id {
					cell = view.ResultCell(s.Result)
				}
			}
			cells = append(cells, cell)
		}
		b.WriteString(view.Row(cells...) + "\n")
	}
	cells := []string{"**Verdict**"}
	for _, in := range f.Instances {
		cells = append(cells, "**"+in.Verdict+"**")
	}
	b.WriteString(view.Row(cells...) + "\n")
}

// instanceLink is the instance's name, linking to its checklist.md unless it is MISSING.
func instanceLink(in Instance) string {
	if in.Verdict == evidence.Missing {
		return view.Text(in.Name)
	}
	segs := strings.Split(in.Dir+"/"+evidence.ChecklistFile, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "[" + view.Text(in.Name) + "](" + strings.Join(segs, "/") + ")"
}

// Counts is "9 PASS, 2 FAIL, 1 MISSING of 12 instances".
func Counts(f *Report) string {
	order := []string{evidence.Pass, evidence.Fail, evidence.Interrupted, evidence.Incomplete, evidence.Missing}
	var parts []string
	for _, v := range order {
		if f.Counts[v] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", f.Counts[v], v))
		}
	}
	var other []string
	for v := range f.Counts {
		if !slices.Contains(order, v) {
			other = append(other, v)
		}
	}
	slices.Sort(other)
	for _, v := range other {
		parts = append(parts, fmt.Sprintf("%d %s", f.Counts[v], view.Text(v)))
	}
	return strings.Join(parts, ", ") + " of " + view.Plural(len(f.Instances), "instance")
}

// ofN is "all 12 instances", "both instances", "the instance" or "3 of 12 instances".
func ofN(k, n int) string {
	switch {
	case n == 1:
		return "the instance"
	case k == n && n == 2:
		return "both instances"
	case k == n:
		return "all " + strconv.Itoa(n) + " instances"
	}
	return fmt.Sprintf("%d of %d instances", k, n)
}

// someNames names, when only some instances match, the few that do: " (a, b, c)"; or the few
// that do not: " (all but d, e)"; "" when all match or both sets are too many to name.
func someNames(f *Report, k int, match func(Instance) bool) string {
	n := len(f.Instances)
	if k == n || (k > maxGroupNames && n-k > maxGroupNames) {
		return ""
	}
	var yes, no []string
	for _, in := range f.Instances {
		if match(in) {
			yes = append(yes, in.Name)
		} else {
			no = append(no, in.Name)
		}
	}
	if k <= maxGroupNames {
		return " (" + view.Text(strings.Join(yes, ", ")) + ")"
	}
	return " (all but " + view.Text(strings.Join(no, ", ")) + ")"
}

// nameList is the names, comma-separated, cut after maxGroupNames.
func nameList(names []string) string {
	if len(names) <= maxGroupNames {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxGroupNames], ", ") + fmt.Sprintf(", … and %d more (fleet.json lists them all)", len(names)-maxGroupNames)
}

// cut shortens s to at most n characters, ending it with "…" when cut.
func cut(s string, n int) string {
	s = printable.OneLine(s)
	if len([]rune(s)) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n-1])) + "…"
}

// SchemaVersion is fleet.json's schema_version.
const SchemaVersion = 1

// Report is fleet.json: the runs of several instances (one evidence directory each, typically
// one per node of a Slurm job or pod of an Indexed Job) read from their summary.json, with
// their failures grouped by reason. fleet.md shows the same data.
type Report struct {
	SchemaVersion int `json:"schema_version"`
	// Verdict is FAIL when any instance failed, was interrupted or is MISSING; else INCOMPLETE
	// when any instance is INCOMPLETE; else PASS. ExitCode goes with it (evidence.ExitCode).
	Verdict  string `json:"verdict"`
	ExitCode int    `json:"exit_code"`
	// Counts are the instances per verdict (PASS, FAIL, INTERRUPTED, INCOMPLETE, MISSING).
	Counts map[string]int `json:"counts"`
	// FixtureRuns, ConformanceRuns and CPUOnlyRuns count the instances that ran the bundled
	// fixture, not a difftrain checkout; those that ran difftrain with the stand-in model
	// packages (make conformance); and those whose training used no GPU.
	FixtureRuns     int        `json:"fixture_runs"`
	ConformanceRuns int        `json:"conformance_runs"`
	CPUOnlyRuns     int        `json:"cpu_only_runs"`
	Instances       []Instance `json:"instances"`
	// Failures are the failed, interrupted and MISSING instances grouped by their first
	// failure's section and its reason with the node-specific parts normalised away, most
	// instances first; a node run's bad GPUs each count as one (fleet/node.go).
	Failures []Group `json:"failures"`
	// GPUs and BadGPUs count the GPUs of the node runs, and those that failed or were named.
	GPUs    int `json:"gpus"`
	BadGPUs int `json:"bad_gpus"`
	// Compared is what comparing the runs' results found, per GPU model, driver and torch.
	Compared []Compared `json:"compared"`
}

// Instance is one instance: one evidence directory and what its summary.json says.
type Instance struct {
	Name string `json:"name"` // the directory's name (the node), or its path when names clash
	// Dir is the evidence directory, relative to fleet.json's directory when it lies below
	// it, else absolute.
	Dir      string `json:"dir"`
	Verdict  string `json:"verdict"` // the run's verdict, or MISSING
	ExitCode int    `json:"exit_code"`
	// MissingReason says why a MISSING instance is missing, naming the file.
	MissingReason string `json:"missing_reason,omitempty"`
	Host          string `json:"host,omitempty"`
	// GPU is the GPUs in a few words ("8× NVIDIA H100 80GB HBM3"); "" when NVML saw none.
	GPU     string                `json:"gpu,omitempty"`
	GPUs    []evidence.SummaryGPU `json:"gpus,omitempty"`
	Driver  string                `json:"driver,omitempty"`
	Fixture bool                  `json:"fixture"`
	// Target is what ran, as summary.json says: difftrain, difftrain+standins or fixture.
	Target string `json:"target,omitempty"`
	// Plan is the name of the plan it ran.
	Plan        string `json:"plan,omitempty"`
	GPUUsed     bool   `json:"gpu_used"`
	StartedUTC  string `json:"started_utc,omitempty"`
	FinishedUTC string `json:"finished_utc,omitempty"`
	Out         string `json:"out,omitempty"` // SMOKE_OUT as the run recorded it
	// FirstFailure is the first section that failed or was interrupted, as in summary.json.
	FirstFailure *evidence.SummarySection `json:"first_failure,omitempty"`
	PeakMemMiB   string                   `json:"peak_mem_mib,omitempty"`
	// Sections are the run's sections and their results, as in summary.json.
	Sections []evidence.SummarySection `json:"sections,omitempty"`
	// Node is a node run's GPUs, as in summary.json; Computed what its training computed.
	Node     *evidence.SummaryNode     `json:"node,omitempty"`
	Computed *evidence.SummaryComputed `json:"computed,omitempty"`
}

// Group is one reason for failing, and the instances that failed for it.
type Group struct {
	Verdict string `json:"verdict"` // FAIL, INTERRUPTED or MISSING
	// Section is the first failure's section ("04-train"); "" when the run failed outside any
	// section (a guardrail) or is MISSING.
	Section string `json:"section,omitempty"`
	// Reason is the first failure's reason with what differs from node to node (paths under
	// the run's own directory, the host and instance names, times, decimal measurements, pids,
	// GPU UUIDs, PCI bus ids, hex addresses) replaced by placeholders.
	Reason    string   `json:"reason"`
	Instances []string `json:"instances"` // their names, in the report's order
	// GPUs says that the group's members are GPUs of node runs ("n1/gpu3"), not instances.
	GPUs bool `json:"gpus,omitempty"`
}

// JSONPath is where fleet.json goes beside the markdown report md: md's name with .json
// for .md ("fleet.md" → "fleet.json"), or with .json added when it does not end in .md.
func JSONPath(md string) string {
	if filepath.Ext(md) == ".md" {
		return md[:len(md)-len(".md")] + ".json"
	}
	return md + ".json"
}

// File is the fleet report's markdown file in a fleet directory (checklist fleet DIR); its
// JSON is beside it (JSONPath).
const File = "fleet.md"
