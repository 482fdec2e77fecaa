// Command genseeds writes the fuzz seed corpora under artifacts/testdata/fuzz/ from the
// recorded inputs. Run from the module root: go run ./artifacts/testdata/genseeds
package main

import (
	"archive/zip"
	"crypto/sha256"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const (
	root  = "artifacts/testdata"
	input = root + "/input"
)

// seed is one corpus entry: the fuzz function's arguments, in order.
type seed []any

func main() {
	corpora := map[string][]seed{}
	// A few checkpoints: quoted as Go strings they take four times their size.
	pts := []string{
		"good/fp16/checkpoint-2.pt", "good/dtypes/checkpoint-1.pt", "good/archive/checkpoint-1.pt",
		"broken/notdict/checkpoint-1.pt", "broken/legacy/checkpoint-1.pt", "broken/twotops/checkpoint-1.pt",
	}
	for _, p := range pts {
		p = input + "/checkpoints/" + p
		data := read(p)
		corpora["FuzzReadCheckpoint"] = append(corpora["FuzzReadCheckpoint"], seed{data})
		if pkl := dataPKL(p); pkl != nil {
			corpora["FuzzDecodePayload"] = append(corpora["FuzzDecodePayload"], seed{pkl})
		}
	}
	pkls, err := filepath.Glob(input + "/pickles/*.pkl")
	check(err)
	sort.Strings(pkls)
	for _, p := range pkls {
		corpora["FuzzDecodePayload"] = append(corpora["FuzzDecodePayload"], seed{read(p)})
	}
	manifest := read(input + "/run/run_manifest.json")
	corpora["FuzzReadManifest"] = []seed{
		{manifest},
		{[]byte(strings.Replace(string(manifest), `"schema_version": 1`, `"schema_version": 2`, 1))},
		{[]byte(strings.Replace(string(manifest), `"seed": 123`, `"seed": 1.5`, 1))},
		{read(input + "/run/env.json")},
		{[]byte(`{"schema_version": 1}`)},
		{[]byte(`[]`)},
	}
	prefix := "2025-01-01 00:00:00,000 - "
	corpora["FuzzScanLog"] = []seed{
		{[]byte(prefix + "INFO - training precision: fp32\n" + prefix + "INFO - step=1 loss=0.123456\n" +
			prefix + "INFO - training completed: global_step=2\n"), uint8(7)},
		{[]byte("step=1 loss=nan\nstep=2 loss=-inf\nloss=NaN\r\nloss=nano\n"), uint8(3)},
		{[]byte(prefix + "WARNING - bf16 not supported on this CUDA device; falling back to fp32\n" +
			"/x.py:1: UserWarning: w\n  warnings.warn(\n"), uint8(1)},
		{[]byte("Traceback (most recent call last):\n  File \"a.py\", line 1\n    x()\n\nKeyError: 'x'\n"), uint8(40)},
		{[]byte(" 50%|###  | 1/2\r\xff\xfe loss=inf\r"), uint8(0)},
	}
	corpora["FuzzRedactor"] = []seed{
		{"hf_abcdefghijklmnop", "hunter22", []byte("token hf_abcdefghijklmnop and hunter22"), uint16(9), uint16(5)},
		{"abcd", "abcdef", []byte("abcdefg abcd abc"), uint16(3), uint16(2)},
		{"abcd", "cdef", []byte("abcdef"), uint16(2), uint16(2)},
		{"aaaa", "aaab", []byte("aaaaaaab"), uint16(5), uint16(1)},
		{"abc", "[REDACTED:A_TOKEN]", []byte("x"), uint16(0), uint16(0)},
	}
	for name, seeds := range corpora {
		dir := filepath.Join(root, "fuzz", name)
		check(os.RemoveAll(dir))
		check(os.MkdirAll(dir, 0o755))
		for _, s := range seeds {
			text := encode(s)
			sum := sha256.Sum256([]byte(text))
			check(os.WriteFile(filepath.Join(dir, fmt.Sprintf("%x", sum[:8])), []byte(text), 0o644))
		}
		fmt.Printf("%-20s %d seeds\n", name, len(seeds))
	}
}

// encode writes a seed in go test's corpus file format.
func encode(s seed) string {
	var b strings.Builder
	b.WriteString("go test fuzz v1\n")
	for _, v := range s {
		switch t := v.(type) {
		case []byte:
			fmt.Fprintf(&b, "[]byte(%q)\n", t)
		case string:
			fmt.Fprintf(&b, "string(%q)\n", t)
		case uint8:
			fmt.Fprintf(&b, "byte(%q)\n", t)
		case uint16:
			fmt.Fprintf(&b, "uint16(%v)\n", t)
		default:
			log.Fatalf("unsupported seed type %T", v)
		}
	}
	return b.String()
}

func dataPKL(path string) []byte {
	zr, err := zip.OpenReader(path)
	if err != nil {
		return nil
	}
	defer zr.Close()
	for _, f := range zr.File {
		if strings.HasSuffix(f.Name, "/data.pkl") {
			rc, err := f.Open()
			if err != nil {
				return nil
			}
			defer rc.Close()
			data, err := io.ReadAll(rc)
			if err != nil {
				return nil
			}
			return data
		}
	}
	return nil
}

func read(p string) []byte {
	data, err := os.ReadFile(p)
	check(err)
	return data
}

func check(err error) {
	if err != nil {
		log.Fatal(err)
	}
}
