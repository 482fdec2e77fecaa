package evidence

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
)

// TailLines is how many lines of a failed step's log the failure text, the checklist and
// junit.xml's <system-out> show.
const TailLines = 40

// tailWindow is how much of the end of a log Tail reads, so that a huge log costs no more than
// a small one.
const tailWindow = 1 << 20

// tailLineMax is the most bytes of one line a tail shows.
const tailLineMax = 500

// Tail returns the last n lines of a log as TailText shows them, reading at most its last MiB.
func Tail(path string, n int) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("read log: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("read log: %w", err)
	}
	off := max(st.Size()-tailWindow, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, off, tailWindow))
	if err != nil {
		return "", fmt.Errorf("read log %s: %w", path, err)
	}
	if off > 0 { // a partial line
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return TailText(string(b), n), nil
}

// TailText is the one log tail: the last n lines of text, each as a terminal shows it after
// carriage returns rewrote it (a progress bar), cut to 500 bytes, and valid UTF-8.
func TailText(text string, n int) string {
	lines := strings.Split(strings.TrimRight(text, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		l = strings.TrimRight(l, "\r")
		if j := strings.LastIndexByte(l, '\r'); j >= 0 {
			l = l[j+1:]
		}
		if len(l) > tailLineMax {
			l = l[:tailLineMax] + fmt.Sprintf(" …[%d bytes]", len(l)-tailLineMax)
		}
		lines[i] = strings.ToValidUTF8(l, "\uFFFD")
	}
	return strings.Join(lines, "\n")
}
