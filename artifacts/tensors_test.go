package artifacts

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// testDigests checks TensorDigests against checkpoints/digests.json under dir, which
// gen_fixtures.py wrote with torch: each tensor torch.load gives back, named by its path in the
// payload, with the SHA-256 of its values' bytes in row-major order.
func testDigests(t *testing.T, dir string) {
	data, err := os.ReadFile(filepath.Join(dir, "digests.json"))
	require.NoError(t, err)
	var want map[string][]TensorDigest
	require.NoError(t, json.Unmarshal(data, &want))
	require.Contains(t, want, "good/views/checkpoint-1.pt")
	for rel, tensors := range want {
		t.Run(rel, func(t *testing.T) {
			got, err := TensorDigests(filepath.Join(dir, rel))
			require.NoError(t, err)
			require.Equal(t, digestLines(tensors), digestLines(got))
		})
	}
}

// digestLines is one line per tensor, for a readable diff.
func digestLines(ds []TensorDigest) string {
	var b strings.Builder
	for _, d := range ds {
		fmt.Fprintf(&b, "%s %s %v %s\n", d.Name, d.DType, d.Shape, d.SHA256)
	}
	return b.String()
}

func TestTensorDigests_Recorded(t *testing.T) {
	testDigests(t, filepath.Join(input, "checkpoints"))
}

// spannedDigest is the digest of a Spanned view: its geometry, then the storage bytes it spans.
func spannedDigest(geometry string, storage []byte) string {
	sum := sha256.Sum256(append([]byte("spanned "+geometry+"\n"), storage...))
	return hex.EncodeToString(sum[:])
}

// A view that is not one run of its storage and spans more than maxViewSpan bytes is digested
// as what it spans; the others keep the digest of their values.
func TestTensorDigests_Spanned(t *testing.T) {
	const rel = "good/views/checkpoint-1.pt"
	var want map[string][]TensorDigest
	require.NoError(t, json.Unmarshal([]byte(readFile(t, filepath.Join(input, "checkpoints", "digests.json"))), &want))
	path := filepath.Join(input, "checkpoints", rel)
	withMaxViewSpan(t, 0)
	got, err := TensorDigests(path)
	require.NoError(t, err)
	require.Len(t, got, len(want[rel]))
	spanned := map[string]bool{"unet.strided": true, "unet.permuted": true, "unet.broadcast": true, "unet.half_columns": true}
	cube := entry(t, path, "checkpoint-1/data/0")
	require.Len(t, cube, 2*3*4*4, "unet.cube's storage")
	for i, d := range got {
		require.Equal(t, spanned[d.Name], d.Spanned, d.Name)
		if !d.Spanned {
			require.Equal(t, want[rel][i], d)
		}
	}
	// cube[:, 1:, 1::2] spans elements 5 to 23 of cube's storage; cube.permute(2, 0, 1), all 24.
	require.Equal(t, spannedDigest("offset=5 shape=[2 2 2] stride=[12 4 2]", cube[5*4:24*4]), got[1].SHA256)
	require.Equal(t, spannedDigest("offset=0 shape=[4 2 3] stride=[1 12 4]", cube), got[2].SHA256)
}

// withMaxViewSpan sets maxViewSpan for the test.
func withMaxViewSpan(t *testing.T, n int64) {
	old := maxViewSpan
	maxViewSpan = n
	t.Cleanup(func() { maxViewSpan = old })
}

// A view's digest is of its own values: equal values over another storage give the same digest,
// and views of one storage differ from it and from each other.
func TestTensorDigests_Views(t *testing.T) {
	got, err := TensorDigests(filepath.Join(input, "checkpoints", "good", "views", "checkpoint-1.pt"))
	require.NoError(t, err)
	by := map[string]TensorDigest{}
	for _, d := range got {
		by[d.Name] = d
	}
	require.Equal(t, by["unet.cube"].SHA256, by["unet.copy"].SHA256)
	seen := map[string]string{}
	for _, name := range []string{"unet.cube", "unet.strided", "unet.permuted", "unet.element", "unet.half", "unet.half_columns"} {
		require.NotContains(t, seen, by[name].SHA256, "%s has the digest of %s", name, seen[by[name].SHA256])
		seen[by[name].SHA256] = name
	}
	require.Equal(t, []int64{4, 2, 3}, by["unet.permuted"].Shape)
	require.Equal(t, "bfloat16", by["unet.half_columns"].DType)
}

// zipped writes a zip whose entries are name, data pairs, each stored (or deflated).
func zipped(t *testing.T, path string, deflate bool, entries ...string) {
	t.Helper()
	f, err := os.Create(path)
	require.NoError(t, err)
	zw := zip.NewWriter(f)
	for i := 0; i < len(entries); i += 2 {
		method := zip.Store
		if deflate && strings.Contains(entries[i], "/data/") {
			method = zip.Deflate
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: entries[i], Method: method})
		require.NoError(t, err)
		_, err = w.Write([]byte(entries[i+1]))
		require.NoError(t, err)
	}
	require.NoError(t, zw.Close())
	require.NoError(t, f.Close())
}

// entries lists a zip's entries as name, data pairs.
func entries(t *testing.T, path string) []string {
	zr, err := zip.OpenReader(path)
	require.NoError(t, err)
	defer zr.Close()
	var out []string
	for _, f := range zr.File {
		rc, err := f.Open()
		require.NoError(t, err)
		data, err := io.ReadAll(rc)
		rc.Close()
		require.NoError(t, err)
		out = append(out, f.Name, string(data))
	}
	return out
}

