package view

import (
	"cmp"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/difftrain/gpusmoke/evidence"
	"github.com/difftrain/gpusmoke/gpuenv"
	"github.com/difftrain/gpusmoke/junit"
)

// Evidence is one smoke run's evidence directory, read and checked: what every document shows.
type Evidence struct {
	Dir string // the directory as given
	// Out is SMOKE_OUT as the run recorded it (run.json "out"), else Dir: the paths the
	// documents print are under it.
	Out    string
	Run    evidence.Run
	Env    *gpuenv.Facts // nil when gpu_env.json was not recorded
	SMI    string        // nvidia-smi.txt
	HasSMI bool
	// Sections are the plan's sections in section-number order, each with its result: from
	// junit.xml when gotestsum wrote one (the card's path), else from run.json (a plain go test).
	Sections []evidence.Section
	// TestMain is the output of a failed TestMain (the suite failed before or around its
	// tests), from junit.xml; empty when it did not fail, or without junit.xml.
	TestMain string
	// Others are failed tests that carry no section (from junit.xml): Test, Result and Reason.
	Others []evidence.Section
	Files  []File   // the files the sections wrote or copied, and every copy under artifacts/, by path
	Logs   []string // under logs/, relative to Out, sorted
	Repro  bool     // repro.sh exists
	// Telemetry says that telemetry.csv exists.
	Telemetry bool
	// Source is what the sections' results were read from: junit.xml or run.json, and why.
	Source string
	// Node is set for a node run (node.json): its GPUs and each one's run.
	Node *Node
}

// File is a file of the evidence directory a section wrote or copied, or the record of a file
// not copied.
type File struct {
	Path   string // relative to Out, slash-separated; for a reference, the copy it stands for
	Size   int64  // -1 when unknown
	SHA256 string
	// Ref is the original's path when only its *.sha256ref record was kept, and Hashed how many
	// of its first bytes the sha256 covers when that is not all of them (a sparse file).
	Ref     string
	Hashed  int64
	Missing bool     // named by a section but not present
	By      []string // the sections that wrote or copied it
}

// Load reads and checks the evidence directory dir: the plan and the run's facts from run.json,
// each section's result from gotestsum's junit.xml when there is one, else from run.json. A
// missing or malformed run.json, or a malformed junit.xml, is an error naming the file and the
// field; a missing gpu_env.json or nvidia-smi.txt is not.
func Load(dir string) (*Evidence, error) {
	run, err := evidence.ReadRun(dir)
	if err != nil {
		return nil, err
	}
	if len(run.Sections) == 0 {
		return nil, fmt.Errorf("read %s: sections: none (run.json from a harness older than schema_version %d?)",
			filepath.Join(dir, evidence.RunFile), evidence.SchemaVersion)
	}
	e := &Evidence{Dir: dir, Run: *run, Out: cmpOr(run.Out, dir), Sections: slices.Clone(run.Sections),
		Source: evidence.RunFile}
	slices.SortStableFunc(e.Sections, func(a, b evidence.Section) int { return cmp.Compare(number(a.Section), number(b.Section)) })
	junitPath := filepath.Join(dir, evidence.JUnitFile)
	switch st, err := os.Stat(junitPath); {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return nil, err
	case st.Size() == 0:
		e.Source = evidence.RunFile + " (" + evidence.JUnitFile + " is empty: gotestsum could not write it, a full disk?)"
	default:
		doc, err := junit.Read(junitPath, MaxJUnitBytes)
		if err != nil {
			return nil, err
		}
		if err := e.fromJUnit(junitPath, doc); err != nil {
			return nil, err
		}
		e.Source = evidence.JUnitFile
	}
	if err := e.readFacts(); err != nil {
		return nil, err
	}
	if err := e.loadNode(); err != nil {
		return nil, err
	}
	return e, e.readFiles()
}

// MaxJUnitBytes bounds junit.xml as the renderer reads it.
const MaxJUnitBytes = 64 << 20

