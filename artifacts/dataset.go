package artifacts

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"image/png"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// MetadataFile is the captions file of an ImageFolder dataset.
const MetadataFile = "metadata.jsonl"

// CheckDataset checks the dummy ImageFolder dataset of runbook step 2: dir holds exactly n
// PNG files, each size×size, and metadata.jsonl has n records {"file_name", "text"} (both
// strings) naming exactly those files, each once. Blank lines in metadata.jsonl are skipped;
// other files in dir are allowed. Memory stays bounded whatever dir holds: the directory is
// listed in batches, keeping only the first n+1 PNG names; a PNG is read no further than its
// header (MaxPNGHeaderBytes); metadata.jsonl is streamed (MaxMetadataBytes).
func CheckDataset(dir string, n, size int) error {
	names, count, err := listPNGs(dir, n+1)
	if err != nil {
		return fmt.Errorf("check dataset: %w", err)
	}
	if count != n {
		return fmt.Errorf("check dataset %s: %d PNG files, want %d", dir, count, n)
	}
	pngs := map[string]bool{}
	for _, name := range names {
		pngs[name] = true
	}
	for _, name := range names {
		if err := checkPNG(filepath.Join(dir, name), size); err != nil {
			return err
		}
	}
	meta := filepath.Join(dir, MetadataFile)
	f, err := os.Open(meta)
	if err != nil {
		return fmt.Errorf("check dataset: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > MaxMetadataBytes {
		return &evidence.TooLarge{Path: meta, Limit: MaxMetadataBytes}
	}
	seen := map[string]int{}
	r := bufio.NewReader(io.LimitReader(f, MaxMetadataBytes))
	records := 0
	for line := 1; ; line++ {
		text, err := readLineLimited(r, 1<<20)
		if len(bytes.TrimSpace(text)) > 0 {
			records++
			name, perr := parseMetadataRecord(text)
			if perr != nil {
				return fmt.Errorf("%s: line %d: %v", meta, line, perr)
			}
			if !pngs[name] {
				return fmt.Errorf("%s: line %d: file_name: %q is not a PNG in %s", meta, line, name, dir)
			}
			if prev, dup := seen[name]; dup {
				return fmt.Errorf("%s: line %d: file_name: %q already named on line %d", meta, line, name, prev)
			}
			seen[name] = line
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("%s: line %d: %v", meta, line, err)
		}
	}
	if records != n {
		return fmt.Errorf("%s: %d records, want %d", meta, records, n)
	}
	return nil
}

func parseMetadataRecord(line []byte) (string, error) {
	v, err := decodeJSON(line)
	if err != nil {
		return "", fmt.Errorf("not JSON: %v", err)
	}
	m, ok := v.(map[string]any)
	if !ok {
		return "", fmt.Errorf("want a JSON object, got %s", typeName(v))
	}
	for _, k := range []string{"file_name", "text"} {
		f, ok := m[k]
		if !ok {
			return "", fmt.Errorf("%s: missing", k)
		}
		if _, ok := f.(string); !ok {
			return "", fmt.Errorf("%s: want string, got %s", k, typeName(f))
		}
	}
	return m["file_name"].(string), nil
}

// listPNGs lists the regular files named *.png in dir, sorted, keeping at most keep names, and
// counts them all.
func listPNGs(dir string, keep int) ([]string, int, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, 0, err
	}
	defer d.Close()
	var names []string
	count := 0
	for {
		batch, err := d.ReadDir(1024)
		for _, e := range batch {
			if e.Type().IsRegular() && strings.EqualFold(filepath.Ext(e.Name()), ".png") {
				count++
				if len(names) < keep {
					names = append(names, e.Name())
				}
			}
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, 0, fmt.Errorf("list %s: %w", dir, err)
		}
	}
	sort.Strings(names)
	return names, count, nil
}

func checkPNG(path string, size int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("check dataset: %w", err)
	}
	defer f.Close()
	lr := &io.LimitedReader{R: f, N: MaxPNGHeaderBytes}
	cfg, err := png.DecodeConfig(lr)
	if err != nil && lr.N == 0 {
		return fmt.Errorf("%s: not a PNG: no complete header in its first %d bytes, the most the harness reads of it", path, MaxPNGHeaderBytes)
	}
	if err != nil {
		return fmt.Errorf("%s: not a PNG: %v", path, err)
	}
	if cfg.Width != size || cfg.Height != size {
		return fmt.Errorf("%s: size: %dx%d, want %dx%d", path, cfg.Width, cfg.Height, size, size)
	}
	return nil
}

// readLineLimited reads one line (without its '\n'); a longer line than limit is an error.
// It returns io.EOF with the last line when the input ends.
func readLineLimited(r *bufio.Reader, limit int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := r.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > limit {
			return nil, fmt.Errorf("line longer than %d bytes", limit)
		}
		if err == bufio.ErrBufferFull {
			continue
		}
		return bytes.TrimRight(line, "\r\n"), err
	}
}
