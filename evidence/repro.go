package evidence

import (
	"fmt"
	"os"
	"regexp"
	"sort"
	"strings"
)

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// EnvDiff returns, sorted, the NAME=value entries of env that baseline lacks or has with
// another value: what a step's environment adds to the suite's own.
func EnvDiff(baseline, env []string) []string {
	base := map[string]string{}
	for _, kv := range baseline {
		if k, v, ok := strings.Cut(kv, "="); ok {
			base[k] = v
		}
	}
	var out []string
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			continue
		}
		if bv, there := base[k]; !there || bv != v {
			out = append(out, kv)
		}
	}
	sort.Strings(out)
	return out
}

// WriteRepro writes an executable bash script that reruns a failed step: it cds to dir,
// exports envDiff (NAME=value entries, already redacted: see Redactor.Environ) and execs
// argv. A value redacted whole ([REDACTED:NAME]) becomes "${NAME:?...}", so the script asks
// for the secret instead of passing the placeholder on.
func WriteRepro(path, dir string, argv, envDiff []string) error {
	if len(argv) == 0 {
		return fmt.Errorf("write repro %s: empty argv", path)
	}
	var b strings.Builder
	b.WriteString("#!/usr/bin/env bash\n")
	b.WriteString("# Reruns a failed smoke-test step with the environment it ran with (secrets redacted).\n")
	b.WriteString("set -euo pipefail\n")
	fmt.Fprintf(&b, "cd %s\n", ShellQuote(dir))
	for _, kv := range envDiff {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !envName.MatchString(name) {
			return fmt.Errorf("write repro %s: environment entry %q is not NAME=value", path, oneLine(kv[:min(len(kv), 80)]))
		}
		if value == Redacted(name) {
			fmt.Fprintf(&b, "export %s=\"${%s:?set %s: its value was redacted}\"\n", name, name, name)
			continue
		}
		fmt.Fprintf(&b, "export %s=%s\n", name, ShellQuote(value))
	}
	fmt.Fprintf(&b, "exec %s\n", Quote(argv))
	if err := os.WriteFile(path, []byte(b.String()), 0o755); err != nil {
		return fmt.Errorf("write repro: %w", err)
	}
	if err := os.Chmod(path, 0o755); err != nil { // WriteFile keeps an existing file's mode
		return fmt.Errorf("write repro: %w", err)
	}
	return nil
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
