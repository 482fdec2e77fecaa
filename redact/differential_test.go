package redact_test

// The new redactor against the old one (old_test.go) on the same random inputs: secrets planted
// as they are and in every form the new one knows (escaped, URL-encoded, base64, cut short,
// split over lines), token shapes, private keys and URLs with credentials, in random text,
// written in pieces cut anywhere. The new one must remove every byte of a secret that the old
// one removed, and its writer must agree with its Bytes.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"math/rand/v2"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/difftrain/gpusmoke/redact"
)

// diffCase is one input: the environment, the text, where it is cut into writes, and the
// secrets planted in it (each a string whose every window must go where the old redactor's did).
type diffCase struct {
	env     []string
	text    []byte
	cuts    []int
	planted []string
}

const valueChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// oddChars are what a password may hold besides letters and digits: what JSON, Go, URLs and
// HTML escape, a space, and non-ASCII.
var oddChars = []string{"\"", "\\", "%", "&", "+", "/", ":", "@", " ", "<", "'", "é", "\t", "=", "~", "😀"}

func randValue(r *rand.Rand, n int) string {
	var b strings.Builder
	for b.Len() < n {
		if r.IntN(8) == 0 {
			b.WriteString(oddChars[r.IntN(len(oddChars))])
		} else {
			b.WriteByte(valueChars[r.IntN(len(valueChars))])
		}
	}
	return b.String()
}

// forms are the ways text carries a value.
var forms = []func(r *rand.Rand, v string) string{
	func(r *rand.Rand, v string) string { return v },
	func(r *rand.Rand, v string) string { b, _ := json.Marshal(v); return string(b) },
	func(r *rand.Rand, v string) string { return strconv.Quote(v) },
	func(r *rand.Rand, v string) string { return url.QueryEscape(v) },
	func(r *rand.Rand, v string) string { return url.PathEscape(v) },
	func(r *rand.Rand, v string) string { return html.EscapeString(v) },
	func(r *rand.Rand, v string) string { return base64.StdEncoding.EncodeToString([]byte(v)) },
	func(r *rand.Rand, v string) string {
		return "Authorization: Basic " + base64.StdEncoding.EncodeToString([]byte(randValue(r, r.IntN(6))+":"+v))
	},
	func(r *rand.Rand, v string) string { return base64.URLEncoding.EncodeToString([]byte("u:" + v)) },
	func(r *rand.Rand, v string) string { // every byte \u-escaped, or some
		var b strings.Builder
		for _, c := range v {
			if c < 0x10000 && r.IntN(2) == 0 {
				fmt.Fprintf(&b, `\u%04x`, c)
			} else {
				b.WriteRune(c)
			}
		}
		return b.String()
	},
	func(r *rand.Rand, v string) string {
		return v[:min(len(v), 12+r.IntN(10))] + []string{"...", "…", " ..."}[r.IntN(3)]
	},
	func(r *rand.Rand, v string) string { k := r.IntN(len(v) + 1); return v[:k] + "\n" + v[k:] },
	func(r *rand.Rand, v string) string { return "https://user:" + url.PathEscape(v) + "@host.example/x" },
}

// shapeSamples are tokens of the shapes no variable holds.
func shapeSample(r *rand.Rand) string {
	body := func(n int, chars string) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = chars[r.IntN(len(chars))]
		}
		return string(b)
	}
	switch r.IntN(7) {
	case 0:
		return "hf_" + body(20+r.IntN(20), valueChars)
	case 1:
		return []string{"AKIA", "ASIA"}[r.IntN(2)] + body(16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")
	case 2:
		return "ghp_" + body(30+r.IntN(10), valueChars)
	case 3:
		return "github_pat_" + body(22+r.IntN(30), valueChars+"_")
	case 4:
		return "Bearer " + body(16+r.IntN(30), valueChars+"-._~+/")
	case 5:
		return "-----BEGIN RSA PRIVATE KEY-----\n" + body(40, valueChars) + "\n" + body(30, valueChars) + "\n-----END RSA PRIVATE KEY-----"
	}
	return "postgres://admin:" + body(8+r.IntN(10), valueChars) + "@db.internal:5432/x"
}

