package redact

// The shapes: what a Redactor finds with no variable's value: private keys' PEM blocks,
// well-known token formats and the credentials in URLs. Each is found from a few
// bytes that every one holds (a trigger), searched with the byte search of package bytes, and
// read from there.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
)

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
// at max), which valid, when set, accepts. keep keeps the prefix in the replacement ("Bearer ").
type shape struct {
	name     string
	prefixes [][]byte
	body     *asciiSet
	min, max int
	keep     bool
	valid    func(body []byte) bool
	repl     []byte // Marker(name), when !keep
}

func init() {
	for _, s := range shapes {
		s.repl = []byte(Marker(s.name))
	}
}

var (
	shapeHF     = &shape{name: ShapeHFToken, prefixes: [][]byte{[]byte("hf_")}, body: alnum, min: 20, max: 128}
	shapeAWS    = &shape{name: ShapeAWSKeyID, prefixes: [][]byte{[]byte("AKIA"), []byte("ASIA")}, body: upperDigits, min: 16, max: 16}
	shapeGitHub = &shape{name: ShapeGitHubToken, prefixes: [][]byte{[]byte("ghp_"), []byte("gho_"), []byte("ghu_"), []byte("ghs_"), []byte("ghr_")}, body: alnum, min: 30, max: 255}
	shapePAT    = &shape{name: ShapeGitHubToken, prefixes: [][]byte{[]byte("github_pat_")}, body: alnumUnder, min: 22, max: 255}
	shapeBearer = &shape{name: ShapeBearer, prefixes: [][]byte{[]byte("Bearer "), []byte("bearer ")}, body: token68, min: 16, max: 4096, keep: true}
	shapeBasic  = &shape{name: ShapeBasicAuth, prefixes: [][]byte{[]byte("Basic "), []byte("basic ")}, body: set("A-Z", "a-z", "0-9", "+/="), min: 4, max: 4096, keep: true, valid: basicCredentials}
	shapes      = []*shape{shapeHF, shapeAWS, shapeGitHub, shapePAT, shapeBearer, shapeBasic}
)

// findShapes finds private keys, token shapes and URLs' credentials.
func findShapes(buf []byte, final bool, hits []hit) []hit {
	return findUserinfo(buf, final, findTokens(buf, final, hits))
}

var (
	patPrefix = []byte("github_pat_")
)

// findTokens finds the token shapes and private keys from bytes every one holds (its
// triggers), searched with the byte search of package bytes: for each family, whichever
// trigger a sample of buf holds fewest of. A training log holds many '_', '-' and spaces and
// few capitals; base64 the reverse. AWS key ids, all capitals and digits, are found otherwise
// (awsKeys).
func findTokens(buf []byte, final bool, hits []hit) []hit {
	sample := buf[:min(len(buf), 4<<10)]
	if fewer(sample, "_", "h") {
		hits = underscoreTokens(buf, final, hits)
	} else {
		hits = hTokens(buf, final, hits)
	}
	if bytes.Count(sample, []byte{'A'}) <= len(sample)/512 { // a log: 'A' finds both
		hits = aTokens(buf, final, hits)
	} else { // base64: capitals are many, '-' none
		hits = awsKeys(buf, final, hits)
		hits = pemBlocks(buf, fewer(sample, "-", "A"), final, hits)
	}
	hits = authTokens(buf, fewer(sample, " ", "Bb"), final, hits)
	if !final {
		for _, s := range shapes {
			for _, p := range s.prefixes {
				hits = partialAtEnd(buf, p, rankShape, hits)
			}
		}
		hits = partialAtEnd(buf, pemBegin, rankPEM, hits)
		// A header that buf ends in before its "PRIVATE KEY" is whole.
		from := max(0, len(buf)-len(pemBegin)-pemLabelMax-len(pemDashes))
		if q := bytes.LastIndex(buf[from:], pemBegin); q >= 0 {
			if h, ok := pemAt(buf, from+q, final); ok && h.pending {
				hits = append(hits, h)
			}
		}
	}
	return hits
}

