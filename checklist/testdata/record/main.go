// Command record re-records the evidence directories under checklist/testdata/runs from real
// runs of the suite, then rewrites the renderer's golden files from them. Run it from the
// repository root:
//
//	go run ./checklist/testdata/record                  # every case, then the goldens
//	go run ./checklist/testdata/record -case fail,nan   # only these cases, then the goldens
//	go run ./checklist/testdata/record -goldens=false   # the runs only
//	go run ./checklist/testdata/record -list            # the cases and their settings
//
// Each case is one `make smoke` on the bundled fixture, in a fresh temporary SMOKE_OUT, with
// the recorder's environment cleaned of every setting of the suite (SMOKE_*, FIXTURE_*, PRETEND_*,
// DIFFTRAIN_DIR, GPU, FAKEGPU, TESTFLAGS, PYTHONPATH, MAKEFLAGS, MAKELEVEL, TMPDIR) before the
// case's own are set. Its exit status must be the one the case expects. The evidence directory is then copied
// to checklist/testdata/runs/<case>/ with these changes only:
//
//   - workspace/ (the fixture's scratch checkout) and .smoke.lock are left out: not evidence;
//   - the documents the renderer writes (checklist.md, report.md, summary.json,
//     mvp_smoke_checklist.md) are left out: the tests render them again;
//   - go-test.json is kept in the cases of keepJSON only (it is ~50 KB and no renderer reads it);
//   - in every text file the temporary root becomes /runs (so SMOKE_OUT reads /runs/<case>)
//     and the repository root becomes /gpusmoke; a binary file that holds either is an error;
//   - the harness's version and commit (JSON strings) become v0.0.0-recorded and 40 zeros;
//   - SHA256SUMS is written again over what is kept (evidence.WriteSums).
//
// When every case was recorded, runs/ holds exactly the cases: any other directory there is
// removed. Then `go test -count=1 ./checklist -update` rewrites the goldens, and
// `go test -count=1 ./checklist ./cmd/checklist` checks them. Nothing is replaced when a case
// fails to record. checklist/testdata/README.md lists the cases and what each shows.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/difftrain/gpusmoke"
	"github.com/difftrain/gpusmoke/evidence"
)

// A case is one recorded run.
type recCase struct {
	name string
	what string // one line for the README and -list
	// env are the case's settings; {repo} is the repository root and {root} the temporary
	// directory the runs are recorded in.
	env []string
	// code is the exit code the suite must end with under make smoke (evidence/verdict.go).
	code int
	// copies keeps SMOKE_COPY_CAP_MB at its default, so the checkpoints are copied; otherwise
	// it is 0 and every artifact is a *.sha256ref.
	copies bool
	// keepJSON keeps go-test.json.
	keepJSON bool
	// interrupt sends SIGINT to make's process group once logs/04-train.log has a line.
	interrupt bool
	// plan, when set, is written to {root}/<name>-plan.yaml from testdata/fixture-plan.yaml and
	// named by SMOKE_PLAN.
	plan func(fixturePlan string) (string, error)
	// checkout writes the fixture to {checkout} ({root}/<name>-ws/difftrain) as a git repo of one
	// commit, to be named by DIFFTRAIN_DIR as a real checkout is.
	checkout bool
}