// number is a section number's value: "04" is 4.
func number(s string) int {
	n, _ := strconv.Atoi(s)
	return n
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// readFacts reads what the run recorded of the machine: gpu_env.json, nvidia-smi.txt, and whether
// there are repro.sh, telemetry.csv and logs.
func (e *Evidence) readFacts() error {
	envPath := filepath.Join(e.Dir, evidence.GPUEnvFile)
	if _, err := os.Stat(envPath); err == nil {
		f, err := gpuenv.Read(envPath)
		if err != nil {
			return err
		}
		e.Env = f
	}
	smiPath := filepath.Join(e.Dir, evidence.NvidiaSMIFile)
	if b, err := evidence.ReadFileLimit(smiPath, 1<<20); err == nil {
		e.SMI, e.HasSMI = string(b), true
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	_, err := os.Stat(filepath.Join(e.Dir, evidence.ReproFile))
	e.Repro = err == nil
	_, err = os.Stat(filepath.Join(e.Dir, evidence.TelemetryFile))
	e.Telemetry = err == nil
	e.Logs, err = listFiles(e.Dir, evidence.LogsDir)
	return err
}

// Planned is the section as run.json's plan describes it (its command as the plan runs it).
func (e *Evidence) Planned(number string) (evidence.Section, bool) {
	i := slices.IndexFunc(e.Run.Sections, func(s evidence.Section) bool { return s.Section == number })
	if i < 0 {
		return evidence.Section{}, false
	}
	return e.Run.Sections[i], true
}

// listFiles lists the regular files under dir/sub, relative to dir and slash-separated.
func listFiles(dir, sub string) ([]string, error) {
	root := filepath.Join(dir, sub)
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == root {
				return fs.SkipAll
			}
			return err
		}
		if d.Type().IsRegular() {
			rel, err := filepath.Rel(dir, p)
			if err != nil {
				return err
			}
			out = append(out, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", root, err)
	}
	slices.Sort(out)
	return out, nil
}

// readFiles indexes the files the sections name, wherever they are in the evidence directory
// (gpu_env.json and repro.sh at its top, copies under artifacts/), and every copy under
// artifacts/, each hashed with the one hash; a reference stands for the copy it replaces.
func (e *Evidence) readFiles() error {
	copies, err := listFiles(e.Dir, evidence.CopiesDir)
	if err != nil {
		return err
	}
	byPath := map[string]*File{}
	for _, rel := range copies {
		if err := e.addFile(byPath, rel); err != nil {
			return err
		}
	}
	for _, s := range e.Sections {
		for _, a := range s.Artifacts {
			a = path.Clean(a)
			if _, ok := byPath[strings.TrimSuffix(a, evidence.RefSuffix)]; !ok {
				if err := e.addFile(byPath, a); err != nil {
					return err
				}
			}
			if f := byPath[strings.TrimSuffix(a, evidence.RefSuffix)]; f != nil && !slices.Contains(f.By, s.ID()) {
				f.By = append(f.By, s.ID())
			}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		e.Files = append(e.Files, *byPath[p])
	}
	return nil
}

// addFile hashes the evidence file rel (or reads it as a reference) into byPath.
func (e *Evidence) addFile(byPath map[string]*File, rel string) error {
	full := filepath.Join(e.Dir, filepath.FromSlash(rel))
	f := File{Path: rel, Size: -1}
	if strings.HasSuffix(rel, evidence.RefSuffix) {
		f.Path = strings.TrimSuffix(rel, evidence.RefSuffix)
		switch ref, err := evidence.ReadRef(full); {
		case errors.Is(err, fs.ErrNotExist):
			f.Missing = true
		case err != nil:
			return err
		default:
			f.SHA256, f.Size, f.Ref = ref.SHA256, ref.Size, ref.Path
			if !ref.Whole() {
				f.Hashed = ref.Hashed
			}
		}
	} else {
		switch sum, size, err := evidence.HashFile(full); {
		case errors.Is(err, fs.ErrNotExist):
			f.Missing = true
		case err != nil:
			return err
		default:
			f.SHA256, f.Size = sum, size
		}
	}
	byPath[f.Path] = &f
	return nil
}

// Options pins what the evidence does not fix, so that output is exact in tests.
type Options struct {
	// Now is the "rendered at" time; zero means the current time.
	Now time.Time
	// Operator fills the template's Operator row (SMOKE_OPERATOR); empty leaves it blank.
	Operator string
	// Location fills the template's Location row (SMOKE_LOCATION); empty means the instance's
	// vendor as the machine reports it.
	Location string
	// Template is the checklist template to fill; empty means
	// <difftrain_dir>/docs/mvp_smoke_checklist.md from run.json.
	Template string
	// StepSummary is a file the report is appended to ($GITHUB_STEP_SUMMARY); empty means none.
	StepSummary string
	// SDC is SMOKE_SDC: how the fleet report counts a run whose results differ from its
	// group's majority (sdc.Decide).
	SDC string
}

// Time is the "rendered at" time: Now, or the current time.
func (o Options) Time() time.Time {
	if o.Now.IsZero() {
		return time.Now().UTC()
	}
	return o.Now.UTC()
}

// AppendFile appends b to the file p, creating it, with a blank line before it when the file
// already has content (as $GITHUB_STEP_SUMMARY wants).
func AppendFile(p string, b []byte) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	if st, err := f.Stat(); err == nil && st.Size() > 0 {
		b = append([]byte("\n"), b...)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("append %s: %w", p, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("append %s: %w", p, err)
	}
	return nil
}
