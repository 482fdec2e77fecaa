package artifacts

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/difftrain/gpusmoke/evidence"
)

// Limits on the files the harness parses, so that whatever difftrain writes, checking it costs
// bounded memory and time (the suite's peak RSS stays under 256 MiB; a 2 GiB env.json once took
// it to 14.7 GB). A larger file is an error of one line that names the file and the limit
// (evidence.ReadFileLimit: "read <path>: larger than <limit> bytes, the most the harness reads
// of it"). Each limit is far above what a real run writes. Logs are streamed line by line and
// need none.
const (
	// MaxEnvJSONBytes bounds env.json: a real one is about 1 KB, and some 150 bytes more per GPU.
	MaxEnvJSONBytes = 1 << 20
	// MaxManifestBytes bounds run_manifest.json: a real one is about 4 KB. It embeds env.json
	// and the resolved config, so it may be as large as both.
	MaxManifestBytes = 4 << 20
	// MaxConfigBytes bounds config.resolved.yaml and the source config it was resolved from: a
	// real one is about 1 KB.
	MaxConfigBytes = 1 << 20
	// MaxMetadataBytes bounds metadata.jsonl: a record of about 60 bytes per image.
	MaxMetadataBytes = 64 << 20
	// MaxPNGHeaderBytes is the most the dataset check reads of a PNG for its size: the signature
	// and the IHDR chunk are its first 33 bytes (a paletted image's PLTE may come after other
	// chunks, such as an ICC profile).
	MaxPNGHeaderBytes = 1 << 20
	// MaxZipDirectoryBytes bounds a checkpoint's zip central directory, which archive/zip holds
	// in memory whole (some 300 bytes of memory per entry): an entry is about 100 bytes of it, and
	// a Stable Diffusion UNet's checkpoint with its optimizer state and EMA has a few thousand.
	MaxZipDirectoryBytes = 4 << 20
)

// readErr is the error of reading a file for what: a file over its limit is the
// *evidence.TooLarge as it is, another error is os's, after what.
func readErr(what string, err error) error {
	var tl *evidence.TooLarge
	var pe *fs.PathError
	switch {
	case errors.As(err, &tl):
		return tl
	case errors.As(err, &pe):
		return fmt.Errorf("%s: %w", what, pe)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// zipDirectorySize reads the size of a zip archive's central directory from its end records
// (zip64 included), without reading the directory. ok is false when it finds no end record, for
// archive/zip to report.
func zipDirectorySize(r io.ReaderAt, size int64) (dir uint64, ok bool) {
	const eocdLen, maxComment = 22, 65535
	n := min(size, eocdLen+maxComment)
	if n < eocdLen {
		return 0, false
	}
	buf := make([]byte, n)
	if _, err := r.ReadAt(buf, size-n); err != nil && err != io.EOF {
		return 0, false
	}
	at := -1
	for i := len(buf) - eocdLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == 0x06054b50 {
			at = i
			break
		}
	}
	if at < 0 {
		return 0, false
	}
	eocd := buf[at:]
	entries, dirSize, dirOff := binary.LittleEndian.Uint16(eocd[10:]), binary.LittleEndian.Uint32(eocd[12:]), binary.LittleEndian.Uint32(eocd[16:])
	if entries != 0xffff && dirSize != 0xffffffff && dirOff != 0xffffffff {
		return uint64(dirSize), true
	}
	// zip64: the locator is the 20 bytes before the end record; it points at the zip64 end record.
	loc := size - n + int64(at) - 20
	if loc < 0 {
		return uint64(dirSize), true
	}
	var l [20]byte
	if _, err := r.ReadAt(l[:], loc); err != nil || binary.LittleEndian.Uint32(l[:]) != 0x07064b50 {
		return uint64(dirSize), true
	}
	off := binary.LittleEndian.Uint64(l[8:])
	var z [56]byte
	if off > uint64(size) || off+56 > uint64(size) {
		return 0, false
	}
	if _, err := r.ReadAt(z[:], int64(off)); err != nil || binary.LittleEndian.Uint32(z[:]) != 0x06064b50 {
		return 0, false
	}
	return binary.LittleEndian.Uint64(z[40:]), true
}

// checkZipDirectory refuses an archive whose central directory is over MaxZipDirectoryBytes.
func checkZipDirectory(name string, r io.ReaderAt, size int64) error {
	if dir, ok := zipDirectorySize(r, size); ok && dir > MaxZipDirectoryBytes {
		return fmt.Errorf("%s: a zip central directory of %d bytes, over the %d-byte limit the harness reads", name, dir, MaxZipDirectoryBytes)
	}
	return nil
}
