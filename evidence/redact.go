package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// MinSecretLen is the shortest value of a secret-named variable that a Redactor replaces
// wherever it appears: 8 bytes. Credentials are longer (a Hugging Face token is 37 bytes, an AWS
// secret key 40, a GitHub token 40 or more, and services that let people choose a password ask
// for at least 8 characters, as NIST SP 800-63B does), while shorter values are ordinary words
// ("true", "json", "1", "prod") whose replacement everywhere corrupted the evidence. Where the
// variable itself is recorded (Environ), its value is replaced whole however short.
const MinSecretLen = 8

// MinClipped is the shortest start of a secret a Redactor replaces where a text was clipped, the
// start followed by "…" or " …" (the harness clips long values and console lines that way): a
// clipped token is no longer equal to the secret, but its first bytes are still the secret's.
const MinClipped = 4

// MaxPEMBytes bounds a private key's PEM block: from "-----BEGIN ... PRIVATE KEY-----", a
// Redactor replaces everything up to the end of the next "-----END ...-----" line, or these many
// bytes when no END line comes within them (or up to the end of the text when it ends first).
// An RSA 16384-bit key, the largest in use, is about 12.7 KB of PEM.
const MaxPEMBytes = 16 << 10

// Token shapes: the names a Redactor gives the well-known token formats it replaces wherever
// they appear, whether a variable holds them or not.
const (
	ShapeHFToken     = "hf-token"          // hf_ and at least 20 letters or digits
	ShapeAWSKeyID    = "aws-access-key-id" // AKIA or ASIA and 16 capitals or digits
	ShapeGitHubToken = "github-token"      // ghp_, gho_, ghu_, ghs_, ghr_ (30+), github_pat_ (22+)
	ShapeBearer      = "bearer-token"      // "Bearer " and 16 or more token characters
	ShapePrivateKey  = "private-key"       // a PEM block of a private key (see MaxPEMBytes)
)

// secretWords are the words of a variable's name that make its value a secret: a word ending
// in TOKEN or KEY (HF_TOKEN, GHTOKEN, WANDB_API_KEY, APIKEY), the word KEYS, or a word that holds
// SECRET, PASSWORD, PASSWD, PASSPHRASE or CREDENTIAL.
var secretWords = []string{"SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL"}

// IsSecretName reports whether an environment variable's value is a secret, by its name: one of
// its words (split at anything but a letter or digit, in any case) ends in TOKEN or KEY, is KEYS,
// or holds SECRET, PASSWORD, PASSWD, PASSPHRASE or CREDENTIAL. So AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN and AWS_ACCESS_KEY_ID are secrets, and AWS_REGION, AWS_SDK_LOAD_CONFIG,
// AWS_DEFAULT_OUTPUT, MAX_TOKENS, TOKENIZERS_PARALLELISM and KEYRING are not. A name whose last
// word is FILE, PATH or DIR names where a secret is kept, not the secret (HF_TOKEN_PATH,
// AWS_SHARED_CREDENTIALS_FILE), and is not one.
func IsSecretName(name string) bool {
	words := strings.FieldsFunc(strings.ToUpper(name), func(r rune) bool {
		return !(r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	})
	if len(words) == 0 {
		return false
	}
	switch words[len(words)-1] {
	case "FILE", "FILES", "PATH", "PATHS", "DIR":
		return false
	}
	for _, w := range words {
		if strings.HasSuffix(w, "TOKEN") || strings.HasSuffix(w, "KEY") || w == "KEYS" {
			return true
		}
		for _, s := range secretWords {
			if strings.Contains(w, s) {
				return true
			}
		}
	}
	return false
}

// Redacted is the text that stands for the value of the variable (or token shape) name. The name
// is kept to letters, digits, '_', '.' and '-' (others become '_'), so the text never needs
// escaping in JSON, XML, YAML or a shell word.
func Redacted(name string) string {
	clean := []byte(name)
	for i, c := range clean {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			clean[i] = '_'
		}
	}
	return "[REDACTED:" + string(clean) + "]"
}

