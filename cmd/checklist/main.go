// Command checklist renders smoke-run evidence directories into markdown.
//
//	checklist DIR                 writes DIR/checklist.md, DIR/report.md and DIR/mvp_smoke_checklist.md
//	checklist [-o FILE] DIR DIR...  writes one matrix of the runs (default ./checklist-matrix.md)
//	checklist -verify DIR...        re-checks each DIR's SHA256SUMS
//
// Rendering one directory ends by sealing it: SHA256SUMS then covers every file in it.
//
// It prints the paths it wrote and exits 0 when rendering succeeded, even for a run that
// FAILED; bad input exits 2 with a one-line error. SMOKE_OPERATOR and SMOKE_LOCATION fill the
// template's Operator and Location rows, GITHUB_STEP_SUMMARY gets a copy of the report (or the
// matrix), and SOURCE_DATE_EPOCH pins the "rendered at" time.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/difftrain/gpusmoke/artifacts"
	"github.com/difftrain/gpusmoke/checklist"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("checklist", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("o", "checklist-matrix.md", "matrix file to write when given several directories")
	verify := fs.Bool("verify", false, "re-check each directory's SHA256SUMS instead of rendering")
	tmpl := fs.String("template", "", "checklist template to fill (default <difftrain_dir>/docs/mvp_smoke_checklist.md)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: checklist [-template FILE] DIR | checklist [-o FILE] DIR DIR...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	dirs := fs.Args()
	if len(dirs) == 0 {
		fs.Usage()
		return 2
	}
	if *verify {
		code := 0
		for _, d := range dirs {
			if err := artifacts.VerifySums(d); err != nil {
				fmt.Fprintf(stderr, "checklist: %v\n", err)
				code = 1
				continue
			}
			fmt.Fprintf(stdout, "%s: every file matches %s\n", d, artifacts.SumsFile)
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
			fmt.Fprintf(stderr, "checklist: SOURCE_DATE_EPOCH: %q is not a number of seconds\n", v)
			return 2
		}
		opts.Now = time.Unix(sec, 0).UTC()
	}

	var written []string
	if len(dirs) == 1 {
		res, err := checklist.Render(dirs[0], opts)
		if err != nil {
			fmt.Fprintf(stderr, "checklist: %v\n", err)
			return 2
		}
		if err := artifacts.WriteSums(dirs[0]); err != nil {
			fmt.Fprintf(stderr, "checklist: %v\n", err)
			return 2
		}
		written = append(res.Written, filepath.Join(dirs[0], artifacts.SumsFile))
		if res.TemplateNote != "" {
			fmt.Fprintf(stderr, "checklist: %s\n", res.TemplateNote)
		}
	} else {
		w, err := checklist.WriteMatrix(*out, dirs, opts)
		if err != nil {
			fmt.Fprintf(stderr, "checklist: %v\n", err)
			return 2
		}
		written = w
	}
	for _, p := range written {
		fmt.Fprintln(stdout, p)
	}
	return 0
}
