package template

import (
	"path"
	"regexp"
	"strings"
)

var envAssignRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)

// NormalizeCommand makes a command comparable however it was written: backticks and a
// leading "$ " prompt stripped, shell quoting removed, leading VAR=value assignments dropped,
// white space collapsed, and a first word that names a Python interpreter (python, python3,
// /opt/venv/bin/python3.11, ...) replaced by "python". A template's `python -m pip install -e
// "./difftrain[text2image]"` and the suite's `/usr/bin/python3 -m pip install -e
// './difftrain[text2image]'` normalize to the same string.
func NormalizeCommand(cmd string) string {
	cmd = strings.ReplaceAll(cmd, "`", " ")
	cmd = strings.Join(strings.Fields(cmd), " ")
	cmd = strings.TrimPrefix(cmd, "$ ")
	words := shellWords(cmd)
	for len(words) > 0 && envAssignRE.MatchString(words[0]) {
		words = words[1:]
	}
	if len(words) > 0 && strings.HasPrefix(path.Base(words[0]), "python") {
		words[0] = "python"
	}
	return strings.Join(words, " ")
}

// shellWords splits s the way a POSIX shell splits a simple command: single quotes keep
// everything, double quotes keep everything but \" \\ \$ \`, a backslash outside quotes
// escapes the next character. Unbalanced quotes fall back to splitting on white space.
func shellWords(s string) []string {
	var words []string
	var cur strings.Builder
	inWord := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ' ' || c == '\t':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return strings.Fields(s)
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case c == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return strings.Fields(s)
			}
			inWord = true
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
			inWord = true
		default:
			cur.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words
}