var cases = []recCase{
	{name: "pass", what: "the fixture as a newcomer runs it: 00-06 PASS, AMP NA (no CUDA); real copies under artifacts/, go-test.json kept",
		code: 0, copies: true, keepJSON: true},
	{name: "fail", what: "FIXTURE_FAIL=train_text_to_image: 04-train FAIL, 05-08 blocked; repro.sh",
		env: []string{"FIXTURE_FAIL=train_text_to_image"}, code: 1},
	{name: "nan", what: "FIXTURE_NAN=1: every step logs loss=nan; 04-train FAIL with NaN lines counted",
		env: []string{"FIXTURE_NAN=1"}, code: 1},
	{name: "missing-checkpoint", what: "FIXTURE_SKIP_CHECKPOINT=1: checkpoint-1.pt never written",
		env: []string{"FIXTURE_SKIP_CHECKPOINT=1"}, code: 1},
	{name: "untracked", what: "FIXTURE_UNTRACKED=validate_config: an untracked file outside the outputs, listed",
		env: []string{"FIXTURE_UNTRACKED=validate_config"}, code: 0},
	{name: "tracked-change", what: "FIXTURE_TOUCH_TRACKED=make_dummy_imagefolder: a tracked file changed, 02-dataset FAIL",
		env: []string{"FIXTURE_TOUCH_TRACKED=make_dummy_imagefolder"}, code: 1},
	{name: "bf16-fallback", what: "pretend-CUDA torch with FIXTURE_NO_BF16=1: 07 PASS, 08 FAIL on the fallback WARNING",
		env: []string{"PYTHONPATH={repo}/testdata/pretend-cuda", "FIXTURE_NO_BF16=1"}, code: 1},
	{name: "crash-oom", what: "FIXTURE_CRASH=oom: 04-train dies with CUDA out of memory",
		env: []string{"FIXTURE_CRASH=oom"}, code: 1},
	{name: "interrupted", what: "FIXTURE_HANG=train_text_to_image and a Ctrl-C (SIGINT to make's process group) during 04-train",
		env: []string{"FIXTURE_HANG=train_text_to_image"}, code: 1, interrupt: true},
	{name: "fakegpu", what: "GPU=1 FAKEGPU=1 with the pretend-CUDA torch: a mock RTX 4090, every section PASS, telemetry.csv and peaks",
		env: []string{"GPU=1", "FAKEGPU=1", "PYTHONPATH={repo}/testdata/pretend-cuda"}, code: 0},
	{name: "preflight-ecc", what: "GPU=1 FAKEGPU=1 SMOKE_FAKE_GPU=rtx4090,ecc with the pretend-CUDA torch: uncorrectable ECC errors, 00-preflight FAIL, nothing else runs",
		env: []string{"GPU=1", "FAKEGPU=1", "SMOKE_FAKE_GPU=rtx4090,ecc", "PYTHONPATH={repo}/testdata/pretend-cuda"}, code: 1},
	{name: "preflight-mismatch", what: "GPU=1 FAKEGPU=1 SMOKE_FAKE_GPU=h200 with the pretend-CUDA torch (an RTX 4090): torch and NVML disagree, 00-preflight FAIL",
		env: []string{"GPU=1", "FAKEGPU=1", "SMOKE_FAKE_GPU=h200", "PYTHONPATH={repo}/testdata/pretend-cuda"}, code: 1},
	{name: "run-alone", what: "TESTFLAGS='-run Test0[0-2]': 00-02 PASS, 03-08 NOT RUN (INCOMPLETE)",
		env: []string{"TESTFLAGS=-run Test0[0-2]"}, code: 4},
	{name: "retry-refused", what: "TESTFLAGS='-count=2 -run Test0[0-2]': the second pass of 00-02 is refused (SKIPPED beside the real PASS in junit.xml)",
		env: []string{"TESTFLAGS=-count=2 -run Test0[0-2]"}, code: 4},
	{name: "plan-skip-amp", what: "SMOKE_PLAN: the fixture's plan with both AMP sections skip: true and a reason",
		code: 0, plan: skipAMP},
	{name: "lanes-pass", what: "SMOKE_PLAN=pytest-lanes: the unit lane's cases PASS, the GPU lane NA with pytest's reason (no CUDA)",
		env: lanes(), code: 0},
	{name: "lanes-failing-test", what: "SMOKE_PLAN=pytest-lanes, FIXTURE_PYTEST_FAIL=test_smoke_config_values: one pytest test fails, 02-unit-lane FAIL",
		env: lanes("FIXTURE_PYTEST_FAIL=test_smoke_config_values"), code: 1},
	{name: "lanes-all-skipped", what: "SMOKE_PLAN=pytest-lanes, GPU=1 FAKEGPU=1, pretend-CUDA torch, HF_HUB_OFFLINE=1: the GPU lane's only test skipped, 03-gpu-lane FAIL",
		env: lanes("GPU=1", "FAKEGPU=1", "PYTHONPATH={repo}/testdata/pretend-cuda", "HF_HUB_OFFLINE=1"), code: 1},
	{name: "conformance", what: "make conformance against a checkout (the fixture written as a git repo, DIFFTRAIN_DIR): the stand-in model packages on PYTHONPATH, Debian's torch; 00-06 PASS, AMP NA (no CUDA)",
		env: []string{"DIFFTRAIN_DIR={checkout}", "SMOKE_PLAN={repo}/testdata/conformance-plan.yaml", "SMOKE_PYTHON=/usr/bin/python3",
			"PYTHONPATH={repo}/testdata/standins:{checkout}/src"}, code: 0, checkout: true},
	{name: "node", what: "GPU=1 FAKEGPU=1 GPUS=0,1,2,3,4 on the fake DGX H200 with the pretend-CUDA H200: gpu1's training fails, gpu2 has an Xid, gpu3 computes differently from gpu0 and gpu4 (FIXTURE_PERTURB); the node FAILs naming each",
		env: []string{"GPU=1", "FAKEGPU=1", "GPUS=0,1,2,3,4", "SMOKE_FAKE_GPU=h200,xid=79@2", "PRETEND_CUDA_GPU=h200", "PYTHONPATH={repo}/testdata/pretend-cuda",
			"FIXTURE_ON_GPU=GPU-00000000-0000-4000-8000-000000000201:FIXTURE_FAIL=train_text_to_image;GPU-00000000-0000-4000-8000-000000000203:FIXTURE_PERTURB=1"}, code: 1},
	{name: "lanes-collected-nothing", what: "SMOKE_PLAN=pytest-lanes, FIXTURE_PYTEST_EMPTY=1: the unit lane collects nothing (pytest exit 5), 02-unit-lane FAIL",
		env: lanes("FIXTURE_PYTEST_EMPTY=1"), code: 1},
}

