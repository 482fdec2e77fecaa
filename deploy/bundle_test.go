package deploy

import (
	"archive/tar"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// bundleFiles is what every bundle holds, in its one top-level folder.
var bundleFiles = []string{"BUILDINFO", "README.md", "checklist", "device-check", "gotestsum", "gpusmoke-job.yaml",
	"gpusmoke.sbatch", "run-smoke", "smoke.test", "test2json"}

// checkTarball lists a bundle tarball and compares it with bundleFiles.
func checkTarball(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("bundle: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("bundle %s: %w", path, err)
	}
	top := strings.TrimSuffix(filepath.Base(path), ".tar.gz") + "/"
	var got []string
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("bundle %s: %w", path, err)
		}
		if h.Name == top {
			continue
		}
		name, ok := strings.CutPrefix(h.Name, top)
		if !ok {
			return fmt.Errorf("bundle %s: %s is outside the folder %s", path, h.Name, top)
		}
		if h.Typeflag == tar.TypeReg && name != "README.md" && name != "BUILDINFO" && name != "gpusmoke-job.yaml" && h.Mode&0o111 == 0 {
			return fmt.Errorf("bundle %s: %s is not executable", path, h.Name)
		}
		got = append(got, name)
	}
	slices.Sort(got)
	for _, w := range bundleFiles {
		if !slices.Contains(got, w) {
			return fmt.Errorf("bundle %s: no %s%s (it holds %s)", path, top, w, strings.Join(got, " "))
		}
	}
	for _, g := range got {
		if !slices.Contains(bundleFiles, g) {
			return fmt.Errorf("bundle %s: unexpected %s%s", path, top, g)
		}
	}
	return nil
}

// noGoPath makes a folder of symlinks to exactly what run-smoke and the fixture need, to be the
// whole PATH of a run.
func noGoPath(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	for _, c := range []string{"bash", "env", "dirname", "date", "mkdir", "git"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("bundle run: %s is not on PATH", c)
		}
		if err := os.Symlink(p, filepath.Join(bin, c)); err != nil {
			t.Fatal(err)
		}
	}
	// The interpreter itself, not a shim such as pyenv's, which needs more on PATH.
	cmd := exec.Command("python3", "-c", "import sys; print(sys.executable)")
	cmd.Env = baseEnv()
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("bundle run: no python3: %v", err)
	}
	if err := os.Symlink(strings.TrimSpace(string(out)), filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	return bin
}

// checkNoGo proves that `go` is not found on PATH as a shell resolves it.
func checkNoGo(path string) error {
	cmd := exec.Command("/bin/sh", "-c", "command -v go")
	cmd.Env = []string{"PATH=" + path}
	if out, err := cmd.Output(); err == nil {
		return fmt.Errorf("PATH=%s: go is found there (%s)", path, strings.TrimSpace(string(out)))
	}
	return nil
}

// checkEvidence checks that a run left its JUnit, checklist and report.
func checkEvidence(dir string) error {
	files := []string{"junit.xml", "checklist.md", "report.md"}
	if strings.HasPrefix(filepath.Base(dir), "gpu") {
		// A GPU's run of a node run is a plain go test run: no gotestsum, no junit.xml (the
		// node's has a testsuite per GPU); its documents and its own seal.
		files = []string{"run.json", "checklist.md", "report.md", "SHA256SUMS"}
	}
	for _, f := range files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			return fmt.Errorf("evidence %s: %w", dir, err)
		}
		if st.Size() == 0 {
			return fmt.Errorf("evidence %s: %s is empty", dir, f)
		}
	}
	return nil
}

// runBundle runs the unpacked bundle's run-smoke against the fixture, with only pathDir on PATH.
func runBundle(t *testing.T, bundle, pathDir string, extra ...string) (result, string) {
	t.Helper()
	work := t.TempDir()
	out := filepath.Join(work, "evidence")
	env := append([]string{"PATH=" + pathDir, "HOME=" + work, "TMPDIR=" + t.TempDir(), "LANG=C.UTF-8",
		"SMOKE_OUT=" + out}, extra...)
	return run(t, work, env, filepath.Join(bundle, "run-smoke")), out
}

