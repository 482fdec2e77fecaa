// Command checklist renders smoke-run evidence directories into their documents, reports on
// fleets of runs, and re-checks seals.
//
//	checklist render [-exit-verdict] [-template FILE] [DIR]  renders DIR (default: the newest complete run under ./runs)
//	checklist fleet [-o FILE] DIR [NODE...]                   the fleet report of DIR's evidence directories
//	checklist fleet [-o FILE] -runs DIR DIR...                the fleet report of the runs DIR...
//	checklist verify [DIR...]                                 re-checks each DIR's SHA256SUMS
//	checklist newest RUNS                                     prints the newest complete run under RUNS
//
// render waits for the suite that is still writing DIR (its lock), refuses evidence changed
// since it was sealed, reads the sections' results from junit.xml (or, when the run wrote none,
// from run.json), writes checklist.md, report.md, summary.json, smoke.prom, telemetry.svg (when
// the run recorded telemetry.csv) and the filled template, rewrites junit.xml for CI, and seals
// the directory again.
//
// fleet reads only each run's summary.json, so a run must have been rendered (as make smoke and
// run-smoke do at the end of every run); one with no readable summary.json is MISSING in the
// report, never an error that stops it. It writes FILE (markdown: one row per instance, the
// failures grouped by reason, a sections × instances matrix for up to 8 instances) and, beside
// it, the same data as JSON: FILE with .json for .md. Given DIR, every subdirectory of DIR is an
// instance (a Slurm job's $GPUSMOKE_SHARED/<job id>/ holds one per node), or with NODE...
// exactly DIR/NODE for each, so that a node that left no directory at all is MISSING too; FILE
// defaults to DIR/fleet.md. With -runs, the directories given are the instances, and FILE
// defaults to ./checklist-matrix.md. No run is rendered again.
//
// Exit codes are the suite's (evidence/verdict.go): 0 done (render -exit-verdict: and the run
// passed; fleet: and every instance passed); 1 the run (or an instance) failed, was interrupted
// or is MISSING; 2 usage; 3 the evidence could not be read, verified or rendered (verify found a
// difference), or the report could not be written; 4 the run (or an instance) was INCOMPLETE.
// Errors are one line. SMOKE_OPERATOR and SMOKE_LOCATION fill the template's Operator and
// Location rows, GITHUB_STEP_SUMMARY gets a copy of the report (or of the fleet report), and
// SOURCE_DATE_EPOCH pins the "rendered at" time.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/fleet"
	"github.com/difftrain/gpusmoke/view"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// renderWait is how long rendering waits for the suite that holds the directory: a run ends
// within its plan's timeouts, so this only bounds a wait for a suite that is itself stuck.
const renderWait = 24 * time.Hour

// usage is the one line a bad command line gets.
const usage = "usage: checklist render [-exit-verdict] [-template FILE] [DIR] | checklist fleet [-o FILE] DIR [NODE...] | checklist fleet [-o FILE] -runs DIR DIR... | checklist verify [DIR...] | checklist newest RUNS"

// commands are the subcommands by name.
var commands = map[string]func(args []string, stdout, stderr io.Writer) int{
	"render": render, "fleet": fleetReport, "verify": verify, "newest": newest,
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return evidence.ExitUsage
	}
	cmd, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "checklist: %q is not a command; %s\n", args[0], usage)
		return evidence.ExitUsage
	}
	return cmd(args[1:], stdout, stderr)
}

// fail prints err as the one line of a failure and returns code.
func fail(stderr io.Writer, code int, err error) int {
	fmt.Fprintf(stderr, "checklist: %v\n", err)
	return code
}

// parse parses a subcommand's flags; a bad one is one line and usage's exit code.
func parse(fs *flag.FlagSet, args []string, stderr io.Writer) bool {
	fs.SetOutput(io.Discard)
	if err := fs.Parse(args); err != nil {
		fmt.Fprintf(stderr, "checklist %s: %v; %s\n", fs.Name(), err, usage)
		return false
	}
	return true
}

// options are the renderer's options from the environment.
func options(template string) (view.Options, error) {
	opts := view.Options{Operator: os.Getenv("SMOKE_OPERATOR"), Location: os.Getenv("SMOKE_LOCATION"), SDC: os.Getenv("SMOKE_SDC"),
		Template: template, StepSummary: os.Getenv("GITHUB_STEP_SUMMARY")}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return opts, fmt.Errorf("SOURCE_DATE_EPOCH: %q is not a number of seconds", v)
		}
		opts.Now = time.Unix(sec, 0).UTC()
	}
	return opts, nil
}

