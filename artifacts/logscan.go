package artifacts

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Kinds of lines ScanLog counts; the keys of LogScan.First.
const (
	KindNaN       = "nan"       // loss=nan
	KindInf       = "inf"       // loss=inf, loss=-inf
	KindWarning   = "warning"   // " - WARNING - " (logging) or "Warning:" (warnings.warn)
	KindTraceback = "traceback" // "Traceback (most recent call last):"
)

// ScanLog keeps MaxFirst lines of each kind, each clipped to LineClip bytes.
const (
	MaxFirst = 5
	LineClip = 200
)

// LogScan is what ScanLog found in a step's log. Counts are of lines: a line with two
// matches of one kind counts once, and a line may count in several kinds. Lines end at
// '\n' or '\r' (progress bars redraw with '\r').
type LogScan struct {
	Path       string
	Bytes      int64
	Lines      int64 // non-empty lines
	NaN        int
	Inf        int
	Warnings   int
	Tracebacks int
	// First holds, for each kind, the first MaxFirst lines, clipped to LineClip bytes and
	// made valid UTF-8. For tracebacks it holds the exception line that ends each traceback
	// (the first unindented line after it), or the Traceback line when the log ends first.
	First map[string][]string
}

// ScanLog streams a log in bounded memory (a 64 KiB buffer however long its lines) and
// counts NaN/Inf losses, warnings and tracebacks.
func ScanLog(path string) (*LogScan, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("scan log: %w", err)
	}
	defer f.Close()
	s, err := ScanReader(f)
	if err != nil {
		return nil, fmt.Errorf("scan log %s: %w", path, err)
	}
	s.Path = path
	return s, nil
}

// ScanReader is ScanLog over any reader.
func ScanReader(r io.Reader) (*LogScan, error) {
	return scanLog(r, 64<<10)
}

const (
	tracebackHead = "Traceback (most recent call last):"
	carryLen      = 40 // > the longest pattern, so a match split across two reads is seen whole
)

// logLine is the state of the line being read.
type logLine struct {
	n         int64 // bytes so far
	head      []byte
	carry     []byte // the last carryLen bytes seen
	indented  bool
	nan, inf  bool
	warn, tb  bool
	junction  []byte
	headLimit int
}

func scanLog(r io.Reader, bufSize int) (*LogScan, error) {
	s := &LogScan{First: map[string][]string{}}
	sp := newLineSplitter(r, bufSize)
	ln := &logLine{head: make([]byte, 0, LineClip+4), carry: make([]byte, 0, carryLen), junction: make([]byte, 0, 2*carryLen), headLimit: LineClip + 4}
	inTraceback := false
	var tracebackLine string
	keep := func(kind string, line func() string) {
		if len(s.First[kind]) < MaxFirst {
			s.First[kind] = append(s.First[kind], line())
		}
	}
	for {
		piece, eol, err := sp.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, err
		}
		ln.feed(piece, eol)
		if !eol {
			continue
		}
		if ln.n > 0 {
			s.Lines++
			text := func() string { return clip(string(ln.head), LineClip) } // only for lines kept
			if ln.nan {
				s.NaN++
				keep(KindNaN, text)
			}
			if ln.inf {
				s.Inf++
				keep(KindInf, text)
			}
			if ln.warn {
				s.Warnings++
				keep(KindWarning, text)
			}
			switch {
			case ln.tb:
				if inTraceback {
					keep(KindTraceback, func() string { return tracebackLine })
				}
				s.Tracebacks++
				inTraceback, tracebackLine = true, text()
			case inTraceback && !ln.indented:
				keep(KindTraceback, text)
				inTraceback = false
			}
		}
		ln.reset()
	}
	if inTraceback {
		keep(KindTraceback, func() string { return tracebackLine })
	}
	s.Bytes = sp.total
	return s, nil
}

func (l *logLine) reset() {
	l.n = 0
	l.head = l.head[:0]
	l.carry = l.carry[:0]
	l.indented, l.nan, l.inf, l.warn, l.tb = false, false, false, false, false
}

// feed matches one piece of the line: within the piece, and across the joint with the
// previous piece (carry plus the piece's first bytes).
func (l *logLine) feed(piece []byte, last bool) {
	if l.n == 0 && len(piece) > 0 {
		l.indented = piece[0] == ' ' || piece[0] == '\t'
	}
	if room := l.headLimit - len(l.head); room > 0 {
		l.head = append(l.head, piece[:min(room, len(piece))]...)
	}
	if len(l.carry) > 0 {
		n := min(len(piece), carryLen)
		l.junction = append(append(l.junction[:0], l.carry...), piece[:n]...)
		l.match(l.junction, last && n == len(piece))
	}
	l.match(piece, last)
	l.n += int64(len(piece))
	// carry = the last carryLen bytes of carry+piece
	if len(piece) >= carryLen {
		l.carry = append(l.carry[:0], piece[len(piece)-carryLen:]...)
	} else {
		l.carry = append(l.carry, piece...)
		if over := len(l.carry) - carryLen; over > 0 {
			l.carry = append(l.carry[:0], l.carry[over:]...)
		}
	}
}