// entry is the zip entry name's bytes.
func entry(t *testing.T, path, name string) []byte {
	e := entries(t, path)
	for i := 0; i < len(e); i += 2 {
		if e[i] == name {
			return []byte(e[i+1])
		}
	}
	t.Fatalf("%s: no entry %s", path, name)
	return nil
}

func TestTensorDigests_Bad(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(input, "checkpoints", "good", "fp32", "checkpoint-1.pt")
	pickle := func(name string) string {
		data, err := os.ReadFile(filepath.Join(input, "pickles", name))
		require.NoError(t, err)
		return string(data)
	}
	deflated := filepath.Join(dir, "deflated", "checkpoint-1.pt")
	require.NoError(t, os.MkdirAll(filepath.Dir(deflated), 0o755))
	zipped(t, deflated, true, entries(t, good)...)
	cyclic := filepath.Join(dir, "cyclic.pt")
	zipped(t, cyclic, false, "cyclic/data.pkl", pickle("cyclic_unet.pkl"))
	laughs := filepath.Join(dir, "laughs.pt")
	zipped(t, laughs, false, "laughs/data.pkl", pickle("laughs_unet.pkl"))
	strided := filepath.Join(dir, "strided.pt")
	zipped(t, strided, false, "strided/data.pkl", pickle("strided_bomb.pkl"), "strided/data/0", strings.Repeat("\x00", 1<<20))
	bomb := filepath.Join(dir, "bomb.pt")
	zipped(t, bomb, false, "bomb/data.pkl", pickle("broadcast_bomb.pkl"), "bomb/data/0", "\x00\x00\x80\x3f")
	for _, tc := range []struct{ path, wantErr string }{
		{deflated, deflated + ": tensor unet.0.weight: checkpoint-1/data/0: compressed (zip method 8); torch.save stores tensor bytes uncompressed"},
		{cyclic, cyclic + ": unet: nested deeper than 100"},
		{laughs, laughs + ": unet: more than 1000000 values"},
		{bomb, bomb + ": tensor unet.w (shape [1099511627776]): hashing the tensors up to it reads more than "},
		{strided, strided + ": tensor unet.w"}, // one of w64 or so
		{strided, ": hashing the tensors up to it reads more than "},
		{filepath.Join(input, "checkpoints", "broken", "shortdata", "checkpoint-1.pt"), "checkpoint-1/data/0: 12 bytes, want 16 (4 float32 elements)"},
		{filepath.Join(input, "checkpoints", "broken", "missingdata", "checkpoint-1.pt"), "checkpoint-1/data/0: missing"},
		{filepath.Join(input, "checkpoints", "broken", "truncated", "checkpoint-1.pt"), "not a torch zip archive"},
		{filepath.Join(input, "checkpoints", "nope.pt"), "tensor digests: open " + filepath.Join(input, "checkpoints", "nope.pt")},
		{dir, "tensor digests " + dir + ": is a directory"},
	} {
		t.Run(filepath.Base(filepath.Dir(tc.path))+"/"+filepath.Base(tc.path), func(t *testing.T) {
			_, err := TensorDigests(tc.path)
			require.ErrorContains(t, err, tc.wantErr)
			require.NotContains(t, err.Error(), "\n")
		})
	}
}

// TensorDigests streams: hashing a checkpoint of 49 MiB of tensors (48 MiB contiguous, and a
// transposed view of a 1 MiB storage) allocates a small fraction of that, and with no view read
// at once, less again.
func TestTensorDigests_BoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skips running torch")
	}
	py := pythonWith(t, "torch")
	path := filepath.Join(t.TempDir(), "checkpoint-1.pt")
	script := `import sys, torch
g = torch.Generator().manual_seed(1)
big = torch.randn(12 << 20, generator=g)
square = torch.randn(512, 512, generator=g)
torch.save({"unet": {"big": big, "square_t": square.t()}}, sys.argv[1])`
	out, err := pythonCmd(py, "-c", script, path).CombinedOutput()
	require.NoError(t, err, "%s", out)
	check := `import sys, hashlib, torch
p = torch.load(sys.argv[1])["unet"]
print(hashlib.sha256(p["big"].numpy().tobytes()).hexdigest(), hashlib.sha256(p["square_t"].contiguous().numpy().tobytes()).hexdigest())`
	out, err = pythonCmd(py, "-c", check, path).Output()
	require.NoError(t, err)
	want := strings.Fields(string(out))

	square := entry(t, path, "checkpoint-1/data/1")
	require.Len(t, square, 512*512*4)
	for _, tc := range []struct {
		span, maxAlloc int64
		square         string
	}{
		{16 << 20, 4 << 20, want[1]},
		{0, 1 << 20, spannedDigest("offset=0 shape=[512 512] stride=[1 512]", square)}, // the transposed view is Spanned
	} {
		withMaxViewSpan(t, tc.span)
		var got []TensorDigest
		n := allocated(func() { got, err = TensorDigests(path) })
		require.NoError(t, err)
		require.Len(t, got, 2)
		require.Equal(t, []int64{512, 512}, got[1].Shape)
		require.Less(t, n, uint64(tc.maxAlloc), "bytes allocated while hashing 49 MiB, maxViewSpan %d", tc.span)
		require.Equal(t, []string{want[0], tc.square}, []string{got[0].SHA256, got[1].SHA256})
	}
}
