package deploy

import (
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// slurm is a throwaway Slurm cluster on localhost: munged, slurmctld and one slurmd per node,
// every file under one temp directory. Two slurmd share this host, each with its own NodeName,
// port and spool directory (slurmd -N); Debian's slurm-wlm allows that.
type slurm struct {
	bins  map[string]string // command → its path
	dir   string
	conf  string
	env   []string // for clients and jobs: SLURM_CONF
	nodes []string
	procs []*exec.Cmd // in start order
}

// requireSlurm reports why Slurm cannot be started: a skip, or a failure where CI=true or
// GPUSMOKE_REQUIRE_SLURM=1 says the test must run.
func requireSlurm(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("GPUSMOKE_REQUIRE_SLURM") == "1" || os.Getenv("CI") == "true" {
		t.Fatalf("slurm cannot be started (required here): "+format, args...)
	}
	t.Skipf("slurm cannot be started: "+format, args...)
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startSlurm starts the cluster with n nodes (n1, n2, ...) and stops it when the test ends,
// whether it passed or not.
func startSlurm(t *testing.T, n int) *slurm {
	t.Helper()
	bins := map[string]string{}
	for _, b := range []string{"munged", "slurmctld", "slurmd", "sbatch", "scontrol", "sinfo", "squeue", "srun", "scancel"} {
		p, err := lookSbin(b)
		if err != nil {
			requireSlurm(t, "%s is not on PATH or in /usr/sbin (apt-get install slurm-wlm munge)", b)
		}
		bins[b] = p
	}
	if os.Geteuid() != 0 {
		requireSlurm(t, "slurmd must run as root to start jobs")
	}
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	// munged wants the path to its socket searchable by everyone.
	for _, d := range []string{filepath.Dir(dir), dir} {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	s := &slurm{bins: bins, dir: dir, conf: filepath.Join(dir, "slurm.conf")}
	t.Cleanup(s.stop)

	key := make([]byte, 1024)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "munge.key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "munge.socket")
	s.start(t, "munged", "-F", "--key-file="+filepath.Join(dir, "munge.key"), "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "munged.pid"), "--seed-file="+filepath.Join(dir, "munged.seed"),
		"--log-file="+filepath.Join(dir, "munged.log"))
	if !s.waitFor(10*time.Second, func() bool { _, err := os.Stat(sock); return err == nil }) {
		requireSlurm(t, "munged made no socket in 10s:\n%s", s.logs())
	}

	var b strings.Builder
	fmt.Fprintf(&b, `ClusterName=gpusmoke-test
SlurmctldHost=%s(127.0.0.1)
SlurmctldPort=%d
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=%s
CredType=cred/munge
StateSaveLocation=%s/state
SlurmdSpoolDir=%s/spool/%%n
SlurmctldPidFile=%s/slurmctld.pid
SlurmdPidFile=%s/slurmd-%%n.pid
SlurmctldLogFile=%s/slurmctld.log
SlurmdLogFile=%s/slurmd-%%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
ReturnToService=2
SlurmdParameters=config_overrides
MailProg=/bin/true
GresTypes=gpu
`, host, freePort(t), sock, dir, dir, dir, dir, dir, dir)
	if err := os.MkdirAll(filepath.Join(dir, "state"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		node := fmt.Sprintf("n%d", i)
		s.nodes = append(s.nodes, node)
		// Each node has GPUs as Slurm counts them (gres.conf), no device file behind them: the
		// node-run case's suite finds its GPUs over the fake NVML.
		fmt.Fprintf(&b, "NodeName=%s NodeHostname=%s NodeAddr=127.0.0.1 Port=%d CPUs=1 Gres=gpu:2 State=UNKNOWN\n", node, host, freePort(t))
		if err := os.MkdirAll(filepath.Join(dir, "spool", node), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	fmt.Fprintf(&b, "PartitionName=smoke Nodes=%s Default=YES MaxTime=INFINITE State=UP\n", strings.Join(s.nodes, ","))
	if err := os.WriteFile(s.conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gres.conf"), []byte("Name=gpu File=/dev/null\nName=gpu File=/dev/zero\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s.env = []string{"SLURM_CONF=" + s.conf}

	s.start(t, "slurmctld", "-D", "-f", s.conf)
	for _, node := range s.nodes {
		s.start(t, "slurmd", "-D", "-f", s.conf, "-N", node)
	}
	want := strings.Join(s.nodes, " idle\n") + " idle"
	var last string
	if !s.waitFor(60*time.Second, func() bool {
		out, _ := s.command("sinfo", "-h", "-N", "-o", "%N %T").Output()
		last = strings.TrimSpace(string(out))
		return last == want
	}) {
		requireSlurm(t, "the nodes are not idle after 60s (sinfo: %q):\n%s", last, s.logs())
	}
	return s
}

// lookSbin finds a command on PATH, or in the sbin folders a user's PATH may lack.
func lookSbin(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/sbin"} {
		if st, serr := os.Stat(filepath.Join(d, name)); serr == nil && st.Mode()&0o111 != 0 {
			return filepath.Join(d, name), nil
		}
	}
	return "", err
}

// command is a Slurm client command against this cluster.
func (s *slurm) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(s.bins[name], args...)
	cmd.Env = baseEnv(s.env...)
	return cmd
}

// start runs a daemon in the foreground, in its own process group, output to dir/<name>.out.
func (s *slurm) start(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := os.Create(filepath.Join(s.dir, fmt.Sprintf("%s-%d.out", name, len(s.procs))))
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd := exec.Command(s.bins[name], args...)
	cmd.Env = baseEnv("SLURM_CONF=" + s.conf)
	cmd.Dir = s.dir
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		requireSlurm(t, "%s: %v", name, err)
	}
	s.procs = append(s.procs, cmd)
}

func (s *slurm) waitFor(d time.Duration, ok func() bool) bool {
	for end := time.Now().Add(d); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		if ok() {
			return true
		}
	}
	return ok()
}

// stop cancels every job, then stops the daemons, newest first: SIGTERM to each process group,
// SIGKILL after 10s.
func (s *slurm) stop() {
	if len(s.procs) > 1 {
		_ = s.command("scancel", "--quiet", "--partition=smoke").Run()
		s.waitFor(15*time.Second, func() bool {
			out, err := s.command("squeue", "-h").Output()
			return err != nil || strings.TrimSpace(string(out)) == ""
		})
	}
	for i := len(s.procs) - 1; i >= 0; i-- {
		cmd := s.procs[i]
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
	s.procs = nil
}

// logs is the last lines of every daemon log, for a failure message.
func (s *slurm) logs() string {
	var b strings.Builder
	paths, _ := filepath.Glob(filepath.Join(s.dir, "*.log"))
	outs, _ := filepath.Glob(filepath.Join(s.dir, "*.out"))
	for _, p := range append(paths, outs...) {
		body, _ := os.ReadFile(p)
		fmt.Fprintf(&b, "--- %s\n%s\n", filepath.Base(p), tail(string(body), 15))
	}
	return b.String()
}

var jobField = regexp.MustCompile(`\b(JobState|ExitCode)=(\S+)`)

// job is a finished batch job.
type job struct {
	id, state, exit string
	output          string
}

// submit runs sbatch with the batch script and extra environment, and returns the job id.
func (s *slurm) submit(t *testing.T, script, workdir string, env []string, args ...string) string {
	t.Helper()
	cmd := s.command("sbatch", append([]string{"--parsable", "--chdir=" + workdir,
		"--output=" + filepath.Join(workdir, "slurm-%j.out")}, append(args, script)...)...)
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("sbatch: %v: %s\n%s", err, out, s.logs())
	}
	id, _, _ := strings.Cut(strings.TrimSpace(string(out)), ";")
	return id
}

// wait waits for a job to end (at most 5 minutes) and reads its state, exit code and output.
func (s *slurm) wait(t *testing.T, id, workdir string) job {
	t.Helper()
	j := job{id: id}
	done := s.waitFor(5*time.Minute, func() bool {
		out, err := s.command("scontrol", "show", "job", "-o", id).Output()
		if err != nil {
			return false
		}
		for _, m := range jobField.FindAllStringSubmatch(string(out), -1) {
			if m[1] == "JobState" {
				j.state = m[2]
			} else {
				j.exit = m[2]
			}
		}
		switch j.state {
		case "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "":
			return false
		}
		return true
	})
	body, _ := os.ReadFile(filepath.Join(workdir, "slurm-"+id+".out"))
	j.output = string(body)
	if !done {
		t.Fatalf("job %s did not end in 5 minutes (state %s); output:\n%s\n%s", id, j.state, tail(j.output, 40), s.logs())
	}
	return j
}

// TestSlurm runs the batch script on a real local Slurm with two nodes, one task each, against
// the bundled fixture: a passing job, a job where one node's run fails, one where a node leaves
// no evidence, and one stopped by scancel --signal=INT while training hangs.
func TestSlurm(t *testing.T) {
	s := startSlurm(t, 2)
	bundle := unpackedBundle(t, "")
	script := filepath.Join(bundle, "gpusmoke.sbatch")

	// A bundle whose run-smoke fails the training on the node GPUSMOKE_TEST_FAIL names and
	// leaves nothing on the node GPUSMOKE_TEST_VANISH names.
	wrapped := t.TempDir()
	for _, f := range bundleFiles {
		if f != "run-smoke" {
			if err := os.Symlink(filepath.Join(bundle, f), filepath.Join(wrapped, f)); err != nil {
				t.Fatal(err)
			}
		}
	}
	writeScript(t, filepath.Join(wrapped, "run-smoke"), `#!/usr/bin/env bash
set -euo pipefail
[ "$SLURMD_NODENAME" = "${GPUSMOKE_TEST_VANISH:-}" ] && exit 3
[ "$SLURMD_NODENAME" = "${GPUSMOKE_TEST_FAIL:-}" ] && export FIXTURE_FAIL=train_text_to_image
exec `+filepath.Join(bundle, "run-smoke")+` "$@"
`)

	// A bundle built with the fake NVML (8 H200s) and run with the pretend-CUDA torch: Slurm gives
	// each node 2 GPUs (--gres=gpu:2), so the batch script makes each node's run a node run.
	fakeGPUs := unpackedBundle(t, "gpu fakegpu")
	pretend := filepath.Join(repoRoot(t), "testdata", "pretend-cuda")

	shared := t.TempDir()
	common := []string{"GPUSMOKE_SHARED=" + shared, "TMPDIR=" + t.TempDir()}
	cases := []struct {
		name  string
		args  []string // sbatch's, beside --nodes=2
		env   []string
		state string
		exit  string
		lines []string // in the job's output
		dirs  []string // nodes whose evidence must be there
		rows  []string // in fleet.md: each node's row, up to its verdict
	}{
		{"pass", nil, []string{"GPUSMOKE_DIR=" + bundle}, "COMPLETED", "0:0",
			[]string{"gpusmoke: n1: passed", "gpusmoke: n2: passed", "gpusmoke: fleet report: "}, []string{"n1", "n2"},
			[]string{"Verdict: **PASS** (2 PASS of 2 instances)", "| [n1](n1/checklist.md) | ", " | PASS | — | — | — |\n| [n2](n2/checklist.md) | "}},
		{"one node fails", nil, []string{"GPUSMOKE_DIR=" + wrapped, "GPUSMOKE_TEST_FAIL=n1"}, "FAILED", "1:0",
			[]string{"gpusmoke: n1: FAILED (run-smoke exit 1)", "gpusmoke: n2: passed", "gpusmoke: 1 of 2 node(s) failed or missing: n1",
				"checklist: fleet FAIL: 1 PASS, 1 FAIL of 2 instances"}, []string{"n1", "n2"},
			[]string{"- **1 instance** FAIL in `04-train`: exit code 1: RuntimeError: injected failure (FIXTURE_FAIL) — n1\n",
				" | **FAIL** | `04-train` | exit code 1: RuntimeError: injected failure (FIXTURE_FAIL) | — |\n| [n2](n2/checklist.md) | "}},
		{"one node leaves no evidence", nil, []string{"GPUSMOKE_DIR=" + wrapped, "GPUSMOKE_TEST_VANISH=n2"}, "FAILED", "1:0",
			[]string{"gpusmoke: n1: passed", "gpusmoke: n2: MISSING evidence", "gpusmoke: 1 of 2 node(s) failed or missing: n2"}, []string{"n1"},
			[]string{"| [n1](n1/checklist.md) | ", "\n| n2 | — | — | — | **MISSING** | — | no evidence directory n2 | — |\n"}},
		{"node runs", []string{"--gres=gpu:2"}, []string{"GPUSMOKE_DIR=" + fakeGPUs, "SMOKE_FAKE_GPU=h200", "PRETEND_CUDA_GPU=h200", "PYTHONPATH=" + pretend},
			"COMPLETED", "0:0", []string{"gpusmoke: n1: passed", "gpusmoke: n2: passed"}, []string{"n1", "n1/gpu1", "n2", "n2/gpu0"},
			[]string{"Bad GPUs: 0 of 4 GPUs on 2 node runs.", "| [n2](n2/checklist.md) | gpu0 PASS | gpu1 PASS |"}},
	}
	// All are queued at once; they run one after the other, each on both nodes. The last one
	// hangs in training until scancel --signal=INT stops it.
	ids := make([]string, len(cases))
	for i, c := range cases {
		ids[i] = s.submit(t, script, shared, append(common, c.env...), append([]string{"--nodes=2"}, c.args...)...)
	}
	hung := s.submit(t, script, shared, append(common, "GPUSMOKE_DIR="+bundle, "FIXTURE_HANG=train_text_to_image"), "--nodes=2")
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			j := s.wait(t, ids[i], shared)
			if j.state != c.state || j.exit != c.exit {
				t.Errorf("job %s: %s with exit code %s, want %s with %s", j.id, j.state, j.exit, c.state, c.exit)
			}
			for _, l := range c.lines {
				if !strings.Contains(j.output, l) {
					t.Errorf("job %s's output lacks %q", j.id, l)
				}
			}
			jobdir := filepath.Join(shared, j.id)
			for _, node := range c.dirs {
				if err := checkEvidence(filepath.Join(jobdir, node)); err != nil {
					t.Error(err)
				}
			}
			fleet, err := os.ReadFile(filepath.Join(jobdir, "fleet.md"))
			if err != nil {
				t.Fatalf("fleet report: %v", err)
			}
			for _, row := range c.rows {
				if !strings.Contains(string(fleet), row) {
					t.Errorf("fleet.md lacks %q:\n%s", row, tail(string(fleet), 30))
				}
			}
			if _, err := os.Stat(filepath.Join(jobdir, "fleet.json")); err != nil {
				t.Errorf("fleet.json: %v", err)
			}
			if t.Failed() {
				t.Logf("job %s output:\n%s", j.id, tail(j.output, 40))
			}
		})
	}
	t.Run("scancel --signal=INT", func(t *testing.T) {
		jobdir := filepath.Join(shared, hung)
		if !s.waitFor(3*time.Minute, func() bool {
			for _, node := range s.nodes {
				b, _ := os.ReadFile(filepath.Join(jobdir, node, "logs", "04-train.log"))
				if !strings.Contains(string(b), "hanging (FIXTURE_HANG)") {
					return false
				}
			}
			return true
		}) {
			t.Fatalf("job %s: training did not hang on both nodes within 3 minutes\n%s", hung, s.logs())
		}
		if out, err := s.command("scancel", "--signal=INT", hung).CombinedOutput(); err != nil {
			t.Fatalf("scancel: %v: %s", err, out)
		}
		j := s.wait(t, hung, shared)
		if j.state != "FAILED" || j.exit != "1:0" {
			t.Errorf("job %s: %s with exit code %s, want FAILED with 1:0", j.id, j.state, j.exit)
		}
		for _, node := range s.nodes {
			b, err := os.ReadFile(filepath.Join(jobdir, node, "checklist.md"))
			if err != nil || !regexp.MustCompile(`(?m)^\| 04 \|.*\*\*INTERRUPTED\*\*`).Match(b) {
				t.Errorf("%s: section 04 is not INTERRUPTED in checklist.md (%v)", node, err)
			}
		}
		if _, err := os.Stat(filepath.Join(jobdir, "fleet.md")); err != nil {
			t.Errorf("fleet report: %v", err)
		}
		if t.Failed() {
			t.Logf("job %s output:\n%s", j.id, tail(j.output, 40))
		}
	})
}