// fewer says whether sample holds no more of the bytes of a than of those of b.
func fewer(sample []byte, a, b string) bool {
	n := 0
	for i := 0; i < len(a); i++ {
		n += bytes.Count(sample, []byte{a[i]})
	}
	for i := 0; i < len(b); i++ {
		n -= bytes.Count(sample, []byte{b[i]})
	}
	return n <= 0
}

// underscoreTokens finds hf_, gh?_ and github_pat_ from their '_'.
func underscoreTokens(buf []byte, final bool, hits []hit) []hit {
	for at := 0; ; {
		j := bytes.IndexByte(buf[at:], '_')
		if j < 0 {
			return hits
		}
		u := at + j
		switch {
		case u >= 2 && buf[u-2] == 'h' && buf[u-1] == 'f':
			hits = shapeHF.at(buf, u-2, buf[u-2:u+1], final, hits)
		case u >= 3 && buf[u-3] == 'g' && buf[u-2] == 'h' && ghLetter(buf[u-1]):
			hits = shapeGitHub.at(buf, u-3, buf[u-3:u+1], final, hits)
		case u >= 10 && bytes.Equal(buf[u-10:u+1], patPrefix):
			hits = shapePAT.at(buf, u-10, buf[u-10:u+1], final, hits)
		}
		at = u + 1
	}
}

// hTokens finds hf_, gh?_ and github_pat_ from their 'h'.
func hTokens(buf []byte, final bool, hits []hit) []hit {
	for at := 0; ; {
		j := bytes.IndexByte(buf[at:], 'h')
		if j < 0 {
			return hits
		}
		p := at + j
		switch {
		case bytes.HasPrefix(buf[p+1:], []byte("f_")):
			hits = shapeHF.at(buf, p, buf[p:p+3], final, hits)
		case p >= 1 && buf[p-1] == 'g' && p+2 < len(buf) && ghLetter(buf[p+1]) && buf[p+2] == '_':
			hits = shapeGitHub.at(buf, p-1, buf[p-1:p+3], final, hits)
		case p >= 3 && bytes.HasPrefix(buf[p-3:], patPrefix):
			hits = shapePAT.at(buf, p-3, buf[p-3:p-3+len(patPrefix)], final, hits)
		}
		at = p + 1
	}
}

func ghLetter(c byte) bool { return c == 'p' || c == 'o' || c == 'u' || c == 's' || c == 'r' }

var (
	earer = []byte("earer ")
	asic  = []byte("asic ")
)

// authTokens finds the HTTP Authorization schemes "Bearer " and "Basic " (or "bearer ",
// "basic ") from their space, or from their 'B' and 'b'.
func authTokens(buf []byte, bySpace, final bool, hits []hit) []hit {
	for _, c := range []byte(" Bb") {
		if bySpace != (c == ' ') {
			continue
		}
		for at := 0; ; {
			j := bytes.IndexByte(buf[at:], c)
			if j < 0 {
				break
			}
			at += j + 1
			for _, a := range []struct {
				rest []byte
				s    *shape
			}{{earer, shapeBearer}, {asic, shapeBasic}} {
				p := at - 1 // where 'B' or 'b' would be
				if c == ' ' {
					p -= len(a.rest)
				}
				if p >= 0 && (buf[p] == 'B' || buf[p] == 'b') && bytes.HasPrefix(buf[p+1:], a.rest) {
					hits = a.s.at(buf, p, buf[p:p+1+len(a.rest)], final, hits)
				}
			}
		}
	}
	return hits
}

// basicCredentials says whether an HTTP Basic header's token is one: base64 of "user:password".
func basicCredentials(token []byte) bool {
	b, err := base64.StdEncoding.DecodeString(string(token))
	return err == nil && bytes.IndexByte(b, ':') >= 0
}

// aTokens finds AKIA, ASIA and the private keys' blocks from their 'A' (in "PRIVATE KEY").
func aTokens(buf []byte, final bool, hits []hit) []hit {
	for at := 0; ; {
		j := bytes.IndexByte(buf[at:], 'A')
		if j < 0 {
			return hits
		}
		p := at + j
		switch {
		case p >= 3 && buf[p-3] == 'A' && buf[p-1] == 'I' && (buf[p-2] == 'K' || buf[p-2] == 'S'):
			hits = shapeAWS.at(buf, p-3, buf[p-3:p+1], final, hits)
		case p >= 4 && bytes.HasPrefix(buf[p-4:], pemKey):
			hits = pemBefore(buf, p-4, final, hits)
		}
		at = p + 1
	}
}