// lanes are the settings of a pytest-lanes case: the built-in plan by name, and Debian's
// python3 with python3-pytest.
func lanes(env ...string) []string {
	return append([]string{"SMOKE_PLAN=pytest-lanes", "SMOKE_PYTHON=/usr/bin/python3"}, env...)
}

// skipAMP is the fixture's plan with the AMP sections skipped, each with its reason.
func skipAMP(plan string) (string, error) {
	for _, name := range []string{"amp-fp16", "amp-bf16"} {
		old := "    name: " + name + "\n"
		if !strings.Contains(plan, old) {
			return "", fmt.Errorf("testdata/fixture-plan.yaml has no %q", strings.TrimSpace(old))
		}
		plan = strings.Replace(plan, old, old+"    skip: true\n    reason: >-\n      AMP is checked on the GPU fleet's own lane this week; this instance has no CUDA.\n", 1)
	}
	return plan, nil
}

// suiteEnv are the variables the recorder never passes on: every setting of the suite, as
// e2e_test.go's cleanEnv drops them.
func suiteEnv(k string) bool {
	return strings.HasPrefix(k, "SMOKE_") || strings.HasPrefix(k, "FIXTURE_") || strings.HasPrefix(k, "PRETEND_") || slices.Contains([]string{
		"DIFFTRAIN_DIR", "GPU", "GPUS", "FAKEGPU", "TESTFLAGS", "PYTHONPATH", "MAKEFLAGS", "MAKELEVEL", "MFLAGS", "RUNS", "MATRIX"}, k)
}

const (
	runsRel     = "checklist/testdata/runs"
	placeholder = "/runs"     // the temporary root in every recorded text file
	repoHolder  = "/gpusmoke" // the repository root in every recorded text file
	// The harness's version and commit, as quoted JSON strings, in every recorded text file.
	versionHolder = "v0.0.0-recorded"
	commitHolder  = "0000000000000000000000000000000000000000"
)

func main() {
	only := flag.String("case", "", "comma-separated cases to record (default: every case)")
	goldens := flag.Bool("goldens", true, "then rewrite the goldens (go test ./checklist -update) and run the tests")
	keep := flag.Bool("keep", false, "keep the temporary directory with the raw runs and make's output")
	list := flag.Bool("list", false, "list the cases and exit")
	flag.Parse()
	if *list {
		for _, c := range cases {
			fmt.Printf("%-20s %s\n", c.name, c.what)
		}
		return
	}
	start := time.Now()
	if err := run(*only, *goldens, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "record:", err)
		os.Exit(1)
	}
	fmt.Printf("record: done in %s\n", time.Since(start).Round(time.Second))
}