// TestSlurmScriptBadSettings: each bad setting stops the batch script before srun, with one
// line that names it. It needs no Slurm: the script is run as sbatch would start it.
func TestSlurmScriptBadSettings(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("slurm", "gpusmoke.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bundle := filepath.Join(dir, "bundle")
	for _, f := range []string{"run-smoke", "smoke.test", "checklist"} {
		writeScript(t, filepath.Join(bundle, f), "#!/bin/sh\nexit 0\n")
	}
	notBundle := filepath.Join(dir, "empty")
	if err := os.Mkdir(notBundle, 0o755); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "a-file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	job := []string{"SLURM_JOB_ID=7", "SLURM_JOB_NODELIST=n1"}
	for _, c := range []struct {
		name string
		env  []string
		want string
	}{
		{"not under sbatch", []string{"GPUSMOKE_DIR=" + bundle}, "gpusmoke.sbatch: SLURM_JOB_ID is unset"},
		{"no bundle dir", job, "gpusmoke.sbatch: GPUSMOKE_DIR is unset"},
		{"bundle dir missing", append(job, "GPUSMOKE_DIR=/nonexistent/gpusmoke"), "gpusmoke.sbatch: GPUSMOKE_DIR=/nonexistent/gpusmoke: no such directory"},
		{"not a bundle", append(job, "GPUSMOKE_DIR="+notBundle), "gpusmoke.sbatch: GPUSMOKE_DIR=" + notBundle + ": no executable run-smoke there"},
		{"no shared dir", append(job, "GPUSMOKE_DIR="+bundle), "gpusmoke.sbatch: GPUSMOKE_SHARED is unset"},
		{"shared not writable", append(job, "GPUSMOKE_DIR="+bundle, "GPUSMOKE_SHARED="+file+"/runs"), "gpusmoke.sbatch: GPUSMOKE_SHARED=" + file + "/runs: cannot create " + file + "/runs/7: Not a directory"},
		{"no node list", []string{"SLURM_JOB_ID=7", "GPUSMOKE_DIR=" + bundle, "GPUSMOKE_SHARED=" + dir}, "gpusmoke.sbatch: SLURM_JOB_NODELIST is unset"},
		{"submit dir defaults", append(job, "SLURM_SUBMIT_DIR="+notBundle), "gpusmoke.sbatch: GPUSMOKE_DIR=" + notBundle + ": no executable run-smoke there"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, dir, baseEnv(c.env...), "bash", script)
			if r.code != 2 || strings.TrimSpace(r.stderr) != strings.TrimSpace(strings.SplitN(r.stderr, "\n", 2)[0]) || !strings.HasPrefix(r.stderr, c.want) {
				t.Errorf("want exit 2 and one line starting %q, got %s", c.want, r)
			}
		})
	}
}

