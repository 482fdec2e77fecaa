package redact

// The values: each secret variable's value in the forms text carries it in (as it is, escaped,
// base64-encoded, cut short, split over two lines), found in one pass over a chunk. Every form
// is a literal of at least minLiteral bytes; every part of one that is replaced is at least
// MinPart bytes. So one of its 4-byte windows falls on every stride-th byte of the text
// whatever its place, stride being at most MinPart-3: the pass reads the window at those bytes
// only, tests it against a Bloom filter of all the literals' windows (a first-bytes table that
// reads four), and verifies a hit against the literals that hold the window, reading on from
// it both ways: a whole literal, a start of one before a cut marker or a line's end, an end of
// one at a line's start. Escapes, which the byte search of package bytes finds, anchor the
// decoded forms (decode.go).

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"math/bits"
	"slices"
	"strings"
)

// MinPart is the shortest part of a secret's value (or of one of its forms) that a Redactor
// replaces where the text holds only part of it: its start before a cut marker ("...", "…",
// either after a space: a value whoever printed it cut short) or at a line's end, its end at a
// line's start (after its indentation: a value printed over two lines). A value split over two
// lines thus leaves at most MinPart-1 of its bytes, on the shorter side.
const MinPart = 12

// maxDecoded bounds the literals looked for in decoded text (escaped or URL-encoded): an
// escape's window spans 6 raw bytes for each of theirs. A longer value (a private key in a
// variable) is still found as it is and as JSON and Go escape it.
const maxDecoded = 256

// literal is one form of a secret variable's value.
type literal struct {
	b    []byte
	name string
	repl []byte
	// extL and extR are the base64 characters before and after the literal (a base64 core) that
	// also encode bytes of the value: the value's first and last bytes share a 4-character group
	// with whatever was encoded around them. They are replaced with the core, when they are there.
	extL, extR int
	alpha      *asciiSet // the core's base64 alphabet
	// repeats is a literal that holds one of its windows more than maxRepeats times ("aaaa..."):
	// verifying each place the window may stand in it would take time in the square of its
	// length, so it is not sampled but searched whole, and its parts are not looked for.
	repeats bool
	border  []int // for startAtEnd, when repeats
}

// borders sets l.border: KMP's failure function of l.b.
func (l *literal) borders() {
	l.border = make([]int, len(l.b))
	for i, k := 1, 0; i < len(l.b); i++ {
		for k > 0 && l.b[i] != l.b[k] {
			k = l.border[k-1]
		}
		if l.b[i] == l.b[k] {
			k++
		}
		l.border[i] = k
	}
}

// maxRepeats is how often a sampled literal may hold one window.
const maxRepeats = 4

// gram is one of a literal's 4-byte windows: the literal and where the window starts in it.
type gram struct{ lit, off int32 }

// values finds the secret values' literals in text.
type values struct {
	lits   []literal
	stride int // the sampled windows' step: the shortest literal's length less 3
	maxLen int
	shift  uint32
	bits   []uint64          // a Bloom filter of every literal's windows
	grams  map[uint32][]gram // the literals that hold each window
	starts map[uint32][]int32
	short  map[string]bool // the literals' starts of 1 to 3 bytes
	inLit  asciiSet        // the bytes the literals hold
	b64    bool            // some literal is a base64 core with characters around it
	window int             // the raw bytes on each side of an escape that a decoded literal may span
}

