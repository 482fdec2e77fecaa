package evidence

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// WriteSums seals out: SHA256SUMS lists the sha256 of every regular file under out, hashed
// whole, but itself and the Unsealed entries, in sha256sum's format ("<hex>  <path>", paths
// relative to out with '/', sorted; a name with '\n' or '\\' is escaped and its line starts with
// '\\', as GNU sha256sum does), so `sha256sum -c SHA256SUMS` run in out verifies it.
//
// What cannot be hashed whole is listed in SpecialsFile instead, one line each (special), and
// SHA256SUMS covers that list: a symlink with its target (never followed, wherever it leads, or
// if it leads nowhere), a FIFO, a socket or a device by its kind (never opened), and a file
// sparse beyond SparseHashBytes with the sha256 of its first bytes (HashBounded). Nothing is
// opened but a regular file, and nothing blocks. SpecialsFile exists only when it lists something.
//
// skip names files (relative to out) left out of it: the suite seals its run without
// gotestsum's junit.xml and go-test.json, which gotestsum is still writing.
func WriteSums(out string, skip ...string) error {
	files, specials, err := listEntries(out)
	if err != nil {
		return fmt.Errorf("write %s: %w", SumsFile, err)
	}
	sums := map[string]string{}
	for _, rel := range files {
		if slices.Contains(skip, rel) || rel == SpecialsFile {
			continue
		}
		sum, _, err := HashFile(filepath.Join(out, filepath.FromSlash(rel)))
		if err != nil {
			return fmt.Errorf("write %s: %w", SumsFile, err)
		}
		sums[rel] = sum
	}
	return sealEntries(out, sums, specials)
}

// sealEntries writes SpecialsFile (or removes it when there is nothing to list) and SHA256SUMS:
// sums (relative path → hex sha256) and SpecialsFile's own hash.
func sealEntries(out string, sums map[string]string, specials []special) error {
	specialsPath := filepath.Join(out, SpecialsFile)
	delete(sums, SpecialsFile)
	if len(specials) > 0 {
		var sp strings.Builder
		sp.WriteString(specialsHeader)
		for _, s := range specials {
			sp.WriteString(s.line + "\n")
		}
		if err := WriteFileAtomic(specialsPath, []byte(sp.String()), 0o644); err != nil {
			return err
		}
		sum, _, err := HashFile(specialsPath)
		if err != nil {
			return fmt.Errorf("write %s: %w", SumsFile, err)
		}
		sums[SpecialsFile] = sum
	} else if err := os.Remove(specialsPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("write %s: %w", SumsFile, err)
	}
	return writeSumsFile(out, sums)
}

// Reseal adds to the seal of out, which CheckSealed has just accepted, the regular files named
// (relative to out) as they are now, and drops those of them that are gone: the renderer's
// documents and gotestsum's files, written after the suite sealed its run. The rest keeps the
// suite's hashes. A directory the suite never sealed is sealed whole (WriteSums).
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

// specialsHeader opens SpecialsFile.
const specialsHeader = "# What the seal did not hash whole (SHA256SUMS covers this list): symlinks, never followed;\n" +
	"# FIFOs, sockets and devices, never opened; sparse files, hashed over their first bytes only.\n"

// special is an entry of the evidence that SHA256SUMS does not hash whole, as SpecialsFile lists
// it: `symlink "<path>" -> "<target>"`, `fifo "<path>"` (socket, device, other), or
// `sparse "<path>" size <n> allocated <n> sha256 <hex> of its first <n> bytes`; paths and
// targets are Go-quoted (strconv.Quote), so each is one line whatever its bytes.
type special struct {
	Path string // relative to the evidence directory, with '/'
	line string
}

