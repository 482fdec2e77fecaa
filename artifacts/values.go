package artifacts

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/redact"
)

// This file holds the generic-value helpers the JSON, YAML and pickle checks share: decoded
// documents are trees of map[string]any, []any, string, bool, nil and numbers (int, int64,
// uint64, float64, json.Number, *big.Int).

// decodeJSON decodes one JSON document, keeping numbers as json.Number so integers stay exact.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	// dec.More is false before a stray ']' or '}': only io.EOF means nothing follows.
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("extra data after the JSON document")
	}
	return v, nil
}

// decodeJSONFile is decodeJSON for a whole file: its errors say where (line and column) and
// name an empty file or a byte order mark, which Python's json module refuses too.
func decodeJSONFile(data []byte) (any, error) {
	switch {
	case len(bytes.TrimSpace(data)) == 0:
		return nil, fmt.Errorf("empty file")
	case bytes.HasPrefix(data, []byte("\xef\xbb\xbf")):
		return nil, fmt.Errorf("starts with a UTF-8 byte order mark")
	}
	v, err := decodeJSON(data)
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := evidence.Position(data, se.Offset)
		return nil, fmt.Errorf("line %d, column %d: %v", line, col, err)
	}
	return v, err
}

// typeName names a decoded value's type the way JSON and YAML readers say it.
func typeName(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "bool"
	case json.Number, int, int64, uint64, float64, *big.Int:
		return "number"
	case []any:
		return "list"
	case map[string]any:
		return "object"
	case []byte:
		return "bytes"
	case *Tensor:
		return "tensor"
	case *Object:
		return x.Class + " object"
	default:
		return fmt.Sprintf("%T", v)
	}
}

// asInt returns v as an int64 when it is an integer number.
func asInt(v any) (int64, bool) {
	switch n := v.(type) {
	case int:
		return int64(n), true
	case int64:
		return n, true
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true
		}
	case json.Number:
		i, err := strconv.ParseInt(string(n), 10, 64)
		return i, err == nil
	case *big.Int:
		if n.IsInt64() {
			return n.Int64(), true
		}
	}
	return 0, false
}

// number returns v as an exact rational, for comparing numbers of different Go types.
func number(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case int:
		return new(big.Rat).SetInt64(int64(n)), true
	case int64:
		return new(big.Rat).SetInt64(n), true
	case uint64:
		return new(big.Rat).SetUint64(n), true
	case *big.Int:
		return new(big.Rat).SetInt(n), true
	case float64:
		if math.IsNaN(n) || math.IsInf(n, 0) {
			return nil, false
		}
		return new(big.Rat).SetFloat64(n), true
	case json.Number: // an integer exactly; otherwise as the float64 Python wrote it from
		if i, ok := new(big.Int).SetString(string(n), 10); ok {
			return new(big.Rat).SetInt(i), true
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return nil, false
		}
		return number(f)
	}
	return nil, false
}

// equalValues compares two decoded trees. Numbers compare by value (1 == 1.0, as in Python);
// NaN equals NaN and infinities equal themselves, so a config compares equal to its own copy.
func equalValues(a, b any) bool {
	if ra, ok := number(a); ok {
		rb, ok := number(b)
		return ok && ra.Cmp(rb) == 0
	}
	switch x := a.(type) {
	case nil:
		return b == nil
	case string:
		y, ok := b.(string)
		return ok && x == y
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case float64: // NaN or ±Inf: number() refused it
		y, ok := b.(float64)
		return ok && (x == y || math.IsNaN(x) && math.IsNaN(y))
	case []byte:
		y, ok := b.([]byte)
		return ok && bytes.Equal(x, y)
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalValues(xv, yv) {
				return false
			}
		}
		return true
	}
	return false
}

// firstDifference returns the dotted path of the first place where got differs from want
// (keys in sorted order), and a one-line description; "" when they are equal.
func firstDifference(path string, want, got any) (string, string) {
	wm, wok := want.(map[string]any)
	gm, gok := got.(map[string]any)
	if wok && gok {
		for _, k := range unionKeys(wm, gm) {
			wv, inW := wm[k]
			gv, inG := gm[k]
			switch {
			case !inG:
				return joinPath(path, k), "missing"
			case !inW:
				return joinPath(path, k), fmt.Sprintf("unexpected key (value %s)", brief(gv))
			}
			if p, d := firstDifference(joinPath(path, k), wv, gv); p != "" {
				return p, d
			}
		}
		return "", ""
	}
	wl, wok := want.([]any)
	gl, gok := got.([]any)
	if wok && gok && len(wl) == len(gl) {
		for i := range wl {
			if p, d := firstDifference(fmt.Sprintf("%s[%d]", path, i), wl[i], gl[i]); p != "" {
				return p, d
			}
		}
		return "", ""
	}
	if equalValues(want, got) {
		return "", ""
	}
	if path == "" {
		path = "(root)"
	}
	return path, fmt.Sprintf("got %s, want %s", brief(got), brief(want))
}

