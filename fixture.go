// Package gpusmoke bundles the difftrain stand-in, its plan and the stand-in model packages, which the smoke suite runs against when no checkout is given.
package gpusmoke

import (
	"embed"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/difftrain/gpusmoke/runbook"
)

//go:embed all:testdata/difftrain
var fixture embed.FS

//go:embed all:testdata/standins
var standins embed.FS

//go:embed testdata/fixture-plan.yaml
var fixturePlan []byte

//go:embed testdata/fixture-pytest-lanes-plan.yaml
var fixtureLanesPlan []byte

// FixturePlan is the bundled fixture's variant of the built-in plan of that name (runbook's
// plan.Builtins), which deviates from it (with reasons) only where an offline stand-in must;
// path names the file it was read from. ok is false for a name with no variant.
func FixturePlan(name string) (b []byte, path string, ok bool) {
	switch name {
	case runbook.RunbookPlan:
		return fixturePlan, "testdata/fixture-plan.yaml (embedded)", true
	case runbook.PytestLanesPlan:
		return fixtureLanesPlan, "testdata/fixture-pytest-lanes-plan.yaml (embedded)", true
	}
	return nil, "", false
}

// WriteFixture copies the bundled difftrain stand-in to dir, which must not exist yet.
func WriteFixture(dir string) error { return writeTree(fixture, "testdata/difftrain", dir) }

// WriteStandins copies the stand-in model packages (diffusers, transformers, datasets,
// torchvision; testdata/standins/README.md) to dir, which must not exist yet: put it first on
// PYTHONPATH.
func WriteStandins(dir string) error { return writeTree(standins, "testdata/standins", dir) }

func writeTree(fsys embed.FS, root, dir string) error {
	if err := os.Mkdir(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", root, err)
	}
	return fs.WalkDir(fsys, root, func(p string, d fs.DirEntry, err error) error {
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
		b, err := fsys.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".py") && strings.Contains(p, "/scripts/") {
			mode = 0o755
		}
		if err := os.WriteFile(dst, b, mode); err != nil {
			return fmt.Errorf("write %s: %w", dst, err)
		}
		return nil
	})
}
