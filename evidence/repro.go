package evidence

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
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
func WriteRepro(path, dir string, argv, environ []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("write repro %s: empty argv", path)
	}
	var env, secrets strings.Builder
	env.WriteString("# The environment of the failed step (secrets redacted), read by repro.sh.\n")
	for _, kv := range lastOfEach(environ) {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(name) {
			return fmt.Errorf("write repro %s: environment entry %q is not NAME=value", path, oneLine(kv[:min(len(kv), 80)]))
		}
		if redact.HasMarker(value) {
			fmt.Fprintf(&secrets, "secrets+=(\"%s=${%s:?set %s: its value was redacted}\")\n", name, name, name)
			continue
		}
		fmt.Fprintf(&env, "%s=%s\n", name, ShellQuote(value))
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
	fmt.Fprintf(&b, "cd %s\n", ShellQuote(dir))
	fmt.Fprintf(&b, "exec env -i \"${secrets[@]}\" bash --noprofile --norc -c 'set -a; . \"$1\"; set +a; shift; exec \"$@\"' repro \"$here/%s\" %s\n",
		ReproEnvFile, Quote(argv))
	if err := os.WriteFile(path, []byte(b.String()), 0o755); err != nil {
		return fmt.Errorf("write repro %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // WriteFile keeps an existing file's mode
		return fmt.Errorf("write repro %s: %w", path, err)
	}
	return nil
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
