package artifacts

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// A value quoted in an error is redacted before it is clipped at 80 bytes: a token across the
// cut lost its end, and no redactor could find its first bytes afterwards.
func TestBriefRedactsBeforeTheCut(t *testing.T) {
	const secret = "hf_Qz7wVb3KpLm9Rt2XcN8dFg4HjY6"
	t.Setenv("HF_TOKEN", secret)
	url := "https://hf-mirror.example/" + strings.Repeat("m", 43) + "?t=" // 72 bytes
	got := brief(url + secret)
	require.Equal(t, `"`+url+`[REDACTED:HF_TOKEN]…`, got)
	require.NotContains(t, got, secret[:6])
}