// Redactor replaces secrets in what the harness writes: the values of secret-named variables
// (IsSecretName) of at least MinSecretLen bytes, also as JSON and Go quoting escape them, and
// well-known token shapes (Shape*) that no variable holds. It works in two passes: first the
// variables' values (and their clipped starts, MinClipped), so that no token shape that overlaps
// one can split it and leave part of it; then, over the result, private keys and token shapes
// (and their clipped starts). Within a pass, where matches overlap the leftmost wins; at one
// start, a value before a private key before a token shape before a clipped start, and the
// longest among equals.
type Redactor struct {
	passes [2][]finder // the variables' values; the shapes
	names  []string
}

// NewRedactor builds a Redactor from an os.Environ()-style list of NAME=value.
func NewRedactor(environ []string) *Redactor {
	r := &Redactor{}
	byValue := map[string]string{}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !IsSecretName(name) {
			continue
		}
		r.names = append(r.names, name)
		if len(value) < MinSecretLen {
			continue
		}
		for _, v := range escapings(value) {
			if prev, ok := byValue[v]; !ok || name < prev {
				byValue[v] = name
			}
		}
	}
	var lits []*literal
	for value, name := range byValue {
		lits = append(lits, newLiteral(name, value))
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
	if len(lits) > 0 {
		r.passes[0] = append(r.passes[0], &clipped{literals: lits})
	}
	r.passes[1] = append(r.passes[1], pemFinder{})
	for _, s := range shapes {
		r.passes[1] = append(r.passes[1], s)
	}
	r.passes[1] = append(r.passes[1], &clipped{shapes: true})
	sort.Strings(r.names)
	return r
}

// escapings are value as it is and as JSON (Go's, HTML-safe or not, and Python's ensure_ascii)
// and Go's %q write it inside quotes, without the quotes, each once.
func escapings(value string) []string {
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
	add(pythonJSON(value))
	if q := strconv.Quote(value); len(q) >= 2 {
		add(q[1 : len(q)-1])
	}
	return out
}

// pythonJSON is json.dumps(value)'s text without its quotes (ensure_ascii, the default).
func pythonJSON(value string) string {
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
			r1, r2 := utf16Pair(r)
			fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// Names lists the secret variables found in the environment, sorted (short values included).
func (r *Redactor) Names() []string { return append([]string(nil), r.names...) }

// Bytes returns b with every secret replaced.
func (r *Redactor) Bytes(b []byte) []byte {
	for _, pass := range r.passes {
		b, _ = process(pass, make([]byte, 0, len(b)), b, true, nil)
	}
	return b
}

// String returns s with every secret replaced.
func (r *Redactor) String(s string) string { return string(r.Bytes([]byte(s))) }

// Tree returns a decoded JSON value (as encoding/json gives it: maps, slices, strings,
// numbers, bools, nil) with every string, key or value, redacted: marshalled again it is
// valid JSON whatever the secrets are.
func (r *Redactor) Tree(v any) any {
	switch x := v.(type) {
	case string:
		return r.String(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = r.Tree(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[r.String(k)] = r.Tree(e)
		}
		return out
	}
	return v
}

// JSON returns the JSON document b with every string redacted one by one, keys and values: a
// string that holds a secret is decoded, redacted and written again; a number or literal that
// holds one (a secret of digits) becomes a string; every other byte (order, spacing, escapes,
// numbers as written) stays as it was. So the result is valid JSON, whatever the secrets are
// (quotes, backslashes or digits in them included). b that is not valid JSON is an error.
func (r *Redactor) JSON(b []byte) ([]byte, error) {
	if !json.Valid(b) {
		return nil, errors.New("not valid JSON")
	}
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			j := stringEnd(b, i)
			lit := b[i:j]
			var s string
			if err := json.Unmarshal(lit, &s); err != nil {
				return nil, fmt.Errorf("string at byte %d: %v", i, err)
			}
			if red := r.String(s); red != s {
				out = append(out, jsonString(red)...)
			} else {
				out = append(out, lit...)
			}
			i = j
		case c == '-' || c >= '0' && c <= '9' || c >= 'a' && c <= 'z':
			j := i
			for j < len(b) && !bytes.ContainsRune([]byte(",]}: \t\r\n"), rune(b[j])) {
				j++
			}
			if red := r.Bytes(b[i:j]); !bytes.Equal(red, b[i:j]) {
				out = append(out, jsonString(string(red))...)
			} else {
				out = append(out, b[i:j]...)
			}
			i = j
		default:
			out = append(out, c)
			i++
		}
	}
	return out, nil
}