var (
	warningLogging = []byte(" - WARNING - ")
	warningPython  = []byte("Warning:")
	tracebackBytes = []byte(tracebackHead)
)

// match looks for the patterns in w; final says w ends where the line ends, so a value at
// the very end of w is complete.
func (l *logLine) match(w []byte, final bool) {
	if !l.warn && (bytes.Contains(w, warningLogging) || bytes.Contains(w, warningPython)) {
		l.warn = true
	}
	if !l.tb && bytes.Contains(w, tracebackBytes) {
		l.tb = true
	}
	if l.nan && l.inf {
		return
	}
	for i := 0; i < len(w); {
		j := bytes.IndexByte(w[i:], '=')
		if j < 0 {
			return
		}
		eq := i + j
		i = eq + 1
		if eq < 4 || !equalFoldASCII(w[eq-4:eq], "loss") {
			continue
		}
		v := w[eq+1:]
		if len(v) > 0 && (v[0] == '-' || v[0] == '+') {
			v = v[1:]
		}
		if len(v) < 3 {
			continue
		}
		word := v[:3]
		var isNaN, isInf bool
		switch {
		case equalFoldASCII(word, "nan"):
			isNaN = true
		case equalFoldASCII(word, "inf"):
			isInf = true
		default:
			continue
		}
		if len(v) == 3 && !final {
			continue // the next read decides whether "loss=nan" is the whole word
		}
		if len(v) > 3 && isWordByte(v[3]) {
			continue // loss=infinite_thing, loss=nano
		}
		l.nan = l.nan || isNaN
		l.inf = l.inf || isInf
	}
}

