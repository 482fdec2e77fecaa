package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/internal/testenv"
)

// The node figure (issue 22): make smoke as a node run of the fake DGX H200 (-tags "gpu
// fakegpu", the pretend-CUDA torch), against the same commands run by a plain script, every
// GPU's at once, each GPU's in its own copy of the workspace and pinned by CUDA_VISIBLE_DEVICES,
// after the install once; and the harness's own peak RSS (node.json records the node's suite's
// and each GPU's run's).

// nodeBinaries are the binaries of make smoke with GPU=1 FAKEGPU=1.
var nodeBinaries = []string{".bin/gpu-fakegpu/smoke.test", ".bin/gpu-fakegpu/gotestsum", ".bin/gpu-fakegpu/test2json", ".bin/gpu-fakegpu/checklist"}

// nodeRun is the node figure's state.
type nodeRun struct {
	*bench
	dir, script, out, ws, configs string
	runs                          int
	rss                           [][]int64 // per make smoke kept: the node's suite's, then each GPU's run's, in KiB
}

func nodeSides(b *bench, dir string) (*sides, error) {
	r := &nodeRun{bench: b, dir: dir}
	if err := makeTargets(b.root, append([]string{"GPU=1", "FAKEGPU=1"}, nodeBinaries...)...); err != nil {
		return nil, err
	}
	if err := r.makeSmoke(); err != nil {
		return nil, err
	}
	if err := r.writeScript(); err != nil {
		return nil, err
	}
	return &sides{before: r.before, baseline: r.runScript, measured: r.makeSmoke, after: r.after, more: r.report}, nil
}

// env is a node run's environment: every GPU of the fake H200 and the pretend-CUDA torch.
func (r *nodeRun) env(extra ...string) []string {
	return testenv.Clean(append([]string{"GPU=1", "FAKEGPU=1", "GPUS=" + r.gpus, "SMOKE_FAKE_GPU=h200", "PRETEND_CUDA_GPU=h200",
		"PYTHONPATH=" + filepath.Join(r.root, "testdata", "pretend-cuda"), "SMOKE_PYTHON=" + r.python}, extra...)...)
}

func (r *nodeRun) makeSmoke() error {
	r.out = filepath.Join(r.dir, fmt.Sprintf("node-%d", r.runs))
	r.runs++
	cmd := exec.Command("make", "--no-print-directory", "smoke")
	cmd.Dir, cmd.Env = r.root, r.env("SMOKE_OUT="+r.out)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("make smoke GPUS=%s (SMOKE_OUT=%s): %v\n%s", r.gpus, r.out, err, lastOf(string(out), 20))
	}
	return nil
}

// writeScript writes the plain script from the warm-up node run: the install once, then each
// GPU's commands (those of gpu0's run, with a command) in its own copy of the workspace, every
// GPU at once; the AMP sections' temporary configs are the ones the suite wrote.
func (r *nodeRun) writeScript() error {
	node, err := evidence.ReadNode(r.out)
	if err != nil {
		return err
	}
	run, err := evidence.ReadRun(filepath.Join(r.out, node.GPUs[0].Dir))
	if err != nil {
		return err
	}
	r.configs = filepath.Join(r.dir, "configs")
	if err := os.MkdirAll(r.configs, 0o755); err != nil {
		return err
	}
	for _, c := range run.TempConfigs {
		if err := command(nil, 0, "cp", c, r.configs); err != nil {
			return err
		}
	}
	s := fmt.Sprintf(`#!/usr/bin/env bash
# A node run's commands as a plain script in the workspace $1: the install once, then every
# GPU's commands at once, each in its own copy of the checkout, pinned to its GPU.
set -euo pipefail
cd "$1"
export PYTHONPATH="$1/standins:$1/difftrain/src:%s" PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 PRETEND_CUDA_GPU=h200
pids=()
`, filepath.Join(r.root, "testdata", "pretend-cuda"))
	var per []string
	for _, sec := range run.Sections {
		switch {
		case sec.ExitCode == nil:
		case sec.Name == "install":
			s += sec.Command + " >/dev/null\n"
		default:
			if strings.HasPrefix(sec.Name, "amp-") && len(per) > 0 && !strings.Contains(strings.Join(per, ""), "cp ") {
				per = append(per, fmt.Sprintf("cp %s/*.yaml ./difftrain/_tmp_run/", r.configs))
			}
			per = append(per, sec.Command+" >/dev/null")
		}
	}
	for _, g := range node.GPUs {
		s += fmt.Sprintf("( mkdir -p \"$1/gpus/%s\" && cp -a \"$1/difftrain\" \"$1/gpus/%s/\" && cd \"$1/gpus/%s\" && export CUDA_VISIBLE_DEVICES=%s && %s -c 'import torch' && %s ) &\n",
			g.Dir, g.Dir, g.Dir, g.UUID, r.python, strings.Join(per, " && "))
		s += "pids+=($!)\n"
	}
	s += "for p in \"${pids[@]}\"; do wait \"$p\"; done # each GPU's commands must pass\n"
	r.script = filepath.Join(r.dir, "node.sh")
	return writeBaseline(r.w, r.script, "<workspace>", s, r.out)
}