// stringEnd returns the index just after the JSON string that starts at b[i] ('"').
func stringEnd(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(b)
}

// jsonString encodes s as a JSON string, without HTML escapes.
func jsonString(s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// MarshalIndent is json.MarshalIndent(v, "", "  ") and a newline, with every string redacted
// (JSON): the field order and numbers stay as encoding/json writes them.
func (r *Redactor) MarshalIndent(v any) ([]byte, error) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return nil, err
	}
	return r.JSON(append(b, '\n'))
}

// WriteJSONFile writes v to p as MarshalIndent encodes it, through a temporary file renamed
// over p (WriteFileAtomic).
func (r *Redactor) WriteJSONFile(p string, v any) error {
	b, err := r.MarshalIndent(v)
	if err != nil {
		return fmt.Errorf("encode %s: %w", p, err)
	}
	return WriteFileAtomic(p, b, 0o644)
}

// Environ redacts an environment list: a secret variable's value is replaced whole (however
// short), and secrets inside other values are replaced too.
func (r *Redactor) Environ(environ []string) []string {
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			out = append(out, r.String(kv))
		case IsSecretName(name):
			out = append(out, name+"="+Redacted(name))
		default:
			out = append(out, name+"="+r.String(value))
		}
	}
	return out
}

// Lines returns a redactor for a stream of whole lines, such as a console stream that is cut line
// by line after redaction (each call gets one line, with or without its newline). Each line is
// redacted as Bytes does; besides, a private key's PEM block printed over several lines is
// replaced whole: after a line that opens one, every line up to and including its END line (at
// most MaxPEMBytes in all) becomes Redacted(ShapePrivateKey). It keeps that state between calls:
// use one per stream, from one goroutine.
func (r *Redactor) Lines() func(line []byte) []byte {
	open, seen := false, 0
	return func(line []byte) []byte {
		body := bytes.TrimRight(line, "\r\n")
		nl := line[len(body):]
		if open {
			seen += len(line)
			if end, ok := pemEndLine(body); ok {
				open = false
				return append(append([]byte(Redacted(ShapePrivateKey)), r.Bytes(body[end:])...), nl...)
			}
			if seen > MaxPEMBytes {
				open = false
			}
			return append([]byte(Redacted(ShapePrivateKey)), nl...)
		}
		if opensPEM(body) {
			open, seen = true, len(line)
		}
		return append(r.Bytes(body), nl...)
	}
}

