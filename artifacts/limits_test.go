package artifacts

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// sparse makes p a file of size bytes that starts with head, without writing the rest (a hole).
func sparse(t *testing.T, p, head string, size int64) {
	t.Helper()
	writeFile(t, p, head)
	require.NoError(t, os.Truncate(p, size))
}

func tooLargeErr(p string, limit int64) string {
	return fmt.Sprintf("read %s: larger than %d bytes, the most the harness reads of it", p, limit)
}

// Every file the harness parses is read no further than its limit: one byte over is an error of
// one line that names the file and the limit, whichever check reads it.
func TestBoundedReads(t *testing.T) {
	t.Run("env.json", func(t *testing.T) {
		w := newWorkspace(t)
		sparse(t, w.env, readFile(t, w.env), MaxEnvJSONBytes+1)
		_, err := ReadEnvJSON(w.env)
		require.EqualError(t, err, tooLargeErr(w.env, MaxEnvJSONBytes))
		require.EqualError(t, checkManifest(w.manifest, w.out, w.source, nil), tooLargeErr(w.env, MaxEnvJSONBytes), "read beside the manifest")
	})
	t.Run("run_manifest.json", func(t *testing.T) {
		w := newWorkspace(t)
		sparse(t, w.manifest, readFile(t, w.manifest), MaxManifestBytes+1)
		require.EqualError(t, checkManifest(w.manifest, w.out, w.source, nil), tooLargeErr(w.manifest, MaxManifestBytes))
	})
	t.Run("config.resolved.yaml", func(t *testing.T) {
		w := newWorkspace(t)
		sparse(t, w.resolved, readFile(t, w.resolved), MaxConfigBytes+1)
		_, err := CheckResolvedConfig(w.resolved, w.source, Expect{})
		require.EqualError(t, err, tooLargeErr(w.resolved, MaxConfigBytes))
		require.EqualError(t, checkManifest(w.manifest, w.out, w.source, nil), tooLargeErr(w.resolved, MaxConfigBytes))
	})
	t.Run("the source config", func(t *testing.T) {
		w := newWorkspace(t)
		sparse(t, w.source, readFile(t, w.source)+"\n# ", MaxConfigBytes+1)
		_, err := CheckResolvedConfig(w.resolved, w.source, Expect{})
		require.EqualError(t, err, tooLargeErr(w.source, MaxConfigBytes))
		_, err = ConfigString(w.source, "train.precision")
		require.EqualError(t, err, tooLargeErr(w.source, MaxConfigBytes))
		require.EqualError(t, SetPrecision(w.source, filepath.Join(w.out, "smoke_fp16.yaml"), "fp16"), tooLargeErr(w.source, MaxConfigBytes))
		_, err = ExpectFor(ParseCommand(nil), w.source)
		require.EqualError(t, err, tooLargeErr(w.source, MaxConfigBytes))
	})
	t.Run("a file just at the limit is read", func(t *testing.T) {
		w := newWorkspace(t)
		head := readFile(t, w.env)
		writeFile(t, w.env, head+strings.Repeat(" ", MaxEnvJSONBytes-len(head)))
		_, err := ReadEnvJSON(w.env)
		require.NoError(t, err)
	})
	t.Run("metadata.jsonl", func(t *testing.T) {
		dir := t.TempDir()
		writeDataset(t, dir, 4, 64)
		meta := filepath.Join(dir, MetadataFile)
		sparse(t, meta, readFile(t, meta), MaxMetadataBytes+1)
		require.EqualError(t, CheckDataset(dir, 4, 64), tooLargeErr(meta, MaxMetadataBytes))
	})
}