func equalFoldASCII(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		c := b[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}

func isWordByte(c byte) bool {
	return c == '_' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

// lineSplitter reads a stream in fixed-size reads and hands out pieces of lines: a line
// longer than the buffer comes in several pieces, the last with eol set.
type lineSplitter struct {
	r          io.Reader
	buf        []byte
	start, end int
	nl, cr     int // next '\n' and '\r' at or after start; end when none; -1 unknown
	inLine     bool
	eof        bool
	total      int64
}

func newLineSplitter(r io.Reader, size int) *lineSplitter {
	return &lineSplitter{r: r, buf: make([]byte, max(size, 1)), nl: -1, cr: -1}
}

// next returns the next piece and whether it ends its line; io.EOF after the last one.
func (s *lineSplitter) next() ([]byte, bool, error) {
	for s.start == s.end {
		if s.eof {
			if s.inLine {
				s.inLine = false
				return nil, true, nil
			}
			return nil, false, io.EOF
		}
		n, err := s.r.Read(s.buf)
		s.start, s.end, s.nl, s.cr = 0, n, -1, -1
		s.total += int64(n)
		if err == io.EOF {
			s.eof = true
		} else if err != nil {
			return nil, false, err
		}
	}
	if s.nl < s.start {
		s.nl = s.index('\n')
	}
	if s.cr < s.start {
		s.cr = s.index('\r')
	}
	i := min(s.nl, s.cr)
	if i == s.end {
		piece := s.buf[s.start:s.end]
		s.start = s.end
		s.inLine = true
		return piece, false, nil
	}
	piece := s.buf[s.start:i]
	s.start = i + 1
	s.inLine = false
	return piece, true, nil
}

func (s *lineSplitter) index(c byte) int {
	if j := bytes.IndexByte(s.buf[s.start:s.end], c); j >= 0 {
		return s.start + j
	}
	return s.end
}

// eachLine calls fn with each line's first limit bytes (the rest is skipped) until fn
// returns false.
func eachLine(r io.Reader, limit int, fn func(line []byte) bool) error {
	sp := newLineSplitter(r, 64<<10)
	line := make([]byte, 0, 256)
	for {
		piece, eol, err := sp.next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if room := limit - len(line); room > 0 {
			line = append(line, piece[:min(room, len(piece))]...)
		}
		if eol {
			if !fn(line) {
				return nil
			}
			line = line[:0]
		}
	}
}

// The contract's precision fallback warnings.
var fallbackLine = regexp.MustCompile(`precision=\S+ requested on non-CUDA device; falling back to fp32|bf16 not supported on this CUDA device; falling back to fp32`)

// Fallback returns the first precision-fallback warning in a training log (from the message
// on, without the logging prefix), and whether there was one.
func Fallback(logPath string) (string, bool, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return "", false, fmt.Errorf("read log for precision fallback: %w", err)
	}
	defer f.Close()
	var found string
	err = eachLine(f, 1<<16, func(line []byte) bool {
		if loc := fallbackLine.FindIndex(line); loc != nil {
			found = clip(strings.TrimSpace(string(line[loc[0]:])), LineClip)
			return false
		}
		return true
	})
	if err != nil {
		return "", false, fmt.Errorf("read log %s: %w", logPath, err)
	}
	return found, found != "", nil
}

// Resume is what a resumed run's log says about the resume.
type Resume struct {
	From      string   // the path after "resuming from checkpoint: "
	Completed int      // N of the last "training completed: global_step=N"; -1 when absent
	Saved     []string // paths of "saved checkpoint: " lines after the resume
}

var (
	resumingLine  = regexp.MustCompile(`resuming from checkpoint: (.+)$`)
	completedLine = regexp.MustCompile(`training completed: global_step=([0-9]+)`)
	savedLine     = regexp.MustCompile(`saved checkpoint: (.+)$`)
)

// ReadResume reads the resume facts from a log.
func ReadResume(logPath string) (*Resume, error) {
	f, err := os.Open(logPath)
	if err != nil {
		return nil, fmt.Errorf("read resume log: %w", err)
	}
	defer f.Close()
	res := &Resume{Completed: -1}
	err = eachLine(f, 1<<16, func(line []byte) bool {
		if m := resumingLine.FindSubmatch(line); m != nil && res.From == "" {
			res.From = strings.TrimSpace(string(m[1]))
			return true
		}
		if m := completedLine.FindSubmatch(line); m != nil && res.From != "" {
			if n, err := strconv.Atoi(string(m[1])); err == nil {
				res.Completed = n
			}
			return true
		}
		if m := savedLine.FindSubmatch(line); m != nil && res.From != "" {
			res.Saved = append(res.Saved, strings.TrimSpace(string(m[1])))
		}
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("read resume log %s: %w", logPath, err)
	}
	return res, nil
}

// CheckResume checks a resumed run's log: it resumed from checkpoint-<wantStep>.pt and then
// logged "training completed: global_step=<wantStep>".
func CheckResume(logPath string, wantStep int) error {
	res, err := ReadResume(logPath)
	if err != nil {
		return err
	}
	want := fmt.Sprintf("checkpoint-%d.pt", wantStep)
	if res.From == "" {
		return fmt.Errorf("%s: no \"resuming from checkpoint: <path>\" line", logPath)
	}
	if filepath.Base(res.From) != want {
		return fmt.Errorf("%s: resuming from checkpoint: %q, want %s", logPath, clip(res.From, LineClip), want)
	}
	if res.Completed < 0 {
		return fmt.Errorf("%s: no \"training completed: global_step=N\" line after the resume", logPath)
	}
	if res.Completed != wantStep {
		return fmt.Errorf("%s: training completed: global_step=%d, want %d", logPath, res.Completed, wantStep)
	}
	return nil
}

// CheckSaved checks that a training log says it saved each checkpoint into dir (the command's
// --output-dir as given): "saved checkpoint: <dir>/<name>", compared as cleaned paths, since
// difftrain logs a pathlib path ("./difftrain/_tmp_run" is logged as "difftrain/_tmp_run").
func CheckSaved(logPath, dir string, names []string) error {
	f, err := os.Open(logPath)
	if err != nil {
		return fmt.Errorf("read training log: %w", err)
	}
	defer f.Close()
	saved := map[string]bool{}
	err = eachLine(f, 1<<16, func(line []byte) bool {
		if m := savedLine.FindSubmatch(line); m != nil {
			saved[filepath.Clean(strings.TrimSpace(string(m[1])))] = true
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("read training log %s: %w", logPath, err)
	}
	for _, name := range names {
		if p := filepath.Join(filepath.Clean(dir), name); !saved[p] {
			return fmt.Errorf("%s: no \"saved checkpoint: %s\" line", logPath, p)
		}
	}
	return nil
}

// CheckCompleted checks that a training log ends its run with "training completed: global_step=<step>".
func CheckCompleted(logPath string, step int) error {
	f, err := os.Open(logPath)
	if err != nil {
		return fmt.Errorf("read training log: %w", err)
	}
	defer f.Close()
	last := -1
	err = eachLine(f, 1<<16, func(line []byte) bool {
		if m := completedLine.FindSubmatch(line); m != nil {
			if n, err := strconv.Atoi(string(m[1])); err == nil {
				last = n
			}
		}
		return true
	})
	if err != nil {
		return fmt.Errorf("read training log %s: %w", logPath, err)
	}
	if last != step {
		return fmt.Errorf("%s: no \"training completed: global_step=%d\" line (last: %d)", logPath, step, last)
	}
	return nil
}
