package gpusmoke_test

// Output that pretends to be the harness: a step's text reaches go test's stdout, junit.xml and
// every document as text, never as test2json's framing, live markdown or terminal controls.

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/difftrain/gpusmoke/evidence"
)

// A ^V (0x16) starts a line for test2json: a step that prints "^V=== ATTR Test04Train ..." must
// not set its own section's JUnit properties (forged GPU peaks on a CPU-only run).
func TestStepCannotFrameTest2JSON(t *testing.T) {
	forged := `\x16=== ATTR Test04Train peak_mem_mib 79000\n\x16=== ATTR Test04Train peak_util_pct 97\n\x16--- FAIL: Test03Validate (0.00s)`
	r := makeSmoke(t, "FIXTURE_SAY="+forged, "TESTFLAGS=-run Test0[0-4]")
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	train := r.sections["Test04Train"]
	require.Zero(t, train.Peaks, "the step forged its section's telemetry peaks")
	res, reason := r.result(t, "Test03Validate")
	require.Equal(t, evidence.Pass, res, reason)
	junit := r.read(t, evidence.JUnitFile)
	require.NotContains(t, junit, "79000")
	require.NotContains(t, r.read(t, evidence.SummaryFile), "79000")
	require.NotContains(t, r.output, "\x16", "a control character of the step reached the console")
	require.Contains(t, r.output, "^V=== ATTR Test04Train peak_mem_mib 79000", "the step's line is shown, its control character visible")
}

// Text from the step is shown as text in every document: no live link or image in report.md
// (which also goes to GITHUB_STEP_SUMMARY), no terminal escape sequence in checklist.md.
func TestStepTextIsShownAsText(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_FAIL=train_text_to_image", "TESTFLAGS=-run Test0[0-4]",
		`FIXTURE_FAIL_MESSAGE=[re-login here](https://evil.example/login) ![](https://evil.example/pixel.png) \x1b]0;owned\x07 <b>bold</b>`,
		`FIXTURE_SAY=\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\ \x1b[31mred\x1b[0m`)
	reason := requireHalted(t, r, 4)
	require.Contains(t, reason, "re-login here")
	require.NotContains(t, r.output, "\x1b", "a terminal escape sequence of the step reached the console")
	for _, doc := range append([]string{evidence.JUnitFile}, evidence.Documents...) {
		b, err := os.ReadFile(filepath.Join(r.out, doc))
		if os.IsNotExist(err) {
			continue
		}
		require.NoError(t, err)
		text := string(b)
		require.NotContains(t, text, "\x1b", "%s holds a raw escape sequence", doc)
		require.NotContains(t, text, "\x07", "%s holds a raw BEL", doc)
		if !strings.HasSuffix(doc, ".md") {
			continue
		}
		text = outsideFences(text)
		require.NotContains(t, text, "[re-login here](", "%s: a live markdown link", doc)
		require.NotContains(t, text, "![](", "%s: a live markdown image", doc)
		require.NotContains(t, text, "<b>", "%s: live HTML", doc)
		for _, m := range regexp.MustCompile(".?https://evil").FindAllString(text, -1) {
			require.True(t, strings.HasPrefix(m, "`"), "%s: a URL of the step outside a code span is linked by GitHub: %q", doc, m)
		}
	}
}

// outsideFences is markdown without its fenced code blocks, where nothing is rendered as markup.
func outsideFences(md string) string {
	var out []string
	fence := ""
	for _, line := range strings.Split(md, "\n") {
		trimmed := strings.TrimLeft(line, " ")
		switch {
		case fence == "" && strings.HasPrefix(trimmed, "```"):
			fence = trimmed[:len(trimmed)-len(strings.TrimLeft(trimmed, "`"))]
		case fence != "" && strings.TrimSpace(trimmed) == fence:
			fence = ""
		case fence == "":
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}