// awsStride is the step of the 8-byte words awsKeys reads: every key id (20 bytes) holds one
// whole.
const awsStride = 20 - 8 + 1

// awsKeys finds AKIA and ASIA key ids: every awsStride-th 8-byte word that is all capitals and
// digits (few are, in a log or in base64) may lie in one, which begins at most 12 bytes before.
func awsKeys(buf []byte, final bool, hits []hit) []hit {
	n := len(buf)
	for i := 0; i+8 <= n; i += awsStride {
		if !capsDigits(binary.LittleEndian.Uint64(buf[i : i+8 : i+8])) {
			continue
		}
		for p := max(0, i-12); p <= i && p+4 <= n; p++ {
			if buf[p] == 'A' && buf[p+2] == 'I' && buf[p+3] == 'A' && (buf[p+1] == 'K' || buf[p+1] == 'S') {
				hits = shapeAWS.at(buf, p, buf[p:p+4], final, hits)
			}
		}
	}
	// The last bytes, which no whole word read: a key id there, or one buf ends in.
	for p := max(0, n-20-awsStride); p+4 <= n; p++ {
		if buf[p] == 'A' && buf[p+2] == 'I' && buf[p+3] == 'A' && (buf[p+1] == 'K' || buf[p+1] == 'S') {
			hits = shapeAWS.at(buf, p, buf[p:p+4], final, hits)
		}
	}
	return hits
}

// capsDigits says whether the 8 bytes of w are all capitals or digits (SWAR: a byte is in
// [lo, hi] when adding 0x80-lo sets its high bit and adding 0x7f-hi does not).
func capsDigits(w uint64) bool {
	const ones, high = 0x0101010101010101, 0x8080808080808080
	caps := (w + ones*(0x80-'A')) &^ (w + ones*(0x7f-'Z'))
	digits := (w + ones*(0x80-'0')) &^ (w + ones*(0x7f-'9'))
	return w&high == 0 && (caps|digits)&high == high
}

// pemBlocks finds the private keys' blocks from the '-' of "-----BEGIN ", or from the 'A' of
// "PRIVATE KEY" in their headers.
func pemBlocks(buf []byte, byDash, final bool, hits []hit) []hit {
	c := byte('A')
	if byDash {
		c = '-'
	}
	for at := 0; ; {
		j := bytes.IndexByte(buf[at:], c)
		if j < 0 {
			return hits
		}
		p := at + j
		switch {
		case byDash && bytes.HasPrefix(buf[p:], pemBegin):
			if h, ok := pemAt(buf, p, final); ok {
				hits = append(hits, h)
			}
			at = p + len(pemBegin)
			continue
		case !byDash && p >= 4 && bytes.HasPrefix(buf[p-4:], pemKey):
			hits = pemBefore(buf, p-4, final, hits)
		}
		at = p + 1
	}
}

// pemBefore finds the block whose header holds "PRIVATE KEY" at k: "-----BEGIN " and a label
// before it.
func pemBefore(buf []byte, k int, final bool, hits []hit) []hit {
	from := max(0, k-pemLabelMax-len(pemBegin))
	if q := bytes.LastIndex(buf[from:k], pemBegin); q >= 0 {
		if h, ok := pemAt(buf, from+q, final); ok {
			hits = append(hits, h)
		}
	}
	return hits
}

// partialAtEnd appends a pending hit where buf ends in the start of prefix.
func partialAtEnd(buf, prefix []byte, rank int, hits []hit) []hit {
	for l := len(prefix) - 1; l >= 1; l-- {
		if bytes.HasSuffix(buf, prefix[:l]) {
			s := len(buf) - l
			return append(hits, hit{start: s, pending: true, rank: rank})
		}
	}
	return hits
}

// MaxUserinfo bounds a URL's user information (RFC 3986's userinfo, "user:password" before
// the host's '@') that a Redactor replaces.
const MaxUserinfo = 256

var (
	schemeSep    = []byte("://")
	userinfo     = set("a-z", "A-Z", "0-9", "-._~", "%", "!$&'()*+,;=", ":") // RFC 3986
	userinfoRepl = []byte("://" + Marker(ShapeURLUserinfo))
)

