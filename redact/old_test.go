package redact_test

// The redactor as it was before issue 21 (package redact at commit 0ef00fc, less what no test
// here calls), kept only as the reference of the differential test and fuzz target
// (differential_test.go): the new redactor must remove every byte of a secret this one removed.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/redact"
)

// oldRedactor replaces secrets in what the harness writes: the values of secret-named variables
// (redact.IsSecretName) of at least redact.MinSecretLen bytes, also as JSON and Go quoting escape them, and
// well-known token oldShapes (Shape*) that no variable holds. It works in two passes: first the
// variables' values, so that no token oldShape that overlaps one can split it and leave part of
// it; then, over the result, private keys and token oldShapes. Within a pass, where matches overlap
// the leftmost wins; at one start, a value before a private key before a token oldShape, and the
// longest among equals. It finds whole secrets only: redact a text before clipping it (Clip).
type oldRedactor struct {
	passes [2][]oldFinder // the variables' values; the oldShapes
}

// oldNew builds a oldRedactor from an os.Environ()-style list of NAME=value.
func oldNew(environ []string) *oldRedactor {
	r := &oldRedactor{}
	byValue := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !redact.IsSecretName(name) {
			continue
		}
		if len(value) < redact.MinSecretLen {
			continue
		}
		for _, v := range oldEscapings(value) {
			if prev, ok := byValue[v]; !ok || name < prev {
				byValue[v] = name
			}
		}
	}
	var lits []*oldLiteral
	for value, name := range byValue {
		lits = append(lits, oldNewLiteral(name, value))
	}
	sort.Slice(lits, func(i, j int) bool {
		a, b := lits[i], lits[j]
		if len(a.value) != len(b.value) {
			return len(a.value) > len(b.value)
		}
		return bytes.Compare(a.value, b.value) < 0
	})
	for _, l := range lits {
		r.passes[0] = append(r.passes[0], l)
	}
	r.passes[1] = append(r.passes[1], oldPemFinder{})
	for _, s := range oldShapes {
		r.passes[1] = append(r.passes[1], s)
	}
	return r
}

// oldEscapings are value as it is and as JSON (Go's, HTML-safe or not, and Python's ensure_ascii)
// and Go's %q write it inside quotes, without the quotes, each once.
func oldEscapings(value string) []string {
	out := []string{value}
	add := func(v string) {
		for _, o := range out {
			if o == v {
				return
			}
		}
		out = append(out, v)
	}
	for _, html := range []bool{true, false} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(html)
		if enc.Encode(value) == nil {
			add(strings.TrimSuffix(strings.TrimSuffix(b.String(), "\n"), `"`)[1:])
		}
	}
	add(oldPythonJSON(value))
	if q := strconv.Quote(value); len(q) >= 2 {
		add(q[1 : len(q)-1])
	}
	return out
}