// A PNG is read no further than MaxPNGHeaderBytes for its size: a paletted image whose PLTE comes
// after a huge chunk is refused, not read to its end.
func TestCheckDataset_PNGHeaderBound(t *testing.T) {
	dir := t.TempDir()
	writeDataset(t, dir, 1, 64)
	chunk := func(typ string, data []byte, length uint32) []byte {
		var b bytes.Buffer
		binary.Write(&b, binary.BigEndian, length)
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return b.Bytes()
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], 64)
	binary.BigEndian.PutUint32(ihdr[4:], 64)
	ihdr[8], ihdr[9] = 8, 3 // 8 bits, paletted
	head := append([]byte("\x89PNG\r\n\x1a\n"), chunk("IHDR", ihdr, 13)...)
	huge := append(head, chunk("tEXt", nil, 2*MaxPNGHeaderBytes)[:8]...) // the length and type only
	p := filepath.Join(dir, "00000.png")
	sparse(t, p, string(huge), int64(len(huge))+2*MaxPNGHeaderBytes+4)
	require.EqualError(t, CheckDataset(dir, 1, 64), p+": not a PNG: no complete header in its first 1048576 bytes, the most the harness reads of it")
}

// The dataset directory is listed in batches: many files cost no memory beyond the names kept.
func TestCheckDataset_ManyFiles(t *testing.T) {
	dir := t.TempDir()
	writeDataset(t, dir, 4, 64)
	for i := range 3000 {
		writeFile(t, filepath.Join(dir, fmt.Sprintf("extra-%d.txt", i)), "")
	}
	require.NoError(t, CheckDataset(dir, 4, 64))
	for i := 4; i < 1100; i++ {
		writePNG(t, filepath.Join(dir, fmt.Sprintf("%05d.png", i)), 1, 1)
	}
	require.EqualError(t, CheckDataset(dir, 4, 64), fmt.Sprintf("check dataset %s: 1100 PNG files, want 4", dir))
}

// A checkpoint whose zip central directory claims more than MaxZipDirectoryBytes is refused from
// its end records, before archive/zip reads the directory into memory; zip64 records included.
func TestReadCheckpoint_ZipDirectoryBound(t *testing.T) {
	eocd := func(entries uint16, size, off uint32) []byte {
		b := make([]byte, 22)
		binary.LittleEndian.PutUint32(b, 0x06054b50)
		binary.LittleEndian.PutUint16(b[8:], entries)
		binary.LittleEndian.PutUint16(b[10:], entries)
		binary.LittleEndian.PutUint32(b[12:], size)
		binary.LittleEndian.PutUint32(b[16:], off)
		return b
	}
	over := uint64(MaxZipDirectoryBytes + 1)
	plain := append(bytes.Repeat([]byte{0}, 100), eocd(10, uint32(over), 0)...)
	_, err := ReadCheckpointFrom("checkpoint-1.pt", bytes.NewReader(plain), int64(len(plain)))
	require.EqualError(t, err, fmt.Sprintf("checkpoint-1.pt: a zip central directory of %d bytes, over the %d-byte limit the harness reads", over, MaxZipDirectoryBytes))

	z64 := make([]byte, 56)
	binary.LittleEndian.PutUint32(z64, 0x06064b50)
	binary.LittleEndian.PutUint64(z64[32:], 1<<30)
	binary.LittleEndian.PutUint64(z64[40:], 1<<40)
	loc := make([]byte, 20)
	binary.LittleEndian.PutUint32(loc, 0x07064b50)
	binary.LittleEndian.PutUint64(loc[8:], 100)
	zip64 := append(append(append(bytes.Repeat([]byte{0}, 100), z64...), loc...), eocd(0xffff, 0xffffffff, 0xffffffff)...)
	_, err = ReadCheckpointFrom("checkpoint-2.pt", bytes.NewReader(zip64), int64(len(zip64)))
	require.EqualError(t, err, fmt.Sprintf("checkpoint-2.pt: a zip central directory of %d bytes, over the %d-byte limit the harness reads", uint64(1<<40), MaxZipDirectoryBytes))
}

// A pickle of more than MaxPickleOps opcodes is refused before gopickle decodes it: 64 MiB of
// empty dicts once took 14 GB and 49 s.
func TestDecodePayload_OpcodeBound(t *testing.T) {
	data := append(append([]byte("\x80\x02]("), bytes.Repeat([]byte("}"), MaxPickleOps)...), "e."...)
	_, err := DecodePayload(data)
	require.EqualError(t, err, fmt.Sprintf("pickle: more than %d opcodes, the most the harness decodes", MaxPickleOps))
}
