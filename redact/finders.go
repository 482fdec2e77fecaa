package redact

// The finders: what a Redactor looks for (secret values, token shapes, private keys).

import "bytes"

// literal is a secret variable's value (or one of its escapings).
type literal struct {
	name        string
	value, repl []byte
	border      []int // KMP's failure function of value: border[i] is the longest proper border of value[:i+1]
}

func newLiteral(name, value string) *literal {
	l := &literal{name: name, value: []byte(value), repl: []byte(Marker(name)), border: make([]int, len(value))}
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
func (l *literal) startAtEnd(text []byte) int {
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

func (l *literal) next(buf []byte, from int, final bool) (hit, bool) {
	if j := bytes.Index(buf[from:], l.value); j >= 0 {
		return hit{start: from + j, end: from + j + len(l.value), repl: l.repl, name: l.name}, true
	}
	if !final {
		if k := l.startAtEnd(buf[from:]); k > 0 {
			return hit{start: len(buf) - k, pending: true}, true
		}
	}
	return hit{}, false
}

// asciiSet is a set of bytes.
type asciiSet [256]bool

func set(ranges ...string) *asciiSet {
	var s asciiSet
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
	alnum       = set("a-z", "A-Z", "0-9")
	alnumUnder  = set("a-z", "A-Z", "0-9", "_")
	upperDigits = set("A-Z", "0-9")
	token68     = set("a-z", "A-Z", "0-9", "-._~+/=") // RFC 6750's b64token
	pemLabel    = set("A-Z", "0-9", " ")
)

// shape is a token format: one of its prefixes, then min to max body bytes (a longer run is cut
// at max). keep keeps the prefix in the replacement ("Bearer ").
type shape struct {
	name     string
	prefixes [][]byte
	body     *asciiSet
	min, max int
	keep     bool
	repl     []byte // Marker(name), when !keep
}

func init() {
	for _, s := range shapes {
		s.repl = []byte(Marker(s.name))
	}
}

var shapes = []*shape{
	{name: ShapeHFToken, prefixes: [][]byte{[]byte("hf_")}, body: alnum, min: 20, max: 128},
	{name: ShapeAWSKeyID, prefixes: [][]byte{[]byte("AKIA"), []byte("ASIA")}, body: upperDigits, min: 16, max: 16},
	{name: ShapeGitHubToken, prefixes: [][]byte{[]byte("ghp_"), []byte("gho_"), []byte("ghu_"), []byte("ghs_"), []byte("ghr_")}, body: alnum, min: 30, max: 255},
	{name: ShapeGitHubToken, prefixes: [][]byte{[]byte("github_pat_")}, body: alnumUnder, min: 22, max: 255},
	{name: ShapeBearer, prefixes: [][]byte{[]byte("Bearer "), []byte("bearer ")}, body: token68, min: 16, max: 4096, keep: true},
}

// isShape says whether name is one of the token shapes' names rather than a variable's.
func isShape(name string) bool {
	return name == ShapePrivateKey || name == ShapeHFToken || name == ShapeAWSKeyID || name == ShapeGitHubToken || name == ShapeBearer
}

func (s *shape) next(buf []byte, from int, final bool) (hit, bool) {
	var best hit
	have := false
	for _, p := range s.prefixes {
		if h, ok := s.nextWith(p, buf, from, final); ok && (!have || h.start < best.start) {
			best, have = h, true
		}
	}
	return best, have
}

func (s *shape) nextWith(prefix, buf []byte, from int, final bool) (hit, bool) {
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
			return hit{start: p, end: q + n, repl: s.replacement(prefix), name: s.name}, true
		case !final && q+n == len(buf):
			return hit{start: p, pending: true}, true
		}
		at = p + 1
	}
	if !final {
		for l := len(prefix) - 1; l >= 1; l-- {
			if start := len(buf) - l; start >= from && bytes.HasSuffix(buf, prefix[:l]) {
				return hit{start: start, pending: true}, true
			}
		}
	}
	return hit{}, false
}

