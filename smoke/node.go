package smoke

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/runbook"
	"github.com/difftrain/gpusmoke/sdc"
)

// A node run (SMOKE_GPUS=all, or 0,3,5) runs the plan once per GPU, all GPUs at once. This
// process is the node's suite: its preflight gathers every GPU's facts and the install runs
// once, here, for the node (perNode). Then each GPU gets a copy of the checkout in a workspace
// of its own (so that the runbook's relative paths name that GPU's files) and a run of this
// same test binary, pinned to it by CUDA_VISIBLE_DEVICES=<its UUID>, that sees only its NVML
// facts (gpuenv.Only) and writes its own complete evidence into SMOKE_OUT/gpu<N>/. Each later
// section's test here waits for every GPU's run to end that section and replays its result as
// a subtest (gpu<N>); a GPU that fails halts its own run only.

// How a node run runs a section: the install once for the node, in the node's suite; the
// preflight there too (every GPU's facts) and in each GPU's run (its own facts and health);
// every other section in each GPU's run only. A section that runs in the GPUs' runs is replayed
// here, each GPU's result a subtest.
var (
	inNodeSuite = []string{"preflight", "install"}
	notPerGPU   = []string{"install"}
)

// nodeRun is the node's state in its suite: the GPUs, and each GPU's run, started when the
// first per-GPU section begins.
type nodeRun struct {
	su      *Suite
	info    evidence.Node
	members []*member
	once    sync.Once
	err     error // why the GPUs' runs could not start
	// trained is each GPU's training section, by NVML index, once its run has ended.
	trained map[int]evidence.Section
}

// member is one GPU's run as the node's suite follows it.
type member struct {
	gpu  evidence.NodeGPU
	out  string // its SMOKE_OUT
	log  string // its console, relative to the node's SMOKE_OUT
	hash *evidence.HashWriter

	mu     sync.Mutex
	cond   *sync.Cond
	proc   *os.Process
	ended  map[string]bool // tests whose result line it has printed
	exited bool
	code   int
	err    error
	// peakRSS is the peak resident set of the GPU's run, in KiB, once it has ended.
	peakRSS int64
}

// newNode selects the GPUs of SMOKE_GPUS over NVML and lays out each one's place: its evidence
// directory and its workspace.
func newNode(s *Settings, lib gpuenv.Library) (*nodeRun, error) {
	gpus, err := gpuenv.Select(lib, s.GPUs, s.CUDAVisible)
	if err != nil {
		return nil, fmt.Errorf("SMOKE_GPUS=%s: %w", s.GPUs, err)
	}
	n := &nodeRun{trained: map[int]evidence.Section{}, info: evidence.Node{SchemaVersion: evidence.SchemaVersion, Fixture: s.Fixture, PythonPath: s.PythonPath,
		Rules: evidence.NodeRules{SlowFactor: s.SlowFactor, Slow: s.Slow, SDC: s.SDC}, Findings: []evidence.NodeFinding{}}}
	for _, g := range gpus {
		dir := evidence.GPUDir(g.Index)
		n.info.GPUs = append(n.info.GPUs, evidence.NodeGPU{Index: g.Index, UUID: g.UUID, Name: g.Name, Dir: dir,
			Workspace: filepath.Join(s.nodeRoot(), dir)})
	}
	return n, nil
}

// nodeRoot is where the GPUs' workspaces go, in the workspace: <workspace>/gpusmoke-gpus.
func (s *Settings) nodeRoot() string { return filepath.Join(s.Workspace, evidence.GPUWorkspaces) }

// nodeRuns says, in a node run's own suite, whether the section runs here and whether it runs
// in each GPU's run; outside a node run, it runs here only.
func (su *Suite) nodeRuns(step runbook.Step) (here, perGPU bool) {
	if su.node == nil {
		return true, false
	}
	return slices.Contains(inNodeSuite, step.Name), !slices.Contains(notPerGPU, step.Name)
}

// begin starts every GPU's run, once: the workspaces are copied, node.json written, and the runs
// started. Its error (a copy that failed) fails the section that asked.
func (n *nodeRun) begin() error {
	n.once.Do(func() { n.err = n.startAll() })
	return n.err
}

