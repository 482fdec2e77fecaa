package evidence

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// WriteSums writes out/SHA256SUMS covering every file under out but itself and the Unsealed
// entries, in sha256sum's
// format ("<hex>  <path>", paths relative to out with '/', sorted; a name with '\n' or '\\'
// is escaped and its line starts with '\\', as GNU sha256sum does), so `sha256sum -c
// SHA256SUMS` run in out verifies it. Symlinks are hashed as what they point to.
//
// skip names files (relative to out) left out of it: the suite seals its run without
// gotestsum's junit.xml and go-test.json, which gotestsum is still writing.
func WriteSums(out string, skip ...string) error {
	files, err := listFiles(out)
	if err != nil {
		return fmt.Errorf("write %s: %w", SumsFile, err)
	}
	sums := map[string]string{}
	for _, rel := range files {
		if contains(skip, rel) {
			continue
		}
		sum, _, err := HashFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("write %s: %w", SumsFile, err)
		}
		sums[rel] = sum
	}
	return writeSumsFile(out, sums)
}

// Reseal adds to the seal of out, which CheckSealed has just accepted, the files named (relative
// to out) as they are now, and drops those of them that are gone: the renderer's documents and
// gotestsum's files, written after the suite sealed its run. The rest keeps the suite's hashes.
// A directory the suite never sealed is sealed whole (WriteSums).
func Reseal(out string, files ...string) error {
	sums, err := readSums(out)
	if errors.Is(err, fs.ErrNotExist) {
		return WriteSums(out)
	}
	if err != nil {
		return err
	}
	for _, rel := range files {
		sum, _, err := HashFile(filepath.Join(out, filepath.FromSlash(rel)))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			delete(sums, rel)
		case err != nil:
			return fmt.Errorf("write %s: %w", SumsFile, err)
		default:
			sums[rel] = sum
		}
	}
	return writeSumsFile(out, sums)
}

// writeSumsFile writes SHA256SUMS from sums (relative path → hex sha256), sorted by path.
func writeSumsFile(out string, sums map[string]string) error {
	paths := make([]string, 0, len(sums))
	for rel := range sums {
		paths = append(paths, rel)
	}
	sort.Strings(paths)
	var b strings.Builder
	for _, rel := range paths {
		if strings.ContainsAny(rel, "\n\\") {
			fmt.Fprintf(&b, "\\%s  %s\n", sums[rel], strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(rel))
		} else {
			fmt.Fprintf(&b, "%s  %s\n", sums[rel], rel)
		}
	}
	return WriteFileAtomic(filepath.Join(out, SumsFile), []byte(b.String()), 0o644)
}

// listFiles returns the files under root, relative with '/', sorted, without SHA256SUMS and
// the Unsealed entries.
func listFiles(root string) ([]string, error) {
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if contains(Unsealed, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || rel == SumsFile {
			return nil
		}
		if d.Type()&fs.ModeSymlink != 0 {
			st, err := os.Stat(p)
			if err != nil {
				return fmt.Errorf("symlink %s: %w", p, err)
			}
			if st.IsDir() {
				return nil // not followed: the files it leads to are not part of out
			}
		} else if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		files = append(files, rel)
		return nil
	})
	sort.Strings(files)
	return files, err
}

// SumsError is VerifySums' finding: the files that no longer match SHA256SUMS.
type SumsError struct {
	Dir        string
	Mismatched []string // hash differs
	Missing    []string // listed, not on disk
	Extra      []string // on disk, not listed
}

func (e *SumsError) Error() string {
	var parts []string
	for _, p := range []struct {
		what  string
		files []string
	}{{"mismatched", e.Mismatched}, {"missing", e.Missing}, {"extra", e.Extra}} {
		if len(p.files) > 0 {
			shown := p.files
			if len(shown) > 5 {
				shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(p.files)-5))
			}
			parts = append(parts, fmt.Sprintf("%d %s (%s)", len(p.files), p.what, strings.Join(shown, ", ")))
		}
	}
	return fmt.Sprintf("verify %s: %s", filepath.Join(e.Dir, SumsFile), strings.Join(parts, "; "))
}

