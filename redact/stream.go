package redact

// The stream: the two passes of a Redactor over text that comes in pieces, each holding back
// only what later data may turn into a match.

import (
	"fmt"
	"io"
)

// process appends buf to dst with secrets replaced and returns how much of buf it used. Unless
// final, it stops before the earliest place where later data could complete a match; the caller
// keeps that tail. found, when not nil, collects the names of what was replaced.
func process(finders []finder, dst, buf []byte, final bool, found map[string]bool) ([]byte, int) {
	type slot struct {
		h     hit
		ok    bool
		valid bool
	}
	var slotBuf [16]slot
	slots := slotBuf[:0]
	for range finders {
		slots = append(slots, slot{})
	}
	i := 0
	for {
		var best hit
		have := false
		for k, f := range finders {
			s := &slots[k]
			if !s.valid || s.ok && s.h.start < i {
				s.h, s.ok = f.next(buf, i, final)
				s.h.rank = k
				s.valid = true
			}
			if s.ok && (!have || s.h.before(best)) {
				best, have = s.h, true
			}
		}
		if !have {
			return append(dst, buf[i:]...), len(buf)
		}
		if best.pending {
			return append(dst, buf[i:best.start]...), best.start
		}
		dst = append(append(dst, buf[i:best.start]...), best.repl...)
		if found != nil {
			found[best.name] = true
		}
		i = best.end
	}
}

// hit is a match [start, end) to replace by repl, or, pending, a start that later data may make
// one.
type hit struct {
	start, end int
	repl       []byte
	name       string
	pending    bool
	rank       int // the finder's place: literals, the PEM finder, shapes
}

// before says whether h goes before o: further left; at one start, a pending one that may yet
// win; then the finder's rank; then the longer.
func (h hit) before(o hit) bool {
	switch {
	case h.start != o.start:
		return h.start < o.start
	case h.pending != o.pending:
		if h.pending {
			return h.rank <= o.rank
		}
		return h.rank < o.rank
	case h.rank != o.rank:
		return h.rank < o.rank
	}
	return h.end > o.end
}

// A finder finds the leftmost match in buf at or after from. Unless final, a place where a
// match may begin but needs later data comes back as a pending hit, when it is the leftmost.
type finder interface {
	next(buf []byte, from int, final bool) (hit, bool)
}

// chain is the two passes' writers, the first writing into the second.
func (r *Redactor) chain(w io.Writer, found map[string]bool) *redactWriter {
	second := &redactWriter{finders: r.passes[1], w: w, found: found}
	return &redactWriter{finders: r.passes[0], w: second, next: second, found: found}
}

const redactChunk = 64 << 10

type redactWriter struct {
	finders []finder
	w       io.Writer
	next    *redactWriter // the second pass, which w is, closed by Close
	tail    []byte
	buf     []byte
	out     []byte
	found   map[string]bool // when not nil, the names of what was replaced
	closed  bool
}

func (rw *redactWriter) Write(p []byte) (int, error) {
	if rw.closed {
		return 0, fmt.Errorf("redacting writer: write after Close")
	}
	written := 0
	for len(p) > 0 {
		n := min(len(p), redactChunk)
		rw.buf = append(append(rw.buf[:0], rw.tail...), p[:n]...)
		var used int
		rw.out, used = process(rw.finders, rw.out[:0], rw.buf, false, rw.found)
		rw.tail = append(rw.tail[:0], rw.buf[used:]...)
		if len(rw.out) > 0 {
			if _, err := rw.w.Write(rw.out); err != nil {
				return written, err
			}
		}
		written += n
		p = p[n:]
	}
	return written, nil
}

func (rw *redactWriter) Close() error {
	if rw.closed {
		return nil
	}
	rw.closed = true
	var err error
	if len(rw.tail) > 0 {
		out, _ := process(rw.finders, nil, rw.tail, true, rw.found)
		rw.tail = nil
		_, err = rw.w.Write(out)
	}
	if rw.next != nil {
		if cerr := rw.next.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