// oldPythonJSON is json.dumps(value)'s text without its quotes (ensure_ascii, the default).
func oldPythonJSON(value string) string {
	var b strings.Builder
	for _, r := range value {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r == '\b':
			b.WriteString(`\b`)
		case r == '\f':
			b.WriteString(`\f`)
		case r < 0x20 || r > 0x7e && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case r > 0xffff:
			r1, r2 := oldUtf16Pair(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func oldUtf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// Bytes returns b with every secret replaced.
func (r *oldRedactor) Bytes(b []byte) []byte {
	for _, pass := range r.passes {
		b, _ = oldProcess(pass, make([]byte, 0, len(b)), b, true, nil)
	}
	return b
}

// The stream: the two passes of a oldRedactor over text that comes in pieces, each holding back
// only what later data may turn into a match.

// oldProcess appends buf to dst with secrets replaced and returns how much of buf it used. Unless
// final, it stops before the earliest place where later data could complete a match; the caller
// keeps that tail. found, when not nil, collects the names of what was replaced.
func oldProcess(finders []oldFinder, dst, buf []byte, final bool, found map[string]bool) ([]byte, int) {
	type slot struct {
		h     oldHit
		ok    bool
		valid bool
	}
	var slotBuf [16]slot
	slots := slotBuf[:0]
	for range finders {
		slots = append(slots, slot{})
	}
	i := 0
	for {
		var best oldHit
		have := false
		for k, f := range finders {
			s := &slots[k]
			if !s.valid || s.ok && s.h.start < i {
				s.h, s.ok = f.next(buf, i, final)
				s.h.rank = k
				s.valid = true
			}
			if s.ok && (!have || s.h.before(best)) {
				best, have = s.h, true
			}
		}
		if !have {
			return append(dst, buf[i:]...), len(buf)
		}
		if best.pending {
			return append(dst, buf[i:best.start]...), best.start
		}
		dst = append(append(dst, buf[i:best.start]...), best.repl...)
		if found != nil {
			found[best.name] = true
		}
		i = best.end
	}
}

// oldHit is a match [start, end) to replace by repl, or, pending, a start that later data may make
// one.
type oldHit struct {
	start, end int
	repl       []byte
	name       string
	pending    bool
	rank       int // the oldFinder's place: literals, the PEM oldFinder, oldShapes
}

// before says whether h goes before o: further left; at one start, a pending one that may yet
// win; then the oldFinder's rank; then the longer.
func (h oldHit) before(o oldHit) bool {
	switch {
	case h.start != o.start:
		return h.start < o.start
	case h.pending != o.pending:
		if h.pending {
			return h.rank <= o.rank
		}
		return h.rank < o.rank
	case h.rank != o.rank:
		return h.rank < o.rank
	}
	return h.end > o.end
}

// A oldFinder finds the leftmost match in buf at or after from. Unless final, a place where a
// match may begin but needs later data comes back as a pending oldHit, when it is the leftmost.
type oldFinder interface {
	next(buf []byte, from int, final bool) (oldHit, bool)
}

// The finders: what a oldRedactor looks for (secret values, token oldShapes, private keys).

// oldLiteral is a secret variable's value (or one of its oldEscapings).
type oldLiteral struct {
	name        string
	value, repl []byte
	border      []int // KMP's failure function of value: border[i] is the longest proper border of value[:i+1]
}

func oldNewLiteral(name, value string) *oldLiteral {
	l := &oldLiteral{name: name, value: []byte(value), repl: []byte(redact.Marker(name)), border: make([]int, len(value))}
	for i, k := 1, 0; i < len(value); i++ {
		for k > 0 && value[i] != value[k] {
			k = l.border[k-1]
		}
		if value[i] == value[k] {
			k++
		}
		l.border[i] = k
	}
	return l
}

// startAtEnd is the length of the longest proper prefix of value that text ends with, in time
// linear in len(value) (text holds no whole value).
func (l *oldLiteral) startAtEnd(text []byte) int {
	text = text[max(0, len(text)-len(l.value)+1):]
	k := 0
	for _, c := range text {
		for k > 0 && c != l.value[k] {
			k = l.border[k-1]
		}
		if c == l.value[k] {
			k++
		}
		if k == len(l.value) {
			k = l.border[k-1]
		}
	}
	return k
}

func (l *oldLiteral) next(buf []byte, from int, final bool) (oldHit, bool) {
	if j := bytes.Index(buf[from:], l.value); j >= 0 {
		return oldHit{start: from + j, end: from + j + len(l.value), repl: l.repl, name: l.name}, true
	}
	if !final {
		if k := l.startAtEnd(buf[from:]); k > 0 {
			return oldHit{start: len(buf) - k, pending: true}, true
		}
	}
	return oldHit{}, false
}

// oldAsciiSet is a oldSet of bytes.
type oldAsciiSet [256]bool

func oldSet(ranges ...string) *oldAsciiSet {
	var s oldAsciiSet
	for _, r := range ranges {
		if len(r) == 3 && r[1] == '-' {
			for c := r[0]; c <= r[2]; c++ {
				s[c] = true
			}
			continue
		}
		for i := 0; i < len(r); i++ {
			s[r[i]] = true
		}
	}
	return &s
}

var (
	oldAlnum       = oldSet("a-z", "A-Z", "0-9")
	oldAlnumUnder  = oldSet("a-z", "A-Z", "0-9", "_")
	oldUpperDigits = oldSet("A-Z", "0-9")
	oldToken68     = oldSet("a-z", "A-Z", "0-9", "-._~+/=") // RFC 6750's b64token
	oldPemLabel    = oldSet("A-Z", "0-9", " ")
)

// oldShape is a token format: one of its prefixes, then min to max body bytes (a longer run is cut
// at max). keep keeps the prefix in the replacement ("Bearer ").
type oldShape struct {
	name     string
	prefixes [][]byte
	body     *oldAsciiSet
	min, max int
	keep     bool
	repl     []byte // redact.Marker(name), when !keep
}

func init() {
	for _, s := range oldShapes {
		s.repl = []byte(redact.Marker(s.name))
	}
}

var oldShapes = []*oldShape{
	{name: redact.ShapeHFToken, prefixes: [][]byte{[]byte("hf_")}, body: oldAlnum, min: 20, max: 128},
	{name: redact.ShapeAWSKeyID, prefixes: [][]byte{[]byte("AKIA"), []byte("ASIA")}, body: oldUpperDigits, min: 16, max: 16},
	{name: redact.ShapeGitHubToken, prefixes: [][]byte{[]byte("ghp_"), []byte("gho_"), []byte("ghu_"), []byte("ghs_"), []byte("ghr_")}, body: oldAlnum, min: 30, max: 255},
	{name: redact.ShapeGitHubToken, prefixes: [][]byte{[]byte("github_pat_")}, body: oldAlnumUnder, min: 22, max: 255},
	{name: redact.ShapeBearer, prefixes: [][]byte{[]byte("Bearer "), []byte("bearer ")}, body: oldToken68, min: 16, max: 4096, keep: true},
}

func (s *oldShape) next(buf []byte, from int, final bool) (oldHit, bool) {
	var best oldHit
	have := false
	for _, p := range s.prefixes {
		if h, ok := s.nextWith(p, buf, from, final); ok && (!have || h.start < best.start) {
			best, have = h, true
		}
	}
	return best, have
}

func (s *oldShape) nextWith(prefix, buf []byte, from int, final bool) (oldHit, bool) {
	for at := from; ; {
		j := bytes.Index(buf[at:], prefix)
		if j < 0 {
			break
		}
		p := at + j
		q := p + len(prefix)
		n := 0
		for q+n < len(buf) && n < s.max && s.body[buf[q+n]] {
			n++
		}
		switch {
		case n == s.max || n >= s.min && (final || q+n < len(buf)):
			return oldHit{start: p, end: q + n, repl: s.replacement(prefix), name: s.name}, true
		case !final && q+n == len(buf):
			return oldHit{start: p, pending: true}, true
		}
		at = p + 1
	}
	if !final {
		for l := len(prefix) - 1; l >= 1; l-- {
			if start := len(buf) - l; start >= from && bytes.HasSuffix(buf, prefix[:l]) {
				return oldHit{start: start, pending: true}, true
			}
		}
	}
	return oldHit{}, false
}

func (s *oldShape) replacement(prefix []byte) []byte {
	if s.keep {
		return append(append([]byte(nil), prefix...), redact.Marker(s.name)...)
	}
	return s.repl
}

// oldPemFinder finds private keys' PEM blocks (redact.MaxPEMBytes).
type oldPemFinder struct{}

var (
	oldPemBegin  = []byte("-----BEGIN ")
	oldPemEnd    = []byte("-----END ")
	oldPemDashes = []byte("-----")
	oldPemKey    = []byte("PRIVATE KEY")
)

const oldPemLabelMax = 64

// oldPemLine reads "<label>-----" at buf[q:]: the end of the dashes, or -1 when it is not one, or
// -2 when buf ends before it could tell.
func oldPemLine(buf []byte, q int) (end int, label []byte) {
	k := q
	for k < len(buf) && k-q <= oldPemLabelMax && oldPemLabel[buf[k]] {
		k++
	}
	if k-q > oldPemLabelMax {
		return -1, nil
	}
	rest := buf[k:]
	if len(rest) < len(oldPemDashes) {
		if bytes.HasPrefix(oldPemDashes, rest) {
			return -2, nil
		}
		return -1, nil
	}
	if !bytes.HasPrefix(rest, oldPemDashes) {
		return -1, nil
	}
	return k + len(oldPemDashes), buf[q:k]
}

var oldPemRepl = []byte(redact.Marker(redact.ShapePrivateKey))

func (oldPemFinder) next(buf []byte, from int, final bool) (oldHit, bool) {
	repl := oldPemRepl
	for at := from; ; {
		j := bytes.Index(buf[at:], oldPemBegin)
		if j < 0 {
			break
		}
		p := at + j
		h, label := oldPemLine(buf, p+len(oldPemBegin))
		switch {
		case h == -2 && !final:
			return oldHit{start: p, pending: true}, true
		case h < 0 || !bytes.HasSuffix(label, oldPemKey):
			at = p + 1
			continue
		}
		limit := min(len(buf), p+redact.MaxPEMBytes)
		for e := h; e < limit; {
			k := bytes.Index(buf[e:limit], oldPemEnd)
			if k < 0 {
				break
			}
			end, _ := oldPemLine(buf, e+k+len(oldPemEnd))
			switch {
			case end >= 0:
				return oldHit{start: p, end: end, repl: repl, name: redact.ShapePrivateKey}, true
			case end == -2 && !final:
				return oldHit{start: p, pending: true}, true
			case end == -2:
				return oldHit{start: p, end: len(buf), repl: repl, name: redact.ShapePrivateKey}, true
			}
			e += k + 1
		}
		switch {
		case len(buf)-p >= redact.MaxPEMBytes:
			return oldHit{start: p, end: p + redact.MaxPEMBytes, repl: repl, name: redact.ShapePrivateKey}, true
		case !final:
			return oldHit{start: p, pending: true}, true
		}
		return oldHit{start: p, end: len(buf), repl: repl, name: redact.ShapePrivateKey}, true
	}
	if !final {
		for l := len(oldPemBegin) - 1; l >= 1; l-- {
			if start := len(buf) - l; start >= from && bytes.HasSuffix(buf, oldPemBegin[:l]) {
				return oldHit{start: start, pending: true}, true
			}
		}
	}
	return oldHit{}, false
}
