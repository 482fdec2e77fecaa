package checklist

import (
	"bytes"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// testcaseRE finds a <testcase ...>...</testcase> element as gotestsum writes it: the name
// attribute, and the body up to its closing tag.
var testcaseRE = regexp.MustCompile(`(?s)<testcase\b[^>]*\bname="([^"]*)"[^>]*>(.*?)</testcase>`)

// AddLogTails gives each failed or interrupted section's testcase in junit.xml the last lines
// of its step's log as <system-out>, so that CI, which shows a testcase's system-out, shows why
// it failed. gotestsum writes no <system-out>. A testcase that has one already is left alone,
// so rendering again changes nothing.
func AddLogTails(e *Evidence) error {
	p := filepath.Join(e.Dir, evidence.JUnitFile)
	b, err := evidence.ReadFileLimit(p, MaxJUnitBytes)
	if err != nil {
		return err
	}
	tails := map[string]string{}
	for _, s := range e.Sections {
		if (s.Result != evidence.Fail && s.Result != evidence.Interrupted) || s.Test == "" || s.Log == "" {
			continue
		}
		tail, err := evidence.Tail(filepath.Join(e.Dir, filepath.FromSlash(s.Log)), evidence.TailLines)
		if err != nil {
			continue // the checklist says the log is missing
		}
		tails[s.Test] = fmt.Sprintf("--- last %d lines of %s ---\n%s\n", evidence.TailLines, s.Log, tail)
	}
	if len(tails) == 0 {
		return nil
	}
	changed := false
	out := testcaseRE.ReplaceAllFunc(b, func(m []byte) []byte {
		sub := testcaseRE.FindSubmatch(m)
		name, body := string(sub[1]), sub[2]
		tail, ok := tails[name]
		if !ok || bytes.Contains(body, []byte("<system-out>")) || !bytes.Contains(body, []byte("<failure")) {
			return m
		}
		changed = true
		var esc bytes.Buffer
		_ = xmlEscape(&esc, tail)
		i := len(m) - len("</testcase>")
		return []byte(string(m[:i]) + "\t\t\t<system-out>" + esc.String() + "</system-out>\n\t\t" + string(m[i:]))
	})
	if !changed {
		return nil
	}
	if err := evidence.WriteFileAtomic(p, out, 0o644); err != nil {
		return fmt.Errorf("add log tails to %s: %w", p, err)
	}
	return nil
}

// xmlEscape escapes text for an XML element's content; characters XML cannot hold become U+FFFD.
func xmlEscape(b *bytes.Buffer, s string) error {
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")
	clean := strings.Map(func(c rune) rune {
		if c == '\t' || c == '\n' || c == '\r' || c >= 0x20 && c != 0xFFFE && c != 0xFFFF {
			return c
		}
		return '\uFFFD'
	}, strings.ToValidUTF8(s, "\uFFFD"))
	_, err := r.WriteString(b, clean)
	return err
}