// newValues builds the finder of the values in byValue (value → the variable's name).
func newValues(byValue map[string]string) *values {
	forms := map[string]literal{}
	for value, name := range byValue {
		for _, l := range forms1(value) {
			if prev, ok := forms[string(l.b)]; !ok || name < prev.name {
				l.name, l.repl = name, []byte(Marker(name))
				forms[string(l.b)] = l
			}
		}
	}
	if len(forms) == 0 {
		return nil
	}
	v := &values{grams: map[uint32][]gram{}, starts: map[uint32][]int32{}, short: map[string]bool{}, stride: 1 << 30}
	for _, l := range forms {
		v.lits = append(v.lits, l)
	}
	slices.SortFunc(v.lits, func(a, b literal) int {
		if len(a.b) != len(b.b) {
			return len(b.b) - len(a.b)
		}
		return bytes.Compare(a.b, b.b)
	})
	n := 0
	for _, l := range v.lits {
		n += len(l.b) - 3
	}
	// A Bloom filter of two bits a window, about 32 bits a window: a false hit in 250.
	size := max(12, min(24, bits.Len(uint(n*32))))
	v.shift = uint32(32 - size)
	v.bits = make([]uint64, 1<<size/64)
	v.stride = MinPart - 3 // every part has a sampled window
	for i := range v.lits {
		l := &v.lits[i]
		v.maxLen = max(v.maxLen, len(l.b))
		if len(l.b) <= maxDecoded {
			v.window = max(v.window, 6*len(l.b)+12)
		}
		v.b64 = v.b64 || l.extL > 0
		seen := map[uint32]int{}
		for off := 0; off+4 <= len(l.b); off++ {
			seen[le32(l.b, off)]++
			l.repeats = l.repeats || seen[le32(l.b, off)] > maxRepeats
		}
		for off := 0; off+4 <= len(l.b) && !l.repeats; off++ {
			g := le32(l.b, off)
			v.grams[g] = append(v.grams[g], gram{int32(i), int32(off)})
			h1, h2 := v.hash(g)
			v.bits[h1>>6] |= 1 << (h1 & 63)
			v.bits[h2>>6] |= 1 << (h2 & 63)
		}
		if l.repeats {
			l.borders()
		} else {
			v.stride = min(v.stride, len(l.b)-3)
		}
		v.starts[le32(l.b, 0)] = append(v.starts[le32(l.b, 0)], int32(i))
		for k := 1; k < 4; k++ {
			v.short[string(l.b[:k])] = true
		}
		for _, c := range l.b {
			v.inLit[c] = true
		}
	}
	return v
}

// minLiteral is the shortest form of a value that a Redactor looks for: MinSecretLen bytes.
// Every form of a value is at least as long as the value (a base64 core of 8 bytes is 8).
const minLiteral = MinSecretLen

// forms1 is every form of one value that text may carry as it is: the value; as JSON (Go's,
// HTML-safe or not, and Python's ensure_ascii) and Go's %q write it, without the quotes; with
// its spaces as '+' (a URL's query); and the base64 cores (base64Cores). Other escapes and
// URL-encodings are decoded where they occur (escaped), so they need no form of their own.
func forms1(value string) []literal {
	var out []literal
	add := func(s string) {
		if len(s) < minLiteral {
			return
		}
		for _, o := range out {
			if string(o.b) == s {
				return
			}
		}
		out = append(out, literal{b: []byte(s)})
	}
	for _, e := range escapings(value) {
		add(e)
	}
	add(strings.ReplaceAll(value, " ", "+"))
	for _, c := range base64Cores([]byte(value)) {
		if len(c.b) >= minLiteral && !slices.ContainsFunc(out, func(o literal) bool { return bytes.Equal(o.b, c.b) }) {
			out = append(out, c)
		}
	}
	return out
}

// base64Cores are the characters that the base64 (standard and URL alphabets) of any text that
// holds value always holds, whatever comes before and after it: for each of the three places
// the value can start at within a 3-byte group, the encoding of its bytes from the first whole
// group to the last. So the base64 of the value and of "user:value" (an HTTP Basic
// Authorization header) both hold one of them.
func base64Cores(value []byte) []literal {
	var out []literal
	for skip := 0; skip < 3 && skip < len(value); skip++ {
		whole := (len(value) - skip) / 3 * 3
		if whole == 0 {
			continue
		}
		extL, extR := 0, 0
		if skip > 0 {
			extL = 4
		}
		if skip+whole < len(value) {
			extR = 4
		}
		for _, enc := range []struct {
			e     *base64.Encoding
			alpha *asciiSet
		}{{base64.StdEncoding, b64Std}, {base64.URLEncoding, b64URL}} {
			core := []byte(enc.e.EncodeToString(value[skip : skip+whole]))
			if !slices.ContainsFunc(out, func(o literal) bool { return bytes.Equal(o.b, core) }) {
				out = append(out, literal{b: core, extL: extL, extR: extR, alpha: enc.alpha})
			}
		}
	}
	return out
}

