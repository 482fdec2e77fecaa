package artifacts

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"go.yaml.in/yaml/v3"
)

// readNode parses a YAML file into its document node.
func readNode(path string) (*yaml.Node, error) {
	b, err := evidence.ReadFileLimit(path, MaxConfigBytes)
	if err != nil {
		return nil, readErr("read config", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse %s: not a YAML mapping", path)
	}
	return &doc, nil
}

// lookup finds the scalar at a dotted key such as "train.precision".
func lookup(doc *yaml.Node, path, key string) (*yaml.Node, error) {
	n := doc.Content[0]
	for _, part := range strings.Split(key, ".") {
		if n.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s: %s: not a mapping above %q", path, key, part)
		}
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == part {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			return nil, fmt.Errorf("%s: %s: missing", path, key)
		}
		n = next
	}
	if n.Kind != yaml.ScalarNode {
		return nil, fmt.Errorf("%s: %s: not a scalar", path, key)
	}
	return n, nil
}

// ConfigString reads a scalar setting, such as "data.data_root", from a difftrain config.
func ConfigString(path, key string) (string, error) {
	doc, err := readNode(path)
	if err != nil {
		return "", err
	}
	n, err := lookup(doc, path, key)
	if err != nil {
		return "", err
	}
	return n.Value, nil
}

// ConfigInt reads an integer setting, such as "train.max_steps".
func ConfigInt(path, key string) (int, error) {
	s, err := ConfigString(path, key)
	if err != nil {
		return 0, err
	}
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %q is not an integer", path, key, s)
	}
	return v, nil
}

// SetPrecision copies the config at src to dst with train.precision set to p. yaml.v3 finds
// the value's node; the new value is spliced in at that node's line and column, so every other
// byte of the file (comments, order, spacing) stays as it was.
func SetPrecision(src, dst, p string) error {
	b, err := evidence.ReadFileLimit(src, MaxConfigBytes)
	if err != nil {
		return readErr("read config", err)
	}
	doc, err := readNode(src)
	if err != nil {
		return err
	}
	n, err := lookup(doc, src, "train.precision")
	if err != nil {
		return err
	}
	out, err := splice(b, n, p)
	if err != nil {
		return fmt.Errorf("%s: train.precision: %w", src, err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	if err := os.WriteFile(dst, out, 0o644); err != nil {
		return fmt.Errorf("write %s: %w", dst, err)
	}
	return nil
}

// splice replaces the scalar n's text in b with value.
func splice(b []byte, n *yaml.Node, value string) ([]byte, error) {
	lines := bytes.SplitAfter(b, []byte("\n"))
	if n.Line < 1 || n.Line > len(lines) {
		return nil, fmt.Errorf("line %d out of range", n.Line)
	}
	line := lines[n.Line-1]
	col := n.Column - 1 // yaml.v3 columns count bytes from 1
	if col < 0 || col > len(line) {
		return nil, fmt.Errorf("line %d: column %d out of range", n.Line, n.Column)
	}
	size := len(n.Value)
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		q := line[col]
		end := bytes.IndexByte(line[col+1:], q)
		if end < 0 {
			return nil, fmt.Errorf("line %d: unterminated quoted value", n.Line)
		}
		size = end + 2
	case 0:
	default:
		return nil, fmt.Errorf("line %d: a block or flow value cannot be edited in place", n.Line)
	}
	if col+size > len(line) || string(line[col:col+size]) != n.Value && n.Style == 0 {
		return nil, fmt.Errorf("line %d: value %q not found at column %d", n.Line, n.Value, n.Column)
	}
	edited := append(append(append([]byte{}, line[:col]...), value...), line[col+size:]...)
	lines[n.Line-1] = edited
	return bytes.Join(lines, nil), nil
}
