package evidence

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

var testEnv = []string{
	"HOME=/root", "PATH=/usr/bin",
	"HF_TOKEN=hf_abcdefghijklmnop", "github_token=ghp_123456", "OPENAI_API_KEY=sk-live-xyz",
	"MY_SECRET_THING=s3cr3t!", "DB_PASSWORD=hunter22", "AWS_REGION=us-east-1",
	"SHORT_TOKEN=abc", "KEYRING=not-a-secret-name", "EMPTY_KEY=",
}

func TestNewRedactor_Names(t *testing.T) {
	r := NewRedactor(testEnv)
	require.Equal(t, []string{"AWS_REGION", "DB_PASSWORD", "EMPTY_KEY", "HF_TOKEN", "MY_SECRET_THING", "OPENAI_API_KEY", "SHORT_TOKEN", "github_token"}, r.Names())
}

func TestRedactor_String(t *testing.T) {
	type testCase struct {
		name, env, in, want string
	}
	run := func(t *testing.T, tc testCase) {
		r := NewRedactor(strings.Split(tc.env, " "))
		require.Equal(t, tc.want, r.String(tc.in))
		require.Equal(t, tc.want, string(r.Bytes([]byte(tc.in))))
	}
	for _, tc := range []testCase{
		{"token in a URL", "HF_TOKEN=hf_abcdef", "https://x:hf_abcdef@hub/", "https://x:[REDACTED:HF_TOKEN]@hub/"},
		{"every occurrence", "A_KEY=abcd", "abcdabcd-abcd", "[REDACTED:A_KEY][REDACTED:A_KEY]-[REDACTED:A_KEY]"},
		{"names in any case", "my_secret=value1 Aws_Profile=prod-admin", "value1 prod-admin", "[REDACTED:my_secret] [REDACTED:Aws_Profile]"},
		{"short values are left alone", "X_TOKEN=abc", "abc abc", "abc abc"},
		{"not a secret name", "TOKENS=abcdef KEYRING=abcdef", "abcdef", "abcdef"},
		{"the longer of two secrets starting at one place", "A_KEY=abcd B_KEY=abcdef", "abcdefg abcd", "[REDACTED:B_KEY]g [REDACTED:A_KEY]"},
		{"the leftmost of two overlapping secrets", "A_KEY=abcd B_KEY=cdef", "abcdef", "[REDACTED:A_KEY]ef"},
		{"one value under two names takes the first name", "Z_KEY=same-value A_TOKEN=same-value", "same-value", "[REDACTED:A_TOKEN]"},
		{"no secrets", "HOME=/root", "/root", "/root"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}

func TestRedactor_Environ(t *testing.T) {
	r := NewRedactor(testEnv)
	got := r.Environ([]string{"SHORT_TOKEN=abc", "HF_HOME=/cache/hf_abcdefghijklmnop", "PATH=/usr/bin", "weird"})
	require.Equal(t, []string{"SHORT_TOKEN=[REDACTED:SHORT_TOKEN]", "HF_HOME=/cache/[REDACTED:HF_TOKEN]", "PATH=/usr/bin", "weird"}, got)
}

// chunkWriter records each Write, to see what the redacting writer passes on.
type chunkWriter struct{ bytes.Buffer }

func TestRedactor_Writer_SplitSecrets(t *testing.T) {
	r := NewRedactor(testEnv)
	text := "login hf_abcdefghijklmnop then ghp_123456 and hunter22 in us-east-1, hf_abcdefg (not the whole token)"
	want := r.String(text)
	require.NotContains(t, want, "hf_abcdefghijklmnop")
	// Every way of cutting the text into two writes, and byte by byte.
	for cut := 0; cut <= len(text); cut++ {
		var out chunkWriter
		w := r.Writer(&out)
		for _, part := range []string{text[:cut], text[cut:]} {
			n, err := w.Write([]byte(part))
			require.NoError(t, err)
			require.Equal(t, len(part), n)
		}
		require.NoError(t, w.Close())
		require.Equal(t, want, out.String(), "cut at %d", cut)
	}
	var out chunkWriter
	w := r.Writer(&out)
	for i := range len(text) {
		_, err := w.Write([]byte{text[i]})
		require.NoError(t, err)
	}
	require.NoError(t, w.Close())
	require.Equal(t, want, out.String())
	_, err := w.Write([]byte("x"))
	require.Error(t, err)
}

func TestRedactor_Writer_BoundedTail(t *testing.T) {
	r := NewRedactor([]string{"A_KEY=abcdefgh"})
	var out bytes.Buffer
	w := r.Writer(&out).(*redactWriter)
	big := bytes.Repeat([]byte("abcdefg-"), 1<<17) // 1 MiB of near misses
	_, err := w.Write(big)
	require.NoError(t, err)
	require.Less(t, len(w.tail), 8)
	require.LessOrEqual(t, cap(w.buf), redactChunk+64)
	require.NoError(t, w.Close())
	require.Equal(t, big, out.Bytes())
}

func TestRedactor_RedactFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "04-train.log")
	writeFile(t, path, "token=hf_abcdefghijklmnop\n")
	require.NoError(t, os.Chmod(path, 0o600))
	require.NoError(t, NewRedactor(testEnv).RedactFile(path))
	require.Equal(t, "token=[REDACTED:HF_TOKEN]\n", readFile(t, path))
	st, err := os.Stat(path)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), st.Mode().Perm())
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	require.Len(t, entries, 1, "the temporary file is gone")
	require.ErrorContains(t, NewRedactor(testEnv).RedactFile(path+".missing"), "04-train.log.missing")
	require.NoError(t, NewRedactor(nil).RedactFile(path+".missing"), "no secrets: nothing to do")
}

// FuzzRedactor checks the streaming writer against Bytes for any two secrets, text and split,
// and that no secret survives where none can be rebuilt from a replacement.
func FuzzRedactor(f *testing.F) {
	f.Fuzz(func(t *testing.T, secretA, secretB string, text []byte, cut1, cut2 uint16) {
		r := NewRedactor([]string{"A_TOKEN=" + secretA, "B_KEY=" + secretB})
		want := r.Bytes(text)
		c1 := int(cut1) % (len(text) + 1)
		c2 := c1 + int(cut2)%(len(text)-c1+1)
		var out bytes.Buffer
		w := r.Writer(&out)
		for _, part := range [][]byte{text[:c1], text[c1:c2], text[c2:]} {
			n, err := w.Write(part)
			require.NoError(t, err)
			require.Equal(t, len(part), n)
		}
		require.NoError(t, w.Close())
		require.Equal(t, string(want), out.String())
		for _, s := range []string{secretA, secretB} {
			if len(s) < MinSecretLen || strings.ContainsAny(s, "[]") ||
				strings.Contains(Redacted("A_TOKEN")+Redacted("B_KEY"), s) {
				continue
			}
			require.NotContains(t, string(want), s)
		}
	})
}