func unionKeys(a, b map[string]any) []string {
	keys := make([]string, 0, len(a)+len(b))
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	return keys
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// brief renders a value on one short line for an error message, with the secrets of this
// process's environment redacted before it is clipped (a secret cut short is found by nothing).
func brief(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "null"
	case string:
		s = strconv.Quote(x)
	case map[string]any:
		s = fmt.Sprintf("mapping of %d keys", len(x))
	case []any:
		s = fmt.Sprintf("list of %d items", len(x))
	case json.Number:
		s = string(x)
	default:
		s = fmt.Sprint(x)
	}
	return clip(redact.New(os.Environ()).String(s), 80)
}

// clip makes s valid UTF-8 on one line and shortens it to at most n bytes (redact.Clip).
func clip(s string, n int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
	return redact.Clip(s, n)
}

// normalizeYAML turns what yaml.v3 decodes into the generic tree: mappings with non-string
// keys become map[string]any with the keys printed.
func normalizeYAML(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = normalizeYAML(e)
		}
		return out
	case map[any]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[fmt.Sprint(k)] = normalizeYAML(e)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = normalizeYAML(e)
		}
		return out
	}
	return v
}

// obj is a JSON object being checked field by field; errors name the file and the field.
type obj struct {
	file string // the file's name or path, for messages
	path string // the object's own dotted path, "" for the root
	m    map[string]any
}

func (o obj) field(key string) string { return joinPath(o.path, key) }

func (o obj) errf(key, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %s", o.file, o.field(key), fmt.Sprintf(format, args...))
}

func (o obj) get(key string) (any, error) {
	v, ok := o.m[key]
	if !ok {
		return nil, o.errf(key, "missing")
	}
	return v, nil
}

func (o obj) wrongType(key string, want string, v any) error {
	return o.errf(key, "want %s, got %s", want, typeName(v))
}

func (o obj) str(key string) (string, error) {
	v, err := o.get(key)
	if err != nil {
		return "", err
	}
	s, ok := v.(string)
	if !ok {
		return "", o.wrongType(key, "string", v)
	}
	return s, nil
}

// strOrNull returns nil for JSON null.
func (o obj) strOrNull(key string) (*string, error) {
	v, err := o.get(key)
	if err != nil || v == nil {
		return nil, err
	}
	s, ok := v.(string)
	if !ok {
		return nil, o.wrongType(key, "string or null", v)
	}
	return &s, nil
}

func (o obj) boolean(key string) (bool, error) {
	v, err := o.get(key)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, o.wrongType(key, "bool", v)
	}
	return b, nil
}

func (o obj) integer(key string) (int64, error) {
	v, err := o.get(key)
	if err != nil {
		return 0, err
	}
	n, ok := asInt(v)
	if !ok {
		if _, isNum := number(v); isNum {
			return 0, o.errf(key, "want integer, got %s", brief(v))
		}
		return 0, o.wrongType(key, "integer", v)
	}
	return n, nil
}

func (o obj) intOrNull(key string) (*int64, error) {
	v, err := o.get(key)
	if err != nil || v == nil {
		return nil, err
	}
	n, ok := asInt(v)
	if !ok {
		return nil, o.wrongType(key, "integer or null", v)
	}
	return &n, nil
}

func (o obj) list(key string) ([]any, error) {
	v, err := o.get(key)
	if err != nil {
		return nil, err
	}
	l, ok := v.([]any)
	if !ok {
		return nil, o.wrongType(key, "list", v)
	}
	return l, nil
}

func (o obj) object(key string) (obj, error) {
	v, err := o.get(key)
	if err != nil {
		return obj{}, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return obj{}, o.wrongType(key, "object", v)
	}
	return obj{file: o.file, path: o.field(key), m: m}, nil
}