func (n *nodeRun) startAll() error {
	s := n.su.Settings
	for _, g := range n.info.GPUs {
		if err := copyCheckout(s, filepath.Join(g.Workspace, filepath.Base(s.DifftrainDir))); err != nil {
			return err
		}
	}
	if err := evidence.WriteNode(s.Out, &n.info, n.su.Redactor); err != nil {
		return err
	}
	for _, g := range n.info.GPUs {
		m := &member{gpu: g, out: filepath.Join(s.Out, g.Dir), log: filepath.Join(evidence.LogsDir, g.Dir+".log"), ended: map[string]bool{}}
		m.cond = sync.NewCond(&m.mu)
		n.members = append(n.members, m)
		if err := n.start(m); err != nil {
			m.finish(-1, err)
		}
	}
	go func() { // a Ctrl-C reaches the GPUs' runs from here too, when it came to this process alone
		<-n.su.Ctx.Done()
		for _, m := range n.members {
			m.signal(os.Interrupt)
		}
	}()
	return nil
}

// start starts one GPU's run: this test binary, with the go test flags that select sections,
// in the GPU's own evidence directory and copy of the checkout, pinned to the GPU by its UUID.
func (n *nodeRun) start(m *member) error {
	s := n.su.Settings
	args := []string{"-test.v=true", "-test.count=1"}
	for _, name := range []string{"test.run", "test.skip", "test.timeout"} {
		if f := flag.Lookup(name); f != nil && f.Value.String() != f.DefValue {
			args = append(args, "-"+name+"="+f.Value.String())
		}
	}
	cmd := exec.Command(os.Args[0], args...)
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if !slices.Contains([]string{"SMOKE_GPUS", "SMOKE_OUT", "DIFFTRAIN_DIR", "CUDA_VISIBLE_DEVICES", wrappedVar}, name) {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "SMOKE_OUT="+m.out, "DIFFTRAIN_DIR="+filepath.Join(m.gpu.Workspace, filepath.Base(s.DifftrainDir)),
		evidence.NodeVar+"="+s.Out, fmt.Sprintf("%s=%d", evidence.NodeGPUVar, m.gpu.Index), "CUDA_VISIBLE_DEVICES="+m.gpu.UUID)
	// The GPU's run ends its running section and keeps its evidence when this suite dies.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	f, err := os.Create(filepath.Join(s.Out, m.log))
	if err != nil {
		return fmt.Errorf("GPU %d: %w", m.gpu.Index, err)
	}
	m.hash = evidence.NewHashWriter(f)
	pr, pw, err := os.Pipe()
	if err != nil {
		f.Close()
		return fmt.Errorf("GPU %d: %w", m.gpu.Index, err)
	}
	cmd.Stdout, cmd.Stderr = pw, pw
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		f.Close()
		return fmt.Errorf("GPU %d: start its run: %w", m.gpu.Index, err)
	}
	m.mu.Lock()
	m.proc = cmd.Process
	m.mu.Unlock()
	followed := make(chan struct{})
	go func() {
		defer close(followed)
		m.follow(pr)
		f.Close()
	}()
	go func() {
		err := cmd.Wait()
		// A process of the run that kept its output open does not keep the node waiting.
		_ = pr.SetReadDeadline(time.Now().Add(2 * time.Second))
		<-followed
		pr.Close()
		code := cmd.ProcessState.ExitCode()
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			m.mu.Lock()
			m.peakRSS = ru.Maxrss // KiB on Linux
			m.mu.Unlock()
		}
		if code < 0 || code > evidence.ExitIncomplete {
			m.finish(code, fmt.Errorf("its run ended abnormally (%v)", err))
			return
		}
		m.finish(code, nil)
	}()
	return nil
}

// resultLine is a top-level test's result as go test -v prints it at the start of a line: the
// GPU's run printed it once the section had ended and run.json held its result. A step's own
// output cannot start a line so: the runner prefixes each of its lines with [<section> ...].
var resultLine = regexp.MustCompile(`^--- (PASS|FAIL|SKIP): (Test\w+) \(`)

// progressLine is a line of the GPU's run worth the operator's eye: a section's result, and a
// silent step's "still running".
var progressLine = regexp.MustCompile(`^(--- (PASS|FAIL|SKIP): Test\w+ |\[\S+ \S+\] … still running)`)

