package view

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/printable"
)

// Text escapes s for a markdown table cell or an inline position: line breaks and control
// characters become spaces, runs of white space collapse, and the characters that could end a
// cell or start markup are escaped: backslash, pipe, backtick and square brackets with a
// backslash, and <, > and & as HTML entities. A URL is shown as a code span, which no renderer
// links. The result is one line and holds no unescaped pipe, so it can never add or remove a
// column, and no link, image or HTML: text that came from a step stays text.
func Text(s string) string {
	s = printable.OneLine(s)
	var b strings.Builder
	b.Grow(len(s))
	last := 0
	for _, m := range urlRE.FindAllStringIndex(s, -1) {
		escapeText(&b, s[last:m[0]])
		if u := s[m[0]:m[1]]; strings.Contains(u, `\|`) {
			// No code span can hold it (see Code): escaped, with its colon escaped, which no
			// renderer links.
			var e strings.Builder
			escapeText(&e, u)
			b.WriteString(strings.Replace(e.String(), ":", `\:`, 1))
		} else {
			b.WriteString(Code(u))
		}
		last = m[1]
	}
	escapeText(&b, s[last:])
	return b.String()
}

// urlRE finds what GitHub's markdown would turn into a link by itself: a URL with a scheme, or
// a bare www. address.
var urlRE = regexp.MustCompile(`(?i)\b(?:[a-z][a-z0-9+.-]*://|www\.)\S*`)

func escapeText(b *strings.Builder, s string) {
	for _, r := range s {
		switch r {
		case '\\', '|', '`', '[', ']':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(r)
		}
	}
}

// Code renders s as an inline code span that is safe in a table cell: one line, a fence longer
// than any run of backticks inside, and pipes escaped (GitHub removes the backslash inside the
// span). HTML in a code span is shown as written. A value with a backslash just before a pipe
// cannot be written as a span that every renderer splits the same way, so it falls back to
// Text. An empty value renders as nothing.
func Code(s string) string {
	s = printable.OneLine(s)
	if s == "" {
		return ""
	}
	if strings.Contains(s, `\|`) {
		return Text(s)
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	body := strings.ReplaceAll(s, "|", `\|`)
	if strings.HasPrefix(body, "`") || strings.HasSuffix(body, "`") {
		body = " " + body + " "
	}
	return fence + body + fence
}

// Row renders cells, already escaped with Text or Code, as one table row.
func Row(cells ...string) string {
	var b strings.Builder
	b.WriteString("|")
	for _, c := range cells {
		b.WriteString(" ")
		b.WriteString(c)
		b.WriteString(" |")
	}
	return b.String()
}

// Header renders a table's header and delimiter rows.
func Header(names ...string) string {
	dashes := make([]string, len(names))
	for i := range dashes {
		dashes[i] = "---"
	}
	return Row(names...) + "\n" + Row(dashes...) + "\n"
}

// Fence wraps text in a fenced code block whose fence is longer than any run of backticks in
// it, so nothing inside can close the block early.
// Every control character in it is made visible (printable), so that a terminal showing the
// file runs no escape sequence that a step printed.
func Fence(info, text string) string {
	text = strings.TrimRight(printable.String(text), "\n")
	n := max(3, longestRun(text, '`')+1)
	fence := strings.Repeat("`", n)
	return fmt.Sprintf("%s%s\n%s\n%s\n", fence, info, text, fence)
}

func longestRun(s string, c byte) int {
	best, n := 0, 0
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			n++
			best = max(best, n)
		} else {
			n = 0
		}
	}
	return best
}

// OrDash returns s, or an em dash when s is empty, so an empty cell still reads as deliberate.
func OrDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}

// ResultCell is a result as a table shows it: a failure in bold.
func ResultCell(r string) string {
	switch r {
	case evidence.Fail, evidence.Interrupted:
		return "**" + r + "**"
	}
	return r
}