// TestSlurmScriptVerdicts checks the batch script's bookkeeping without Slurm: srun and
// scontrol are stand-ins that run each node's task here, and the bundle's run-smoke and
// checklist are stand-ins that pass, fail or vanish as FAKE_RUN says (the renderer as
// FAKE_CHECKLIST_EXIT says).
func TestSlurmScriptVerdicts(t *testing.T) {
	script, err := filepath.Abs(filepath.Join("slurm", "gpusmoke.sbatch"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	writeScript(t, filepath.Join(bin, "scontrol"), "#!/bin/sh\n[ \"$1 $2\" = 'show hostnames' ] && printf '%s\\n' $FAKE_NODES\n")
	// srun: drops its options, then runs the task once per node with SLURMD_NODENAME set.
	writeScript(t, filepath.Join(bin, "srun"), `#!/usr/bin/env bash
while [ "$1" != bash ]; do shift; done
worst=0
for n in $FAKE_NODES; do SLURMD_NODENAME=$n "$@" || worst=$?; done
exit $worst
`)
	bundle := filepath.Join(dir, "bundle")
	writeScript(t, filepath.Join(bundle, "smoke.test"), "#!/bin/sh\n")
	writeScript(t, filepath.Join(bundle, "run-smoke"), `#!/usr/bin/env bash
case " $FAKE_RUN " in *" $SLURMD_NODENAME=vanish "*) exit 3 ;; esac
mkdir -p "$SMOKE_OUT" && echo '<testsuites/>' >"$SMOKE_OUT/junit.xml" && echo "report of $SLURMD_NODENAME" >"$SMOKE_OUT/report.md"
case " $FAKE_RUN " in *" $SLURMD_NODENAME=fail "*) exit 1 ;; esac
exit 0
`)
	// checklist: writes its arguments into JOBDIR/fleet.md, and exits 1 when a node has no
	// junit.xml or did not exit 0, as the real fleet report does (or FAKE_CHECKLIST_EXIT).
	writeScript(t, filepath.Join(bundle, "checklist"), `#!/usr/bin/env bash
[ "$1" = fleet ] || exit 9
[ -z "${FAKE_CHECKLIST_EXIT:-}" ] || exit "$FAKE_CHECKLIST_EXIT"
printf '%s\n' "$@" >"$2/fleet.md"
dir=$2; shift 2
for n in "$@"; do
  [ -f "$dir/$n/junit.xml" ] && [ "$(cat "$dir/$n.exit")" = 0 ] || exit 1
done
`)
	for _, c := range []struct {
		name, nodes, run string
		checklistExit    string // FAKE_CHECKLIST_EXIT: the renderer fails
		code             int
		lines            []string
		fleet            string // the fleet report's content: the arguments the renderer got; "" for none
	}{
		{"all pass", "a b c", "", "", 0, []string{"gpusmoke: a: passed", "gpusmoke: c: passed", "gpusmoke: fleet report: J/fleet.md\n"}, "fleet\nJ\na\nb\nc\n"},
		{"one fails", "a b c", "b=fail", "", 1, []string{"gpusmoke: b: FAILED (run-smoke exit 1): J/b/report.md",
			"gpusmoke: fleet report: J/fleet.md (a node failed or is missing)", "gpusmoke: 1 of 3 node(s) failed or missing: b"}, "fleet\nJ\na\nb\nc\n"},
		// The renderer is given every node of the allocation: one that left nothing is MISSING in the report.
		{"one vanishes", "a b c", "c=vanish", "", 1, []string{"gpusmoke: c: MISSING evidence: no J/c/junit.xml",
			"gpusmoke: fleet report: J/fleet.md (a node failed or is missing)", "gpusmoke: 1 of 3 node(s) failed or missing: c"}, "fleet\nJ\na\nb\nc\n"},
		{"all vanish", "a b", "a=vanish b=vanish", "", 1, []string{"gpusmoke: no node left evidence", "gpusmoke: 2 of 2 node(s) failed or missing: a b"}, "fleet\nJ\na\nb\n"},
		{"one node", "a", "", "", 0, []string{"gpusmoke: a: passed", "gpusmoke: fleet report: J/fleet.md\n"}, "fleet\nJ\na\n"},
		{"the renderer fails", "a b", "", "3", 1, []string{"gpusmoke: a: passed", "gpusmoke: b: passed",
			"gpusmoke: the fleet report could not be rendered into J/fleet.md (checklist exit 3)"}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			shared := t.TempDir()
			jobdir := filepath.Join(shared, "42")
			r := run(t, dir, baseEnv("PATH="+bin+":"+os.Getenv("PATH"), "SLURM_JOB_ID=42", "SLURM_JOB_NODELIST=x",
				"GPUSMOKE_DIR="+bundle, "GPUSMOKE_SHARED="+shared, "FAKE_NODES="+c.nodes, "FAKE_RUN="+c.run,
				"FAKE_CHECKLIST_EXIT="+c.checklistExit), "bash", script)
			out := strings.ReplaceAll(r.stdout+r.stderr, jobdir, "J")
			if r.code != c.code {
				t.Errorf("exit %d, want %d", r.code, c.code)
			}
			for _, l := range c.lines {
				if !strings.Contains(out, l) {
					t.Errorf("output lacks %q", l)
				}
			}
			fleet, err := os.ReadFile(filepath.Join(jobdir, "fleet.md"))
			if got := strings.ReplaceAll(string(fleet), jobdir, "J"); got != c.fleet || (c.fleet == "" && err == nil) {
				t.Errorf("fleet.md: %q, want %q", got, c.fleet)
			}
			if t.Failed() {
				t.Log(out)
			}
		})
	}
}