// follow copies the GPU's console into its log, and tells the node's suite and the operator
// where it has got to.
func (m *member) follow(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		_, _ = m.hash.Write(append([]byte(line), '\n'))
		if progressLine.MatchString(line) {
			tellUser(fmt.Sprintf("smoke: %s: %s\n", m.gpu.Dir, strings.TrimSpace(line)))
		}
		if g := resultLine.FindStringSubmatch(line); g != nil {
			m.mu.Lock()
			m.ended[g[2]] = true
			m.cond.Broadcast()
			m.mu.Unlock()
		}
	}
}

// finish records how the GPU's run ended.
func (m *member) finish(code int, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exited, m.code, m.err = true, code, err
	m.cond.Broadcast()
}

// signal passes a signal on to the GPU's run, while it runs.
func (m *member) signal(sig os.Signal) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc != nil && !m.exited {
		_ = m.proc.Signal(sig)
	}
}

// await waits until the GPU's run has ended the section of test (or has ended), and returns the
// section's record from its run.json.
func (m *member) await(test, id string) (evidence.Section, error) {
	m.mu.Lock()
	for !m.ended[test] && !m.exited {
		m.cond.Wait()
	}
	err := m.err
	m.mu.Unlock()
	if err != nil {
		return evidence.Section{}, err
	}
	r, err := evidence.ReadRun(m.out)
	if err != nil {
		return evidence.Section{}, err
	}
	for _, sec := range r.Sections {
		if sec.ID() == id {
			return sec, nil
		}
	}
	return evidence.Section{}, fmt.Errorf("%s: no section %s", filepath.Join(m.out, evidence.RunFile), id)
}

// perGPU replays, in the node's suite, each GPU's result of the section as a subtest, in the
// GPUs' order, and takes the worst of them as the section's. A GPU's failure never halts the
// node: it halts that GPU's run only.
func (c *Section) perGPU() {
	c.gpus = true
	n := c.Suite.node
	if err := n.begin(); err != nil {
		c.Fatalf("%s: %v", c.Step.ID(), err)
	}
	var results, why []string
	for _, m := range n.members {
		rec, err := m.await(c.T.Name(), c.Step.ID())
		if err != nil {
			rec = evidence.Section{Result: evidence.Fail, Reason: fmt.Sprintf("GPU %d's run left no result: %v", m.gpu.Index, err)}
		}
		results = append(results, rec.Result)
		if rec.Result != evidence.Pass {
			why = append(why, fmt.Sprintf("%s %s: %s", m.gpu.Dir, rec.Result, rec.Reason))
		}
		c.T.Run(m.gpu.Dir, func(t *testing.T) { replay(t, rec) })
	}
	worst := evidence.Worst(results...)
	switch {
	case worst == evidence.Interrupted:
		c.interrupted = true
	case worst == evidence.NA && len(why) > 0:
		c.NotApplicable("on every GPU: %s", strings.Join(why, "; "))
	case worst == evidence.Skipped || worst == evidence.NotRun || worst == evidence.NA:
		c.Skipf("%s", strings.Join(why, "; "))
	}
	if len(why) > 0 {
		c.rec.Reason = c.Suite.shown(strings.Join(why, "; "))
	}
}

// replay reports one GPU's result of a section as its subtest.
func replay(t *testing.T, rec evidence.Section) {
	for _, n := range rec.Notes {
		t.Log(n)
	}
	switch rec.Result {
	case evidence.Pass:
	case evidence.Fail, evidence.Interrupted:
		t.Fatal(rec.Reason)
	default:
		t.Skip(rec.Result + ": " + rec.Reason)
	}
}

