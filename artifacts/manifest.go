package artifacts

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/difftrain/gpusmoke/evidence"
)

// ManifestFile is the name difftrain gives run_manifest.json in its output directory.
const ManifestFile = "run_manifest.json"

// Manifest is the part of run_manifest.json the checks use, with every field type-checked.
type Manifest struct {
	SchemaVersion int64
	CreatedUTC    string
	Paths         ManifestPaths
	Seed          int64 // repro.seed
	Deterministic bool  // repro.deterministic
	Config        ManifestConfig
	Env           any // env, decoded with exact numbers, for comparing with env.json
}

// ManifestPaths are run_manifest.json's paths: absolute, as difftrain resolved them.
type ManifestPaths struct {
	OutputDir          string
	ConfigPath         string
	EnvJSON            string
	ConfigResolvedYAML string
	RunManifestJSON    string
}

// ManifestConfig is run_manifest.json's config.
type ManifestConfig struct {
	SourcePath         string         // config.source.path
	SourceSHA256       string         // config.source.sha256: of the source file's text
	Resolved           map[string]any // config.resolved
	ResolvedFileSHA256 string         // config.resolved_file_sha256
}

// ParseManifest type-checks run_manifest.json's content; name is the file named in errors.
func ParseManifest(name string, data []byte) (*Manifest, error) {
	v, err := decodeJSONFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: not JSON: %v", name, err)
	}
	root, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s: want a JSON object, got %s", name, typeName(v))
	}
	o := obj{file: name, m: root}
	m := &Manifest{}
	if m.SchemaVersion, err = o.integer("schema_version"); err != nil {
		return nil, err
	}
	if m.SchemaVersion != 1 {
		return nil, o.errf("schema_version", "%d, want 1", m.SchemaVersion)
	}
	if m.CreatedUTC, err = o.str("created_utc"); err != nil {
		return nil, err
	}
	paths, err := o.object("paths")
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		key string
		dst *string
	}{
		{"output_dir", &m.Paths.OutputDir}, {"config_path", &m.Paths.ConfigPath}, {"env_json", &m.Paths.EnvJSON},
		{"config_resolved_yaml", &m.Paths.ConfigResolvedYAML}, {"run_manifest_json", &m.Paths.RunManifestJSON},
	} {
		if *f.dst, err = paths.str(f.key); err != nil {
			return nil, err
		}
		if *f.dst == "" {
			return nil, paths.errf(f.key, "empty")
		}
	}
	repro, err := o.object("repro")
	if err != nil {
		return nil, err
	}
	if m.Seed, err = repro.integer("seed"); err != nil {
		return nil, err
	}
	if m.Deterministic, err = repro.boolean("deterministic"); err != nil {
		return nil, err
	}
	cfg, err := o.object("config")
	if err != nil {
		return nil, err
	}
	source, err := cfg.object("source")
	if err != nil {
		return nil, err
	}
	if m.Config.SourcePath, err = source.str("path"); err != nil {
		return nil, err
	}
	if m.Config.SourceSHA256, err = sha256Field(source, "sha256"); err != nil {
		return nil, err
	}
	if m.Config.ResolvedFileSHA256, err = sha256Field(cfg, "resolved_file_sha256"); err != nil {
		return nil, err
	}
	resolved, err := cfg.object("resolved")
	if err != nil {
		return nil, err
	}
	m.Config.Resolved = resolved.m
	if _, err := o.object("env"); err != nil {
		return nil, err
	}
	m.Env = root["env"]
	return m, nil
}

func sha256Field(o obj, key string) (string, error) {
	s, err := o.str(key)
	if err != nil {
		return "", err
	}
	if len(s) != 64 || strings.Trim(strings.ToLower(s), "0123456789abcdef") != "" {
		return "", o.errf(key, "%s is not a hex sha256", brief(s))
	}
	return strings.ToLower(s), nil
}

// CheckManifestOf checks run_manifest.json, which cmd wrote, against the files beside it
// (env.json, config.resolved.yaml) and the source config: sourcePath, when not "", is hashed
// instead of the manifest's config.source.path. outputDir is the directory every path but
// config_path must point into; repro.deterministic must be what cmd records
// (Command.Deterministic).
func CheckManifestOf(manifestPath, outputDir, sourcePath string, cmd Command) error {
	det := cmd.Deterministic()
	return checkManifest(manifestPath, outputDir, sourcePath, &det)
}

