// Package printable makes text that came from code the harness does not control safe to show on
// a terminal, in go test's output and in a document: valid UTF-8 in which every control
// character is visible.
package printable

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// String returns s as valid UTF-8 (each invalid byte becomes U+FFFD) with every control
// character but tab and newline written out, as cat -v writes it: ^V for 0x16, ^[ for ESC, ^M
// for a carriage return, ^? for DEL, and <U+009B> for a C1 control. So no output can start a
// line for test2json (^V), move a terminal's cursor, set its title or open a hyperlink.
func String(s string) string {
	if clean(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i, r := range s {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD"):
			b.WriteRune(utf8.RuneError)
		case r == '\t' || r == '\n':
			b.WriteRune(r)
		case r < 0x20:
			b.WriteByte('^')
			b.WriteByte(byte(r) + '@')
		case r == 0x7f:
			b.WriteString("^?")
		case r >= 0x80 && r < 0xa0:
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// clean reports whether s is valid UTF-8 with no control character but tab and newline.
func clean(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\t' || c == '\n':
		case c < 0x20 || c == 0x7f:
			return false
		case c == 0xc2 && i+1 < len(s) && s[i+1] >= 0x80 && s[i+1] < 0xa0:
			return false
		case c >= 0x80:
			return utf8.ValidString(s[i:]) && !hasC1(s[i:])
		}
	}
	return true
}

func hasC1(s string) bool {
	for _, r := range s {
		if r < 0x20 && r != '\t' && r != '\n' || r == 0x7f || r >= 0x80 && r < 0xa0 {
			return true
		}
	}
	return false
}

// OneLine turns s into valid UTF-8 on one line: every control character (line breaks, tabs,
// NUL...) becomes a space, runs of spaces collapse to one and the ends are trimmed.
func OneLine(s string) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if r < 0x20 || r >= 0x7f && r < 0xa0 || r == '\u2028' || r == '\u2029' || r == '\u0085' || r == ' ' {
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
