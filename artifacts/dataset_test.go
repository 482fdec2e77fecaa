package artifacts

import (
	"fmt"
	"image"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// writeDataset writes what make_dummy_imagefolder.py writes: n size×size PNGs and metadata.jsonl.
func writeDataset(t *testing.T, dir string, n, size int) {
	t.Helper()
	var meta strings.Builder
	for i := range n {
		name := fmt.Sprintf("%05d.png", i)
		writePNG(t, filepath.Join(dir, name), size, size)
		fmt.Fprintf(&meta, "{\"file_name\": %q, \"text\": \"dummy caption %d\"}\n", name, i)
	}
	writeFile(t, filepath.Join(dir, MetadataFile), meta.String())
}

func writePNG(t *testing.T, path string, w, h int) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	f, err := os.Create(path)
	require.NoError(t, err)
	defer f.Close()
	require.NoError(t, png.Encode(f, image.NewRGBA(image.Rect(0, 0, w, h))))
}

func TestCheckDataset(t *testing.T) {
	type testCase struct {
		name    string
		breakIt func(t *testing.T, dir string)
		wantErr string // @D is the dataset dir
	}
	meta := func(content string) func(*testing.T, string) {
		return func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, MetadataFile), content) }
	}
	run := func(t *testing.T, tc testCase) {
		dir := t.TempDir()
		writeDataset(t, dir, 4, 64)
		if tc.breakIt != nil {
			tc.breakIt(t, dir)
		}
		err := CheckDataset(dir, 4, 64)
		if tc.wantErr == "" {
			require.NoError(t, err)
			return
		}
		require.EqualError(t, err, strings.ReplaceAll(tc.wantErr, "@D", dir))
	}
	rec := func(i int) string { return fmt.Sprintf(`{"file_name": "%05d.png", "text": "c"}`, i) }
	for _, tc := range []testCase{
		{name: "as make_dummy_imagefolder writes it"},
		{name: "blank lines and other files are fine", breakIt: func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, "README.txt"), "x")
			meta("\n"+rec(0)+"\n\n"+rec(1)+"\r\n"+rec(2)+"\n"+rec(3))(t, dir)
		}},
		{name: "one PNG too few", breakIt: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "00003.png"))) },
			wantErr: "check dataset @D: 3 PNG files, want 4"},
		{name: "wrong size", breakIt: func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "00001.png"), 64, 32) },
			wantErr: "@D/00001.png: size: 64x32, want 64x64"},
		{name: "not a PNG", breakIt: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, "00002.png"), "GIF89a, not a PNG") },
			wantErr: "@D/00002.png: not a PNG: png: invalid format: not a PNG file"},
		{name: "metadata missing", breakIt: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, MetadataFile))) },
			wantErr: "check dataset: open @D/metadata.jsonl: no such file or directory"},
		{name: "record without text", breakIt: meta(rec(0) + "\n" + `{"file_name": "00001.png"}` + "\n"),
			wantErr: "@D/metadata.jsonl: line 2: text: missing"},
		{name: "text a number", breakIt: meta(`{"file_name": "00000.png", "text": 3}` + "\n"),
			wantErr: "@D/metadata.jsonl: line 1: text: want string, got number"},
		{name: "not JSON", breakIt: meta("{\n"),
			wantErr: "@D/metadata.jsonl: line 1: not JSON: unexpected EOF"},
		{name: "a list", breakIt: meta("[]\n"),
			wantErr: "@D/metadata.jsonl: line 1: want a JSON object, got list"},
		{name: "names a missing file", breakIt: meta(rec(0) + "\n" + rec(9) + "\n"),
			wantErr: `@D/metadata.jsonl: line 2: file_name: "00009.png" is not a PNG in @D`},
		{name: "names a file twice", breakIt: meta(rec(0) + "\n" + rec(1) + "\n" + rec(0) + "\n"),
			wantErr: `@D/metadata.jsonl: line 3: file_name: "00000.png" already named on line 1`},
		{name: "too few records", breakIt: meta(rec(0) + "\n" + rec(1) + "\n"),
			wantErr: "@D/metadata.jsonl: 2 records, want 4"},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
	require.ErrorContains(t, CheckDataset(filepath.Join(t.TempDir(), "nope"), 4, 64), "nope")
}

// The checks that reject a dataset, asserted on what they do (an error naming what is wrong),
// not only on their wording.
func TestCheckDatasetRejects(t *testing.T) {
	type testCase struct {
		name    string
		breakIt func(t *testing.T, dir string)
		names   []string // what the error must name; @D is the dataset dir
	}
	run := func(t *testing.T, tc testCase) {
		dir := t.TempDir()
		writeDataset(t, dir, 4, 64)
		tc.breakIt(t, dir)
		err := CheckDataset(dir, 4, 64)
		require.Error(t, err)
		for _, name := range tc.names {
			require.ErrorContains(t, err, strings.ReplaceAll(name, "@D", dir))
		}
	}
	for _, tc := range []testCase{
		{name: "square but smaller than size", breakIt: func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "00001.png"), 32, 32) },
			names: []string{"@D/00001.png"}},
		{name: "square but larger than size", breakIt: func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "00002.png"), 128, 128) },
			names: []string{"@D/00002.png"}},
		{name: "3 PNGs where 4 are expected", breakIt: func(t *testing.T, dir string) { require.NoError(t, os.Remove(filepath.Join(dir, "00003.png"))) },
			names: []string{"@D"}},
		{name: "3 PNGs and 3 records where 4 are expected", breakIt: func(t *testing.T, dir string) {
			require.NoError(t, os.Remove(filepath.Join(dir, "00003.png")))
			writeDataset(t, dir, 3, 64)
		}, names: []string{"@D"}},
		{name: "5 PNGs where 4 are expected", breakIt: func(t *testing.T, dir string) { writePNG(t, filepath.Join(dir, "00004.png"), 64, 64) },
			names: []string{"@D"}},
		{name: "5 PNGs and 5 records where 4 are expected", breakIt: func(t *testing.T, dir string) { writeDataset(t, dir, 5, 64) },
			names: []string{"@D"}},
	} {
		t.Run(tc.name, func(t *testing.T) { run(t, tc) })
	}
}
