package evidence

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
)

// ReadJSON reads the JSON file p into v, reading at most limit bytes: a larger file is an
// error that names the file and the limit, whatever wrote it. Errors name the file and, where
// the decoder says, the field or the line; data after the document is an error.
func ReadJSON(p string, v any, limit int64) error {
	b, err := ReadFileLimit(p, limit)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			line, _ := Position(b, se.Offset)
			return fmt.Errorf("read %s: line %d: %v", p, line, se)
		case errors.As(err, &te) && te.Field == "":
			return fmt.Errorf("read %s: want a JSON object, got %s", p, te.Value)
		case errors.As(err, &te):
			return fmt.Errorf("read %s: field %s: %s is not %s", p, te.Field, te.Value, te.Type)
		case errors.Is(err, io.EOF):
			return fmt.Errorf("read %s: empty file", p)
		}
		return fmt.Errorf("read %s: %v", p, err)
	}
	// Only io.EOF says nothing follows the document (dec.More is false before a stray '}').
	end := min(int(dec.InputOffset()), len(b))
	if _, err := dec.Token(); err != io.EOF {
		extra := len(b) - len(bytes.TrimLeft(b[end:], " \t\r\n"))
		return fmt.Errorf("read %s: line %d: extra data after the JSON document", p, 1+bytes.Count(b[:extra], []byte("\n")))
	}
	return nil
}

// ReadFileLimit reads a file of at most limit bytes; a larger one is a *TooLarge, read no
// further than the limit. An error opening or reading it is os's *fs.PathError, wrapped as
// "read <path>: ...".
func ReadFileLimit(p string, limit int64) ([]byte, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	if int64(len(b)) > limit {
		return nil, &TooLarge{Path: p, Limit: limit}
	}
	return b, nil
}

// TooLarge is the error of a file over the most the harness reads of it; it names the file and
// the limit.
type TooLarge struct {
	Path  string
	Limit int64
}

func (e *TooLarge) Error() string {
	return fmt.Sprintf("read %s: larger than %d bytes, the most the harness reads of it", e.Path, e.Limit)
}

// Position turns a json.SyntaxError offset, which counts the offending byte, into the 1-based
// line and column of that byte.
func Position(b []byte, offset int64) (line, col int) {
	before := b[:min(max(offset, 0), int64(len(b)))]
	line = bytes.Count(before, []byte("\n")) + 1
	col = max(len(before)-bytes.LastIndexByte(before, '\n')-1, 1)
	return line, col
}