// process appends buf to dst with secrets replaced and returns how much of buf it used. Unless
// final, it stops before the earliest place where later data could complete a match; the caller
// keeps that tail. found, when not nil, collects the names of what was replaced.
func process(finders []finder, dst, buf []byte, final bool, found map[string]bool) ([]byte, int) {
	type slot struct {
		h     hit
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
		var best hit
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

// hit is a match [start, end) to replace by repl, or, pending, a start that later data may make
// one.
type hit struct {
	start, end int
	repl       []byte
	name       string
	pending    bool
	rank       int // the finder's place: literals, the PEM finder, shapes, clipped starts
}

// before says whether h goes before o: further left; at one start, a pending one that may yet
// win; then the finder's rank; then the longer.
func (h hit) before(o hit) bool {
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

// A finder finds the leftmost match in buf at or after from. Unless final, a place where a
// match may begin but needs later data comes back as a pending hit, when it is the leftmost.
type finder interface {
	next(buf []byte, from int, final bool) (hit, bool)
}

// literal is a secret variable's value (or one of its escapings).
type literal struct {
	name        string
	value, repl []byte
	border      []int // KMP's failure function of value: border[i] is the longest proper border of value[:i+1]
}

func newLiteral(name, value string) *literal {
	l := &literal{name: name, value: []byte(value), repl: []byte(Redacted(name)), border: make([]int, len(value))}
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
	repl     []byte // Redacted(name), when !keep
}

func init() {
	for _, s := range shapes {
		s.repl = []byte(Redacted(s.name))
	}
}

var shapes = []*shape{
	{name: ShapeHFToken, prefixes: [][]byte{[]byte("hf_")}, body: alnum, min: 20, max: 128},
	{name: ShapeAWSKeyID, prefixes: [][]byte{[]byte("AKIA"), []byte("ASIA")}, body: upperDigits, min: 16, max: 16},
	{name: ShapeGitHubToken, prefixes: [][]byte{[]byte("ghp_"), []byte("gho_"), []byte("ghu_"), []byte("ghs_"), []byte("ghr_")}, body: alnum, min: 30, max: 255},
	{name: ShapeGitHubToken, prefixes: [][]byte{[]byte("github_pat_")}, body: alnumUnder, min: 22, max: 255},
	{name: ShapeBearer, prefixes: [][]byte{[]byte("Bearer "), []byte("bearer ")}, body: token68, min: 16, max: 4096, keep: true},
}

// IsShape says whether name is one of the token shapes' names rather than a variable's.
func IsShape(name string) bool {
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
		return append(append([]byte(nil), prefix...), Redacted(s.name)...)
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

var pemRepl = []byte(Redacted(ShapePrivateKey))

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

// clipped finds the start of a secret (at least MinClipped bytes, not all of it) or, with shapes,
// of a token shape (its prefix and a body byte or more) right before "…" or " …", where a text
// was clipped.
type clipped struct {
	literals []*literal
	shapes   bool
}

var ellipsis = []byte("…")

// ellipsisStarts are what a text ends with when "…" or " …" may follow in later data.
var ellipsisStarts = [][]byte{[]byte(" \xe2\x80"), []byte(" \xe2"), []byte(" "), []byte("\xe2\x80"), []byte("\xe2")}

func (c *clipped) next(buf []byte, from int, final bool) (hit, bool) {
	for at := from; ; {
		j := bytes.Index(buf[at:], ellipsis)
		if j < 0 {
			break
		}
		e := at + j
		if h, ok := c.before(buf, from, e); ok {
			return h, true
		}
		if e > from && buf[e-1] == ' ' {
			if h, ok := c.before(buf, from, e-1); ok {
				return h, true
			}
		}
		at = e + len(ellipsis)
	}
	if !final {
		for _, tail := range ellipsisStarts {
			if bytes.HasSuffix(buf, tail) && len(buf)-len(tail) >= from {
				if h, ok := c.before(buf, from, len(buf)-len(tail)); ok {
					return hit{start: h.start, pending: true}, true
				}
			}
		}
	}
	return hit{}, false
}

// before finds the earliest clipped start of a secret or a token shape that ends at e.
func (c *clipped) before(buf []byte, from, e int) (hit, bool) {
	best := hit{start: -1}
	for _, l := range c.literals {
		if k := l.startAtEnd(buf[from:e]); k >= MinClipped && (best.start < 0 || e-k < best.start) {
			best = hit{start: e - k, end: e, repl: l.repl, name: l.name}
		}
	}
	for _, s := range shapes {
		if !c.shapes {
			break
		}
		n := 0
		for e-n-1 >= from && n < s.max && s.body[buf[e-n-1]] {
			n++
		}
		for ; n >= 1; n-- {
			for _, p := range s.prefixes {
				start := e - n - len(p)
				if start >= from && bytes.Equal(buf[start:e-n], p) && (best.start < 0 || start < best.start) {
					best = hit{start: start, end: e, repl: s.replacement(p), name: s.name}
				}
			}
		}
	}
	return best, best.start >= 0
}

// Writer returns a writer that redacts what passes through it to w, as Bytes does, also when a
// secret is split across Write calls: each pass holds back only a tail where a match may begin
// but needs later data (at most the longest secret, a token shape's longest form, or MaxPEMBytes
// of an open private key), so ordinary text passes at once; it works in 64 KiB chunks. Close
// writes what it held back; it does not close w.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return r.chain(w, nil)
}

// chain is the two passes' writers, the first writing into the second.
func (r *Redactor) chain(w io.Writer, found map[string]bool) *redactWriter {
	second := &redactWriter{finders: r.passes[1], w: w, found: found}
	return &redactWriter{finders: r.passes[0], w: second, next: second, found: found}
}

const redactChunk = 64 << 10

type redactWriter struct {
	finders []finder
	w       io.Writer
	next    *redactWriter // the second pass, which w is, closed by Close
	tail    []byte
	buf     []byte
	out     []byte
	found   map[string]bool // when not nil, the names of what was replaced
	closed  bool
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if rw.closed {
		return 0, fmt.Errorf("redacting writer: write after Close")
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), redactChunk)
		rw.buf = append(append(rw.buf[:0], rw.tail...), p[:n]...)
		var used int
		rw.out, used = process(rw.finders, rw.out[:0], rw.buf, false, rw.found)
		rw.tail = append(rw.tail[:0], rw.buf[used:]...)
		if len(rw.out) > 0 {
			if _, err := rw.w.Write(rw.out); err != nil {
				return written, err
			}
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (rw *redactWriter) Close() error {
	if rw.closed {
		return nil
	}
	rw.closed = true
	var err error
	if len(rw.tail) > 0 {
		out, _ := process(rw.finders, nil, rw.tail, true, rw.found)
		rw.tail = nil
		_, err = rw.w.Write(out)
	}
	if rw.next != nil {
		if cerr := rw.next.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// Find reads rd to its end and returns the names of the secrets it holds, as a Writer would
// replace them: variables' names and token shapes (Shape*), sorted, never a value.
func (r *Redactor) Find(rd io.Reader) ([]string, error) {
	w := r.finderWriter()
	if _, err := io.Copy(w, rd); err != nil {
		return nil, err
	}
	err := w.Close()
	return w.names(), err
}

// finderWriter is a redacting writer to nowhere that records what it would replace.
func (r *Redactor) finderWriter() *redactWriter {
	return r.chain(io.Discard, map[string]bool{})
}

// names are the names found so far, and after Close all of them.
func (rw *redactWriter) names() []string {
	var out []string
	for n := range rw.found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// DescribeSecrets says what names (Find's) are, without any value: "the value of HF_TOKEN",
// "the values of A and B", "a token shaped as hf-token".
func DescribeSecrets(names []string) string {
	var vars, kinds []string
	for _, n := range names {
		if IsShape(n) {
			kinds = append(kinds, n)
		} else {
			vars = append(vars, n)
		}
	}
	var parts []string
	for _, g := range []struct {
		items     []string
		one, many string
	}{{vars, "the value of ", "the values of "}, {kinds, "a token shaped as ", "tokens shaped as "}} {
		switch len(g.items) {
		case 0:
		case 1:
			parts = append(parts, g.one+g.items[0])
		default:
			parts = append(parts, g.many+joinAnd(g.items))
		}
	}
	return joinAnd(parts)
}

func joinAnd(s []string) string {
	if len(s) <= 1 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}

// RedactFile rewrites a file with its secrets replaced as text (through a temporary file in the
// same directory, renamed over it, keeping its mode). A JSON file stays valid JSON only through
// JSON (CopyRedacted does that for copies).
func (r *Redactor) RedactFile(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	defer in.Close()
	st, err := in.Stat()
	if err != nil {
		return fmt.Errorf("redact: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".redact-*")
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // no-op after the rename
	w := r.Writer(tmp)
	_, err = io.Copy(w, in)
	if err == nil {
		err = w.Close()
	}
	if err == nil {
		err = tmp.Chmod(st.Mode().Perm())
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("redact %s: %w", path, err)
	}
	return nil
}