// filler is text around the planted secrets: log lines, base64, JSON, near misses.
func filler(r *rand.Rand, env []string) string {
	switch r.IntN(6) {
	case 0:
		return fmt.Sprintf("2026-03-02 12:00:%02d,000 - difftrain.train - INFO - step=%d loss=%.6f\n", r.IntN(60), r.IntN(1000), r.Float64())
	case 1:
		b := make([]byte, r.IntN(100))
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return base64.StdEncoding.EncodeToString(b) + "\n"
	case 2:
		return `{"a": "x\"y\\z", "n": 1.5, "u": "\u00e9"}`
	case 3: // a near miss: a secret's start
		_, v, _ := strings.Cut(env[r.IntN(len(env))], "=")
		return v[:r.IntN(len(v)+1)]
	case 4:
		return []string{" ", "\n", "...", "…", "\r\n", "  ", "%", "\\", "&", ":", "//", "@", "_", "A", "-----"}[r.IntN(15)]
	}
	b := make([]byte, r.IntN(40))
	for i := range b {
		b[i] = byte(32 + r.IntN(95))
	}
	return string(b)
}

func genCase(r *rand.Rand, extra string) diffCase {
	var c diffCase
	names := []string{"HF_TOKEN", "DB_PASSWORD", "WANDB_API_KEY", "MY_SECRET", "X_TOKEN"}
	for i := range 1 + r.IntN(3) {
		c.env = append(c.env, names[i]+"="+randValue(r, 8+r.IntN(33)))
	}
	if extra != "" {
		c.env = append(c.env, "FUZZ_TOKEN="+extra)
	}
	c.env = append(c.env, "HOME=/root", "AWS_REGION=us-east-1")
	var text strings.Builder
	for range 1 + r.IntN(12) {
		text.WriteString(filler(r, c.env))
		switch r.IntN(3) {
		case 0:
			_, v, _ := strings.Cut(c.env[r.IntN(len(c.env)-2)], "=")
			if len(v) >= redact.MinSecretLen {
				text.WriteString(forms[r.IntN(len(forms))](r, v))
				c.planted = append(c.planted, v)
			}
		case 1:
			s := shapeSample(r)
			text.WriteString(s)
			c.planted = append(c.planted, s)
		}
	}
	c.text = []byte(text.String())
	for range r.IntN(6) {
		c.cuts = append(c.cuts, r.IntN(len(c.text)+1))
	}
	return c
}

var marker = regexp.MustCompile(`\[REDACTED:[A-Za-z0-9_.-]*\]`)

// checkCase fails when the new redactor keeps a window of a planted secret that the old one did
// not keep, or when its writer disagrees with its Bytes.
func checkCase(t *testing.T, c diffCase) {
	t.Helper()
	oldOut := oldNew(c.env).Bytes(c.text)
	red := redact.New(c.env)
	newOut := red.Bytes(c.text)
	var w bytes.Buffer
	wc := red.Writer(&w)
	at := 0
	for _, cut := range append(c.cuts, len(c.text)) {
		if cut < at {
			continue
		}
		if _, err := wc.Write(c.text[at:cut]); err != nil {
			t.Fatal(err)
		}
		at = cut
	}
	if err := wc.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(w.Bytes(), newOut) {
		t.Fatalf("the writer (cut at %v) and Bytes disagree on %q:\n%q\n%q", c.cuts, c.text, w.Bytes(), newOut)
	}
	// A marker stands for what it replaced: no window runs across one.
	oldText := marker.ReplaceAllLiteral(oldOut, []byte{0})
	newText := marker.ReplaceAllLiteral(newOut, []byte{0})
	for _, s := range c.planted {
		for _, part := range []string{s, strings.ReplaceAll(s, "\n", "")} {
			const win = 6
			for i := 0; i+win <= len(part); i++ {
				w := part[i : i+win]
				if bytes.Contains(newText, []byte(w)) && !bytes.Contains(oldText, []byte(w)) {
					t.Fatalf("env %q: the new redactor keeps %q of %q, which the old one removed\ninput: %q\nold:   %q\nnew:   %q",
						c.env, w, s, c.text, oldOut, newOut)
				}
			}
		}
	}
}

func TestDifferential(t *testing.T) {
	n := 3000
	if testing.Short() {
		n = 300
	}
	for seed := range uint64(n) {
		checkCase(t, genCase(rand.New(rand.NewPCG(seed, 21)), ""))
	}
}

// FuzzDifferential runs checkCase on the cases a seed and a secret make.
func FuzzDifferential(f *testing.F) {
	f.Add(uint64(1), "hf_abcdefghijklmnop")
	f.Add(uint64(2), `pa"ss\wo rd%&`)
	f.Add(uint64(3), "")
	f.Fuzz(func(t *testing.T, seed uint64, secret string) {
		if strings.ContainsAny(secret, "[]\x00") || strings.Contains(secret, "REDACTED") {
			t.Skip("a secret that a marker or the test's separator holds")
		}
		checkCase(t, genCase(rand.New(rand.NewPCG(seed, 21)), secret))
	})
}
