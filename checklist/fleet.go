package checklist

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
)

// The fleet report: several runs, one evidence directory per instance (a node of a Slurm job,
// a pod of an Indexed Job), read from their summary.json alone so that a fleet of a thousand
// renders in well under a second, into fleet.md and fleet.json (evidence.Fleet).

// Instance is one run of a fleet: the name the report gives it and its evidence directory.
type Instance struct {
	Name string
	Dir  string
}

// FleetMatrixMax is the most instances the sections × instances matrix is drawn for; beyond
// it the matrix would not fit a page, and fleet.md says so in one line.
const FleetMatrixMax = 8

// Report limits that keep fleet.md's lines readable whatever the fleet's size: a reason is cut
// to maxReasonChars (fleet.json has it whole), and a group names at most maxGroupNames instances.
const (
	maxReasonChars = 200
	maxGroupNames  = 10
)

// FleetDir is the instances of a fleet directory root: with no nodes, every subdirectory of
// root (hidden ones aside), in natural order (n2 before n10); with nodes, root/<node> for
// each, in the order given, whether or not it exists (one that does not is MISSING).
func FleetDir(root string, nodes []string) ([]Instance, error) {
	if st, err := os.Stat(root); err != nil {
		return nil, fmt.Errorf("fleet: %w", err)
	} else if !st.IsDir() {
		return nil, fmt.Errorf("fleet: %s is not a directory", root)
	}
	var out []Instance
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
			out = append(out, Instance{Name: n, Dir: filepath.Join(root, n)})
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
			out = append(out, Instance{Name: e.Name(), Dir: filepath.Join(root, e.Name())})
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("fleet: %s holds no evidence directories", root)
	}
	slices.SortFunc(out, func(a, b Instance) int {
		return cmp.Or(naturalCompare(a.Name, b.Name), strings.Compare(a.Name, b.Name))
	})
	return out, nil
}

