package redact

// The stream: a Redactor reads text that comes in pieces a chunk at a time, finds every match
// in it at once, replaces them, and holds back only what later data may turn into a match.

import (
	"fmt"
	"io"
	"slices"
)

// A finder appends every match in buf to hits and, unless final, every place where a match may
// begin but needs later data (a pending hit). lineStart says whether buf starts a line.
type finder interface {
	find(buf []byte, final, lineStart bool, hits []hit) []hit
}

// hit is a match [start, end) to replace by repl, or, pending, a start that later data may make
// one.
type hit struct {
	start, end int
	repl       []byte
	name       string
	pending    bool
	rank       int // the order of matches at one start
}

// Ranks: a value before a part of one before a private key before a token shape before a URL's
// credentials.
const (
	rankWhole = iota
	rankPart
	rankPEM
	rankShape
	rankURL
)

// compare orders hits as they are replaced: further left first; at one start, a pending one
// that may yet win; then by rank; then the longer.
func compare(h, o hit) int {
	switch {
	case h.start != o.start:
		return h.start - o.start
	case h.pending != o.pending:
		if h.pending == (h.rank <= o.rank) {
			return -1
		}
		return 1
	case h.rank != o.rank:
		return h.rank - o.rank
	}
	return o.end - h.end
}

// resolve returns buf with hits (sorted in place) replaced, built in dst when anything is, and
// how much of buf it used: all of it, or up to where a pending hit may begin. Every byte that
// any hit covers is replaced: the leftmost hit by its replacement, and the rest of one that
// reaches past it by the other's Marker. A pending hit inside such a group holds the whole group
// back, to be found again with later data. found, when not nil, collects the names of what was
// replaced (of each group, its leftmost).
func resolve(hits []hit, dst, buf []byte, found map[string]bool) (out []byte, used int, built bool) {
	slices.SortFunc(hits, compare)
	i := 0 // where the replaced text ends so far
	// The last group of overlapping hits: where it starts, in buf and in dst, and whether
	// anything was replaced before it.
	group, groupDst, builtBefore := 0, 0, false
	for _, h := range hits {
		switch {
		case h.pending && h.start < i:
			if !builtBefore {
				return buf[:group], group, false
			}
			return dst[:groupDst], group, true
		case h.pending:
			if !built {
				return buf[:h.start], h.start, false
			}
			return append(dst, buf[i:h.start]...), h.start, true
		case h.end <= i:
			continue
		case h.start < i:
			dst = append(dst, Marker(h.name)...)
		default:
			dst = append(dst, buf[i:h.start]...)
			group, groupDst, builtBefore = h.start, len(dst), built
			dst = append(dst, h.repl...)
			if found != nil {
				found[h.name] = true
			}
		}
		built = true
		i = h.end
	}
	if !built {
		return buf, len(buf), false
	}
	return append(dst, buf[i:]...), len(buf), true
}

// pass runs f over buf and returns what it makes of it, and how much of buf it used; out is
// built in dst (built) only when something was replaced, and is buf itself otherwise.
func pass(f finder, hits []hit, dst, buf []byte, final, lineStart bool, found map[string]bool) (out []byte, used int, built bool, kept []hit) {
	hits = f.find(buf, final, lineStart, hits[:0])
	if len(hits) == 0 {
		return buf, len(buf), false, hits
	}
	out, used, built = resolve(hits, dst[:0], buf, found)
	return out, used, built, hits
}

// startsLine says whether the byte after text starts a line (after its indentation), given
// whether text itself started one.
func startsLine(text []byte, lineStart bool) bool {
	for i := len(text) - 1; i >= 0; i-- {
		switch text[i] {
		case '\n':
			return true
		case ' ', '\t':
		default:
			return false
		}
	}
	return lineStart
}

// writer is the redacting writer to w.
func (r *Redactor) writer(w io.Writer, found map[string]bool) *redactWriter {
	return &redactWriter{f: r.f, w: w, found: found, lineStart: true}
}

// redactChunk bounds what one pass reads at once: as much as the runner hands on at once.
const redactChunk = 256 << 10

type redactWriter struct {
	f         finder
	w         io.Writer
	tail      []byte
	buf       []byte
	out       []byte
	hits      []hit
	found     map[string]bool // when not nil, the names of what was replaced
	lineStart bool            // the tail starts a line
	closed    bool
}

// seam is how much of the next write is read with the tail held back from the last: a match
// that begins in the tail and needs more than this is read on, seam by seam.
const seam = 4 << 10

// Write redacts p a chunk at a time. What a chunk holds back (the tail) is read again with the
// start of the next one, copied with it (the seam); the rest of p is read where it is.
func (rw *redactWriter) Write(p []byte) (int, error) {
	if rw.closed {
		return 0, fmt.Errorf("redacting writer: write after Close")
	}
	total := len(p)
	for len(p) > 0 {
		var out []byte
		if t := len(rw.tail); t > 0 {
			k := min(len(p), t+seam)
			if cap(rw.buf) < t+k {
				rw.buf = make([]byte, 0, t+k)
			}
			rw.buf = append(append(rw.buf[:0], rw.tail...), p[:k]...)
			var used int
			out, used = rw.run(rw.buf, false)
			if used >= t { // the tail is done with: read p on from where the seam stopped
				rw.tail, p = rw.tail[:0], p[used-t:]
			} else {
				rw.tail, p = append(rw.tail[:0], rw.buf[used:]...), p[k:]
			}
		} else {
			n := min(len(p), redactChunk)
			var used int
			out, used = rw.run(p[:n], false)
			rw.tail, p = append(rw.tail[:0], p[used:n]...), p[n:]
		}
		if len(out) > 0 {
			if _, err := rw.w.Write(out); err != nil {
				return total - len(p), err
			}
		}
	}
	return total, nil
}

func (rw *redactWriter) run(buf []byte, final bool) ([]byte, int) {
	out, used, built, hits := pass(rw.f, rw.hits, rw.out, buf, final, rw.lineStart, rw.found)
	rw.hits = hits
	if built {
		rw.out = out
	}
	rw.lineStart = startsLine(buf[:used], rw.lineStart)
	return out, used
}

func (rw *redactWriter) Close() error {
	if rw.closed {
		return nil
	}
	rw.closed = true
	var err error
	if len(rw.tail) > 0 {
		out, _ := rw.run(rw.tail, true)
		rw.tail = nil
		_, err = rw.w.Write(out)
	}
	return err
}