// findUserinfo finds the user information of URLs from its '@' (which logs hold few of and
// base64 none): the userinfo characters before it, right after "scheme://". The match starts
// at the "://", which the replacement keeps: what tells it is a URL's is in the match.
func findUserinfo(buf []byte, final bool, hits []hit) []hit {
	for at := 0; ; {
		j := bytes.IndexByte(buf[at:], '@')
		if j < 0 {
			break
		}
		k := at + j
		u := k
		for u > 0 && k-u < MaxUserinfo && userinfo[buf[u-1]] {
			u--
		}
		if s := u - len(schemeSep); u < k && s >= 0 && bytes.Equal(buf[s:u], schemeSep) { // "://" is kept
			hits = append(hits, hit{start: s, end: k, repl: userinfoRepl, name: ShapeURLUserinfo, rank: rankURL})
		}
		at = k + 1
	}
	if !final { // a userinfo that buf ends in, before its '@'
		from := max(0, len(buf)-MaxUserinfo-len(schemeSep))
		if q := bytes.LastIndex(buf[from:], schemeSep); q >= 0 {
			u := from + q + len(schemeSep)
			k := u
			for k < len(buf) && userinfo[buf[k]] {
				k++
			}
			if k == len(buf) && k-u < MaxUserinfo { // held from its "://", which tells it is one
				hits = append(hits, hit{start: u - len(schemeSep), pending: true, rank: rankURL})
			}
		}
		hits = partialAtEnd(buf, schemeSep, rankURL, hits)
	}
	return hits
}

// isShape says whether name is one of the token shapes' names rather than a variable's.
func isShape(name string) bool {
	switch name {
	case ShapePrivateKey, ShapeHFToken, ShapeAWSKeyID, ShapeGitHubToken, ShapeBearer, ShapeBasicAuth, ShapeURLUserinfo:
		return true
	}
	return false
}

// at reads the token that starts with prefix at p: a hit, a pending hit when buf ends in its
// body (unless final), or none.
func (s *shape) at(buf []byte, p int, prefix []byte, final bool, hits []hit) []hit {
	q := p + len(prefix)
	n := 0
	for q+n < len(buf) && n < s.max && s.body[buf[q+n]] {
		n++
	}
	switch {
	case (n == s.max || n >= s.min && (final || q+n < len(buf))) && (s.valid == nil || s.valid(buf[q:q+n])):
		return append(hits, hit{start: p, end: q + n, repl: s.replacement(prefix), name: s.name, rank: rankShape})
	case !final && q+n == len(buf):
		return append(hits, hit{start: p, pending: true, rank: rankShape})
	}
	return hits
}

func (s *shape) replacement(prefix []byte) []byte {
	if s.keep {
		return append(append([]byte(nil), prefix...), Marker(s.name)...)
	}
	return s.repl
}

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

// pemAt reads the block that may begin at p ("-----BEGIN "): a hit, a pending hit, or none.
func pemAt(buf []byte, p int, final bool) (hit, bool) {
	h, label := pemLine(buf, p+len(pemBegin))
	switch {
	case h == -2 && !final:
		return hit{start: p, pending: true, rank: rankPEM}, true
	case h < 0 || !bytes.HasSuffix(label, pemKey):
		return hit{}, false
	}
	whole := hit{start: p, end: len(buf), repl: pemRepl, name: ShapePrivateKey, rank: rankPEM}
	limit := min(len(buf), p+MaxPEMBytes)
	for e := h; e < limit; {
		k := bytes.Index(buf[e:limit], pemEnd)
		if k < 0 {
			break
		}
		end, _ := pemLine(buf, e+k+len(pemEnd))
		switch {
		case end >= 0:
			whole.end = end
			return whole, true
		case end == -2 && !final:
			return hit{start: p, pending: true, rank: rankPEM}, true
		case end == -2:
			return whole, true
		}
		e += k + 1
	}
	switch {
	case len(buf)-p >= MaxPEMBytes:
		whole.end = p + MaxPEMBytes
	case !final:
		return hit{start: p, pending: true, rank: rankPEM}, true
	}
	return whole, true
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
