package evidence

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MinSecretLen is the shortest value a Redactor replaces: shorter ones ("1", "no") would
// mangle ordinary text.
const MinSecretLen = 4

// IsSecretName reports whether an environment variable's value is a secret: HF_TOKEN,
// *_TOKEN, *_KEY, *SECRET*, *PASSWORD* and AWS_*, in any case.
func IsSecretName(name string) bool {
	n := strings.ToUpper(name)
	return n == "HF_TOKEN" || strings.HasSuffix(n, "_TOKEN") || strings.HasSuffix(n, "_KEY") ||
		strings.Contains(n, "SECRET") || strings.Contains(n, "PASSWORD") || strings.HasPrefix(n, "AWS_")
}

// Redactor replaces the values of secret environment variables with [REDACTED:<NAME>].
// Where secrets overlap, the leftmost match wins, and the longest among those starting there.
type Redactor struct {
	secrets []secret // longest first
	names   []string
	maxLen  int
}

type secret struct {
	name  string
	value []byte
	repl  []byte
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
		if prev, ok := byValue[value]; !ok || name < prev {
			byValue[value] = name
		}
	}
	for value, name := range byValue {
		r.secrets = append(r.secrets, secret{name: name, value: []byte(value), repl: []byte(Redacted(name))})
		r.maxLen = max(r.maxLen, len(value))
	}
	sort.Slice(r.secrets, func(i, j int) bool {
		a, b := r.secrets[i], r.secrets[j]
		if len(a.value) != len(b.value) {
			return len(a.value) > len(b.value)
		}
		return bytes.Compare(a.value, b.value) < 0
	})
	sort.Strings(r.names)
	return r
}

// Redacted is the text that stands for the value of the variable name.
func Redacted(name string) string { return "[REDACTED:" + name + "]" }

// Names lists the secret variables found in the environment, sorted (short values included).
func (r *Redactor) Names() []string { return append([]string(nil), r.names...) }

// Bytes returns b with every secret replaced.
func (r *Redactor) Bytes(b []byte) []byte {
	if len(r.secrets) == 0 {
		return append([]byte(nil), b...)
	}
	out, _ := r.process(make([]byte, 0, len(b)), b, true)
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

// process appends buf to dst with secrets replaced and returns how much of buf it used.
// Unless final, it stops before the earliest suffix of buf that could begin a secret
// finishing in later data; the caller keeps that tail (shorter than the longest secret).
func (r *Redactor) process(dst, buf []byte, final bool) ([]byte, int) {
	var nextBuf [16]int
	next := nextBuf[:0]
	for range r.secrets {
		next = append(next, -2) // -2: not searched yet; -1: no further occurrence
	}
	i := 0
	for {
		pos, which := -1, -1
		for k, s := range r.secrets {
			if next[k] == -2 || next[k] >= 0 && next[k] < i {
				if j := bytes.Index(buf[i:], s.value); j >= 0 {
					next[k] = i + j
				} else {
					next[k] = -1
				}
			}
			if next[k] >= 0 && (pos < 0 || next[k] < pos) {
				pos, which = next[k], k
			}
		}
		if !final {
			if j := r.pendingStart(buf, i); pos < 0 || pos >= j {
				return append(dst, buf[i:j]...), j
			}
		}
		if pos < 0 {
			return append(dst, buf[i:]...), len(buf)
		}
		dst = append(append(dst, buf[i:pos]...), r.secrets[which].repl...)
		i = pos + len(r.secrets[which].value)
	}
}

// pendingStart returns the earliest j >= from where buf[j:] is a proper prefix of a secret,
// or len(buf).
func (r *Redactor) pendingStart(buf []byte, from int) int {
	for j := max(from, len(buf)-r.maxLen+1); j < len(buf); j++ {
		rest := buf[j:]
		for _, s := range r.secrets {
			if len(s.value) > len(rest) && bytes.HasPrefix(s.value, rest) {
				return j
			}
		}
	}
	return len(buf)
}

// Writer returns a writer that redacts what passes through it to w, also when a secret is
// split across two Write calls: it holds back at most the longest secret's length minus one
// byte, and works in 64 KiB chunks. Close writes what it held back; it does not close w.
func (r *Redactor) Writer(w io.Writer) io.WriteCloser {
	return &redactWriter{r: r, w: w}
}

const redactChunk = 64 << 10

type redactWriter struct {
	r      *Redactor
	w      io.Writer
	tail   []byte
	buf    []byte
	out    []byte
	closed bool
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if rw.closed {
		return 0, fmt.Errorf("redacting writer: write after Close")
	}
	if len(rw.r.secrets) == 0 {
		return rw.w.Write(p)
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), redactChunk)
		rw.buf = append(append(rw.buf[:0], rw.tail...), p[:n]...)
		var used int
		rw.out, used = rw.r.process(rw.out[:0], rw.buf, false)
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
	if len(rw.tail) == 0 {
		return nil
	}
	out, _ := rw.r.process(nil, rw.tail, true)
	rw.tail = nil
	_, err := rw.w.Write(out)
	return err
}

// RedactFile rewrites a file with its secrets replaced (through a temporary file in the same
// directory, renamed over it, keeping its mode). With no secrets it leaves the file alone.
func (r *Redactor) RedactFile(path string) error {
	if len(r.secrets) == 0 {
		return nil
	}
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
