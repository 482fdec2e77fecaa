package gpusmoke_test

// End-to-end tests of the edges of the harness (issue "Hostile code, round 2", items 8-12; issue
// "One verdict, said once", items 2, 3, 10, 15 and 17): paths reached through a symlink, links
// and special files in the evidence, a sparse checkpoint, repro files for every failed step and
// whatever the environment holds, misspelt settings and flags, the harness's version, leftovers
// named at once, and a checkout left as the harness found it.

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	gpusmoke "github.com/difftrain/gpusmoke"
	"github.com/difftrain/gpusmoke/evidence"
)

// SMOKE_OUT inside the checkout is refused however either path is spelt: through a symlink to
// the checkout's parent, or to where SMOKE_OUT lies. So is SMOKE_OUT inside a pytest lane's
// temporary directory, which pytest empties when the lane starts.
func TestEdgesEvidenceInsideTheCheckoutThroughASymlink(t *testing.T) {
	ws := t.TempDir()
	dir := filepath.Join(ws, "difftrain")
	require.NoError(t, gpusmoke.WriteFixture(dir))
	link := filepath.Join(t.TempDir(), "link")
	require.NoError(t, os.Symlink(ws, link))
	plan, err := filepath.Abs("testdata/fixture-plan.yaml")
	require.NoError(t, err)
	lanes, err := filepath.Abs("testdata/fixture-pytest-lanes-plan.yaml")
	require.NoError(t, err)
	standins, err := filepath.Abs("testdata/standins")
	require.NoError(t, err)
	for _, tc := range []struct{ name, checkout, out, plan, want string }{
		{"the checkout through a symlink", filepath.Join(link, "difftrain"), filepath.Join(dir, "evidence-1"), plan,
			`SMOKE_OUT=\S+/evidence-\d: inside \S+/difftrain, which the run checks or writes`},
		{"SMOKE_OUT through a symlink", dir, filepath.Join(link, "difftrain", "evidence-2"), plan,
			`SMOKE_OUT=\S+/evidence-\d: inside \S+/difftrain, which the run checks or writes`},
		{"inside a pytest lane's temporary directory", dir, filepath.Join(link, "gpusmoke-pytest", "02-unit-lane", "evidence"), lanes,
			`SMOKE_OUT=\S+/evidence: inside \S+/gpusmoke-pytest/02-unit-lane, which the run checks or writes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			badSettingsRun(t, tc.want, "DIFFTRAIN_DIR="+tc.checkout, "SMOKE_OUT="+tc.out, "SMOKE_PLAN="+tc.plan,
				"PYTHONPATH="+standins+string(os.PathListSeparator)+filepath.Join(dir, "src"))
			require.NoDirExists(t, tc.out, "a refused SMOKE_OUT is not left behind")
		})
	}
}

// An earlier run's output directory, moved into the evidence with SMOKE_LEFTOVERS=move, that
// holds a dangling symlink, or a FIFO and a symlink to it: the run passes, is sealed, and
// SHA256SUMS' companion lists each one; the seal opens none of them, so nothing hangs; make
// verify and sha256sum agree, and a link changed after the seal is named.
func TestEdgesSealKeepsLinksAndSpecialFiles(t *testing.T) {
	for _, tc := range []struct {
		name   string
		make   func(t *testing.T, dir string)
		listed []string
	}{
		{"a dangling symlink", func(t *testing.T, dir string) {
			require.NoError(t, os.Symlink("checkpoint-9.pt", filepath.Join(dir, "latest.pt")))
		}, []string{`symlink "leftovers/difftrain/_tmp_run/latest.pt" -> "checkpoint-9.pt"`}},
		{"a symlink to a FIFO outside it", func(t *testing.T, dir string) {
			fifo := filepath.Join(filepath.Dir(dir), "progress.fifo")
			require.NoError(t, syscall.Mkfifo(fifo, 0o644))
			require.NoError(t, os.Symlink(fifo, filepath.Join(dir, "latest.pt")))
		}, []string{`symlink "leftovers/difftrain/_tmp_run/latest.pt" -> "` + "/"}},
		{"a FIFO", func(t *testing.T, dir string) {
			require.NoError(t, syscall.Mkfifo(filepath.Join(dir, "progress.fifo"), 0o644))
			require.NoError(t, os.Symlink("progress.fifo", filepath.Join(dir, "latest.pt")))
		}, []string{`symlink "leftovers/difftrain/_tmp_run/latest.pt" -> "progress.fifo"`, `fifo "leftovers/difftrain/_tmp_run/progress.fifo"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, env := fixtureCheckout(t)
			tmp := filepath.Join(dir, "_tmp_run")
			require.NoError(t, os.MkdirAll(tmp, 0o755))
			tc.make(t, tmp)
			r := startSmoke(t, append(env, "SMOKE_LEFTOVERS=move", "TESTFLAGS=-run Test0[0-4]")...).wait(2 * time.Minute)
			require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
			requireDocuments(t, r.out)
			listed := r.read(t, evidence.SpecialsFile)
			for _, want := range tc.listed {
				require.Contains(t, listed, want)
			}
			require.Contains(t, r.read(t, evidence.SumsFile), "  "+evidence.SpecialsFile+"\n", "the seal covers its companion")
			sums := exec.Command("sha256sum", "--quiet", "-c", evidence.SumsFile)
			sums.Dir = r.out
			out, err := sums.CombinedOutput()
			require.NoError(t, err, "sha256sum -c: %s", out)
			verify := func() (string, error) {
				cmd := exec.Command("make", "--no-print-directory", "verify", "RUNS="+r.out)
				cmd.Env = cleanEnv()
				out, err := cmd.CombinedOutput()
				return string(out), err
			}
			got, err := verify()
			require.NoError(t, err, got)

			latest := filepath.Join(r.out, "leftovers/difftrain/_tmp_run/latest.pt")
			require.NoError(t, os.Remove(latest))
			require.NoError(t, os.Symlink("/etc/passwd", latest))
			got, err = verify()
			require.Error(t, err, got)
			require.Contains(t, got, "1 mismatched (leftovers/difftrain/_tmp_run/latest.pt)")
		})
	}
}

// A 10 GiB sparse checkpoint (4 KiB of it allocated) is referenced, not hashed whole: its
// reference says how much of it the sha256 covers, and why, and so does the section's note.
func TestEdgesSparseCheckpoint(t *testing.T) {
	const size = 10 << 30
	r := startSmoke(t, "FIXTURE_SPARSE_CHECKPOINT=10737418240", "TESTFLAGS=-run Test0[0-4]").wait(4 * time.Minute)
	require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
	ref := r.read(t, "artifacts/04-train/checkpoint-2.pt.sha256ref")
	require.Contains(t, ref, "size: 10737418240\n")
	m := regexp.MustCompile(`(?m)^hashed: (\d+)$`).FindStringSubmatch(ref)
	require.NotNil(t, m, "the reference says how many bytes its sha256 covers:\n%s", ref)
	require.Equal(t, "268435456", m[1], "the copy cap's worth")
	require.Regexp(t, `(?m)^reason: larger than the 268435456-byte copy cap; sparse \(\d+ bytes allocated of 10737418240\): its sha256 covers its first 268435456 bytes \(head -c 268435456 \| sha256sum\), not the whole file$`, ref)

	// The sha256 is the first 256 MiB's, as head -c gives them.
	var info evidence.Run
	require.NoError(t, json.Unmarshal([]byte(r.read(t, evidence.RunFile)), &info))
	f, err := os.Open(filepath.Join(info.DifftrainDir, "_tmp_run", "checkpoint-2.pt"))
	require.NoError(t, err)
	defer f.Close()
	h := sha256.New()
	_, err = io.Copy(h, io.LimitReader(f, 256<<20))
	require.NoError(t, err)
	require.Contains(t, ref, "sha256: "+hex.EncodeToString(h.Sum(nil))+"\n")

	require.Regexp(t, `checkpoint-2\.pt: 10737418240 bytes, sparse \(\d+ allocated\): referenced by the sha256 of its first 268435456 bytes, not hashed whole \(artifacts/04-train/checkpoint-2\.pt\.sha256ref\)`,
		r.notes("Test04Train"))
}

// A step that exits 0 but fails on its log (a NaN loss) leaves repro.sh and repro.env, and
// repro.sh reruns it from a fresh shell.
func TestEdgesReproAfterANaNLoss(t *testing.T) {
	r := makeSmoke(t, "FIXTURE_NAN=1", "TESTFLAGS=-run Test0[0-4]")
	require.Regexp(t, `^04-train: loss is NaN or Inf`, requireHalted(t, r, 4))
	require.FileExists(t, filepath.Join(r.out, evidence.ReproEnvFile))
	require.Contains(t, r.sections["Test04Train"].Artifacts, evidence.ReproFile)
	out, err := exec.Command("env", "-i", "PATH=/usr/bin:/bin", "bash", filepath.Join(r.out, evidence.ReproFile)).CombinedOutput()
	require.NoError(t, err, "the step itself exits 0:\n%s", out)
	require.Contains(t, string(out), "loss=nan")
}

// An exported shell function in the environment (Lmod's `module`, as bash exports it) does not
// stop the repro files: repro.sh hands it to the step as it was, and repro.env says so.
func TestEdgesReproWithAnExportedShellFunction(t *testing.T) {
	fn := "() {  eval \"$(/usr/share/lmod/lmod/libexec/lmod bash \"$@\")\"\n}"
	r := makeSmoke(t, "BASH_FUNC_module%%="+fn, "FIXTURE_FAIL=train_text_to_image", "FIXTURE_LEAK=BASH_FUNC_module%%",
		"TESTFLAGS=-run Test0[0-4]")
	requireHalted(t, r, 4)
	require.Contains(t, r.read(t, evidence.ReproEnvFile), "# BASH_FUNC_module%% is not a shell variable's name: repro.sh passes it to env -i as it was\n")
	out, err := exec.Command("env", "-i", "PATH=/usr/bin:/bin", "bash", filepath.Join(r.out, evidence.ReproFile)).CombinedOutput()
	require.Error(t, err, "the step must fail again:\n%s", out)
	require.Contains(t, string(out), "RuntimeError: injected failure (FIXTURE_FAIL)")
	require.Contains(t, string(out), "[fixture] BASH_FUNC_module%%="+fn+"\n", "the step gets the function back")
}

// makeSmokeRefused runs make smoke with env and expects it refused before anything ran: exit
// status 2, no SMOKE_OUT, and one line of output but make's own (its error line, and the build
// commands it echoes when it rebuilds a binary), which it returns.
func makeSmokeRefused(t *testing.T, env ...string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "evidence")
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Env = cleanEnv(append(env, "SMOKE_OUT="+out)...)
	got, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", got)
	require.Equal(t, 2, ee.ExitCode(), "%s", got)
	var own []string
	for _, l := range strings.Split(strings.TrimRight(string(got), "\n"), "\n") {
		if !strings.HasPrefix(l, "make: ***") && !strings.HasPrefix(l, "go ") && !strings.HasPrefix(l, "go: ") &&
			!strings.HasPrefix(l, "CGO_ENABLED=0 go build") {
			own = append(own, l)
		}
	}
	require.Len(t, own, 1, "one line, then make's: %q", got)
	require.NoDirExists(t, out, "nothing ran")
	return own[0]
}

// A SMOKE_* or GPUSMOKE_* variable the harness does not know is a bad setting, through make
// smoke as a user types it: one line naming it and the closest known name, exit 2, nothing run.
func TestEdgesUnknownSettings(t *testing.T) {
	for _, tc := range []struct{ env, want string }{
		{"SMOKE_PLANN=pytest-lanes", `^smoke: SMOKE_PLANN is not a setting of the harness \(did you mean SMOKE_PLAN\?\)`},
		{"SMOKE_OUTDIR=/tmp/elsewhere", `^smoke: SMOKE_OUTDIR is not a setting of the harness \(did you mean SMOKE_OUT\?\)`},
		{"GPUSMOKE_SHARD=/shared", `^smoke: GPUSMOKE_SHARD is not a setting of the harness \(did you mean GPUSMOKE_SHARED\?\)`},
	} {
		t.Run(tc.env, func(t *testing.T) {
			line := makeSmokeRefused(t, tc.env)
			require.Regexp(t, tc.want, line)
			require.NotContains(t, line, strings.SplitN(tc.env, "=", 2)[1], "a value is never printed: it may be a secret")
		})
	}
}

// harnessNames are the words of the project's files that look like the harness's variables.
var harnessNames = regexp.MustCompile(`\b(GPU)?SMOKE_[A-Z0-9_]*[A-Z0-9]\b`)

// Every SMOKE_* and GPUSMOKE_* name that the project's code, scripts and documents use is in
// the one list of known variables, but in the tests of the check itself, which misspell names
// on purpose, and runner's SMOKE_X, a variable its test gives a child.
func TestEdgesEveryHarnessVariableIsKnown(t *testing.T) {
	misspelt := []string{"SMOKE_X"}
	for _, v := range append(misspelt, "SMOKE_PLANN", "SMOKE_OUTDIR", "GPUSMOKE_SHARD") {
		require.False(t, evidence.KnownVar(v), v)
	}
	seen := map[string][]string{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			switch p {
			case ".git", "runs", "dist", ".bin", "checklist/testdata/runs":
				return filepath.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() || p == "edges_test.go" || p == "evidence/vars_test.go" {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 1<<20), 16<<20)
		for sc.Scan() {
			for _, name := range harnessNames.FindAllString(sc.Text(), -1) {
				if !slices.Contains(seen[name], p) {
					seen[name] = append(seen[name], p)
				}
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Contains(t, seen, "SMOKE_OUT", "the walk found the project's files")
	for name, files := range seen {
		if !slices.Contains(misspelt, name) {
			require.True(t, evidence.KnownVar(name), "%s (in %s) is not in evidence.Vars", name, strings.Join(files, ", "))
		}
	}
}

// A flag go test does not know, given through TESTFLAGS, is one line that names it, exit 2.
func TestEdgesBadTestFlag(t *testing.T) {
	require.Regexp(t, `^smoke: -bogus: not a flag of go test \(go help testflag lists them\)$`, makeSmokeRefused(t, "TESTFLAGS=-bogus"))
}

// gitOut runs git in the repository and returns its output, trimmed.
func gitOut(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("git", args...).Output()
	require.NoError(t, err, "git %v", args)
	return strings.TrimSpace(string(out))
}

// Every build records the harness's version and commit: make smoke, and a plain go test
// (the bundle's test is deploy's TestBundleRecordsItsVersion).
func TestEdgesHarnessVersion(t *testing.T) {
	commit := gitOut(t, "rev-parse", "HEAD")
	if gitOut(t, "status", "--porcelain", "--untracked-files=no") != "" {
		commit += "-dirty"
	}
	want := evidence.Harness{Version: gitOut(t, "describe", "--tags", "--always", "--dirty"), Commit: commit}
	t.Run("make smoke", func(t *testing.T) {
		r := makeSmoke(t, "TESTFLAGS=-run Test00")
		require.Equal(t, evidence.ExitIncomplete, r.exit, "-run left sections out: INCOMPLETE; output:\n%s", r.tail())
		run, err := evidence.ReadRun(r.out)
		require.NoError(t, err)
		require.Equal(t, want, run.Harness)
	})
	t.Run("go test", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "evidence")
		cmd := exec.Command("go", "test", "-count=1", "-run", "Test00", "./smoke")
		cmd.Env = cleanEnv("SMOKE_OUT=" + out)
		got, _ := cmd.CombinedOutput()
		require.Contains(t, string(got), "smoke: INCOMPLETE;", "-run left sections out; output:\n%s", got)
		run, err := evidence.ReadRun(out)
		require.NoError(t, err)
		require.Equal(t, want, run.Harness)
	})
}

// Leftovers in several output directories are named at once, in one line.
func TestEdgesLeftoversNamedAtOnce(t *testing.T) {
	dir, env := fixtureCheckout(t)
	data := filepath.Join(filepath.Dir(dir), "data", "smoke_text2image")
	tmp := filepath.Join(dir, "_tmp_run")
	for _, p := range []string{filepath.Join(data, "00000.png"), filepath.Join(tmp, "env.json")} {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte("x"), 0o644))
	}
	badSettingsRun(t, "leftovers from an earlier run in "+regexp.QuoteMeta(data)+` \(1 file\(s\), e\.g\. 00000\.png\); `+
		regexp.QuoteMeta(tmp)+` \(1 file\(s\), e\.g\. env\.json\): move them away, or set SMOKE_LEFTOVERS=move`,
		append(env, "SMOKE_OUT="+filepath.Join(t.TempDir(), "out"))...)
}

// treeState is every entry under dir, relative, with what it is: a regular file's sha256 and
// mode, a symlink's target, or "dir".
func treeState(t *testing.T, dir string) map[string]string {
	t.Helper()
	state := map[string]string{}
	require.NoError(t, filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			state[rel] = "dir"
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			state[rel] = "-> " + target
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			state[rel] = fi.Mode().String() + " " + hex.EncodeToString(sum[:])
		}
		return nil
	}))
	return state
}

// Nothing of the harness lands in the checkout: after a run of both pytest lanes on a git
// checkout of the fixture, every file under it, .git included, is as it was.
func TestEdgesCheckoutLeftAsFound(t *testing.T) {
	py := debianPython(t, "pytest")
	dir, env := fixtureCheckout(t)
	gitInit(t, dir)
	lanes, err := filepath.Abs("testdata/fixture-pytest-lanes-plan.yaml")
	require.NoError(t, err)
	before := treeState(t, dir)
	r := makeSmoke(t, append(env, "SMOKE_PLAN="+lanes, "SMOKE_PYTHON="+py)...)
	require.Equal(t, 0, r.code, r.tail())
	require.Empty(t, evidence.DiffHashes(before, treeState(t, dir)), "the harness wrote into the checkout")
	require.Contains(t, r.read(t, evidence.RunFile), "-p no:cacheprovider", "the lanes run without pytest's cache")
}
