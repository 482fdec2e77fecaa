// Package checklist renders a smoke run's evidence directory into its documents: checklist.md,
// report.md, summary.json, smoke.prom, telemetry.svg and the checkout's own template, filled.
// Each is one entry of a table; gotestsum's junit.xml is rewritten for CI beside them.
package checklist

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/template"
	"github.com/difftrain/gpusmoke/view"
)

// A document is one file the renderer writes into the evidence directory, and how it is made
// from the run: its bytes, or nil when the run gives nothing to write (telemetry.svg without
// telemetry.csv, a checkout with no template), with a note that says why. Adding a document is
// one entry in documents.
type document struct {
	name   string
	render func(e *view.Evidence, opts view.Options) (doc []byte, note string, err error)
}

// documents are the run's documents, in the order they are written; their names are
// evidence.Documents.
var documents = []document{
	{evidence.ChecklistFile, checklistMD},
	{evidence.ReportFile, reportMD},
	{evidence.SummaryFile, summaryJSON},
	{evidence.PromFile, promText},
	{evidence.TelemetrySVGFile, telemetrySVG},
	{evidence.TemplateFile, template.Fill},
}

// Result says what Render wrote.
type Result struct {
	Verdict string   // PASS, FAIL, INTERRUPTED or INCOMPLETE
	Written []string // the files written, in order
	// Notes are one line each for the operator: a document not written and why, the source of
	// the results when it is not junit.xml.
	Notes []string
}

// Render makes every document of e and writes them into e.Dir, then appends the report to
// opts.StepSummary when it is set. Every document is made before any is written, so that one
// that cannot be made leaves them all as they were; a document with nothing to write removes
// a stale one.
func Render(e *view.Evidence, opts view.Options) (Result, error) {
	res := Result{Verdict: e.Verdict()}
	docs := make([][]byte, len(documents))
	for i, d := range documents {
		b, note, err := d.render(e, opts)
		if err != nil {
			return res, err
		}
		docs[i] = b
		if note != "" {
			res.Notes = append(res.Notes, note)
		}
	}
	for i, d := range documents {
		p := filepath.Join(e.Dir, d.name)
		if docs[i] == nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return res, fmt.Errorf("remove the stale %s: %w", p, err)
			}
			continue
		}
		if err := evidence.WriteFileAtomic(p, docs[i], 0o644); err != nil {
			return res, err
		}
		res.Written = append(res.Written, p)
	}
	if opts.StepSummary != "" {
		if err := view.AppendFile(opts.StepSummary, docs[1]); err != nil {
			return res, err
		}
		res.Written = append(res.Written, opts.StepSummary)
	}
	return res, nil
}

// RenderDir renders the evidence directory dir and seals it. It refuses evidence changed since
// it was sealed (the rendered documents aside, which it rewrites), so that rendering again can
// never re-seal tampered evidence; then it reads the run (view.Load), writes its documents
// (Render), rewrites gotestsum's junit.xml for CI (RewriteJUnit) and extends the seal with what
// it wrote. A run that FAILED renders without error.
func RenderDir(dir string, opts view.Options) (Result, error) {
	if err := evidence.CheckSealed(dir); err != nil {
		return Result{}, err
	}
	// The space the suite set aside for the documents, left by a suite killed before its seal.
	if err := os.Remove(filepath.Join(dir, evidence.ReserveFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return Result{}, fmt.Errorf("remove %s: %w", filepath.Join(dir, evidence.ReserveFile), err)
	}
	e, err := view.Load(dir)
	if err != nil {
		return Result{}, err
	}
	res, err := Render(e, opts)
	if err != nil {
		return res, err
	}
	if e.Source != evidence.JUnitFile {
		res.Notes = append(res.Notes, fmt.Sprintf("results read from %s", e.Source))
	} else if err := RewriteJUnit(e); err != nil {
		return res, err
	}
	if err := evidence.Reseal(dir, append([]string{evidence.JUnitFile, evidence.JSONFile}, evidence.Documents...)...); err != nil {
		return res, err
	}
	res.Written = append(res.Written, filepath.Join(dir, evidence.SumsFile))
	return res, nil
}
