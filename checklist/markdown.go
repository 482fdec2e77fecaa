package checklist

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text escapes s for a markdown table cell or an inline position: line breaks and control
// characters become spaces, runs of white space collapse, and the characters that could end a
// cell or start markup are escaped: backslash, pipe and backtick with a backslash, and <, > and
// & as HTML entities. The result is one line and holds no unescaped pipe, so it can never add
// or remove a column.
func Text(s string) string {
	s = oneLine(s)
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '|':
			b.WriteString(`\|`)
		case '`':
			b.WriteString("\\`")
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
	return b.String()
}

// Code renders s as an inline code span that is safe in a table cell: one line, a fence longer
// than any run of backticks inside, and pipes escaped (GitHub removes the backslash inside the
// span). HTML in a code span is shown as written. A value with a backslash just before a pipe
// cannot be written as a span that every renderer splits the same way, so it falls back to
// Text. An empty value renders as nothing.
func Code(s string) string {
	s = oneLine(s)
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

// header renders a table's header and delimiter rows.
func header(names ...string) string {
	dashes := make([]string, len(names))
	for i := range dashes {
		dashes[i] = "---"
	}
	return Row(names...) + "\n" + Row(dashes...) + "\n"
}

// Fence wraps text in a fenced code block whose fence is longer than any run of backticks in
// it, so nothing inside can close the block early.
func Fence(info, text string) string {
	text = strings.ToValidUTF8(text, "\uFFFD")
	text = strings.ReplaceAll(text, "\x00", "\uFFFD")
	text = strings.TrimRight(text, "\n")
	n := max(3, longestRun(text, '`')+1)
	fence := strings.Repeat("`", n)
	return fmt.Sprintf("%s%s\n%s\n%s\n", fence, info, text, fence)
}

// oneLine turns s into valid UTF-8 on one line: every control character (line breaks, tabs,
// NUL...) becomes a space, runs of spaces collapse to one and the ends are trimmed.
func oneLine(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r < 0x20 || r == 0x7f || r == '\u2028' || r == '\u2029' || r == '\u0085' || r == ' ' {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
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

// orDash returns s, or an em dash when s is empty, so an empty cell still reads as deliberate.
func orDash(s string) string {
	if s == "" {
		return "—"
	}
	return s
}