var (
	b64Std = set("A-Z", "a-z", "0-9", "+/")
	b64URL = set("A-Z", "a-z", "0-9", "-_")
)

func le32(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[i:]) }

// hash is the window's two bits in the filter, from two multiplicative hashes.
func (v *values) hash(g uint32) (uint32, uint32) {
	return (g * 0x9E3779B1) >> v.shift, (g * 0x85EBCA77) >> v.shift
}

// may says whether some literal holds the window g (or, rarely, another with its bits).
func (v *values) may(g uint32) bool {
	h1, h2 := v.hash(g)
	return v.bits[h1>>6]&(1<<(h1&63)) != 0 && v.bits[h2>>6]&(1<<(h2&63)) != 0
}

// find appends the values' matches in buf, and unless final where one may begin but needs
// later data. lineStart says whether buf starts a line.
func (v *values) find(buf []byte, final, lineStart bool, hits []hit) []hit {
	hits = v.sampled(buf, final, lineStart, hits)
	for i := range v.lits {
		if l := &v.lits[i]; l.repeats {
			for at := 0; ; {
				j := bytes.Index(buf[at:], l.b)
				if j < 0 {
					break
				}
				hits = v.whole(buf, at+j, l, final, hits)
				at += j + len(l.b) // as the old redactor did: the leftmost, then after it

			}
		}
	}
	hits = v.escaped(buf, final, hits)
	if !final {
		hits = v.pending(buf, lineStart, hits)
	}
	return hits
}

// sampled finds every whole literal and every part of one (MinPart): the window at every
// stride-th byte, verified and read on both ways.
func (v *values) sampled(buf []byte, final, lineStart bool, hits []hit) []hit {
	n := len(buf)
	bits, shift, stride := v.bits, v.shift, v.stride // the loop reads every stride-th byte: keep it tight
	mask := uint32(len(bits) - 1)
	bit := func(i int) uint64 { // the window at i's first bit in the filter, as the low bit
		h := (binary.LittleEndian.Uint32(buf[i:i+4:i+4]) * 0x9E3779B1) >> shift
		return bits[(h>>6)&mask] >> (h & 63)
	}
	i := 0
	for ; i+3*stride+4 <= n; i += 4 * stride { // four windows a test: most have no bit set
		if (bit(i)|bit(i+stride)|bit(i+2*stride)|bit(i+3*stride))&1 != 0 {
			for k := range 4 {
				if bit(i+k*stride)&1 != 0 {
					hits = v.verify(buf, i+k*stride, final, lineStart, hits)
				}
			}
		}
	}
	for ; i+4 <= n; i += stride {
		hits = v.verify(buf, i, final, lineStart, hits)
	}
	return hits
}

// verify reads on from the window at i, when some literal holds it: a whole literal, or a part
// of one where parts are replaced.
func (v *values) verify(buf []byte, i int, final, lineStart bool, hits []hit) []hit {
	g := le32(buf, i)
	if !v.may(g) {
		return hits
	}
	for _, e := range v.grams[g] {
		l := &v.lits[e.lit]
		off := int(e.off)
		back := commonSuffix(buf[:i], l.b[:off])
		fwd := commonPrefix(buf[i+4:], l.b[off+4:])
		s, k := i-back, off-back // the text from s holds l.b[k:]...
		e := i + 4 + fwd         // ...up to e
		switch {
		case k == 0 && off+4+fwd == len(l.b):
			hits = v.whole(buf, s, l, final, hits)
		case k == 0 && e-s >= MinPart && (cut(buf[e:]) || lineEnd(buf[e:], final)):
			hits = append(hits, hit{start: s, end: e, repl: l.repl, name: l.name, rank: rankPart})
		case k > 0 && off+4+fwd == len(l.b) && e-s >= MinPart && atLineStart(buf, s, lineStart):
			hits = append(hits, hit{start: s, end: e, repl: l.repl, name: l.name, rank: rankPart})
		}
	}
	return hits
}

