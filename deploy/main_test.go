package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/difftrain/gpusmoke/internal/testenv"
)

// pkgTmp holds what several tests share (the built bundles); TestMain removes it.
var pkgTmp string

func TestMain(m *testing.M) {
	var err error
	pkgTmp, err = os.MkdirTemp("", "gpusmoke-deploy-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "deploy tests:", err)
		os.Exit(2)
	}
	code := m.Run()
	os.RemoveAll(pkgTmp)
	os.Exit(code)
}

// repoRoot is the module root: go test runs in deploy/.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root %s: %v", root, err)
	}
	return root
}

// baseEnv is the test's environment without the suite's settings, fixture knobs, the user's
// Python, pip, hub and CUDA settings (testenv.Shell), a Slurm job's variables or the bundle's
// make settings, with extra appended.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case testenv.Shell(k), strings.HasPrefix(k, "SLURM_"), strings.HasPrefix(k, "DEVICE_CHECK_"),
			k == "VERSION", k == "ARCH", k == "BUNDLE_TAGS", k == "DIST", k == "GLIBC_SYSROOT":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// result is a finished command: its exit code and its output.
type result struct {
	code           int
	stdout, stderr string
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\n--- stdout\n%s\n--- stderr\n%s", r.code, tail(r.stdout, 60), tail(r.stderr, 60))
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// run runs argv in dir with env (nil: baseEnv()); a failure to start fails the test.
func run(t *testing.T, dir string, env []string, argv ...string) result {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = dir
	if env == nil {
		env = baseEnv()
	}
	cmd.Env = env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("%s: %v", strings.Join(argv, " "), err)
	}
	return r
}

// A bundle built once per variant for the whole package.
type builtBundle struct {
	once    sync.Once
	tarball string
	err     error
}

var bundles sync.Map // tags → *builtBundle

// bundleTarball builds `make bundle` with BUNDLE_TAGS=tags for this machine's arch, once per
// package run, into pkgTmp, and returns the tarball's path.
func bundleTarball(t *testing.T, tags string) string {
	t.Helper()
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make bundle: make is not on PATH")
	}
	v, _ := bundles.LoadOrStore(tags, &builtBundle{})
	b := v.(*builtBundle)
	b.once.Do(func() {
		variant := strings.ReplaceAll(tags, " ", "-") // gpu, or gpu-fakegpu (the Slurm node-run test)
		suffix := ""
		if tags == "" {
			variant, suffix = "nogpu", "-nogpu"
		}
		dist := filepath.Join(pkgTmp, "dist-"+variant)
		r := run(t, repoRoot(t), baseEnv("DIST="+dist, "VERSION=test", "BUNDLE_TAGS="+tags, "ARCH="),
			"make", "--no-print-directory", "bundle")
		if r.code != 0 {
			b.err = fmt.Errorf("make bundle BUNDLE_TAGS=%q: %s", tags, r)
			return
		}
		b.tarball = filepath.Join(dist, "gpusmoke-test-linux-"+runtime.GOARCH+suffix+".tar.gz")
		if _, err := os.Stat(b.tarball); err != nil {
			b.err = fmt.Errorf("make bundle: %w\n%s", err, r)
		}
	})
	if b.err != nil {
		t.Fatal(b.err)
	}
	if b.tarball == "" {
		t.Fatalf("make bundle BUNDLE_TAGS=%q: an earlier test's build of it stopped", tags)
	}
	return b.tarball
}

// unpackedBundle unpacks the bundle with BUNDLE_TAGS=tags into a new temp directory and returns
// the bundle's own folder in it.
func unpackedBundle(t *testing.T, tags string) string {
	t.Helper()
	tb := bundleTarball(t, tags)
	dst := t.TempDir()
	if err := untar(tb, dst); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dst, strings.TrimSuffix(filepath.Base(tb), ".tar.gz"))
}

// untar unpacks a .tar.gz of plain files and folders into dst.
func untar(path, dst string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("untar: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("untar %s: %w", path, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("untar %s: %w", path, err)
		}
		p := filepath.Join(dst, filepath.FromSlash(h.Name))
		if !strings.HasPrefix(p, filepath.Clean(dst)+string(filepath.Separator)) {
			return fmt.Errorf("untar %s: %s lies outside the target", path, h.Name)
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return fmt.Errorf("untar %s: %w", path, err)
			}
		case tar.TypeReg:
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode)&0o777)
			if err != nil {
				return fmt.Errorf("untar %s: %w", path, err)
			}
			_, err = io.Copy(w, tr)
			if cerr := w.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("untar %s: %s: %w", path, h.Name, err)
			}
		default:
			return fmt.Errorf("untar %s: %s: unexpected entry type %q", path, h.Name, h.Typeflag)
		}
	}
}

// writeScript writes an executable script.
func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
}