func (s *shape) replacement(prefix []byte) []byte {
	if s.keep {
		return append(append([]byte(nil), prefix...), Marker(s.name)...)
	}
	return s.repl
}

// pemFinder finds private keys' PEM blocks (MaxPEMBytes).
type pemFinder struct{}

var (
	pemBegin  = []byte("-----BEGIN ")
	pemEnd    = []byte("-----END ")
	pemDashes = []byte("-----")
	pemKey    = []byte("PRIVATE KEY")
)

const pemLabelMax = 64

// pemLine reads "<label>-----" at buf[q:]: the end of the dashes, or -1 when it is not one, or
// -2 when buf ends before it could tell.
func pemLine(buf []byte, q int) (end int, label []byte) {
	k := q
	for k < len(buf) && k-q <= pemLabelMax && pemLabel[buf[k]] {
		k++
	}
	if k-q > pemLabelMax {
		return -1, nil
	}
	rest := buf[k:]
	if len(rest) < len(pemDashes) {
		if bytes.HasPrefix(pemDashes, rest) {
			return -2, nil
		}
		return -1, nil
	}
	if !bytes.HasPrefix(rest, pemDashes) {
		return -1, nil
	}
	return k + len(pemDashes), buf[q:k]
}

var pemRepl = []byte(Marker(ShapePrivateKey))

func (pemFinder) next(buf []byte, from int, final bool) (hit, bool) {
	repl := pemRepl
	for at := from; ; {
		j := bytes.Index(buf[at:], pemBegin)
		if j < 0 {
			break
		}
		p := at + j
		h, label := pemLine(buf, p+len(pemBegin))
		switch {
		case h == -2 && !final:
			return hit{start: p, pending: true}, true
		case h < 0 || !bytes.HasSuffix(label, pemKey):
			at = p + 1
			continue
		}
		limit := min(len(buf), p+MaxPEMBytes)
		for e := h; e < limit; {
			k := bytes.Index(buf[e:limit], pemEnd)
			if k < 0 {
				break
			}
			end, _ := pemLine(buf, e+k+len(pemEnd))
			switch {
			case end >= 0:
				return hit{start: p, end: end, repl: repl, name: ShapePrivateKey}, true
			case end == -2 && !final:
				return hit{start: p, pending: true}, true
			case end == -2:
				return hit{start: p, end: len(buf), repl: repl, name: ShapePrivateKey}, true
			}
			e += k + 1
		}
		switch {
		case len(buf)-p >= MaxPEMBytes:
			return hit{start: p, end: p + MaxPEMBytes, repl: repl, name: ShapePrivateKey}, true
		case !final:
			return hit{start: p, pending: true}, true
		}
		return hit{start: p, end: len(buf), repl: repl, name: ShapePrivateKey}, true
	}
	if !final {
		for l := len(pemBegin) - 1; l >= 1; l-- {
			if start := len(buf) - l; start >= from && bytes.HasSuffix(buf, pemBegin[:l]) {
				return hit{start: start, pending: true}, true
			}
		}
	}
	return hit{}, false
}

// opensPEM says whether a line opens a private key's block that it does not close.
func opensPEM(line []byte) bool {
	for at := 0; ; {
		j := bytes.Index(line[at:], pemBegin)
		if j < 0 {
			return false
		}
		p := at + j
		if h, label := pemLine(line, p+len(pemBegin)); h >= 0 && bytes.HasSuffix(label, pemKey) {
			if _, closed := pemEndLine(line[h:]); !closed {
				return true
			}
		}
		at = p + 1
	}
}

// pemEndLine finds an END line's "-----END <label>-----" in line: the index after it.
func pemEndLine(line []byte) (int, bool) {
	for at := 0; ; {
		j := bytes.Index(line[at:], pemEnd)
		if j < 0 {
			return 0, false
		}
		if end, _ := pemLine(line, at+j+len(pemEnd)); end >= 0 {
			return end, true
		}
		at += j + 1
	}
}