// Instances names each of dirs by its base name, or by its whole path when two base names are
// the same.
func Instances(dirs []string) []Instance {
	out := make([]Instance, len(dirs))
	seen := map[string]int{}
	for i, d := range dirs {
		out[i] = Instance{Name: filepath.Base(filepath.Clean(d)), Dir: d}
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

// BuildFleet reads each instance's summary.json (several at once: fleet storage is often a
// network file system) and sums the fleet up. An instance whose summary.json is absent or
// unreadable is MISSING, with the reason; it never stops the report. base is the directory
// fleet.json will be written to: each instance's Dir is made relative to it when below it.
func BuildFleet(instances []Instance, base string) *evidence.Fleet {
	f := &evidence.Fleet{
		SchemaVersion: evidence.FleetSchemaVersion,
		Counts:        map[string]int{},
		Instances:     make([]evidence.FleetInstance, len(instances)),
		Failures:      []evidence.FleetGroup{},
	}
	absBase, _ := filepath.Abs(base)
	missingKeys := make([]string, len(instances))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(len(instances), max(8, 2*runtime.GOMAXPROCS(0))) {
		wg.Go(func() {
			for i := range work {
				f.Instances[i], missingKeys[i] = readInstance(instances[i], absBase)
			}
		})
	}
	for i := range instances {
		work <- i
	}
	close(work)
	wg.Wait()

	groups := map[[3]string]int{} // verdict, section, reason → index in f.Failures
	incomplete := false
	for i, in := range f.Instances {
		f.Counts[in.Verdict]++
		if in.Fixture {
			f.FixtureRuns++
		}
		if in.Verdict != evidence.Missing && !in.GPUUsed {
			f.CPUOnlyRuns++
		}
		incomplete = incomplete || in.Verdict == evidence.Incomplete
		if in.Verdict == evidence.Pass || in.Verdict == evidence.Incomplete {
			continue
		}
		sec, reason := failureKey(in, missingKeys[i])
		k := [3]string{in.Verdict, sec, reason}
		i, ok := groups[k]
		if !ok {
			i = len(f.Failures)
			groups[k] = i
			f.Failures = append(f.Failures, evidence.FleetGroup{Verdict: in.Verdict, Section: sec, Reason: reason})
		}
		f.Failures[i].Instances = append(f.Failures[i].Instances, in.Name)
	}
	slices.SortStableFunc(f.Failures, func(a, b evidence.FleetGroup) int { return len(b.Instances) - len(a.Instances) })
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
// with its directory written as <out>: what failureKey groups it by.
func readInstance(in Instance, absBase string) (evidence.FleetInstance, string) {
	fi := evidence.FleetInstance{Name: in.Name, Dir: relDir(in.Dir, absBase)}
	sum := filepath.Join(in.Dir, evidence.SummaryFile)
	missing := func(why string) (evidence.FleetInstance, string) {
		// The paths as the report shows them (fi.Dir), and as the group's key.
		fi.Verdict, fi.ExitCode = evidence.Missing, 1
		fi.MissingReason = strings.NewReplacer(sum, path.Join(fi.Dir, evidence.SummaryFile), in.Dir, fi.Dir).Replace(why)
		return fi, strings.NewReplacer(sum, "<out>/"+evidence.SummaryFile, in.Dir, "<out>").Replace(why)
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
	fi.Host, fi.GPU, fi.Driver = s.Host, gpuWords(s.GPUs), s.Driver
	if len(s.GPUs) > 0 {
		fi.GPUs = s.GPUs
	}
	if len(s.Sections) > 0 {
		fi.Sections = s.Sections
	}
	fi.Fixture, fi.GPUUsed = s.Fixture, s.GPUUsed
	fi.StartedUTC, fi.FinishedUTC, fi.Out = s.StartedUTC, s.FinishedUTC, s.Out
	fi.FirstFailure, fi.PeakMemMiB = s.FirstFailure, s.PeakMemMiB
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

// gpuWords is the GPUs in a few words: "NVIDIA GeForce RTX 4090", "8× NVIDIA H100 80GB HBM3",
// "4× A, 4× B"; "" for none.
func gpuWords(gpus []evidence.SummaryGPU) string {
	var names []string
	n := map[string]int{}
	for _, g := range gpus {
		if n[g.Name] == 0 {
			names = append(names, g.Name)
		}
		n[g.Name]++
	}
	if len(gpus) == 1 {
		return gpus[0].Name
	}
	parts := make([]string, len(names))
	for i, name := range names {
		parts[i] = fmt.Sprintf("%d× %s", n[name], name)
	}
	return strings.Join(parts, ", ")
}

// failureKey is what a failed instance is grouped by: its first failure's section and that
// failure's reason, normalised (normaliseReason); for a MISSING instance, why it is missing
// (missing, with its directory already written as <out>), normalised.
func failureKey(in evidence.FleetInstance, missing string) (section, reason string) {
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
//   - the run's own directory becomes <out>: its SMOKE_OUT as summary.json records it (and, for
//     a MISSING instance, the directory the report looked in: readInstance);
//   - timestamps become <time>, GPU and MIG UUIDs <uuid>, PCI bus ids <pci>, hex numbers <hex>,
//     process ids "pid <n>";
//   - a number with a time unit becomes "<n>s" (an interruption "after 12s" and "after 15s"),
//     and any other number with a decimal point <n> (memory in an OOM message, a version);
//   - the instance's name and its host name become <host> where they stand as whole words, when
//     at least 3 characters long (a shorter one is too likely to be an ordinary word).
//
// Whole numbers stay: an exit code, an Xid, a step or a GPU index is what tells two failures
// apart. Other paths stay too: a checkout or a file outside the run's directory is the same on
// every node of a uniform fleet, and when it is not, the difference may be the failure.
func normaliseReason(reason string, in evidence.FleetInstance) string {
	r := reason
	if out := strings.TrimSuffix(in.Out, "/"); len(out) > 1 {
		r = strings.ReplaceAll(r, out, "<out>")
	}
	r = reTimestamp.ReplaceAllString(r, "<time>")
	r = reUUID.ReplaceAllString(r, "<uuid>")
	r = rePCI.ReplaceAllString(r, "<pci>")
	r = reHex.ReplaceAllString(r, "<hex>")
	r = rePID.ReplaceAllString(r, "pid$1<n>")
	r = reDuration.ReplaceAllString(r, "<n>$1$2")
	r = reDecimal.ReplaceAllString(r, "<n>")
	words := []string{in.Name, in.Host}
	if len(in.Name) < len(in.Host) { // the longer first: a host name often starts with the node's
		words[0], words[1] = words[1], words[0]
	}
	for _, w := range words {
		if len(w) >= 3 {
			r = regexp.MustCompile(`\b`+regexp.QuoteMeta(w)+`\b`).ReplaceAllString(r, "<host>")
		}
	}
	return r
}

// WriteFleetFiles reads the fleet of instances and writes its report to the markdown file md
// and fleet.json beside it (evidence.FleetJSONPath), then appends the markdown to
// opts.StepSummary when set. It returns the fleet and the files written. Only a file that
// cannot be written is an error: a run that cannot be read is MISSING in the report.
func WriteFleetFiles(md string, instances []Instance, opts Options) (*evidence.Fleet, []string, error) {
	if len(instances) == 0 {
		return nil, nil, fmt.Errorf("fleet: no evidence directories")
	}
	base := filepath.Dir(md)
	f := BuildFleet(instances, base)
	var b bytes.Buffer
	FleetMarkdown(&b, f, opts)
	if err := evidence.WriteFileAtomic(md, b.Bytes(), 0o644); err != nil {
		return f, nil, err
	}
	written := []string{md}
	js := evidence.FleetJSONPath(md)
	if err := evidence.WriteFleet(js, f); err != nil {
		return f, written, err
	}
	written = append(written, js)
	if opts.StepSummary != "" {
		if err := AppendFile(opts.StepSummary, b.Bytes()); err != nil {
			return f, written, err
		}
		written = append(written, opts.StepSummary)
	}
	return f, written, nil
}

// FleetMarkdown writes fleet.md: the verdict and counts, the banners said once for the whole
// fleet, the failures grouped by reason, the sections × instances matrix when the fleet has at
// most FleetMatrixMax instances, and one row per instance.
func FleetMarkdown(b *bytes.Buffer, f *evidence.Fleet, opts Options) {
	n := len(f.Instances)
	fmt.Fprintf(b, "# difftrain smoke fleet: %s\n\n", plural(n, "instance"))
	fmt.Fprintf(b, "Verdict: **%s** (%s)\n\n", f.Verdict, FleetCounts(f))
	if f.FixtureRuns > 0 {
		fmt.Fprintf(b, "> **FIXTURE RUNS:** %s%s ran the bundled stand-in for difftrain, not a real checkout. These results check the harness, not difftrain.\n\n",
			ofN(f.FixtureRuns, n), someNames(f, f.FixtureRuns, func(in evidence.FleetInstance) bool { return in.Fixture }))
	}
	if f.CPUOnlyRuns > 0 {
		fmt.Fprintf(b, "**CPU only:** %s%s used no GPU.\n\n", ofN(f.CPUOnlyRuns, n),
			someNames(f, f.CPUOnlyRuns, func(in evidence.FleetInstance) bool { return in.Verdict != evidence.Missing && !in.GPUUsed }))
	}

	b.WriteString("## Failures by reason\n\n")
	if len(f.Failures) == 0 {
		b.WriteString("None: no instance failed, was interrupted or is missing.\n")
	}
	for _, g := range f.Failures {
		where := g.Verdict
		if g.Section != "" {
			where += " in " + Code(g.Section)
		}
		fmt.Fprintf(b, "- **%s** %s: %s — %s\n", plural(len(g.Instances), "instance"), where,
			Text(cut(g.Reason, maxReasonChars)), Text(nameList(g.Instances)))
	}

	b.WriteString("\n## Sections × instances\n\n")
	if n > FleetMatrixMax {
		fmt.Fprintf(b, "Not drawn: %d instances are more than %d. Each instance's checklist.md has its sections; fleet.json has them all.\n", n, FleetMatrixMax)
	} else {
		writeFleetMatrix(b, f)
	}

	b.WriteString("\n## Instances\n\n")
	b.WriteString(header("Instance", "Host", "GPU", "Driver", "Verdict", "First failure", "Reason", "Peak memory"))
	for _, in := range f.Instances {
		gpu, first, reason, peak := "no GPU", "—", "—", "—"
		if in.GPU != "" {
			gpu = Text(in.GPU)
		}
		switch {
		case in.Verdict == evidence.Missing:
			gpu, reason = "—", Text(cut(in.MissingReason, maxReasonChars))
		case in.FirstFailure != nil:
			first, reason = Code(in.FirstFailure.ID), Text(cut(reasonText(in.FirstFailure), maxReasonChars))
		}
		if in.PeakMemMiB != "" {
			peak = Text(in.PeakMemMiB) + " MiB"
		}
		verdict := resultCell(in.Verdict)
		if in.Verdict == evidence.Missing {
			verdict = "**" + in.Verdict + "**"
		}
		b.WriteString(Row(instanceLink(in), orDash(Text(in.Host)), gpu, orDash(Text(in.Driver)), verdict,
			first, reason, peak) + "\n")
	}
	fmt.Fprintf(b, "\n---\n\nRendered %s from each instance's %s. Links and fleet.json's `dir` are relative to this file's directory, or absolute for a directory outside it.\n",
		opts.now().Format("2006-01-02 15:04:05 UTC"), evidence.SummaryFile)
}

// writeFleetMatrix writes each section's result per instance, and the verdicts.
func writeFleetMatrix(b *bytes.Buffer, f *evidence.Fleet) {
	var ids []string
	for _, in := range f.Instances {
		for _, s := range in.Sections {
			if !slices.Contains(ids, s.ID) {
				ids = append(ids, s.ID)
			}
		}
	}
	slices.SortStableFunc(ids, func(a, b string) int { return cmp.Or(naturalCompare(a, b), strings.Compare(a, b)) })
	names := []string{"Section"}
	for _, in := range f.Instances {
		names = append(names, Text(in.Name))
	}
	b.WriteString(header(names...))
	for _, id := range ids {
		cells := []string{Text(id)}
		for _, in := range f.Instances {
			cell := "—"
			for _, s := range in.Sections {
				if s.ID == id {
					cell = resultCell(s.Result)
				}
			}
			cells = append(cells, cell)
		}
		b.WriteString(Row(cells...) + "\n")
	}
	cells := []string{"**Verdict**"}
	for _, in := range f.Instances {
		cells = append(cells, "**"+in.Verdict+"**")
	}
	b.WriteString(Row(cells...) + "\n")
}

// instanceLink is the instance's name, linking to its checklist.md unless it is MISSING.
func instanceLink(in evidence.FleetInstance) string {
	if in.Verdict == evidence.Missing {
		return Text(in.Name)
	}
	segs := strings.Split(in.Dir+"/"+evidence.ChecklistFile, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return "[" + Text(in.Name) + "](" + strings.Join(segs, "/") + ")"
}

// FleetCounts is "9 PASS, 2 FAIL, 1 MISSING of 12 instances".
func FleetCounts(f *evidence.Fleet) string {
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
		parts = append(parts, fmt.Sprintf("%d %s", f.Counts[v], Text(v)))
	}
	return strings.Join(parts, ", ") + " of " + plural(len(f.Instances), "instance")
}

// ofN is "all 12 instances", "the instance" or "3 of 12 instances".
func ofN(k, n int) string {
	switch {
	case n == 1:
		return "the instance"
	case k == n:
		return "all " + strconv.Itoa(n) + " instances"
	}
	return fmt.Sprintf("%d of %d instances", k, n)
}

// someNames names, when only some instances match, the few that do: " (a, b, c)"; or the few
// that do not: " (all but d, e)"; "" when all match or both sets are too many to name.
func someNames(f *evidence.Fleet, k int, match func(evidence.FleetInstance) bool) string {
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
		return " (" + Text(strings.Join(yes, ", ")) + ")"
	}
	return " (all but " + Text(strings.Join(no, ", ")) + ")"
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
	s = oneLine(s)
	if len([]rune(s)) <= n {
		return s
	}
	return strings.TrimSpace(string([]rune(s)[:n-1])) + "…"
}
