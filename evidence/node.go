package evidence

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/difftrain/gpusmoke/redact"
	"github.com/difftrain/gpusmoke/sdc"
)

// A node run (SMOKE_GPUS) runs the plan once per GPU, all GPUs at once: SMOKE_OUT holds the
// node's own run (its preflight, the install that ran once for the node, each later section's
// result over the GPUs), node.json, and one complete run per GPU in gpu<N>/, each sealed and
// verifiable on its own.
const (
	NodeFile = "node.json"
	// NodeVar and NodeGPUVar tell the run of one GPU where its node's evidence directory is and
	// which GPU it runs on (an index of node.json's GPUs).
	NodeVar    = "GPUSMOKE_NODE"
	NodeGPUVar = "GPUSMOKE_NODE_GPU"
	// GPUWorkspaces is, in the workspace, where each GPU's copy of the workspace goes: the
	// runbook's relative paths then name a GPU's own files.
	GPUWorkspaces = "gpusmoke-gpus"
)

// GPUDir is a GPU's run directory in a node run's evidence, and its workspace's name: gpu<N>.
func GPUDir(index int) string { return "gpu" + strconv.Itoa(index) }

// Node is node.json: the GPUs of a node run, each GPU's run, and what comparing them found.
type Node struct {
	SchemaVersion int `json:"schema_version"`
	// Fixture and PythonPath are the node's checkout as every GPU's run takes it: the bundled
	// fixture or not, and the PYTHONPATH the suite sets for the steps.
	Fixture    bool      `json:"fixture"`
	PythonPath string    `json:"python_path,omitempty"`
	Rules      NodeRules `json:"rules"`
	GPUs       []NodeGPU `json:"gpus"`
	// Findings are what comparing the GPUs found: a slow GPU, a GPU that computes differently.
	Findings []NodeFinding `json:"findings"`
	// Compared says what the comparison of results covered, or why it could not be made.
	Compared string `json:"compared,omitempty"`
	// SuitePeakRSSKiB is the node's own suite's peak resident set, as it wrote node.json.
	SuitePeakRSSKiB int64 `json:"suite_peak_rss_kib,omitempty"`
}

// NodeGPU is one GPU of a node run and its run.
type NodeGPU struct {
	Index     int    `json:"index"` // NVML's
	UUID      string `json:"uuid"`  // what CUDA_VISIBLE_DEVICES pins the run to
	Name      string `json:"name"`
	Dir       string `json:"dir"`       // its evidence, relative to the node's: gpu<N>
	Workspace string `json:"workspace"` // its copy of the workspace
	// ExitCode is the exit status of the GPU's run, once it has ended; Error why it left no
	// evidence (it could not start).
	ExitCode *int   `json:"exit_code,omitempty"`
	Error    string `json:"error,omitempty"`
	// TrainSeconds is the training section's wall time; StepsPerSecond its step rate from the
	// log's step lines (0 when it could not be read).
	TrainSeconds   float64 `json:"train_seconds,omitempty"`
	StepsPerSecond float64 `json:"steps_per_second,omitempty"`
	// PeakRSSKiB is the peak resident set of the GPU's run of the suite (not of its steps).
	PeakRSSKiB int64 `json:"peak_rss_kib,omitempty"`
}

// NodeFinding is a GPU that stands out from its node: slow, or computing differently.
type NodeFinding struct {
	Kind    string `json:"kind"` // SlowGPU, SDCGPU or XidGPU
	GPU     int    `json:"gpu"`  // NVML's index; -1 for the node
	Fail    bool   `json:"fail"` // it fails the node (the rules say so)
	Message string `json:"message"`
}

// Kinds of NodeFinding.
const (
	SlowGPU = "slow"
	SDCGPU  = "sdc"
	XidGPU  = "xid" // an Xid on one GPU while the node's own suite ran a step (its install)
)

// NodeRules are the settings that judge a node's GPUs against each other.
type NodeRules struct {
	// SlowFactor (SMOKE_SLOW_FACTOR): a GPU whose training takes more than this many times the
	// node's median is slow. Slow (SMOKE_SLOW): whether a slow GPU fails the node (fail) or
	// is only named (warn).
	SlowFactor float64 `json:"slow_factor"`
	Slow       string  `json:"slow"`
	// SDC (SMOKE_SDC): fail, warn or off; "" fails when at least three GPUs agree and warns
	// with two.
	SDC string `json:"sdc,omitempty"`
}

