package redact

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A token shape whose body is exactly its minimum length is a token, one byte shorter is not:
// in a string, at its end, and through the streaming writer cut byte by byte (where the token
// may end a write).
func TestRedactor_ShapeMinimumLength(t *testing.T) {
	r := New(nil)
	for _, tc := range []struct {
		name, prefix string
		min          int
		body         string // repeated and cut to the length
		repl         string
	}{
		{"hf token", "hf_", 20, "Ab0", Marker(ShapeHFToken)},
		{"GitHub token", "ghp_", 30, "aZ9", Marker(ShapeGitHubToken)},
		{"GitHub fine-grained token", "github_pat_", 22, "1A_b", Marker(ShapeGitHubToken)},
		{"bearer token", "Bearer ", 16, "eyJ-._~+/", "Bearer " + Marker(ShapeBearer)},
		{"AWS access key id (min is max)", "AKIA", 16, "IOSFODNN7EXAMPLE", Marker(ShapeAWSKeyID)},
	} {
		body := func(n int) string { return strings.Repeat(tc.body, n)[:n] }
		t.Run(tc.name, func(t *testing.T) {
			token := tc.prefix + body(tc.min)
			for _, in := range []string{"token " + token + " ok", "token " + token} {
				want := strings.Replace(in, token, tc.repl, 1)
				require.Equal(t, want, r.String(in), "%q", in)
				var out bytes.Buffer
				w := r.Writer(&out)
				for i := range len(in) {
					_, err := w.Write([]byte{in[i]})
					require.NoError(t, err)
				}
				require.NoError(t, w.Close())
				require.Equal(t, want, out.String(), "%q byte by byte", in)
			}
			short := "token " + tc.prefix + body(tc.min-1) + " ok"
			require.Equal(t, short, r.String(short), "one byte short of the minimum is not a token")
		})
	}
}