// listEntries walks root without following a symlink and returns its regular files hashed whole
// (relative with '/', sorted) and, sorted by path, what the seal lists instead (special). The
// Unsealed entries and SHA256SUMS are left out.
func listEntries(root string) (files []string, specials []special, err error) {
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		if slices.Contains(Unsealed, rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() || rel == SumsFile {
			return nil
		}
		s, special, err := specialOf(p, rel, d)
		if err != nil {
			return err
		}
		if special {
			specials = append(specials, s)
		} else {
			files = append(files, rel)
		}
		return nil
	})
	sort.Strings(files)
	sort.Slice(specials, func(i, j int) bool { return specials[i].Path < specials[j].Path })
	return files, specials, err
}

// specialOf says what the seal lists for the entry p (rel) instead of hashing it, if anything.
func specialOf(p, rel string, d fs.DirEntry) (special, bool, error) {
	s := special{Path: rel}
	switch t := d.Type(); {
	case t&fs.ModeSymlink != 0:
		target, err := os.Readlink(p)
		if err != nil {
			return s, false, fmt.Errorf("read link %s: %w", p, err)
		}
		s.line = fmt.Sprintf("symlink %s -> %s", strconv.Quote(rel), strconv.Quote(target))
	case !t.IsRegular():
		fi, err := d.Info()
		if err != nil {
			return s, false, err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		kind := "other"
		if st != nil {
			kind = kindOf(st.Mode)
		}
		s.line = fmt.Sprintf("%s %s", kind, strconv.Quote(rel))
	default:
		fi, err := d.Info()
		if err != nil {
			return s, false, err
		}
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st == nil || fi.Size() <= max(st.Blocks*512, SparseHashBytes) {
			return s, false, nil // hashed whole
		}
		dg, err := HashBounded(p)
		if err != nil {
			return s, false, err
		}
		s.line = fmt.Sprintf("sparse %s size %d allocated %d sha256 %s of its first %d bytes", strconv.Quote(rel), dg.Size, dg.Allocated, dg.SHA256, dg.Hashed)
	}
	return s, true, nil
}

// readSpecials reads SpecialsFile (none when it is absent), keyed by path.
func readSpecials(out string) (map[string]string, error) {
	p := filepath.Join(out, SpecialsFile)
	b, err := ReadFileLimit(p, 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, err
	}
	want := map[string]string{}
	for i, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		_, rest, _ := strings.Cut(line, " ")
		q, err := strconv.QuotedPrefix(rest)
		if err != nil {
			return nil, fmt.Errorf("%s: line %d: want a kind and a quoted path", p, i+1)
		}
		rel, _ := strconv.Unquote(q)
		want[rel] = line
	}
	return want, nil
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
	have, specials, err := listEntries(out)
	if err != nil {
		return fmt.Errorf("verify sums: %w", err)
	}
	e := &SumsError{Dir: out}
	if err := verifySpecials(out, specials, e); err != nil {
		return fmt.Errorf("verify sums: %w", err)
	}
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
	for _, l := range [][]string{e.Mismatched, e.Missing, e.Extra} {
		sort.Strings(l)
	}
	if len(e.Mismatched)+len(e.Missing)+len(e.Extra) > 0 {
		return e
	}
	return nil
}

// verifySpecials compares what the evidence holds that the seal does not hash whole with
// SpecialsFile, and adds each difference to e.
func verifySpecials(out string, specials []special, e *SumsError) error {
	want, err := readSpecials(out)
	if err != nil {
		return err
	}
	for _, s := range specials {
		line, ok := want[s.Path]
		switch {
		case !ok:
			e.Extra = append(e.Extra, s.Path)
		case line != s.line:
			e.Mismatched = append(e.Mismatched, s.Path)
		}
		delete(want, s.Path)
	}
	for rel := range want {
		e.Missing = append(e.Missing, rel)
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
			if !slices.Contains(f.skip, rel) {
				return fmt.Errorf("%s: %s %s since the run sealed it (%s): not rendering it again; `make verify` lists every difference",
					out, rel, f.what, SumsFile)
			}
		}
	}
	return nil
}
