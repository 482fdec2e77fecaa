// Package gpusmoke bundles the difftrain stand-in and its plan, which the smoke suite runs against when no checkout is given.
package gpusmoke

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

//go:embed all:testdata/difftrain
var fixture embed.FS

//go:embed testdata/fixture-plan.yaml
var fixturePlan []byte

// FixturePlan is the bundled fixture's plan, which deviates from the runbook (with reasons)
// only where an offline stand-in must.
func FixturePlan() []byte { return fixturePlan }

// WriteFixture copies the bundled difftrain stand-in to dir, which must not exist yet.
func WriteFixture(dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("write fixture: %w", err)
	}
	root := "testdata/difftrain"
	return fs.WalkDir(fixture, root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Name() == "__pycache__" || strings.HasSuffix(p, ".pyc") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		dst := filepath.Join(dir, strings.TrimPrefix(strings.TrimPrefix(p, root), "/"))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := fixture.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read fixture %s: %w", p, err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".py") && strings.Contains(p, "/scripts/") {
			mode = 0o755
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return fmt.Errorf("write fixture: %w", err)
		}
		return nil
	})
}
