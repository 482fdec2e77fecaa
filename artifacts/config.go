package artifacts

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/printable"
	"go.yaml.in/yaml/v3"
)

// ResolvedConfigFile is the name difftrain gives the resolved config in its output directory.
const ResolvedConfigFile = "config.resolved.yaml"

// Sections are the resolved config's top-level keys, in declaration order; no other key is allowed.
var Sections = []string{"train", "data", "model", "scheduler", "loss"}

// Expect is what the runbook requires of a resolved config. A zero field is not checked.
type Expect struct {
	Precision string // train.precision: fp32, fp16 or bf16
	Seed      int    // train.seed
	MaxSteps  int    // train.max_steps
	DataRoot  string // data.data_root, compared after filepath.Clean ("./data/x" == "data/x")
	// Overrides are the dotted keys the writing command set from its flags (Command.Overrides),
	// with the exact values it set; the source config's value for them is not expected.
	Overrides map[string]any
}

// ExpectFor is what the outputs of cmd, run with the source config at path, must show: the
// source's precision, seed, max_steps and data_root, and the keys cmd's flags override.
func ExpectFor(cmd Command, source string) (Expect, error) {
	want := Expect{Overrides: cmd.Overrides()}
	var err error
	if want.Precision, err = ConfigString(source, "train.precision"); err != nil {
		return want, err
	}
	if want.DataRoot, err = ConfigString(source, "data.data_root"); err != nil {
		return want, err
	}
	if want.Seed, err = ConfigInt(source, "train.seed"); err != nil {
		return want, err
	}
	if want.MaxSteps, err = ConfigInt(source, "train.max_steps"); err != nil {
		return want, err
	}
	// A key the command sets is expected as it sets it.
	if v, ok := want.Overrides["data.data_root"].(string); ok {
		want.DataRoot = v
	}
	if v, ok := want.Overrides["train.max_steps"].(int); ok {
		want.MaxSteps = v
	}
	return want, nil
}

// ReadYAMLConfig reads a YAML config into the generic tree; it must be a mapping.
func ReadYAMLConfig(path string) (map[string]any, error) {
	data, err := evidence.ReadFileLimit(path, MaxConfigBytes)
	if err != nil {
		return nil, readErr("read config", err)
	}
	return parseYAMLConfig(path, data)
}

func parseYAMLConfig(name string, data []byte) (map[string]any, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("%s: not YAML: %v", name, printable.OneLine(err.Error()))
	}
	if v == nil {
		return nil, fmt.Errorf("%s: empty document", name)
	}
	m, ok := normalizeYAML(v).(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a mapping of sections, got %s", name, typeName(v))
	}
	return m, nil
}

// CheckResolvedConfig checks config.resolved.yaml against the source config it was resolved
// from and the runbook's expectations, and returns it. It must have exactly the five sections
// (each a mapping), and every key the source sets, at any depth, must have the same value in
// it. A source section left empty (null) takes its defaults and is not compared.
func CheckResolvedConfig(resolvedPath, sourcePath string, want Expect) (map[string]any, error) {
	resolved, err := ReadYAMLConfig(resolvedPath)
	if err != nil {
		return nil, err
	}
	if err := checkSections(resolvedPath, resolved); err != nil {
		return nil, err
	}
	if sourcePath != "" {
		source, raw, err := readSourceConfig(sourcePath)
		if err != nil {
			return nil, err
		}
		if err := checkSourceKeys(resolvedPath, sourcePath, source, raw, resolved, want.Overrides); err != nil {
			return nil, err
		}
	}
	if err := checkExpect(resolvedPath, resolved, want); err != nil {
		return nil, err
	}
	return resolved, nil
}

func checkSections(name string, cfg map[string]any) error {
	known := map[string]bool{}
	for _, s := range Sections {
		known[s] = true
		v, ok := cfg[s]
		if !ok {
			return fmt.Errorf("%s: %s: missing section", name, s)
		}
		if _, ok := v.(map[string]any); !ok {
			return fmt.Errorf("%s: %s: want a mapping, got %s", name, s, typeName(v))
		}
	}
	for _, k := range sortedKeys(cfg) {
		if !known[k] {
			return fmt.Errorf("%s: %s: unknown top-level key (want only %v)", name, k, Sections)
		}
	}
	return nil
}

// checkSourceKeys walks the source config: each leaf it sets must be equal in the resolved one,
// but for the overridden keys. raw holds the source's scalar texts by dotted path, for pyyamlEqual.
func checkSourceKeys(resolvedName, sourceName string, source map[string]any, raw map[string]string, resolved map[string]any, overridden map[string]any) error {
	var walk func(path string, src, res any) error
	walk = func(path string, src, res any) error {
		if sm, ok := src.(map[string]any); ok {
			rm, ok := res.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %s: want a mapping as in %s, got %s", resolvedName, path, sourceName, typeName(res))
			}
			for _, k := range sortedKeys(sm) {
				rv, ok := rm[k]
				if !ok {
					return fmt.Errorf("%s: %s: missing, but %s sets it to %s", resolvedName, joinPath(path, k), sourceName, brief(sm[k]))
				}
				if err := walk(joinPath(path, k), sm[k], rv); err != nil {
					return err
				}
			}
			return nil
		}
		if _, ok := overridden[path]; ok {
			return nil // checkExpect compares it with the command's flag
		}
		if !equalValues(src, res) && !pyyamlEqual(raw[path], res) {
			return fmt.Errorf("%s: %s: %s, but %s sets %s", resolvedName, path, brief(res), sourceName, brief(src))
		}
		return nil
	}
	for _, k := range sortedKeys(source) {
		rv, ok := resolved[k]
		if !ok {
			return fmt.Errorf("%s: %s: missing, but %s has this section", resolvedName, k, sourceName)
		}
		if source[k] == nil { // "model:" with nothing under it: all defaults
			continue
		}
		if err := walk(k, source[k], rv); err != nil {
			return err
		}
	}
	return nil
}

