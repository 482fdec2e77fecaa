// Command checklist renders smoke-run evidence directories into markdown.
//
//	checklist [-exit-verdict] [-template FILE] [DIR]  renders DIR (default: the newest complete run under ./runs)
//	checklist -fleet DIR [-o FILE] [NODE...]         the fleet report of DIR's evidence directories
//	checklist [-o FILE] DIR DIR...                   the fleet report of the runs DIR... (default ./checklist-matrix.md)
//	checklist -verify [DIR...]                       re-checks each DIR's SHA256SUMS
//	checklist -newest RUNS                           prints the newest complete run under RUNS
//
// Rendering one directory first refuses evidence changed since it was sealed, then reads the
// sections' results from junit.xml (or, when the run wrote none, from run.json), writes
// checklist.md, report.md, summary.json, smoke.prom (the run for node_exporter's textfile
// collector), telemetry.svg (when the run recorded telemetry.csv) and the filled template, and
// seals the directory again: SHA256SUMS then covers every file in it.
//
// The fleet report reads only each run's summary.json, so a run must have been rendered (as
// make smoke and run-smoke do at the end of every run); one with no readable summary.json is
// MISSING in the report, never an error that stops it. It writes FILE (markdown: one row per
// instance, the failures grouped by reason, a sections × instances matrix for up to 8
// instances) and, beside it, the same data as JSON: FILE with .json for .md. With -fleet DIR,
// every subdirectory of DIR is an instance (a Slurm job's $GPUSMOKE_SHARED/<job id>/ holds one
// per node), or with NODE... exactly DIR/NODE for each, so that a node that left no directory
// at all is MISSING too; FILE defaults to DIR/fleet.md (and DIR/fleet.json). Given two or more
// directories (make checklist RUNS="a b"), those are the instances. No run is rendered again.
//
// Exit codes (evidence/verdict.go): 0 rendered (with -exit-verdict: and the run passed; for a
// fleet: and every instance passed); 1 with -exit-verdict the run failed or was interrupted,
// for a fleet an instance failed, was interrupted or is MISSING (the report is written all the
// same); 2 usage; 3 the evidence could not be read, verified or rendered (-verify found a
// difference), or the fleet report could not be written; 4 with -exit-verdict the run, or for a
// fleet an instance, was INCOMPLETE. Errors are one line. SMOKE_OPERATOR and SMOKE_LOCATION fill the template's Operator and Location
// rows, GITHUB_STEP_SUMMARY gets a copy of the report (or of the fleet report), and
// SOURCE_DATE_EPOCH pins the "rendered at" time.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/difftrain/gpusmoke/checklist"
	"github.com/difftrain/gpusmoke/evidence"
)

