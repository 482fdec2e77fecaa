package evidence

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// The evidence directory's layout. docs/evidence.md documents each entry.
const (
	JUnitFile        = "junit.xml"      // gotestsum's JUnit (make smoke, run-smoke)
	JSONFile         = "go-test.json"   // the go test -json stream, written by gotestsum --jsonfile
	RunFile          = "run.json"       // Run: the plan as it ran and each section's result
	SummaryFile      = "summary.json"   // Summary: the verdict, for fleets and CI
	GPUEnvFile       = "gpu_env.json"   // the machine's facts (gpuenv)
	NvidiaSMIFile    = "nvidia-smi.txt" // raw nvidia-smi output
	TelemetryFile    = "telemetry.csv"  // GPU samples taken during each step
	LogsDir          = "logs"           // one full log per step: logs/<NN>-<name>.log
	CopiesDir        = "artifacts"      // copies of difftrain's outputs: artifacts/<NN>-<name>/
	PytestDir        = "pytest"         // each pytest lane's own JUnit: pytest/<NN>-<name>.xml
	ChecklistFile    = "checklist.md"
	PromFile         = "smoke.prom"    // the run in node_exporter's textfile-collector format
	TelemetrySVGFile = "telemetry.svg" // telemetry.csv drawn: one panel per GPU, sections as bands
	ReportFile       = "report.md"
	TemplateFile     = "mvp_smoke_checklist.md" // the checkout's own template, filled
	SumsFile         = "SHA256SUMS"
	ReproFile        = "repro.sh"       // re-runs the failed step
	ReproEnvFile     = "repro.env"      // the failed step's whole environment, redacted
	LeftoversDir     = "leftovers"      // an earlier run's files, moved aside
	WorkspaceDir     = "workspace"      // the fixture's workspace, when no checkout was given
	LockFile         = ".smoke.lock"    // held by the run that writes the directory
	ReserveFile      = ".smoke.reserve" // space set aside for the evidence, freed when the disk fills
	RunsDir          = "runs"           // where runs go by default: <root>/runs/<UTC stamp>/
)

// SpecialsFile is SHA256SUMS' companion: what the seal did not hash whole (WriteSums), when
// there is any.
const SpecialsFile = "SHA256SUMS.special"

// Documents are the files the renderer writes; rendering again rewrites them.
var Documents = []string{ChecklistFile, ReportFile, SummaryFile, TemplateFile, PromFile, TelemetrySVGFile}

// Unsealed are the entries SHA256SUMS does not cover: the fixture's workspace is scratch
// space (repro.sh runs there), and the lock and the reserve are the running suite's.
var Unsealed = []string{WorkspaceDir, LockFile, ReserveFile}

// LogRel is a step's log, relative to the evidence directory.
func LogRel(id string) string { return filepath.Join(LogsDir, id+".log") }

// LaneFlags are the options the suite adds to a pytest lane's command, each with a value: its
// JUnit (written outside the evidence, beside the temporary directory, and copied in redacted to
// PytestRel), its temporary directory, and -p no:cacheprovider (no
// .pytest_cache/ in the checkout).
var LaneFlags = []string{"--junitxml", "--basetemp", "-p"}

// PytestRel is where a pytest lane's JUnit is kept, redacted, relative to the evidence directory.
func PytestRel(id string) string { return filepath.Join(PytestDir, id+".xml") }

// CopyRel is where a step's copies go, relative to the evidence directory.
func CopyRel(id string, sub ...string) string {
	return filepath.Join(append([]string{CopiesDir, id}, sub...)...)
}

// NewOut is the default evidence directory: root/runs/<UTC timestamp>, with a suffix when a
// directory of that name already exists.
func NewOut(root string, now time.Time) string {
	base := filepath.Join(root, RunsDir, now.UTC().Format("20060102T150405Z"))
	p := base
	for i := 2; ; i++ {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			return p
		}
		p = fmt.Sprintf("%s-%d", base, i)
	}
}

// Complete says whether dir holds a finished run that was rendered and sealed: run.json with
// its finish time, summary.json and SHA256SUMS. A run stopped by a bad setting, or one that
// never reached its end, is not complete.
func Complete(dir string) bool {
	r, err := ReadRun(dir)
	if err != nil || r.FinishedUTC == "" {
		return false
	}
	for _, f := range []string{SummaryFile, SumsFile} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			return false
		}
	}
	return true
}

// Newest is the newest complete run (Complete) among the directories in runs, by name: the
// default names are UTC timestamps.
func Newest(runs string) (string, error) {
	entries, err := os.ReadDir(runs)
	if err != nil {
		return "", fmt.Errorf("find the newest run: %w", err)
	}
	for i := len(entries) - 1; i >= 0; i-- {
		if d := filepath.Join(runs, entries[i].Name()); entries[i].IsDir() && Complete(d) {
			return d, nil
		}
	}
	return "", fmt.Errorf("find the newest run: no complete run under %s", runs)
}
