package template

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/difftrain/gpusmoke/view"
)

// Rel is where a difftrain checkout keeps its checklist template.
const Rel = "docs/mvp_smoke_checklist.md"

// Fill is the checkout's own template, filled from the run (FillTemplate), or nothing with a
// note that says why: no template to fill (opts.Template, else <difftrain_dir>/docs/mvp_smoke_checklist.md),
// or one that is empty or not text. A template in which nothing could be filled is written with
// the banner and the footer, and a note naming what kept it from filling.
func Fill(e *view.Evidence, opts view.Options) ([]byte, string, error) {
	p := opts.Template
	if p == "" && e.Run.DifftrainDir != "" {
		p = filepath.Join(e.Run.DifftrainDir, filepath.FromSlash(Rel))
	}
	tmpl, err := os.ReadFile(p)
	switch {
	case p == "":
		return nil, "run.json names no difftrain_dir; template not filled", nil
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Sprintf("no template at %s; not filled", p), nil
	case err != nil:
		return nil, "", fmt.Errorf("read %s: %w", p, err)
	case len(bytes.TrimSpace(tmpl)) == 0:
		return nil, fmt.Sprintf("%s: empty file; not filled", p), nil
	case bytes.IndexByte(tmpl, 0) >= 0:
		return nil, fmt.Sprintf("%s: not a text file (NUL byte at offset %d); not filled", p, bytes.IndexByte(tmpl, 0)), nil
	}
	filled, kind := FillTemplate(tmpl, e, opts)
	if kind == "none" {
		return filled, fmt.Sprintf("%s: nothing to fill (%s); written with the banner only", p, whyNothingFilled(tmpl)), nil
	}
	return filled, "", nil
}