// VerifySums re-hashes every file under out against out/SHA256SUMS. It returns a *SumsError
// listing mismatched, missing and extra files, or nil when all match.
func VerifySums(out string) error {
	want, err := readSums(out)
	if err != nil {
		return err
	}
	have, err := listFiles(out)
	if err != nil {
		return fmt.Errorf("verify sums: %w", err)
	}
	e := &SumsError{Dir: out}
	onDisk := map[string]bool{}
	for _, rel := range have {
		onDisk[rel] = true
		sum, ok := want[rel]
		if !ok {
			e.Extra = append(e.Extra, rel)
			continue
		}
		got, _, err := HashFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("verify sums: %w", err)
		}
		if got != sum {
			e.Mismatched = append(e.Mismatched, rel)
		}
	}
	for rel := range want {
		if !onDisk[rel] {
			e.Missing = append(e.Missing, rel)
		}
	}
	sort.Strings(e.Missing)
	if len(e.Mismatched)+len(e.Missing)+len(e.Extra) > 0 {
		return e
	}
	return nil
}

// readSums reads out/SHA256SUMS: relative path → hex sha256. Errors name the file and the line.
func readSums(out string) (map[string]string, error) {
	sumsPath := filepath.Join(out, SumsFile)
	f, err := os.Open(sumsPath)
	if err != nil {
		return nil, fmt.Errorf("verify sums: %w", err)
	}
	defer f.Close()
	want := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for line := 1; sc.Scan(); line++ {
		sum, rel, err := parseSumLine(sc.Text())
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: %v", sumsPath, line, err)
		}
		want[rel] = sum
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", sumsPath, err)
	}
	return want, nil
}

func parseSumLine(line string) (sum, rel string, err error) {
	escaped := strings.HasPrefix(line, `\`)
	if escaped {
		line = line[1:]
	}
	sum, rel, ok := strings.Cut(line, "  ")
	if !ok {
		sum, rel, ok = strings.Cut(line, " *") // binary-mode marker
	}
	if !ok || len(sum) != 64 || strings.Trim(strings.ToLower(sum), "0123456789abcdef") != "" || rel == "" {
		return "", "", errors.New(`want "<sha256>  <path>"`)
	}
	if escaped {
		rel = unescapeSumName(rel)
	}
	return strings.ToLower(sum), rel, nil
}

func unescapeSumName(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
			switch s[i] {
			case 'n':
				b.WriteByte('\n')
			default:
				b.WriteByte(s[i])
			}
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// CheckSealed refuses an evidence directory changed since it was sealed: a file SHA256SUMS
// lists that changed or is gone, or a file that appeared since, except the rendered Documents
// (rendering rewrites them) and gotestsum's junit.xml and go-test.json when the seal does not
// list them (the suite seals its run before gotestsum has written them). A directory never sealed passes. The error is one line naming
// the first such file.
func CheckSealed(out string) error {
	if _, err := os.Stat(filepath.Join(out, SumsFile)); os.IsNotExist(err) {
		return nil
	}
	err := VerifySums(out)
	var se *SumsError
	if !errors.As(err, &se) {
		return err
	}
	expected := append([]string{JUnitFile, JSONFile}, Documents...)
	for _, f := range []struct {
		what  string
		files []string
		skip  []string
	}{{"changed", se.Mismatched, Documents}, {"is gone", se.Missing, Documents}, {"appeared", se.Extra, expected}} {
		for _, rel := range f.files {
			if !contains(f.skip, rel) {
				return fmt.Errorf("%s: %s %s since the run sealed it (%s): not rendering it again; `make verify` lists every difference",
					out, rel, f.what, SumsFile)
			}
		}
	}
	return nil
}
