// Command checklist renders smoke-run evidence directories into markdown.
//
//	checklist [-exit-verdict] [DIR]  renders DIR (default: the newest complete run under ./runs)
//	checklist [-o FILE] DIR DIR...  writes one matrix of the runs (default ./checklist-matrix.md)
//	checklist -verify [DIR...]      re-checks each DIR's SHA256SUMS
//	checklist -newest RUNS          prints the newest complete run under RUNS
//
// Rendering one directory first refuses evidence changed since it was sealed, then reads the
// sections' results from junit.xml (or, when the run wrote none, from run.json), writes
// checklist.md, report.md, summary.json and the filled template, and seals the directory again:
// SHA256SUMS then covers every file in it.
//
// Exit codes: 0 rendered (with -exit-verdict: and the run passed); 1 with -exit-verdict, the
// run failed or was interrupted, or -verify found a difference; 2 usage; 3 the evidence could
// not be read, verified or rendered. Errors are one line. SMOKE_OPERATOR and SMOKE_LOCATION
// fill the template's Operator and Location rows, GITHUB_STEP_SUMMARY gets a copy of the report
// (or the matrix), and SOURCE_DATE_EPOCH pins the "rendered at" time.
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

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1
	exitUsage    = 2
	exitEvidence = 3
)

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checklist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "checklist-matrix.md", "matrix file to write when given several directories")
	verify := fs.Bool("verify", false, "re-check each directory's SHA256SUMS instead of rendering")
	newest := fs.String("newest", "", "print the newest complete run under this directory and exit")
	verdict := fs.Bool("exit-verdict", false, "exit 1 when the rendered run failed or was interrupted")
	tmpl := fs.String("template", "", "checklist template to fill (default <difftrain_dir>/docs/mvp_smoke_checklist.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: checklist [-exit-verdict] [-template FILE] [DIR] | checklist [-o FILE] DIR DIR... | checklist -verify [DIR...] | checklist -newest RUNS")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	fail := func(code int, err error) int {
		fmt.Fprintf(stderr, "checklist: %v\n", err)
		return code
	}
	if *newest != "" {
		dir, err := evidence.Newest(*newest)
		if err != nil {
			return fail(exitEvidence, err)
		}
		fmt.Fprintln(stdout, dir)
		return exitOK
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		dir, err := evidence.Newest(evidence.RunsDir)
		if err != nil {
			return fail(exitUsage, fmt.Errorf("no evidence directory given: %w", err))
		}
		dirs = []string{dir}
	}
	if *verify {
		code := exitOK
		for _, d := range dirs {
			if err := evidence.VerifySums(d); err != nil {
				fmt.Fprintf(stderr, "checklist: %v\n", err)
				code = exitFailed
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
			return fail(exitUsage, fmt.Errorf("SOURCE_DATE_EPOCH: %q is not a number of seconds", v))
		}
		opts.Now = time.Unix(sec, 0).UTC()
	}

	if len(dirs) > 1 {
		written, err := checklist.WriteMatrix(*out, dirs, opts)
		if err != nil {
			return fail(exitEvidence, err)
		}
		for _, p := range written {
			fmt.Fprintln(stdout, p)
		}
		return exitOK
	}
	src := checklist.FromJUnit
	if _, err := os.Stat(filepath.Join(dirs[0], evidence.JUnitFile)); os.IsNotExist(err) {
		src = checklist.FromRun
	}
	res, err := checklist.RenderDir(dirs[0], src, opts)
	if err != nil {
		return fail(exitEvidence, err)
	}
	if res.TemplateNote != "" {
		fmt.Fprintf(stderr, "checklist: %s\n", res.TemplateNote)
	}
	for _, p := range res.Written {
		fmt.Fprintln(stdout, p)
	}
	if *verdict {
		return checklist.ExitCode(res.Verdict)
	}
	return exitOK
}
