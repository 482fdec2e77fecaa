package printable

import "testing"

func TestString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"plain text, tabs\tand\nlines", "plain text, tabs\tand\nlines"},
		{"é ünïcode ✓", "é ünïcode ✓"},
		{"\x16=== ATTR Test04Train peak_mem_mib 79000", "^V=== ATTR Test04Train peak_mem_mib 79000"},
		{"\x1b]0;owned\x07 \x1b[31mred", "^[]0;owned^G ^[[31mred"},
		{"a\rb\x00c\x7fd", "a^Mb^@c^?d"},
		{"csi \u009b31m", "csi <U+009B>31m"},
		{"bad \xff\xfe utf-8 \xc3", "bad \uFFFD\uFFFD utf-8 \uFFFD"},
		{"kept \uFFFD", "kept \uFFFD"},
		{"é then \x1b", "é then ^["},
	} {
		if got := String(c.in); got != c.want {
			t.Errorf("String(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func FuzzString(f *testing.F) {
	for _, s := range []string{"", "a\x16b", "\x1b[31m", "\u009b", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := String(s)
		if !clean(out) {
			t.Fatalf("String(%q) = %q still holds a control character or invalid UTF-8", s, out)
		}
		if clean(s) && out != s {
			t.Fatalf("String(%q) changed clean text to %q", s, out)
		}
	})
}