// defaultRun is the run to render or verify when none is named: the newest complete one under
// ./runs, with what to do when there is none.
func defaultRun() (string, error) {
	dir, err := evidence.Newest(evidence.RunsDir)
	if err != nil {
		return "", fmt.Errorf("no evidence directory named, and no complete run under ./%s: run make smoke (or run-smoke) first, or name a run (make checklist RUNS=<dir>)", evidence.RunsDir)
	}
	return dir, nil
}

func render(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("render", flag.ContinueOnError)
	verdict := fs.Bool("exit-verdict", false, "exit with the run's verdict's code")
	tmpl := fs.String("template", "", "checklist template to fill (default <difftrain_dir>/docs/mvp_smoke_checklist.md)")
	if !parse(fs, args, stderr) {
		return evidence.ExitUsage
	}
	if fs.NArg() > 1 {
		return fail(stderr, evidence.ExitUsage, errors.New("render takes one evidence directory; for several, checklist fleet -runs"))
	}
	opts, err := options(*tmpl)
	if err != nil {
		return fail(stderr, evidence.ExitUsage, err)
	}
	dir := fs.Arg(0)
	if dir == "" {
		if dir, err = defaultRun(); err != nil {
			return fail(stderr, evidence.ExitUsage, err)
		}
	}
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		// The suite holds the directory's lock until it has sealed its run (gotestsum may end
		// before it, as on a second Ctrl-C): rendering waits, so nothing writes after the seal.
		release, err := evidence.Lock(dir, renderWait, func(pid string) {
			fmt.Fprintf(stderr, "checklist: waiting for the suite (pid %s) to seal %s before rendering it\n", pid, dir)
		})
		if err != nil {
			return fail(stderr, evidence.ExitEvidence, fmt.Errorf("%s: %w", dir, err))
		}
		defer release()
	}
	res, err := checklist.RenderDir(dir, opts)
	if err != nil {
		return fail(stderr, evidence.ExitEvidence, err)
	}
	for _, n := range res.Notes {
		fmt.Fprintf(stderr, "checklist: %s\n", n)
	}
	for _, p := range res.Written {
		fmt.Fprintln(stdout, p)
	}
	if *verdict {
		return evidence.ExitCode(res.Verdict)
	}
	return evidence.ExitPass
}

func fleetReport(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("fleet", flag.ContinueOnError)
	out := fs.String("o", "", "the report's markdown file, its .json beside it (default DIR/fleet.md, or ./checklist-matrix.md with -runs)")
	runs := fs.Bool("runs", false, "the arguments are the runs' evidence directories")
	if !parse(fs, args, stderr) {
		return evidence.ExitUsage
	}
	opts, err := options("")
	if err != nil {
		return fail(stderr, evidence.ExitUsage, err)
	}
	var members []fleet.Member
	md := *out
	switch {
	case fs.NArg() == 0:
		return fail(stderr, evidence.ExitUsage, errors.New("fleet needs a directory ("+usage+")"))
	case *runs:
		members = fleet.Members(fs.Args())
		md = cmpOr(md, "checklist-matrix.md")
	default:
		if members, err = fleet.Dir(fs.Arg(0), fs.Args()[1:]); err != nil {
			return fail(stderr, evidence.ExitEvidence, err)
		}
		md = cmpOr(md, filepath.Join(fs.Arg(0), fleet.File))
	}
	f, written, err := fleet.Write(md, members, opts)
	for _, p := range written {
		fmt.Fprintln(stdout, p)
	}
	if err != nil {
		return fail(stderr, evidence.ExitEvidence, err)
	}
	if f.ExitCode != evidence.ExitPass {
		fmt.Fprintf(stderr, "checklist: fleet %s: %s\n", f.Verdict, fleet.Counts(f))
	}
	return f.ExitCode
}

func verify(args []string, stdout, stderr io.Writer) int {
	dirs := args
	if len(dirs) == 0 {
		dir, err := defaultRun()
		if err != nil {
			return fail(stderr, evidence.ExitUsage, err)
		}
		dirs = []string{dir}
	}
	code := evidence.ExitPass
	for _, d := range dirs {
		if err := evidence.VerifySums(d); err != nil {
			code = fail(stderr, evidence.ExitEvidence, err)
			continue
		}
		fmt.Fprintf(stdout, "%s: every file matches %s\n", d, evidence.SumsFile)
	}
	return code
}

func newest(args []string, stdout, stderr io.Writer) int {
	if len(args) != 1 {
		return fail(stderr, evidence.ExitUsage, errors.New("newest takes one directory ("+usage+")"))
	}
	dir, err := evidence.Newest(args[0])
	if err != nil {
		return fail(stderr, evidence.ExitEvidence, err)
	}
	fmt.Fprintln(stdout, dir)
	return evidence.ExitPass
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
