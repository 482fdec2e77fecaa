package gpuenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// cgoFree are the packages that must build with CGO_ENABLED=0: gpuenv, and the renderer, which
// reads gpu_env.json through it. Only gpuenv/nvmlbind binds NVML through go-nvml, with cgo.
var cgoFree = []string{"./gpuenv", "./checklist", "./cmd/checklist"}

// goCmd runs the go command in the module root with env added to the environment.
func goCmd(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command("go", args...)
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	require.NoError(t, err, "go %s:\n%s", strings.Join(args, " "), out)
	return string(out)
}

// No package outside the standard library that cgoFree depends on has cgo files; go-nvml in
// particular is not among them. Listed with cgo on, so that cgo files count.
func TestNoCgoDependencies(t *testing.T) {
	out := goCmd(t, []string{"CGO_ENABLED=1"}, append([]string{"list", "-deps",
		"-f", `{{.ImportPath}}	{{.Standard}}	{{len .CgoFiles}}	{{join .Imports " "}}`}, cgoFree...)...)
	importers := map[string][]string{}
	var listed, bad []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(line, "\t")
		require.Len(t, f, 4, "go list line %q", line)
		path, std, cgo := f[0], f[1] == "true", f[2] != "0"
		listed = append(listed, path)
		for _, imp := range strings.Fields(f[3]) {
			importers[imp] = append(importers[imp], path)
		}
		if !std && (cgo || strings.HasPrefix(path, "github.com/NVIDIA/go-nvml")) {
			bad = append(bad, path)
		}
	}
	for _, p := range cgoFree {
		require.Contains(t, listed, "github.com/difftrain/gpusmoke/"+strings.TrimPrefix(p, "./"), "go list lists the packages themselves")
	}
	var why []string
	for _, p := range bad {
		why = append(why, p+" (imported by "+strings.Join(importers[p], ", ")+")")
	}
	require.Empty(t, why, "these need cgo; keep NVML behind gpuenv/nvmlbind")
	require.NotContains(t, listed, "github.com/difftrain/gpusmoke/gpuenv/nvmlbind", "the binding is for the suite, not the renderer")
}

// What issue 10 asks: the renderer builds without cgo.
func TestChecklistBuildsWithoutCgo(t *testing.T) {
	goCmd(t, []string{"CGO_ENABLED=0"}, "build", "-o", filepath.Join(t.TempDir(), "checklist"), "./cmd/checklist")
}