func commonSuffix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	return n
}

func commonPrefix(a, b []byte) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	return n
}

// lineEnd says whether rest starts a line's end: a newline, a carriage return and one, or, when
// final, the end of the text.
func lineEnd(rest []byte, final bool) bool {
	if len(rest) > 0 && rest[0] == '\r' {
		rest = rest[1:]
	}
	return len(rest) > 0 && rest[0] == '\n' || len(rest) == 0 && final
}

// atLineStart says whether buf[s] starts a line, after its indentation; buf[0] does when
// lineStart.
func atLineStart(buf []byte, s int, lineStart bool) bool {
	for s > 0 && (buf[s-1] == ' ' || buf[s-1] == '\t') {
		s--
	}
	return s == 0 && lineStart || s > 0 && buf[s-1] == '\n'
}

// cut says whether rest starts with a cut marker, or a space and one.
func cut(rest []byte) bool {
	if len(rest) > 0 && rest[0] == ' ' {
		rest = rest[1:]
	}
	for _, m := range cutMarkers {
		if bytes.HasPrefix(rest, m) {
			return true
		}
	}
	return false
}

// before is where l's match at s begins: with the base64 characters before a core that encode
// part of the value too.
func (l *literal) before(buf []byte, s int) int {
	e := s
	for e > s-l.extL && e > 0 && l.alpha[buf[e-1]] {
		e--
	}
	return e
}

// whole appends the match of l at start, with the base64 characters around it that also encode
// the value; unless final, one whose characters after it may go on in later data is pending.
func (v *values) whole(buf []byte, start int, l *literal, final bool, hits []hit) []hit {
	s, e := l.before(buf, start), start+len(l.b)
	for e < start+len(l.b)+l.extR && e < len(buf) && (l.alpha[buf[e]] || buf[e] == '=') {
		e++
	}
	if !final && e == len(buf) && e < start+len(l.b)+l.extR {
		return append(hits, hit{start: s, pending: true})
	}
	return append(hits, hit{start: s, end: e, repl: l.repl, name: l.name})
}

// startBefore finds the longest start of a literal, at least least long and not all of it,
// that buf ends with at e: where it begins.
func (v *values) startBefore(buf []byte, e, least int) (int, bool) {
	if e < 4 || e < least {
		return 0, false
	}
	g := le32(buf, e-4)
	if !v.may(g) {
		return 0, false
	}
	best := 0
	for _, w := range v.grams[g] {
		l := &v.lits[w.lit]
		k := int(w.off) + 4
		if k >= least && k < len(l.b) && k > best && k <= e && bytes.Equal(buf[e-k:e-4], l.b[:w.off]) {
			best = k
		}
	}
	return e - best, best > 0
}

// cutMarkers are what text cut short ends with.
var cutMarkers = [][]byte{[]byte("..."), []byte("…")}

// partialEnds are what buf may end with before later data completes a line's end or a cut
// marker, with the least start of a literal before them that is replaced then.
var partialEnds = []struct {
	s     string
	least int
}{
	{"\r", MinPart}, {" ", MinPart}, {".", MinPart}, {"..", MinPart}, {" .", MinPart},
	{" ..", MinPart}, {"\xe2", MinPart}, {"\xe2\x80", MinPart}, {" \xe2", MinPart}, {" \xe2\x80", MinPart},
}

