// Package mdtest is test support for the markdown the documents are: a table row counted as
// the renderers split it, and every table of a document checked to keep its shape.
package mdtest

import (
	"regexp"
	"strings"
	"testing"
)

// CountCells counts a table row's cells as GitHub's table extension splits them: at every pipe
// not preceded by a backslash. It also counts them the CommonMark way, where a backslash escapes
// whichever character follows it, and returns -1 when the two disagree, so a row is only safe
// when both readings agree.
func CountCells(row string) int {
	gfm := splitCells(row, func(s string, i int) bool { return i > 0 && s[i-1] == '\\' })
	cm := 0
	{
		s := strings.TrimSpace(row)
		n := 1
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++
			case '|':
				n++
			}
		}
		if strings.HasPrefix(s, "|") {
			n--
		}
		if len(s) > 1 && strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
			n--
		}
		cm = n
	}
	if gfm != cm {
		return -1
	}
	return gfm
}

func splitCells(row string, escaped func(string, int) bool) int {
	s := strings.TrimSpace(row)
	n := 1
	for i := 0; i < len(s); i++ {
		if s[i] == '|' && !escaped(s, i) {
			n++
		}
	}
	if strings.HasPrefix(s, "|") {
		n--
	}
	if len(s) > 1 && strings.HasSuffix(s, "|") && !strings.HasSuffix(s, `\|`) {
		n--
	}
	return n
}

var delimRowRE = regexp.MustCompile(`^\|( *:?-+:? *\|)+$`)

// CheckTables fails when a table row of md has a different number of cells than its header,
// counting cells the way GitHub splits them.
func CheckTables(t *testing.T, name, md string) {
	t.Helper()
	lines := strings.Split(md, "\n")
	fence := ""
	for i := 0; i < len(lines); i++ {
		if run := strings.TrimRight(lines[i], " "); strings.HasPrefix(run, "```") {
			ticks := run[:len(run)-len(strings.TrimLeft(run, "`"))]
			switch {
			case fence == "":
				fence = ticks
			case len(ticks) >= len(fence) && ticks == run:
				fence = ""
			}
			continue
		}
		if fence != "" || i+1 >= len(lines) || !delimRowRE.MatchString(lines[i+1]) {
			continue
		}
		want := CountCells(lines[i])
		for j := i + 1; j < len(lines) && strings.HasPrefix(lines[j], "|"); j++ {
			if got := CountCells(lines[j]); got != want {
				t.Errorf("%s line %d has %d cells, its table's header %d:\n%s", name, j+1, got, want, lines[j])
			}
			i = j
		}
	}
}
