package redact

// Escaped values: a value that text carries escaped (JSON's and Python's \u, Go's \x, URL
// encoding, XML and HTML entities), wholly or in part, is found by decoding a window around
// each escape and looking for the literals in what it decodes to.

import (
	"bytes"
	"unicode/utf16"
	"unicode/utf8"
)

// escapeStarts are the bytes an escape starts with.
var escapeStarts = []byte{'\\', '%', '&'}

// escaped finds the literals in the decoded windows around buf's escapes; unless final, a window
// that reaches buf's end also says where a literal may begin but needs later data.
func (v *values) escaped(buf []byte, final bool, hits []hit) []hit {
	if v.window == 0 {
		return hits
	}
	var wins [][2]int
	for _, c := range escapeStarts {
		for at := 0; ; {
			j := bytes.IndexByte(buf[at:], c)
			if j < 0 {
				break
			}
			p := at + j
			if n := escapeLen(buf[p:]); n > 0 || n < 0 && !final {
				wins = append(wins, [2]int{max(0, p-v.window), min(len(buf), p+v.window)})
			}
			at = p + 1
		}
	}
	if len(wins) == 0 {
		return hits
	}
	slicesSortWindows(wins)
	var dec decoded
	for i := 0; i < len(wins); {
		w := wins[i]
		for i++; i < len(wins) && wins[i][0] <= w[1]; i++ {
			w[1] = max(w[1], wins[i][1])
		}
		dec.decode(buf[w[0]:w[1]], w[0])
		hits = v.inDecoded(&dec, !final && w[1] == len(buf), hits)
	}
	return hits
}

func slicesSortWindows(w [][2]int) {
	for i := 1; i < len(w); i++ { // few, nearly sorted
		for j := i; j > 0 && w[j][0] < w[j-1][0]; j-- {
			w[j], w[j-1] = w[j-1], w[j]
		}
	}
}

// inDecoded appends the literals that d holds where an escape made them, and, when open (d
// reaches the end of the data so far), where one may begin but needs later data.
func (v *values) inDecoded(d *decoded, open bool, hits []hit) []hit {
	t := d.text
	for j := 0; j+4 <= len(t); j++ {
		g := le32(t, j)
		if !v.may(g) {
			continue
		}
		for _, i := range v.starts[g] {
			l := &v.lits[i]
			if len(l.b) > maxDecoded || j+len(l.b) > len(t) || !bytes.Equal(t[j:j+len(l.b)], l.b) {
				continue
			}
			s, e := d.start[j], d.end[j+len(l.b)-1]
			if e-s != len(l.b) { // else no escape made it: the raw text holds it, found there
				hits = append(hits, hit{start: s, end: e, repl: l.repl, name: l.name})
			}
		}
	}
	if open {
		// A literal's start that the window ends in, or that an escape cut off by its end may go on.
		end := len(t)
		if d.partial >= 0 {
			end = d.partialAt
		}
		for j := max(0, end-v.maxLen+1); j < end; j++ {
			if v.isStart(t[j:end]) {
				hits = append(hits, hit{start: d.start[j], pending: true})
				break
			}
		}
		if d.partial >= 0 {
			hits = append(hits, hit{start: d.partial, pending: true})
		}
	}
	return hits
}

// decoded is a window of raw text with its escapes decoded: each byte of text came from raw
// bytes [start, end) (absolute offsets); partial is where an escape cut off by the window's
// end begins, or -1, and partialAt where it is in text.
type decoded struct {
	text       []byte
	start, end []int
	partial    int
	partialAt  int
}

func (d *decoded) decode(raw []byte, base int) {
	d.text, d.start, d.end, d.partial = d.text[:0], d.start[:0], d.end[:0], -1
	var u [utf8.UTFMax]byte
	for i := 0; i < len(raw); {
		n := escapeLen(raw[i:])
		if n < 0 {
			d.partial, d.partialAt = base+i, len(d.text)
		}
		if n <= 0 {
			d.add(raw[i:i+1], base+i, base+i+1)
			i++
			continue
		}
		r, isRune := escapeValue(raw[i : i+n])
		if isRune {
			if utf16.IsSurrogate(r) { // a pair: \ud83d\ude00
				if m := escapeLen(raw[i+n:]); m == 6 {
					if r2, _ := escapeValue(raw[i+n : i+n+6]); utf16.DecodeRune(r, r2) != utf8.RuneError {
						r, n = utf16.DecodeRune(r, r2), n+6
					}
				}
			}
			d.add(u[:utf8.EncodeRune(u[:], r)], base+i, base+i+n)
		} else {
			d.add([]byte{byte(r)}, base+i, base+i+n)
		}
		i += n
	}
}