// before is untimed: a fresh workspace for the plain script; the binaries rebuilt if a source
// changed, so that no timed run rebuilds them.
func (r *nodeRun) before(measured bool) error {
	if measured {
		return makeTargets(r.root, append([]string{"GPU=1", "FAKEGPU=1"}, nodeBinaries...)...)
	}
	var err error
	r.ws, err = freshWorkspace(r.dir)
	return err
}

func (r *nodeRun) runScript() error { return command(testenv.Clean(), 0, "bash", r.script, r.ws) }

// after checks a node run, untimed: a PASS of every GPU, and the peak RSS node.json records.
func (r *nodeRun) after(measured bool) error {
	if !measured {
		return nil
	}
	defer os.RemoveAll(r.out)
	s, err := evidence.ReadSummary(r.out)
	if err != nil {
		return err
	}
	if s.Verdict != evidence.Pass || s.Node == nil {
		return fmt.Errorf("%s: verdict %s, want a node run's PASS", filepath.Join(r.out, evidence.SummaryFile), s.Verdict)
	}
	node, err := evidence.ReadNode(r.out)
	if err != nil {
		return err
	}
	rss := []int64{node.SuitePeakRSSKiB}
	for _, g := range node.GPUs {
		rss = append(rss, g.PeakRSSKiB)
	}
	r.rss = append(r.rss, rss)
	return nil
}

// report gives the peak RSS rows: the node's suite's, the largest GPU run's, and all of the
// harness's processes together (the node's suite and every GPU's run, at their peaks).
func (r *nodeRun) report(base, meas time.Duration) ([]string, error) {
	var suite, largest, total []time.Duration // KiB, as durations so that median() takes them
	for _, rss := range r.rss {
		sum, most := int64(0), int64(0)
		for _, v := range rss[1:] {
			sum, most = sum+v, max(most, v)
		}
		suite, largest, total = append(suite, time.Duration(rss[0])), append(largest, time.Duration(most)), append(total, time.Duration(rss[0]+sum))
	}
	mibOf := func(d []time.Duration) float64 { return float64(median(d)) / 1024 }
	rows := []string{
		fmt.Sprintf("| its peak RSS: the node's suite (max of %d) | | %.0f MiB | | ≤ 128 MiB | %s |", len(r.rss), mibOf(suite), met(mibOf(suite) <= 128)),
		fmt.Sprintf("| its peak RSS: the largest GPU's run | | %.0f MiB | | (≤ 128 MiB) | %s |", mibOf(largest), met(mibOf(largest) <= 128)),
		fmt.Sprintf("| its peak RSS: the node's suite and every GPU's run, summed | | %.0f MiB | | (≤ 128 MiB) | %s |", mibOf(total), met(mibOf(total) <= 128)),
	}
	fmt.Fprintf(r.w, "  peak RSS (medians over %d runs): the node's suite %.1f MiB, the largest GPU's run %.1f MiB, all together %.1f MiB\n",
		len(r.rss), mibOf(suite), mibOf(largest), mibOf(total))
	return rows, nil
}

// lastOf is the last n lines of s.
func lastOf(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
