package checklist

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
)

// Matrix reads several evidence directories, one per instance, and writes one markdown matrix:
// each section's result per instance, the verdicts, and the environment rows side by side.
func Matrix(w io.Writer, dirs []string) error {
	if len(dirs) == 0 {
		return fmt.Errorf("matrix: no evidence directories")
	}
	runs := make([]*Evidence, len(dirs))
	for i, d := range dirs {
		e, err := Load(d)
		if err != nil {
			return err
		}
		runs[i] = e
	}
	labels := matrixLabels(dirs)

	var b bytes.Buffer
	fmt.Fprintf(&b, "# difftrain smoke matrix: %d instances\n\n", len(runs))
	for i, e := range runs {
		if e.Run.Fixture {
			fmt.Fprintf(&b, "> **FIXTURE RUN** in %s: the bundled stand-in ran, not a real difftrain checkout.\n\n", Text(labels[i]))
		}
	}

	b.WriteString(header(append([]string{"Instance"}, textAll(labels)...)...))
	b.WriteString(Row(append([]string{"GPU"}, mapRuns(runs, func(e *Evidence) string { return Text(gpuShort(e)) })...)...) + "\n")
	b.WriteString(Row(append([]string{"Host"}, mapRuns(runs, func(e *Evidence) string { return Text(envValues(e)["Host"]) })...)...) + "\n")
	b.WriteString(Row(append([]string{"Started (UTC)"}, mapRuns(runs, func(e *Evidence) string { return Text(e.Run.StartedUTC) })...)...) + "\n")
	b.WriteString(Row(append([]string{"Plan"}, mapRuns(runs, func(e *Evidence) string { return Text(orDash(e.Run.Plan.Name)) })...)...) + "\n")
	b.WriteString(Row(append([]string{"Evidence"}, mapRuns(runs, func(e *Evidence) string { return Code(e.Out) })...)...) + "\n")

	b.WriteString("\n## Sections\n\n")
	b.WriteString(header(append([]string{"#", "Section"}, textAll(labels)...)...))
	type key struct{ num, name string }
	var keys []key
	for _, e := range runs {
		for _, s := range e.Sections {
			k := key{s.Number, s.Name}
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.SortStableFunc(keys, func(a, b key) int {
		x, _ := strconv.Atoi(a.num)
		y, _ := strconv.Atoi(b.num)
		return x - y
	})
	for _, k := range keys {
		cells := []string{Text(k.num), Text(k.name)}
		for _, e := range runs {
			cell := "—"
			for _, s := range e.Sections {
				if s.Number == k.num && s.Name == k.name {
					cell = resultCell(s.Result)
					if s.Duration != "" && s.Result != NotRun {
						cell += " (" + Text(s.Duration) + " s)"
					}
				}
			}
			cells = append(cells, cell)
		}
		b.WriteString(Row(cells...) + "\n")
	}
	b.WriteString(Row(append([]string{"", "**Verdict**"}, mapRuns(runs, func(e *Evidence) string { return "**" + e.Verdict() + "**" })...)...) + "\n")

	b.WriteString("\n## Environment\n\n")
	b.WriteString(header(append([]string{"Field"}, textAll(labels)...)...))
	vals := make([]map[string]string, len(runs))
	for i, e := range runs {
		vals[i] = envValues(e)
	}
	for _, f := range envFields {
		cells := []string{Text(f)}
		for i := range runs {
			cells = append(cells, Text(vals[i][f]))
		}
		b.WriteString(Row(cells...) + "\n")
	}

	b.WriteString("\n## Failures and deviations\n\n")
	n := 0
	for i, e := range runs {
		for _, f := range failureLines(e) {
			fmt.Fprintf(&b, "- %s: %s\n", Text(labels[i]), f)
			n++
		}
		for _, d := range e.Deviations() {
			fmt.Fprintf(&b, "- %s: %s deviates from the runbook: %s\n", Text(labels[i]), Text(d.Section+"-"+d.Name), Text(orDash(d.Reason)))
			n++
		}
	}
	if n == 0 {
		b.WriteString("None.\n")
	}
	b.WriteString("\nEach instance's own checklist.md and report.md have the details.\n")
	_, err := w.Write(b.Bytes())
	return err
}

// WriteMatrix writes the matrix of dirs to the file out, and appends it to
// opts.StepSummary when set. It returns the files written.
func WriteMatrix(out string, dirs []string, opts Options) ([]string, error) {
	var b bytes.Buffer
	if err := Matrix(&b, dirs); err != nil {
		return nil, err
	}
	if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
		return nil, fmt.Errorf("write %s: %w", out, err)
	}
	written := []string{out}
	if opts.StepSummary != "" {
		if err := AppendFile(opts.StepSummary, b.Bytes()); err != nil {
			return written, err
		}
		written = append(written, opts.StepSummary)
	}
	return written, nil
}

// matrixLabels names each instance by its directory's base name, or by the whole path when
// two base names are the same.
func matrixLabels(dirs []string) []string {
	labels := make([]string, len(dirs))
	seen := map[string]int{}
	for i, d := range dirs {
		labels[i] = filepath.Base(filepath.Clean(d))
		seen[labels[i]]++
	}
	for i, d := range dirs {
		if seen[labels[i]] > 1 {
			labels[i] = filepath.ToSlash(filepath.Clean(d))
		}
	}
	return labels
}

func textAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = Text(s)
	}
	return out
}

func mapRuns(runs []*Evidence, f func(*Evidence) string) []string {
	out := make([]string, len(runs))
	for i, e := range runs {
		out[i] = f(e)
	}
	return out
}