func (d *decoded) add(b []byte, s, e int) {
	for _, c := range b {
		d.text = append(d.text, c)
		d.start = append(d.start, s)
		d.end = append(d.end, e)
	}
}

// simpleEscapes are the one-letter backslash escapes of JSON, Python and Go.
var simpleEscapes = map[byte]byte{'"': '"', '\'': '\'', '\\': '\\', '/': '/', 'n': '\n', 'r': '\r', 't': '\t',
	'b': '\b', 'f': '\f', 'v': '\v', 'a': '\a'}

// entities are the named XML and HTML entities text escapes with.
var entities = map[string]byte{"amp": '&', "lt": '<', "gt": '>', "quot": '"', "apos": '\''}

// escapeLen is the length of the escape b starts with: 0 when it starts none, and -n when b
// ends before it could tell (n of its bytes may begin one).
func escapeLen(b []byte) int {
	if len(b) == 0 {
		return 0
	}
	switch b[0] {
	case '\\':
		if len(b) < 2 {
			return -1
		}
		if _, ok := simpleEscapes[b[1]]; ok {
			return 2
		}
		switch b[1] {
		case 'x':
			return hexRun(b, 2, 2)
		case 'u':
			return hexRun(b, 2, 4)
		case 'U':
			return hexRun(b, 2, 8)
		}
		return 0
	case '%':
		return hexRun(b, 1, 2)
	case '&':
		return entityLen(b)
	}
	return 0
}

// hexRun is at+digits when b holds that many hex digits at at, -len(b) when b ends among them.
func hexRun(b []byte, at, digits int) int {
	for k := at; k < at+digits; k++ {
		if k == len(b) {
			return -len(b)
		}
		if unhex(b[k]) < 0 {
			return 0
		}
	}
	return at + digits
}

// entityLen reads &name; &#digits; or &#xhex; at b's start.
func entityLen(b []byte) int {
	for k := 1; k < len(b) && k <= 10; k++ {
		c := b[k]
		switch {
		case c == ';':
			if _, ok := entityValue(b[1:k]); ok {
				return k + 1
			}
			return 0
		case !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '#'):
			return 0
		}
	}
	if len(b) <= 10 {
		return -len(b)
	}
	return 0
}

func entityValue(name []byte) (rune, bool) {
	if c, ok := entities[string(name)]; ok {
		return rune(c), true
	}
	if len(name) < 2 || name[0] != '#' {
		return 0, false
	}
	digits, base := name[1:], 10
	if digits[0] == 'x' || digits[0] == 'X' {
		digits, base = digits[1:], 16
	}
	var r rune
	for _, c := range digits {
		d := unhex(c)
		if d < 0 || d >= base || r > utf8.MaxRune {
			return 0, false
		}
		r = r*rune(base) + rune(d)
	}
	return r, len(digits) > 0 && r <= utf8.MaxRune
}

// escapeValue decodes a whole escape: a rune (\u, \U, an entity) or a byte (\x, %, \n...).
func escapeValue(e []byte) (rune, bool) {
	switch e[0] {
	case '%':
		return rune(unhex(e[1])<<4 | unhex(e[2])), false
	case '&':
		r, _ := entityValue(e[1 : len(e)-1])
		return r, true
	}
	if c, ok := simpleEscapes[e[1]]; ok {
		return rune(c), false
	}
	var r rune
	for _, c := range e[2:] {
		r = r<<4 | rune(unhex(c))
	}
	if e[1] == 'x' {
		return r, false
	}
	if r > utf8.MaxRune {
		r = utf8.RuneError
	}
	return r, true
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c - 'a' + 10)
	case c >= 'A' && c <= 'F':
		return int(c - 'A' + 10)
	}
	return -1
}