// checkManifest is CheckManifestOf; a nil deterministic is not checked.
func checkManifest(manifestPath, outputDir, sourcePath string, deterministic *bool) error {
	data, err := evidence.ReadFileLimit(manifestPath, MaxManifestBytes)
	if err != nil {
		return readErr("read run_manifest.json", err)
	}
	m, err := ParseManifest(manifestPath, data)
	if err != nil {
		return err
	}
	dir := filepath.Dir(manifestPath)
	in := ManifestInputs{OutputDir: outputDir, Deterministic: deterministic}
	envPath := filepath.Join(dir, EnvJSONFile)
	if in.EnvJSON, err = evidence.ReadFileLimit(envPath, MaxEnvJSONBytes); err != nil {
		return readErr(fmt.Sprintf("check %s: read env.json beside it", manifestPath), err)
	}
	resolvedPath := filepath.Join(dir, ResolvedConfigFile)
	resolvedData, err := evidence.ReadFileLimit(resolvedPath, MaxConfigBytes)
	if err != nil {
		return readErr(fmt.Sprintf("check %s: read config.resolved.yaml beside it", manifestPath), err)
	}
	if in.Resolved, err = parseYAMLConfig(resolvedPath, resolvedData); err != nil {
		return fmt.Errorf("check %s: %w", manifestPath, err)
	}
	in.ResolvedSHA256 = textSHA256s(resolvedData)
	if sourcePath == "" {
		sourcePath = m.Config.SourcePath
		if !filepath.IsAbs(sourcePath) {
			if !filepath.IsAbs(m.Paths.ConfigPath) {
				return fmt.Errorf("%s: config.source.path: %q is relative and paths.config_path %q too: cannot find the source config",
					manifestPath, m.Config.SourcePath, m.Paths.ConfigPath)
			}
			sourcePath = m.Paths.ConfigPath
		}
	}
	sourceData, err := evidence.ReadFileLimit(sourcePath, MaxConfigBytes)
	if err != nil {
		return readErr(fmt.Sprintf("check %s: config.source.path: read the source config", manifestPath), err)
	}
	in.SourcePath = sourcePath
	in.SourceSHA256 = textSHA256s(sourceData)
	return m.Check(manifestPath, in)
}

// ManifestInputs are the files a manifest is checked against, already read.
type ManifestInputs struct {
	OutputDir      string
	EnvJSON        []byte         // env.json's content
	Resolved       map[string]any // config.resolved.yaml, parsed
	ResolvedSHA256 []string       // accepted hashes of config.resolved.yaml (see textSHA256s)
	SourcePath     string
	SourceSHA256   []string // accepted hashes of the source config
	Deterministic  *bool    // the repro.deterministic the writing command records; nil: not checked
}

// Check compares the manifest with the inputs; name is the file named in errors.
func (m *Manifest) Check(name string, in ManifestInputs) error {
	out := in.OutputDir
	for _, p := range []struct{ field, path string }{
		{"paths.output_dir", m.Paths.OutputDir}, {"paths.env_json", m.Paths.EnvJSON},
		{"paths.config_resolved_yaml", m.Paths.ConfigResolvedYAML}, {"paths.run_manifest_json", m.Paths.RunManifestJSON},
	} {
		if !filepath.IsAbs(p.path) {
			return fmt.Errorf("%s: %s: %q is not absolute", name, p.field, p.path)
		}
		if _, ok := evidence.Within(out, p.path); !ok {
			return fmt.Errorf("%s: %s: %q is outside the output directory %s", name, p.field, p.path, out)
		}
	}
	if !slices.Contains(in.SourceSHA256, m.Config.SourceSHA256) {
		return fmt.Errorf("%s: config.source.sha256: %s, but %s hashes to %s", name, m.Config.SourceSHA256, in.SourcePath, first(in.SourceSHA256))
	}
	if !slices.Contains(in.ResolvedSHA256, m.Config.ResolvedFileSHA256) {
		return fmt.Errorf("%s: config.resolved_file_sha256: %s, but %s hashes to %s", name, m.Config.ResolvedFileSHA256, ResolvedConfigFile, first(in.ResolvedSHA256))
	}
	if in.Deterministic != nil && m.Deterministic != *in.Deterministic {
		return fmt.Errorf("%s: repro.deterministic: %t, but the command that wrote it records %t", name, m.Deterministic, *in.Deterministic)
	}
	train, _ := in.Resolved["train"].(map[string]any)
	if seed := train["seed"]; !equalValues(m.Seed, seed) {
		return fmt.Errorf("%s: repro.seed: %d, but %s has train.seed %s", name, m.Seed, ResolvedConfigFile, brief(seed))
	}
	if p, d := firstDifference("", in.Resolved, m.Config.Resolved); p != "" {
		return fmt.Errorf("%s: config.resolved.%s: %s (compared with %s)", name, p, d, ResolvedConfigFile)
	}
	env, err := decodeJSONFile(in.EnvJSON)
	if err != nil {
		return fmt.Errorf("%s: env: cannot compare, env.json is not JSON: %v", name, err)
	}
	if p, d := firstDifference("", env, m.Env); p != "" {
		return fmt.Errorf("%s: env.%s: %s (compared with env.json)", name, p, d)
	}
	return nil
}

// textSHA256s returns the sha256 of the file's bytes and, when it differs, of its text as
// Python's read_text() gives it (universal newlines: \r\n and \r become \n), which is what
// difftrain hashes.
func textSHA256s(data []byte) []string {
	sums := []string{hexSHA256(data)}
	text := strings.ReplaceAll(strings.ReplaceAll(string(data), "\r\n", "\n"), "\r", "\n")
	if text != string(data) {
		sums = append(sums, hexSHA256([]byte(text)))
	}
	return sums
}

func hexSHA256(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}

func first(list []string) string {
	if len(list) == 0 {
		return "(nothing)"
	}
	return list[0]
}