func run(only string, goldens, keep bool) error {
	repo, err := repoRoot()
	if err != nil {
		return err
	}
	todo := cases
	if only != "" {
		todo = nil
		for _, name := range strings.Split(only, ",") {
			i := slices.IndexFunc(cases, func(c recCase) bool { return c.name == strings.TrimSpace(name) })
			if i < 0 {
				return fmt.Errorf("-case %s: no such case (go run ./checklist/testdata/record -list)", name)
			}
			todo = append(todo, cases[i])
		}
	}
	root, err := os.MkdirTemp("", "gpusmoke-record-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Printf("record: raw runs kept in %s\n", root)
	} else {
		defer os.RemoveAll(root)
	}
	// The suite and the tools it runs see the path as given and, now and then, resolved.
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "tmp"), 0o755); err != nil {
		return err
	}
	fixturePlan, err := os.ReadFile(filepath.Join(repo, "testdata", "fixture-plan.yaml"))
	if err != nil {
		return err
	}

	staged := filepath.Join(root, "staged")
	for _, c := range todo {
		t0 := time.Now()
		out := filepath.Join(root, c.name)
		if err := record(c, repo, root, out, string(fixturePlan)); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		dst := filepath.Join(staged, c.name)
		if err := stage(c, out, dst, []string{realRoot, root}, repo); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Printf("record: %-20s %6.1f s  %s\n", c.name, time.Since(t0).Seconds(), size(dst))
	}

	// Every case recorded: replace them in the repository.
	runs := filepath.Join(repo, filepath.FromSlash(runsRel))
	if only == "" {
		entries, err := os.ReadDir(runs)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		for _, e := range entries {
			if err := os.RemoveAll(filepath.Join(runs, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(runs, 0o755); err != nil {
		return err
	}
	for _, c := range todo {
		dst := filepath.Join(runs, c.name)
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(staged, c.name), dst); err != nil {
			if err := os.CopyFS(dst, os.DirFS(filepath.Join(staged, c.name))); err != nil {
				return err
			}
		}
	}
	fmt.Printf("record: %s: %s in all\n", runsRel, size(runs))

	if !goldens {
		return nil
	}
	for _, args := range [][]string{
		{"test", "-count=1", "./checklist", "-update"},
		{"test", "-count=1", "./checklist", "./cmd/checklist"},
	} {
		fmt.Printf("record: go %s\n", strings.Join(args, " "))
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Stdout, cmd.Stderr = repo, os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
		}
	}
	return nil
}

// repoRoot is the working directory, which must be this module's root.
func repoRoot() (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(filepath.Join(wd, "go.mod"))
	if err != nil || !bytes.Contains(b, []byte("module github.com/difftrain/gpusmoke\n")) {
		return "", fmt.Errorf("run from the repository root (go run ./checklist/testdata/record): %s is not it", wd)
	}
	return wd, nil
}

// record runs make smoke for c into out, and checks its exit status.
func record(c recCase, repo, root, out, fixturePlan string) error {
	checkout := filepath.Join(root, c.name+"-ws", "difftrain")
	expand := strings.NewReplacer("{repo}", repo, "{root}", root, "{checkout}", checkout).Replace
	if c.checkout {
		if err := writeCheckout(checkout); err != nil {
			return err
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); !suiteEnv(k) && k != "TMPDIR" {
			env = append(env, kv)
		}
	}
	env = append(env, "SMOKE_OUT="+out, "TMPDIR="+filepath.Join(root, "tmp"))
	if !c.copies {
		env = append(env, "SMOKE_COPY_CAP_MB=0")
	}
	if c.plan != nil {
		p, err := c.plan(fixturePlan)
		if err != nil {
			return err
		}
		planPath := filepath.Join(root, c.name+"-plan.yaml")
		if err := os.WriteFile(planPath, []byte(p), 0o644); err != nil {
			return err
		}
		env = append(env, "SMOKE_PLAN="+planPath)
	}
	for _, kv := range c.env {
		env = append(env, expand(kv))
	}

	logPath := filepath.Join(root, c.name+".make.log")
	logf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Dir, cmd.Env, cmd.Stdout, cmd.Stderr = repo, env, logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group: a Ctrl-C reaches all of it
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	kill := time.After(5 * time.Minute)
	if c.interrupt {
		trainLog := filepath.Join(out, evidence.LogsDir, "04-train.log")
		tick := time.NewTicker(100 * time.Millisecond)
	wait:
		for {
			select {
			case err := <-done:
				tick.Stop()
				return fmt.Errorf("make smoke ended (%v) before 04-train logged a line; see %s", err, logPath)
			case <-kill:
				syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
				return fmt.Errorf("04-train never logged a line; see %s", logPath)
			case <-tick.C:
				if b, _ := os.ReadFile(trainLog); bytes.Contains(b, []byte("\n")) {
					break wait
				}
			}
		}
		tick.Stop()
		if err := syscall.Kill(-cmd.Process.Pid, syscall.SIGINT); err != nil { // what a terminal's Ctrl-C does
			return err
		}
	}
	var err2 error
	select {
	case err2 = <-done:
	case <-kill:
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("make smoke ran past 5 minutes; see %s", logPath)
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err2, &ee):
		code = ee.ExitCode()
	case err2 != nil:
		return err2
	}
	// make exits 2 with "Error N" when its recipe exits N: the suite's code is N. A make
	// that got the Ctrl-C itself dies of it once its recipe has rendered the evidence.
	if code == 2 && strings.Contains(lastLines(logPath, 3), fmt.Sprintf("] Error %d", c.code)) {
		code = c.code
	}
	if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && c.interrupt && ws.Signaled() && ws.Signal() == syscall.SIGINT {
		code = 1
	}
	if code != c.code {
		return fmt.Errorf("make smoke exited %d, want %d; see %s:\n%s", code, c.code, logPath, lastLines(logPath, 30))
	}
	if !evidence.Complete(out) {
		return fmt.Errorf("%s is not a complete run (run.json finished, summary.json, SHA256SUMS); see %s", out, logPath)
	}
	return nil
}