// ParseNodeRules reads SMOKE_SLOW_FACTOR, SMOKE_SLOW and SMOKE_SDC. Each error is one line that
// names the setting.
func ParseNodeRules(getenv func(string) string) (NodeRules, error) {
	r := NodeRules{SlowFactor: 1.5, Slow: "warn", SDC: getenv("SMOKE_SDC")}
	if v := getenv("SMOKE_SLOW_FACTOR"); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || !(f > 1) || f > 1000 {
			return r, fmt.Errorf("SMOKE_SLOW_FACTOR=%s: want a number above 1, such as 1.5", v)
		}
		r.SlowFactor = f
	}
	switch v := getenv("SMOKE_SLOW"); v {
	case "":
	case "warn", "fail":
		r.Slow = v
	default:
		return r, fmt.Errorf("SMOKE_SLOW=%s: want warn or fail", v)
	}
	return r, sdc.CheckMode(r.SDC)
}

// ReadNode reads node.json in dir.
func ReadNode(dir string) (*Node, error) {
	var n Node
	if err := ReadJSON(filepath.Join(dir, NodeFile), &n, MaxRunBytes); err != nil {
		return nil, err
	}
	return &n, nil
}

// WriteNode writes node.json into dir, with every string redacted.
func WriteNode(dir string, n *Node, red *redact.Redactor) error {
	return writeJSON(filepath.Join(dir, NodeFile), n, red)
}

// Member is one GPU's place in a node run, as that GPU's run reads it.
type Member struct {
	Node       string // the node's evidence directory
	GPU        NodeGPU
	Fixture    bool
	PythonPath string
}

// ReadMember reads the node run in dir (NodeVar) and the GPU index names (NodeGPUVar).
func ReadMember(dir, index string) (*Member, error) {
	n, err := ReadNode(dir)
	if err != nil {
		return nil, fmt.Errorf("%s=%s: %w", NodeVar, dir, err)
	}
	i, err := strconv.Atoi(index)
	for _, g := range n.GPUs {
		if err == nil && g.Index == i {
			return &Member{Node: dir, GPU: g, Fixture: n.Fixture, PythonPath: n.PythonPath}, nil
		}
	}
	return nil, fmt.Errorf("%s=%q: not a GPU of the node run in %s", NodeGPUVar, index, dir)
}

// SlowFindings names each GPU whose training took more than r.SlowFactor times the node's
// median (over the GPUs whose training passed, at least two), with its figures and what
// detail says of it (its clocks, throttle reasons and PCIe link over the step). It fails the
// node when r.Slow is "fail".
func SlowFindings(gpus []NodeGPU, r NodeRules, detail func(NodeGPU) string) []NodeFinding {
	var times []float64
	for _, g := range gpus {
		if g.TrainSeconds > 0 {
			times = append(times, g.TrainSeconds)
		}
	}
	if len(times) < 2 {
		return nil
	}
	slices.Sort(times)
	median := times[len(times)/2]
	if len(times)%2 == 0 {
		median = (times[len(times)/2-1] + times[len(times)/2]) / 2
	}
	var out []NodeFinding
	for _, g := range gpus {
		if g.TrainSeconds <= r.SlowFactor*median {
			continue
		}
		msg := fmt.Sprintf("GPU %d trained in %.1f s, %.1f times the node's median of %.1f s (SMOKE_SLOW_FACTOR=%g)",
			g.Index, g.TrainSeconds, g.TrainSeconds/median, median, r.SlowFactor)
		if g.StepsPerSecond > 0 {
			msg += fmt.Sprintf("; %.2f steps/s", g.StepsPerSecond)
		}
		if d := detail(g); d != "" {
			msg += "; " + d
		}
		out = append(out, NodeFinding{Kind: SlowGPU, GPU: g.Index, Fail: r.Slow == "fail", Message: msg})
	}
	return out
}
