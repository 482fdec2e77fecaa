package view

import (
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/difftrain/gpusmoke/internal/mdtest"
	"github.com/difftrain/gpusmoke/internal/printable"
)

// unescapeText reverses Text, to show that escaping loses nothing but line breaks.
func unescapeText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "&lt;"):
			b.WriteByte('<')
			i += 3
		case strings.HasPrefix(s[i:], "&gt;"):
			b.WriteByte('>')
			i += 3
		case strings.HasPrefix(s[i:], "&amp;"):
			b.WriteByte('&')
			i += 4
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func TestText(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                       "plain",
		"a | b":                       `a \| b`,
		"line one\nline two\r\nthree": "line one line two three",
		"<script>alert(1)</script>":   "&lt;script&gt;alert(1)&lt;/script&gt;",
		"fish & chips":                "fish &amp; chips",
		"`code`":                      "\\`code\\`",
		`C:\path\|x`:                  `C:\\path\\\|x`,
		"  padded\t\tand\x00nul  ":    "padded and nul",
		"[re-login](https://e.example/x) ![](https://e.example/p.png)": "\\[re-login\\](`https://e.example/x)` !\\[\\](`https://e.example/p.png)`",
		"see www.e.example now": "see `www.e.example` now",
		"ftp://a|b and C:\\x":   "`ftp://a\\|b` and C:\\\\x",
		`odd http://a\|b`:       `odd http\://a\\\|b`,
		"csi \u009b31m":         "csi 31m",
	} {
		if got := Text(in); got != want {
			t.Errorf("Text(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCode(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"python -m pip":           "`python -m pip`",
		"a|b":                     "`a\\|b`",
		"echo `date`":             "`` echo `date` ``",
		"`x`":                     "`` `x` ``",
		"<b>&</b>":                "`<b>&</b>`",
		"two\nlines":              "`two lines`",
		`back\|slash before pipe`: `back\\\|slash before pipe`, // falls back to Text
	} {
		if got := Code(in); got != want {
			t.Errorf("Code(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFence(t *testing.T) {
	for in, want := range map[string]string{
		"a\n```\nb\n":                            "````text\na\n```\nb\n````\n",
		"\x1b]0;title\x07 \x1b[31mred\x00\xff\n": "```text\n^[]0;title^G ^[[31mred^@\uFFFD\n```\n",
	} {
		if got := Fence("text", in); got != want {
			t.Errorf("Fence(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzTableCell: no value, escaped with Text or Code, can break out of its cell, and Text keeps
// everything but line breaks and control characters.
func FuzzTableCell(f *testing.F) {
	for _, s := range []string{"", "a|b", `a\|b`, `\`, "`", "``|``", "<br>", "line\nbreak", "&amp;", "\xff\xfe", "| --- |"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for name, cell := range map[string]string{"Text": Text(s), "Code": Code(s)} {
			if strings.ContainsAny(cell, "\r\n") {
				t.Fatalf("%s(%q) = %q spans lines", name, s, cell)
			}
			if !utf8.ValidString(cell) {
				t.Fatalf("%s(%q) = %q is not valid UTF-8", name, s, cell)
			}
			if n := mdtest.CountCells(Row(cell)); n != 1 {
				t.Fatalf("%s(%q) = %q makes a row of %d cells, want 1", name, s, cell, n)
			}
		}
		text := Text(s)
		if strings.ContainsAny(text, "<>") {
			t.Fatalf("Text(%q) = %q holds raw HTML brackets", s, text)
		}
		if urlRE.MatchString(printable.OneLine(s)) {
			// A URL is a code span: no text outside one may start a link.
			for _, m := range regexp.MustCompile("(?:^|[^`])(https?://|www\\.)").FindAllString(strings.ReplaceAll(text, `\:`, ""), -1) {
				t.Fatalf("Text(%q) = %q: %q is outside a code span", s, text, m)
			}
			return
		}
		if got, want := unescapeText(text), printable.OneLine(s); got != want {
			t.Fatalf("Text(%q) = %q reads back as %q, want %q", s, text, got, want)
		}
		if i := strings.IndexAny(strings.ReplaceAll(strings.ReplaceAll(text, `\[`, ""), `\]`, ""), "[]"); i >= 0 {
			t.Fatalf("Text(%q) = %q holds an unescaped square bracket", s, text)
		}
	})
}

// FuzzRenderRow: a row of three escaped values always has three cells.
func FuzzRenderRow(f *testing.F) {
	f.Add("04", "python train.py --x 'a|b'", "exit status 1: <oops> | `bad`")
	f.Add(`\`, "`", "|")
	f.Add("a\nb", `c\|d`, "e\\")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		row := Row(Text(a), Code(b), Text(c))
		if n := mdtest.CountCells(row); n != 3 {
			t.Fatalf("Row(%q, %q, %q) = %q has %d cells, want 3", a, b, c, row, n)
		}
	})
}