// stage copies the evidence directory out to dst as the tests read it: see the package comment.
func stage(c recCase, out, dst string, roots []string, repo string) error {
	drop := append([]string{evidence.WorkspaceDir, evidence.LockFile, evidence.SumsFile}, evidence.Documents...)
	if !c.keepJSON {
		drop = append(drop, evidence.JSONFile)
	}
	var pairs []string
	for _, r := range roots {
		pairs = append(pairs, r, placeholder)
	}
	pairs = append(pairs, repo, repoHolder)
	// The harness's version and commit change with every commit of the project: the goldens
	// would change with each one. They read as versionHolder and commitHolder.
	run, err := evidence.ReadRun(out)
	if err != nil {
		return err
	}
	for _, v := range [][2]string{{run.Harness.Commit, commitHolder}, {run.Harness.Version, versionHolder}} {
		if v[0] != "" {
			pairs = append(pairs, `"`+v[0]+`"`, `"`+v[1]+`"`)
		}
	}
	norm := strings.NewReplacer(pairs...)
	err = filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(out, p)
		if err != nil {
			return err
		}
		// A node run's GPUs' runs (gpu<N>/) are staged as runs are.
		inRun := filepath.ToSlash(rel)
		if first, rest, ok := strings.Cut(inRun, "/"); ok && gpuDir.MatchString(first) {
			inRun = rest
		}
		if slices.Contains(drop, inRun) || slices.Contains(drop, filepath.ToSlash(rel)) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if utf8.Valid(b) && !bytes.ContainsRune(b, 0) {
			b = []byte(norm.Replace(string(b)))
		} else {
			for _, r := range append(slices.Clone(roots), repo) {
				if bytes.Contains(b, []byte(r)) {
					return fmt.Errorf("%s: a binary file that holds %s, which the recorder cannot replace", rel, r)
				}
			}
		}
		return os.WriteFile(target, b, info.Mode().Perm()&0o755|0o644)
	})
	if err != nil {
		return err
	}
	gpus, _ := filepath.Glob(filepath.Join(dst, "gpu[0-9]*"))
	for _, g := range gpus {
		if err := evidence.WriteSums(g); err != nil {
			return err
		}
	}
	return evidence.WriteSums(dst)
}

// gpuDir is a GPU's run in a node run's evidence (evidence.GPUDir).
var gpuDir = regexp.MustCompile(`^gpu[0-9]+$`)

// writeCheckout writes the fixture to dir as a git repository of one commit, as a clone is.
func writeCheckout(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	if err := gpusmoke.WriteFixture(dir); err != nil {
		return err
	}
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"add", "-A"},
		{"-c", "user.name=record", "-c", "user.email=record@localhost", "commit", "-q", "-m", "difftrain fixture as a checkout"},
	} {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s in %s: %v: %s", args[0], dir, err, bytes.TrimSpace(out))
		}
	}
	return nil
}

func lastLines(p string, n int) string {
	tail, _ := evidence.Tail(p, n)
	return tail
}

// size is the bytes of the files under dir, in KB.
func size(dir string) string {
	var n int64
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return fmt.Sprintf("%.0f KB", float64(n)/1000)
}
