// Package artifacts checks what difftrain writes and keeps the evidence of a smoke run.
package artifacts

// The evidence directory (SMOKE_OUT) holds everything one run produces. These names are its layout;
// the README documents them.
const (
	JUnitFile     = "junit.xml"      // written by gotestsum
	JSONFile      = "go-test.json"   // go test -json stream, written by gotestsum --jsonfile
	RunFile       = "run.json"       // RunInfo, written by the suite
	NvidiaSMIFile = "nvidia-smi.txt" // raw nvidia-smi output
	TelemetryFile = "telemetry.csv"  // GPU samples taken during each step
	LogsDir       = "logs"           // one full log per step: logs/<NN>-<name>.log
	CopiesDir     = "artifacts"      // copies of difftrain's outputs
	ChecklistFile = "checklist.md"
	ReportFile    = "report.md"
	TemplateFile  = "mvp_smoke_checklist.md" // the checkout's own template, filled
	SumsFile      = "SHA256SUMS"
	ReproFile     = "repro.sh"
	LeftoversDir  = "leftovers" // an earlier run's files, moved aside (SMOKE_LEFTOVERS=move)
	StandinsDir   = "standins"  // the stand-in model packages the fixture ran with
)

// JUnit property names: each section hands its facts to the renderer through t.Attr, and
// gotestsum writes them to <testcase><properties>.
const (
	PropSection   = "section"   // "04"
	PropName      = "name"      // "train"
	PropTitle     = "title"     // "Run smoke training (2 steps)"
	PropCommand   = "command"   // argv, shell-quoted for reading
	PropExpected  = "expected"  // what PASS means
	PropExitCode  = "exit_code" // "0"
	PropDuration  = "duration"  // seconds, "%.1f"
	PropLog       = "log"       // path relative to SMOKE_OUT
	PropResult    = "result"    // PASS, FAIL, SKIPPED or INTERRUPTED
	PropReason    = "reason"    // one line: why FAIL, SKIPPED or INTERRUPTED
	PropNotes     = "notes"     // "; "-joined notes
	PropDeviation = "deviation" // the plan's reason when the command differs from the runbook
	PropWarnings  = "warnings"  // count of warning lines in the log
	PropArtifacts = "artifacts" // "; "-joined paths relative to SMOKE_OUT of files this section checked or copied
	// Telemetry peaks over the step.
	PropPeakMemMiB  = "peak_mem_mib"
	PropPeakUtilPct = "peak_util_pct"
	PropMaxTempC    = "max_temp_c"
	PropMaxPowerW   = "max_power_w"
)

// Section results.
const (
	Pass        = "PASS"
	Fail        = "FAIL"
	Skipped     = "SKIPPED"
	Interrupted = "INTERRUPTED"
	NA          = "NA"
)

// RunInfo is run.json: what the suite knows about the run that JUnit does not carry.
type RunInfo struct {
	StartedUTC  string `json:"started_utc"` // RFC 3339
	FinishedUTC string `json:"finished_utc,omitempty"`
	GPUMode     bool   `json:"gpu_mode"` // built with -tags gpu
	// Fixture is true when DIFFTRAIN_DIR was not set and the bundled stand-in ran.
	Fixture      bool        `json:"fixture"`
	DifftrainDir string      `json:"difftrain_dir"`
	Workspace    string      `json:"workspace"`
	Python       string      `json:"python"` // SMOKE_PYTHON as resolved
	Out          string      `json:"out"`    // SMOKE_OUT, absolute
	Plan         PlanInfo    `json:"plan"`
	Git          GitInfo     `json:"git"`
	Interrupted  string      `json:"interrupted,omitempty"` // signal name when the run was interrupted
	Guardrails   []Guardrail `json:"guardrails"`
	// TempConfigs are the temporary configs the AMP sections wrote (runbook: "record the path").
	TempConfigs []string `json:"temp_configs"`
	// Untracked are files written outside the paths the plan declares.
	Untracked []string `json:"untracked"`
	// PythonPath is the PYTHONPATH every step ran with, when one was set.
	PythonPath string `json:"python_path,omitempty"`
	// Leftovers are an earlier run's files found in the output directories and moved aside.
	Leftovers []Leftover `json:"leftovers"`
	// CheckedExisting are the sections that checked files no step of this run wrote (a section
	// run alone with -run).
	CheckedExisting []string `json:"checked_existing"`
	// Compute says whether the run's training used a GPU; nil in a run.json from before it was recorded.
	Compute *Compute `json:"compute,omitempty"`
}

// Leftover is an output directory that held an earlier run's files, moved into the evidence.
type Leftover struct {
	Dir     string `json:"dir"`
	MovedTo string `json:"moved_to"` // relative to SMOKE_OUT
	Files   int    `json:"files"`
	Bytes   int64  `json:"bytes"`
}

// Compute is what the training ran on.
type Compute struct {
	GPUUsed bool   `json:"gpu_used"`
	Why     string `json:"why"` // the facts that decided it
}

// CPUOnlyBanner is the first line of the checklist and the report when no GPU was used.
const CPUOnlyBanner = "CPU only: no GPU was used"

// PlanInfo identifies the approved plan that ran.
type PlanInfo struct {
	Name       string      `json:"name"`
	Path       string      `json:"path"` // "(embedded runbook)" for the default
	SHA256     string      `json:"sha256"`
	Deviations []Deviation `json:"deviations"`
}

// Deviation is a step whose command differs from the runbook, with the plan's written reason.
type Deviation struct {
	Section string `json:"section"`
	Name    string `json:"name"`
	Runbook string `json:"runbook"` // the runbook's command
	Command string `json:"command"` // the command that ran
	Reason  string `json:"reason"`
}

// GitInfo is the difftrain checkout's state before the run.
type GitInfo struct {
	IsRepo bool   `json:"is_repo"`
	Commit string `json:"commit,omitempty"`
	Branch string `json:"branch,omitempty"`
	Clean  bool   `json:"clean"`
	Status string `json:"status,omitempty"` // git status --porcelain
	Error  string `json:"error,omitempty"`
}

// Guardrail is one rule the suite checked, and what it found.
type Guardrail struct {
	Rule   string `json:"rule"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}