// TestBundleRunsWithoutGo unpacks the tarball in a clean directory and runs it against the
// bundled fixture with no Go on PATH. It is the no-gpu variant, which runs end to end here.
func TestBundleRunsWithoutGo(t *testing.T) {
	tb := bundleTarball(t, "")
	if err := checkTarball(tb); err != nil {
		t.Fatal(err)
	}
	bundle := unpackedBundle(t, "")
	bin := noGoPath(t)
	if err := checkNoGo(bin); err != nil {
		t.Fatal(err)
	}
	r, out := runBundle(t, bundle, bin)
	if r.code != 0 {
		t.Fatalf("run-smoke: %s", r)
	}
	if err := checkEvidence(out); err != nil {
		t.Fatalf("%v\n%s", err, r)
	}
	if v := run(t, out, []string{"PATH=" + bin}, filepath.Join(bundle, "checklist"), "verify", out); v.code != 0 {
		t.Fatalf("checklist verify: %s", v)
	}
	report, _ := os.ReadFile(filepath.Join(out, "report.md"))
	if !strings.Contains(string(report), "PASS") {
		t.Errorf("report.md shows no PASS:\n%s", report)
	}
}

// TestBundleChecksCanFail gives each check of the bundle test a broken input.
func TestBundleChecksCanFail(t *testing.T) {
	dir := t.TempDir()

	// A tarball without smoke.test.
	tb := filepath.Join(dir, "gpusmoke-x-linux-amd64.tar.gz")
	f, err := os.Create(tb)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(f)
	tw := tar.NewWriter(zw)
	for _, n := range bundleFiles {
		if n == "smoke.test" {
			continue
		}
		body := []byte("#!/bin/sh\n")
		if err := tw.WriteHeader(&tar.Header{Name: "gpusmoke-x-linux-amd64/" + n, Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(body); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	if err := checkTarball(tb); err == nil || !strings.Contains(err.Error(), "no gpusmoke-x-linux-amd64/smoke.test") {
		t.Errorf("a tarball without smoke.test: got %v", err)
	}

	// A PATH that holds go.
	goDir := filepath.Join(dir, "bin")
	writeScript(t, filepath.Join(goDir, "go"), "#!/bin/sh\n")
	if err := checkNoGo(goDir); err == nil {
		t.Error("a PATH with go passed checkNoGo")
	}

	// Evidence without the checklist.
	ev := filepath.Join(dir, "ev")
	if err := os.MkdirAll(ev, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(ev, "junit.xml"), []byte("<testsuites/>"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := checkEvidence(ev); err == nil || !strings.Contains(err.Error(), "checklist.md") {
		t.Errorf("evidence without checklist.md: got %v", err)
	}
}

// TestBundleNeedsPython: the restricted PATH is the one the run uses: without python3 on it,
// the run stops at once with the one-line SMOKE_PYTHON error.
func TestBundleNeedsPython(t *testing.T) {
	bundle := unpackedBundle(t, "")
	bin := noGoPath(t)
	if err := os.Remove(filepath.Join(bin, "python3")); err != nil {
		t.Fatal(err)
	}
	r, _ := runBundle(t, bundle, bin)
	if r.code == 0 || !strings.Contains(r.stdout+r.stderr, "SMOKE_PYTHON=python3: interpreter not found") {
		t.Fatalf("run-smoke without python3 on PATH: want the SMOKE_PYTHON error, got %s", r)
	}
}

// TestBundleGPUTagged: the tarball that ships is gpu-tagged, so on a machine without an NVIDIA
// driver it fails preflight, as documented, and still leaves its evidence.
func TestBundleGPUTagged(t *testing.T) {
	tb := bundleTarball(t, "gpu")
	if err := checkTarball(tb); err != nil {
		t.Fatal(err)
	}
	if want := "gpusmoke-test-linux-" + runtime.GOARCH + ".tar.gz"; filepath.Base(tb) != want {
		t.Fatalf("tarball %s, want %s", filepath.Base(tb), want)
	}
	bundle := unpackedBundle(t, "gpu")
	info, err := os.ReadFile(filepath.Join(bundle, "BUILDINFO"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), "smoke.test tags: gpu\n") {
		t.Fatalf("BUILDINFO does not say gpu:\n%s", info)
	}
	if _, err := os.Stat("/proc/driver/nvidia/version"); err == nil {
		t.Skip("this machine has an NVIDIA driver: make device-check covers the gpu bundle here")
	}
	r, out := runBundle(t, bundle, noGoPath(t))
	if r.code != 1 || !strings.Contains(r.stdout, "preflight: no NVIDIA driver/GPU") {
		t.Fatalf("gpu-tagged run without a driver: want exit 1 with the preflight failure, got %s", r)
	}
	if err := checkEvidence(out); err != nil {
		t.Fatal(err)
	}
}

var glibcLine = regexp.MustCompile(`(?m)^smoke\.test needs glibc: (\d+)\.(\d+)`)

// TestBundleOldGlibc: linked against Debian 11's glibc (GLIBC_SYSROOT=bullseye, the default),
// smoke.test asks for no symbol version newer than 2.17, and runs the whole fixture under
// glibc 2.31's own loader and libc, older than the 2.34 that ruled out Ubuntu 20.04, RHEL 8 and
// Amazon Linux 2.
func TestBundleOldGlibc(t *testing.T) {
	bundle := unpackedBundle(t, "")
	info, err := os.ReadFile(filepath.Join(bundle, "BUILDINFO"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(info), "linked against: Debian 11") {
		t.Skipf("the bundle was linked against the build machine's glibc (the bullseye sysroot could not be fetched):\n%s", info)
	}
	if err := checkGlibc(string(info), 2, 17); err != nil {
		t.Fatal(err)
	}
	triple := map[string]string{"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu"}[runtime.GOARCH]
	loader := map[string]string{"amd64": "lib64/ld-linux-x86-64.so.2", "arm64": "lib/ld-linux-aarch64.so.1"}[runtime.GOARCH]
	root := filepath.Join(repoRoot(t), ".bin", "sysroot-bullseye-"+runtime.GOARCH)
	if _, err := os.Stat(filepath.Join(root, loader)); err != nil {
		t.Skipf("no glibc 2.31 loader to run under: %v", err)
	}
	work := t.TempDir()
	out := filepath.Join(work, "evidence")
	env := baseEnv("TMPDIR="+t.TempDir(), "SMOKE_OUT="+out)
	r := run(t, work, env, filepath.Join(root, loader), "--library-path", filepath.Join(root, "lib", triple),
		filepath.Join(bundle, "smoke.test"), "-test.v", "-test.count=1")
	if r.code != 0 || !strings.Contains(r.stdout, "--- PASS: Test06Resume") {
		t.Fatalf("smoke.test under glibc 2.31: %s", r)
	}
}

// checkGlibc reads BUILDINFO's glibc figure and wants it at most major.minor.
func checkGlibc(info string, major, minor int) error {
	m := glibcLine.FindStringSubmatch(info)
	if m == nil {
		return fmt.Errorf("BUILDINFO: no 'smoke.test needs glibc: x.y' line in:\n%s", info)
	}
	var ma, mi int
	fmt.Sscan(m[1], &ma)
	fmt.Sscan(m[2], &mi)
	if ma > major || (ma == major && mi > minor) {
		return fmt.Errorf("BUILDINFO: smoke.test needs glibc %d.%d, want at most %d.%d", ma, mi, major, minor)
	}
	return nil
}

func TestCheckGlibcCanFail(t *testing.T) {
	if err := checkGlibc("smoke.test needs glibc: 2.34\n", 2, 17); err == nil {
		t.Error("glibc 2.34 passed a 2.17 ceiling")
	}
	if err := checkGlibc("smoke.test needs glibc: 2.3.3\n", 2, 17); err != nil {
		t.Error(err)
	}
	if err := checkGlibc("nothing", 2, 17); err == nil {
		t.Error("a BUILDINFO without the figure passed")
	}
}