func checkExpect(name string, cfg map[string]any, want Expect) error {
	get := func(section, key string) any {
		m, _ := cfg[section].(map[string]any)
		return m[key]
	}
	if want.Precision != "" {
		if got := get("train", "precision"); !equalValues(want.Precision, got) {
			return fmt.Errorf("%s: train.precision: %s, want %q", name, brief(got), want.Precision)
		}
	}
	if want.Seed != 0 {
		if got := get("train", "seed"); !equalValues(want.Seed, got) {
			return fmt.Errorf("%s: train.seed: %s, want %d", name, brief(got), want.Seed)
		}
	}
	if want.MaxSteps != 0 {
		if got := get("train", "max_steps"); !equalValues(want.MaxSteps, got) {
			return fmt.Errorf("%s: train.max_steps: %s, want %d", name, brief(got), want.MaxSteps)
		}
	}
	if want.DataRoot != "" {
		got, ok := get("data", "data_root").(string)
		if !ok || filepath.Clean(got) != filepath.Clean(want.DataRoot) {
			return fmt.Errorf("%s: data.data_root: %s, want %q", name, brief(get("data", "data_root")), want.DataRoot)
		}
	}
	for _, key := range sortedKeys(want.Overrides) {
		section, field, _ := strings.Cut(key, ".")
		if got := get(section, field); !equalValues(want.Overrides[key], got) {
			return fmt.Errorf("%s: %s: %s, want %s as the command sets it", name, key, brief(got), brief(want.Overrides[key]))
		}
	}
	return nil
}

// WithValues is a copy of cfg with the dotted keys set to the given values: a key given nil is
// removed. Only the sections it touches are copied.
func WithValues(cfg map[string]any, values map[string]any) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	copied := map[string]bool{}
	for key, v := range values {
		section, field, _ := strings.Cut(key, ".")
		m, _ := out[section].(map[string]any)
		if !copied[section] {
			c := make(map[string]any, len(m)+1)
			for k, x := range m {
				c[k] = x
			}
			m, copied[section] = c, true
			out[section] = m
		}
		if v == nil {
			delete(m, field)
		} else {
			m[field] = v
		}
	}
	return out
}

// readSourceConfig reads the source config like ReadYAMLConfig, and also returns the text of
// each scalar leaf by dotted path: difftrain reads YAML with PyYAML (YAML 1.1), yaml.v3 reads
// YAML 1.2, and the two disagree on a few plain scalars (see pyyamlEqual).
func readSourceConfig(path string) (map[string]any, map[string]string, error) {
	data, err := evidence.ReadFileLimit(path, MaxConfigBytes)
	if err != nil {
		return nil, nil, readErr("read config", err)
	}
	cfg, err := parseYAMLConfig(path, data)
	if err != nil {
		return nil, nil, err
	}
	var doc yaml.Node
	raw := map[string]string{}
	if yaml.Unmarshal(data, &doc) == nil && len(doc.Content) == 1 {
		collectScalars("", doc.Content[0], raw, 0)
	}
	return cfg, raw, nil
}

func collectScalars(path string, n *yaml.Node, raw map[string]string, depth int) {
	if depth > 64 {
		return
	}
	switch n.Kind {
	case yaml.ScalarNode:
		if n.Style == 0 { // plain, unquoted: the only kind YAML 1.1 and 1.2 read differently
			raw[path] = n.Value
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			collectScalars(joinPath(path, n.Content[i].Value), n.Content[i+1], raw, depth+1)
		}
	case yaml.AliasNode:
		if n.Alias != nil {
			collectScalars(path, n.Alias, raw, depth+1)
		}
	}
}

// pyyamlEqual reports whether a plain scalar's text, read by PyYAML as difftrain does, gives
// res: PyYAML takes yes/no/on/off as booleans, takes 1e-4 (no dot) as a string, and allows
// underscores in numbers, where yaml.v3 does otherwise.
func pyyamlEqual(text string, res any) bool {
	if text == "" {
		return false
	}
	switch r := res.(type) {
	case bool:
		switch text {
		case "yes", "Yes", "YES", "on", "On", "ON", "true", "True", "TRUE":
			return r
		case "no", "No", "NO", "off", "Off", "OFF", "false", "False", "FALSE":
			return !r
		}
	case string:
		return text == r
	default:
		if strings.Contains(text, "_") {
			if n, ok := number(json.Number(strings.ReplaceAll(text, "_", ""))); ok {
				want, _ := number(res)
				return want != nil && n.Cmp(want) == 0
			}
		}
	}
	return false
}