// pending appends where a match may begin in buf's last bytes but needs later data: a literal's
// start; a start of one before a partial line end or cut marker; the head of a line that a
// literal's end may fill; the base64 characters a core that begins next may extend over.
func (v *values) pending(buf []byte, lineStart bool, hits []hit) []hit {
	n := len(buf)
	// Only the first place where a literal may begin matters: a later one is held with it. A
	// base64 core's characters before it go with it, so the next 4 places are read too.
	for s, last := max(0, n-v.maxLen+1), n; s < min(n, last); s++ {
		if l := v.startOf(buf[s:]); l != nil {
			hits = append(hits, hit{start: l.before(buf, s), pending: true})
			last = min(last, s+5)
		}
	}
	for i := range v.lits {
		if l := &v.lits[i]; l.repeats {
			if k := l.startAtEnd(buf); k > 0 {
				hits = append(hits, hit{start: l.before(buf, n-k), pending: true})
			}
		}
	}
	for _, p := range partialEnds {
		if bytes.HasSuffix(buf, []byte(p.s)) {
			if s, ok := v.startBefore(buf, n-len(p.s), p.least); ok {
				hits = append(hits, hit{start: s, pending: true})
			}
		}
	}
	// The last line's head, when it is short enough to be an end of a literal yet.
	from := max(0, n-v.maxLen)
	if ls := bytes.LastIndexByte(buf[from:], '\n') + 1; ls > 0 || from == 0 && lineStart {
		ls += from
		s := ls
		for s < n && (buf[s] == ' ' || buf[s] == '\t') {
			s++
		}
		if ls < n && (s == n || v.mayEnd(buf[s:]) || v.mayEnd(buf[ls:])) { // held with its indentation
			hits = append(hits, hit{start: ls, pending: true})
		}
	}
	if v.b64 {
		s := n
		for s > n-4 && s > 0 && (b64Std[buf[s-1]] || b64URL[buf[s-1]]) {
			s--
		}
		if s < n {
			hits = append(hits, hit{start: s, pending: true})
		}
	}
	return hits
}

// isStart says whether rest is a start of a literal, not all of it.
func (v *values) isStart(rest []byte) bool { return v.startOf(rest) != nil }

// startOf is a literal that rest is a start of, not all of it, the one with the most base64
// characters before it when several are; or nil.
func (v *values) startOf(rest []byte) *literal {
	var best *literal
	if len(rest) < 4 {
		if !v.short[string(rest)] {
			return nil
		}
		for i := range v.lits { // rare: a chunk that ends in a literal's first bytes
			if l := &v.lits[i]; len(rest) < len(l.b) && bytes.HasPrefix(l.b, rest) && (best == nil || l.extL > best.extL) {
				best = l
			}
		}
		return best
	}
	for _, i := range v.starts[le32(rest, 0)] {
		if l := &v.lits[i]; !l.repeats && len(rest) < len(l.b) && bytes.HasPrefix(l.b, rest) && (best == nil || l.extL > best.extL) {
			best = l
		}
	}
	return best
}

// startAtEnd is the length of the longest start of l, not all of it, that text ends with, in
// time linear in l's length (Knuth-Morris-Pratt: border[i] is the longest proper border of
// l.b[:i+1]).
func (l *literal) startAtEnd(text []byte) int {
	k := 0
	for _, c := range text[max(0, len(text)-len(l.b)+1):] {
		for k > 0 && c != l.b[k] {
			k = l.border[k-1]
		}
		if c == l.b[k] {
			k++
		}
		if k == len(l.b) {
			k = l.border[k-1]
		}
	}
	return k
}

// mayEnd says whether a line's head, rest, may grow into a literal's end of at least
// MinPart bytes.
func (v *values) mayEnd(rest []byte) bool {
	if len(rest) < 4 {
		for _, c := range rest {
			if !v.inLit[c] {
				return false
			}
		}
		return true
	}
	for _, w := range v.grams[le32(rest, 0)] {
		l := v.lits[w.lit].b
		if w.off > 0 && len(l)-int(w.off) >= MinPart && len(rest) < len(l)-int(w.off) && bytes.HasPrefix(l[w.off:], rest) {
			return true
		}
	}
	return false
}