// copyCheckout copies the checkout into dst, a GPU's workspace: its files as they are (its git
// repository included), symlinks as links, but none of the plan's output directories inside it,
// which belong to a run.
func copyCheckout(s *Settings, dst string) error {
	src := s.DifftrainDir
	skip := map[string]bool{}
	for _, st := range s.Plan.Steps {
		if v := st.Flag("--output-dir"); v != "" {
			skip[s.path(v)] = true
		}
	}
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if skip[p] {
			return filepath.SkipDir
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(to, info.Mode().Perm()|0o700)
		case d.Type()&os.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err == nil {
				err = os.Symlink(target, to)
			}
			return err
		case d.Type().IsRegular():
			return copyFile(p, to, info.Mode().Perm())
		}
		return nil // a FIFO or a socket in a checkout is nobody's code
	})
	if err != nil {
		return fmt.Errorf("copy the checkout %s to %s: %w", src, dst, err)
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

// nvml is the NVML this run reads: the machine's (built with -tags fakegpu, a fake's); in the
// run of one GPU of a node run, only that GPU of it.
func (s *Settings) nvml() (gpuenv.Library, string, error) {
	lib, fake, err := nvmlLibrary()
	if err == nil && s.Member != nil {
		lib = gpuenv.Only(lib, s.Member.GPU.UUID)
	}
	return lib, fake, err
}

// end waits for every GPU's run to end, takes each one's evidence into the node's (verified
// against the seal its run made), compares the GPUs, and writes node.json.
func (n *nodeRun) end() {
	su := n.su
	for i, m := range n.members {
		m.mu.Lock()
		for !m.exited {
			m.cond.Wait()
		}
		g := &n.info.GPUs[i]
		code := m.code
		g.ExitCode, g.PeakRSSKiB = &code, m.peakRSS
		if m.err != nil {
			g.Error = su.shown(m.err.Error())
		}
		m.mu.Unlock()
		if m.hash != nil {
			sum, size := m.hash.Sum()
			su.Ledger.RecordHash(m.log, sum, size)
		}
		err := evidence.VerifySums(m.out)
		if err == nil {
			err = su.Ledger.RecordTree(m.gpu.Dir)
		}
		su.guard(fmt.Sprintf("GPU %d's evidence (%s) is as its run sealed it", m.gpu.Index, m.gpu.Dir), err == nil, errText(err))
		if r, err := evidence.ReadRun(m.out); err == nil {
			for _, sec := range r.Sections {
				if sec.Name == "train" && sec.Result == evidence.Pass {
					fmt.Sscanf(sec.Duration, "%g", &g.TrainSeconds)
					n.trained[g.Index] = sec
				}
			}
		}
	}
	if len(n.members) > 0 {
		// The GPUs' runs read the checkout's code, and never write it.
		problems := trackedChanges(su.baseGit, readGit(su.Settings.DifftrainDir))
		if su.baseGit.err == nil {
			su.guard("the GPUs' runs left the checkout's tracked files and HEAD unchanged (each wrote its own copy)",
				len(problems) == 0, strings.Join(problems, ", "))
		}
	}
	n.compare()
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		n.info.SuitePeakRSSKiB = ru.Maxrss
	}
	err := evidence.WriteNode(su.Settings.Out, &n.info, su.Redactor)
	if err == nil {
		err = su.Ledger.Record(evidence.NodeFile)
	}
	su.guard("node.json written", err == nil, errText(err))
}

// compare judges the GPUs against each other: the slow GPU (evidence.SlowFindings) and the GPU
// that computes differently (sdc: the same losses and tensor bytes as the majority's).
func (n *nodeRun) compare() {
	r := n.info.Rules
	var members []sdc.Member
	for i, g := range n.info.GPUs {
		run, err := evidence.ReadRun(filepath.Join(n.su.Settings.Out, g.Dir))
		var c *evidence.Computed
		if err == nil {
			c = run.Computed
		}
		if c != nil {
			n.info.GPUs[i].StepsPerSecond = c.StepsPerSecond
		}
		members = append(members, c.Member(g.Dir))
	}
	n.info.Findings = append(n.info.Findings, evidence.SlowFindings(n.info.GPUs, r, n.slowDetail)...)
	res := sdc.Compare(members)
	d := sdc.Decide(res, r.SDC)
	for _, o := range res.Outliers {
		n.info.Findings = append(n.info.Findings, evidence.NodeFinding{Kind: evidence.SDCGPU, GPU: n.indexOf(o.Name),
			Fail: d.Fail, Message: o.String()})
	}
	if len(res.Outliers) == 0 && (d.Fail || d.Warn) {
		n.info.Findings = append(n.info.Findings, evidence.NodeFinding{Kind: evidence.SDCGPU, GPU: -1, Fail: d.Fail, Message: d.Say})
	}
	n.info.Compared = fmt.Sprintf("training time (slow: more than %g times the node's median, SMOKE_SLOW=%s); results: %s",
		r.SlowFactor, r.Slow, d.Say)
}

