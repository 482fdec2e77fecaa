// Command genseeds writes the seed corpora of the fuzz targets that read the broken-input corpus
// (FuzzParsePlan, FuzzParseEnvJSON, FuzzCheckResolvedConfig, FuzzRead, FuzzLoadJUnit,
// FuzzFillTemplate) under <pkg>/testdata/fuzz/<target>/, from testdata/bad and the valid inputs.
// Run from the module root: go run ./testdata/bad/genseeds
package main

import (
	"crypto/sha256"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// maxSeed leaves out the few corpus files too large to be useful seeds (a 120 KB line, a
// 40 KB nesting): the fuzzer's mutations work best on small inputs.
const maxSeed = 16 << 10

type seed [][]byte

func main() {
	goodResolved := read("artifacts/testdata/input/run/config.resolved.yaml")
	goodSource := read("testdata/difftrain/configs/smoke_text2image.yaml")

	targets := map[string][]seed{} // "<pkg>/<target>" → seeds
	add := func(target string, s ...[]byte) {
		for _, b := range s {
			if len(b) > maxSeed {
				return
			}
		}
		targets[target] = append(targets[target], seed(s))
	}
	addFiles := func(target string, globs ...string) {
		for _, g := range globs {
			for _, p := range glob(g) {
				add(target, read(p))
			}
		}
	}

	addFiles("runbook/FuzzParsePlan", "runbook/runbook.yaml", "testdata/fixture-plan.yaml", "testdata/bad/plan/*.yaml")
	addFiles("artifacts/FuzzParseEnvJSON", "artifacts/testdata/input/run/env*.json", "testdata/bad/envjson/*.json")
	add("artifacts/FuzzCheckResolvedConfig", goodResolved, goodSource)
	add("artifacts/FuzzCheckResolvedConfig", goodResolved, read("artifacts/testdata/input/run/smoke_text2image.yaml"))
	for _, p := range glob("testdata/bad/config/*.yaml") {
		if strings.HasPrefix(filepath.Base(p), "source-") {
			add("artifacts/FuzzCheckResolvedConfig", goodResolved, read(p))
		} else {
			add("artifacts/FuzzCheckResolvedConfig", read(p), goodSource)
		}
	}
	addFiles("gpuenv/FuzzRead", "checklist/testdata/runs/*/gpu_env.json", "testdata/bad/gpuenv/*.json")
	addFiles("checklist/FuzzLoadJUnit", "checklist/testdata/runs/*/junit.xml", "checklist/testdata/input/junit*.xml", "testdata/bad/junit/*.xml")
	addFiles("checklist/FuzzFillTemplate", "testdata/templates/*.md", "testdata/difftrain/docs/mvp_smoke_checklist.md", "testdata/bad/template/*.md")

	names := make([]string, 0, len(targets))
	for t := range targets {
		names = append(names, t)
	}
	sort.Strings(names)
	for _, t := range names {
		pkg, name, _ := strings.Cut(t, "/")
		dir := filepath.Join(pkg, "testdata", "fuzz", name)
		check(os.MkdirAll(dir, 0o755)) // kept: inputs the fuzzer found and were fixed stay seeds
		for _, s := range targets[t] {
			var b strings.Builder
			b.WriteString("go test fuzz v1\n")
			for _, arg := range s {
				fmt.Fprintf(&b, "[]byte(%q)\n", arg)
			}
			sum := sha256.Sum256([]byte(b.String()))
			check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("%x", sum[:8])), []byte(b.String()), 0o644))
		}
		fmt.Printf("%-36s %d seeds\n", t, len(targets[t]))
	}
}

func glob(pattern string) []string {
	m, err := filepath.Glob(pattern)
	check(err)
	if len(m) == 0 {
		log.Fatalf("%s: no files (run from the module root)", pattern)
	}
	sort.Strings(m)
	return m
}

func read(p string) []byte {
	b, err := os.ReadFile(p)
	check(err)
	return b
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
