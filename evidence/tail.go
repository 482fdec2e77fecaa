package evidence

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strings"
)

// TailLines is how many lines of a failed step's log the failure text, the checklist and
// junit.xml's <system-out> show.
const TailLines = 40

// Tail returns the last n lines of a log, each cut to 500 bytes and made valid UTF-8, reading
// at most the last 1 MiB so a huge log costs no more than a small one: the one log tail.
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
	const window = 1 << 20
	off := max(st.Size()-window, 0)
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return "", fmt.Errorf("read log %s: %w", path, err)
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), window+1)
	var lines []string
	first := off > 0
	for sc.Scan() {
		if first { // a partial line
			first = false
			continue
		}
		line := sc.Text()
		if len(line) > 500 {
			line = line[:500] + fmt.Sprintf(" …[%d bytes]", len(line)-500)
		}
		lines = append(lines, strings.ToValidUTF8(line, "\uFFFD"))
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("read log %s: %w", path, err)
	}
	return strings.Join(lines, "\n"), nil
}