// indexOf is the NVML index of the GPU whose directory is dir.
func (n *nodeRun) indexOf(dir string) int {
	for _, g := range n.info.GPUs {
		if g.Dir == dir {
			return g.Index
		}
	}
	return -1
}

// slowDetail is what a slow GPU's run recorded of it over its training step: its clocks, the
// reasons they were held down, and its PCIe link, at load.
func (n *nodeRun) slowDetail(g evidence.NodeGPU) string {
	if p := n.trained[g.Index].Peaks; p != nil {
		return strings.Join(p.AtLoad, "; ")
	}
	return ""
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// install is section 01: the plan's install step, or, in the run of one GPU of a node run, the
// node's install, which runs once for every GPU: it waits for its result and copies its log.
func (c *Section) install() {
	m := c.Suite.Settings.Member
	if m == nil {
		c.Run()
		return
	}
	rec := c.nodeResult(m.Node)
	if rec.Log != "" {
		b, err := os.ReadFile(filepath.Join(m.Node, rec.Log))
		if err == nil {
			err = os.WriteFile(c.Out(c.LogRel()), b, 0o644)
		}
		if err == nil {
			err = c.Suite.Ledger.Record(c.LogRel())
		}
		if err != nil {
			c.Fatalf("%s: copy the node's install log: %v", c.Step.ID(), err)
		}
		c.rec.Log, c.rec.Command, c.rec.ExitCode, c.rec.Duration = c.LogRel(), rec.Command, rec.ExitCode, rec.Duration
	}
	if rec.Result != evidence.Pass {
		c.Fatalf("%s: the node's install, which ran once for every GPU, is %s: %s", c.Step.ID(), rec.Result, rec.Reason)
	}
	c.Notef("installed once for the node (%s)", filepath.Join(m.Node, rec.Log))
}

// nodeResult waits until the node's suite has recorded its result of this section in its
// run.json, and returns it.
func (c *Section) nodeResult(node string) evidence.Section {
	for {
		r, err := evidence.ReadRun(node)
		if err != nil {
			c.Fatalf("%s: %v", c.Step.ID(), err)
		}
		for _, sec := range r.Sections {
			if sec.ID() == c.Step.ID() && sec.Result != evidence.NotRun {
				return sec
			}
		}
		select {
		case <-c.Suite.Ctx.Done():
			c.interrupted = true
			c.Fatalf("%s: interrupted while it waited for the node's install", c.Step.ID())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// xidsOfTheRun are the Xids during a step that fail it. In a node's own suite (its install), an
// Xid on one GPU is that GPU's fault, not the step's: the node names the GPU (a finding that
// fails it) and the step goes on; only an Xid NVML ties to no GPU fails the step.
func (su *Suite) xidsOfTheRun(step string, events []gpuenv.XidEvent) []uint64 {
	var out []uint64
	for _, e := range events {
		if su.node == nil || e.GPU < 0 {
			out = append(out, e.Xid)
			continue
		}
		su.mu.Lock()
		su.node.info.Findings = append(su.node.info.Findings, evidence.NodeFinding{Kind: evidence.XidGPU, GPU: e.GPU, Fail: true,
			Message: fmt.Sprintf("GPU %d: Xid %d during the node's %s (see dmesg)", e.GPU, e.Xid, step)})
		su.mu.Unlock()
	}
	return out
}

// fatalHealth are the health findings that fail this run's preflight. A node's own preflight
// leaves a finding about one GPU to that GPU's run, which it fails while the others go on.
func (c *Section) fatalHealth() []gpuenv.Finding {
	var out []gpuenv.Finding
	for _, h := range c.Suite.Facts.Fatal() {
		if c.Suite.node != nil && h.GPU >= 0 {
			c.Notef("%s: left to GPU %d's own run", h.Message, h.GPU)
			continue
		}
		out = append(out, h)
	}
	return out
}
