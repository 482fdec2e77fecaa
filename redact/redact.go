// Package redact owns what keeps secrets out of the evidence: which environment variables are
// secrets (IsSecretName), the text that stands for one (Marker), and the Redactor that replaces
// their values and the well-known token shapes in text, JSON, environment lists, line streams
// and copies. Its API is here; stream.go holds the streaming machinery (chunks, matches that
// cross writes), values.go and decode.go find the variables' values in every form they take,
// finders.go the shapes (token formats, private keys, URLs' credentials).
package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MinSecretLen is the shortest value of a secret-named variable that a Redactor replaces
// wherever it appears: 8 bytes. Credentials are longer (a Hugging Face token is 37 bytes, an AWS
// secret key 40, a GitHub token 40 or more, and services that let people choose a password ask
// for at least 8 characters, as NIST SP 800-63B does), while shorter values are ordinary words
// ("true", "json", "1", "prod") whose replacement everywhere corrupted the evidence. Where the
// variable itself is recorded (Environ), its value is replaced whole however short.
const MinSecretLen = 8

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
	ShapeBasicAuth   = "basic-auth"        // "Basic " and the base64 of "user:password"
	ShapePrivateKey  = "private-key"       // a PEM block of a private key (see MaxPEMBytes)
	ShapeURLUserinfo = "url-userinfo"      // "user:password" in "scheme://user:password@host" (see MaxUserinfo)
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

// markerOpen opens every Marker.
const markerOpen = "[REDACTED:"

// Marker is the text that stands for the value of the variable (or token shape) name. The name
// is kept to letters, digits, '_', '.' and '-' (others become '_'), so the text never needs
// escaping in JSON, XML, YAML or a shell word.
func Marker(name string) string {
	clean := []byte(name)
	for i, c := range clean {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '.' || c == '-') {
			clean[i] = '_'
		}
	}
	return markerOpen + string(clean) + "]"
}

// HasMarker says whether s holds a Marker: a text redacted whole or in part.
func HasMarker(s string) bool { return strings.Contains(s, markerOpen) }

// Redactor replaces secrets in what the harness writes. It knows the values of the
// secret-named variables (IsSecretName) of at least MinSecretLen bytes, and the credentials in
// the URLs any variable holds (their user information and its password), and replaces them in
// every form that text carries them in: as they are; escaped (JSON's, Python's and Go's
// backslash escapes, XML and HTML entities) or URL-encoded, wholly or in part; base64-encoded,
// alone or after other bytes ("user:value" in an HTTP Basic header); cut short before "..." or
// "…", or split over two lines (MinPart). It also replaces what no variable holds: the
// well-known token shapes (Shape*), private keys' PEM blocks and the user information of any
// URL.
//
// It reads text that comes in chunks with one scan of each chunk that finds every kind of match
// at once, and replaces every byte that any match covers: where matches overlap, the leftmost
// (at one start, a value before a part of one before a private key before a token shape before
// a URL, and the longest among equals) is replaced by its Marker, and the rest of one that
// reaches past it by its own. Redact a text before clipping it (Clip): a value cut short without
// a cut marker is no longer found.
type Redactor struct {
	f finder
}

// finders are the values' finder, when there are values, and the shapes'.
type finders struct{ v *values }

func (f finders) find(buf []byte, final, lineStart bool, hits []hit) []hit {
	if f.v != nil {
		hits = f.v.find(buf, final, lineStart, hits)
	}
	return findShapes(buf, final, hits)
}

// New builds a Redactor from an os.Environ()-style list of NAME=value.
func New(environ []string) *Redactor {
	byValue := map[string]string{}
	add := func(name, value string) {
		if prev, ok := byValue[value]; len(value) >= MinSecretLen && (!ok || name < prev) {
			byValue[value] = name
		}
	}
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if IsSecretName(name) {
			add(name, value)
		}
		for _, h := range findUserinfo([]byte(value), true, nil) {
			info := value[h.start+len(schemeSep) : h.end]
			add(name, info)
			if _, password, ok := strings.Cut(info, ":"); ok {
				add(name, password)
			}
		}
	}
	return &Redactor{f: finders{newValues(byValue)}}
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

// Bytes returns b with every secret replaced.
func (r *Redactor) Bytes(b []byte) []byte {
	out, _, built, _ := pass(r.f, nil, nil, b, true, true, nil)
	if !built {
		return bytes.Clone(b)
	}
	return out
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
			out = append(out, name+"="+Marker(name))
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
// most MaxPEMBytes in all) becomes Marker(ShapePrivateKey). It keeps that state between calls:
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
				return append(append([]byte(Marker(ShapePrivateKey)), r.Bytes(body[end:])...), nl...)
			}
			if seen > MaxPEMBytes {
				open = false
			}
			return append([]byte(Marker(ShapePrivateKey)), nl...)
		}
		if opensPEM(body) {
			open, seen = true, len(line)
		}
		return append(r.Bytes(body), nl...)
	}
}

// Writer returns a writer that redacts what passes through it to w, as Bytes does, also when a
// secret is split across Write calls: it holds back only a tail where a match may begin but
// needs later data (at most the longest form of a secret, a token shape's longest form, or
// MaxPEMBytes of an open private key), so ordinary text passes at once; it reads 256 KiB at a
// time. Close writes what it held back; it does not close w.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return r.writer(w, nil)
}

// Scanner returns a writer to nowhere that records what Writer would replace: Close it, then
// Found names what it held.
func (r *Redactor) Scanner() *Scanner {
	return &Scanner{w: r.writer(io.Discard, map[string]bool{})}
}

// Scanner looks for secrets in what is written to it (Redactor.Scanner).
type Scanner struct{ w *redactWriter }

func (s *Scanner) Write(p []byte) (int, error) { return s.w.Write(p) }

// Close looks at what Write held back, at the end of the data.
func (s *Scanner) Close() error { return s.w.Close() }

// Found names the secrets found so far, and after Close all of them: variables' names and
// token shapes (Shape*), sorted, never a value.
func (s *Scanner) Found() []string {
	var out []string
	for n := range s.w.found {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Describe says what names (Scanner.Found's) are, without any value: "the value of HF_TOKEN",
// "the values of A and B", "a token shaped as hf-token".
func Describe(names []string) string {
	var vars, kinds []string
	for _, n := range names {
		if isShape(n) {
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

// Clip cuts s to at most n bytes, on a rune boundary and never inside a Marker (one the cut
// would split is kept whole), and ends it with "…" when it cut. Redact s first: a secret cut
// short no longer equals itself, and nothing would find it.
func Clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	if open := strings.LastIndexByte(s[:cut], '['); open >= 0 && strings.HasPrefix(s[open:], markerOpen) {
		if end := strings.IndexByte(s[open:], ']'); end >= 0 && open+end >= cut {
			cut = open + end + 1
		}
	}
	if cut >= len(s) {
		return s
	}
	return s[:cut] + "…"
}
