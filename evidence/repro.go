package evidence

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/redact"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// WriteRepro writes an executable bash script that reruns a failed step exactly: beside it,
// repro.env holds the step's whole environment (already redacted: see redact.Redactor.Environ),
// and the script runs argv in dir with that environment and no other (`env -i`), so the step
// behaves the same from a fresh shell. A value redacted whole or in part ([REDACTED:NAME], a
// URL's credentials) must be set by whoever reruns the script: it asks for it ("${NAME:?...}")
// instead of passing the placeholder on.
//
// Whatever the environment holds, both files are written. An entry whose name bash cannot set
// (an exported function, BASH_FUNC_module%%=() {...}, as Lmod sets; A-B=x) is passed by repro.sh
// to env -i as it was, and repro.env says so in a comment; an entry with no name (no '=', or
// "=x"), which no command can pass on, is left out, and repro.env says that too.
func WriteRepro(path, dir string, argv, environ []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("write repro %s: empty argv", path)
	}
	var env, secrets, passed strings.Builder
	env.WriteString("# The environment of the failed step (secrets redacted), read by repro.sh.\n")
	for _, kv := range lastOfEach(environ) {
		name, value, ok := strings.Cut(kv, "=")
		switch {
		case !ok || name == "":
			fmt.Fprintf(&env, "# an entry with no name (%d bytes) was left out: no command can pass it on\n", len(kv))
		case !envName.MatchString(name):
			fmt.Fprintf(&env, "# %s is not a shell variable's name: repro.sh passes it to env -i as it was\n", label(name))
			fmt.Fprintf(&passed, "passed+=(%s)\n", ShellQuote(kv))
		case redact.HasMarker(value):
			fmt.Fprintf(&secrets, "secrets+=(\"%s=${%s:?set %s: its value was redacted}\")\n", name, name, name)
		default:
			fmt.Fprintf(&env, "%s=%s\n", name, ShellQuote(value))
		}
	}
	envPath := filepath.Join(filepath.Dir(path), ReproEnvFile)
	if err := os.WriteFile(envPath, []byte(env.String()), 0o644); err != nil {
		return fmt.Errorf("write repro %s: %w", path, err)
	}
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	b.WriteString("# Reruns a failed smoke-test step with the environment it ran with (repro.env; secrets redacted).\n")
	b.WriteString("set -euo pipefail\n")
	b.WriteString("here=$(cd \"$(dirname \"$0\")\" && pwd)\n")
	b.WriteString("secrets=()\n")
	b.WriteString(secrets.String())
	b.WriteString("# Entries whose names bash cannot set (exported functions), passed on as they were.\n")
	b.WriteString("passed=()\n")
	b.WriteString(passed.String())
	fmt.Fprintf(&b, "cd %s\n", ShellQuote(dir))
	fmt.Fprintf(&b, "exec env -i \"${secrets[@]}\" \"${passed[@]}\" bash --noprofile --norc -c 'set -a; . \"$1\"; set +a; shift; exec \"$@\"' repro \"$here/%s\" %s\n",
		ReproEnvFile, Quote(argv))
	if err := os.WriteFile(path, []byte(b.String()), 0o755); err != nil {
		return fmt.Errorf("write repro %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // WriteFile keeps an existing file's mode
		return fmt.Errorf("write repro %s: %w", path, err)
	}
	return nil
}

// label is a name as a comment line shows it: as it is, or Go-quoted when it holds a control
// character (a comment is one line).
func label(name string) string {
	if q := strconv.Quote(name); q != `"`+name+`"` {
		return q
	}
	return name
}

// lastOfEach keeps, of an environment list, the last entry of each name, in the order of their
// first appearance: the environment a process started with that list gets.
func lastOfEach(environ []string) []string {
	last := map[string]int{}
	for i, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		last[name] = i
	}
	var out []string
	for i, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if last[name] == i {
			out = append(out, kv)
		}
	}
	return out
}

var shellSafe = regexp.MustCompile(`^[A-Za-z0-9_@%+=:,./-]+$`)

// ShellQuote quotes one word for bash: as is when it has only safe characters, else in
// single quotes.
func ShellQuote(s string) string {
	if shellSafe.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// Quote joins argv into one bash command line, each word quoted.
func Quote(argv []string) string {
	words := make([]string, len(argv))
	for i, a := range argv {
		words[i] = ShellQuote(a)
	}
	return strings.Join(words, " ")
}

// Flag returns the value of an option of the command argv (its first word is the program) given
// as "--name value" or "--name=value", as argparse reads it; ok is false when argv has none.
func Flag(argv []string, name string) (value string, ok bool) {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		if a == name && i+1 < len(argv) {
			return argv[i+1], true
		}
		if v, ok := strings.CutPrefix(a, name+"="); ok {
			return v, true
		}
	}
	return "", false
}