// renderWait is how long rendering waits for the suite that holds the directory: a run ends
// within its plan's timeouts, so this only bounds a wait for a suite that is itself stuck.
const renderWait = 24 * time.Hour

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checklist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "", "the fleet report's markdown file, fleet.json beside it (default DIR/fleet.md with -fleet DIR, else ./checklist-matrix.md)")
	fleet := fs.String("fleet", "", "report on the fleet of evidence directories under this directory (every subdirectory, or the NODE... given)")
	verify := fs.Bool("verify", false, "re-check each directory's SHA256SUMS instead of rendering")
	newest := fs.String("newest", "", "print the newest complete run under this directory and exit")
	verdict := fs.Bool("exit-verdict", false, "exit 1 when the rendered run failed or was interrupted")
	tmpl := fs.String("template", "", "checklist template to fill (default <difftrain_dir>/docs/mvp_smoke_checklist.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: checklist [-exit-verdict] [-template FILE] [DIR] | checklist -fleet DIR [-o FILE] [NODE...] | checklist [-o FILE] DIR DIR... | checklist -verify [DIR...] | checklist -newest RUNS")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return evidence.ExitUsage
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "checklist: %v\n", err)
		return code
	}
	if *newest != "" {
		dir, err := evidence.Newest(*newest)
		if err != nil {
			return fail(evidence.ExitEvidence, err)
		}
		fmt.Fprintln(stdout, dir)
		return evidence.ExitPass
	}
	if *fleet != "" {
		for _, f := range []struct {
			set  bool
			name string
		}{{*verify, "-verify"}, {*verdict, "-exit-verdict"}, {*tmpl != "", "-template"}} {
			if f.set {
				return fail(evidence.ExitUsage, fmt.Errorf("-fleet takes no %s", f.name))
			}
		}
	}
	dirs := fs.Args()
	if len(dirs) == 0 && *fleet == "" {
		dir, err := evidence.Newest(evidence.RunsDir)
		if err != nil {
			return fail(evidence.ExitUsage, fmt.Errorf("no evidence directory given: %w", err))
		}
		dirs = []string{dir}
	}
	if *verify {
		code := evidence.ExitPass
		for _, d := range dirs {
			if err := evidence.VerifySums(d); err != nil {
				fmt.Fprintf(stderr, "checklist: %v\n", err)
				code = evidence.ExitEvidence
				continue
			}
			fmt.Fprintf(stdout, "%s: every file matches %s\n", d, evidence.SumsFile)
		}
		return code
	}
	opts := checklist.Options{
		Operator:    os.Getenv("SMOKE_OPERATOR"),
		Location:    os.Getenv("SMOKE_LOCATION"),
		Template:    *tmpl,
		StepSummary: os.Getenv("GITHUB_STEP_SUMMARY"),
	}
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		sec, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fail(evidence.ExitUsage, fmt.Errorf("SOURCE_DATE_EPOCH: %q is not a number of seconds", v))
		}
		opts.Now = time.Unix(sec, 0).UTC()
	}

	if *fleet != "" || len(dirs) > 1 {
		var instances []checklist.Instance
		md := *out
		if *fleet != "" {
			var err error
			if instances, err = checklist.FleetDir(*fleet, dirs); err != nil {
				return fail(evidence.ExitEvidence, err)
			}
			if md == "" {
				md = filepath.Join(*fleet, evidence.FleetFile)
			}
		} else {
			instances = checklist.Instances(dirs)
			if md == "" {
				md = "checklist-matrix.md"
			}
		}
		f, written, err := checklist.WriteFleetFiles(md, instances, opts)
		for _, p := range written {
			fmt.Fprintln(stdout, p)
		}
		if err != nil {
			return fail(evidence.ExitEvidence, err)
		}
		if f.ExitCode != evidence.ExitPass {
			fmt.Fprintf(stderr, "checklist: fleet %s: %s\n", f.Verdict, checklist.FleetCounts(f))
			return f.ExitCode
		}
		return evidence.ExitPass
	}
	src := checklist.FromJUnit
	switch st, err := os.Stat(filepath.Join(dirs[0], evidence.JUnitFile)); {
	case os.IsNotExist(err): // a plain go test run: no gotestsum
		src = checklist.FromRun
	case err == nil && st.Size() == 0:
		fmt.Fprintf(stderr, "checklist: %s is empty (gotestsum could not write it: a full disk?); rendering from %s\n",
			filepath.Join(dirs[0], evidence.JUnitFile), evidence.RunFile)
		src = checklist.FromRun
	}
	// The suite holds the directory's lock until it has sealed its run (gotestsum may end before
	// it, as on a second Ctrl-C): rendering waits for it, so that nothing writes after the seal.
	if st, err := os.Stat(dirs[0]); err == nil && st.IsDir() {
		release, err := evidence.Lock(dirs[0], renderWait, func(pid string) {
			fmt.Fprintf(stderr, "checklist: waiting for the suite (pid %s) to seal %s before rendering it\n", pid, dirs[0])
		})
		if err != nil {
			return fail(evidence.ExitEvidence, fmt.Errorf("%s: %w", dirs[0], err))
		}
		defer release()
	}
	res, err := checklist.RenderDir(dirs[0], src, opts)
	if err != nil {
		return fail(evidence.ExitEvidence, err)
	}
	if res.TemplateNote != "" {
		fmt.Fprintf(stderr, "checklist: %s\n", res.TemplateNote)
	}
	for _, p := range res.Written {
		fmt.Fprintln(stdout, p)
	}
	if *verdict {
		return evidence.ExitCode(res.Verdict)
	}
	return evidence.ExitPass
}
