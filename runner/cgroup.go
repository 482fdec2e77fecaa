package runner

// Per-step cgroups. Where this process may create a child of its own cgroup v2 (root, or a
// delegated cgroup), each step's leader starts directly in a new child cgroup (clone3's
// CLONE_INTO_CGROUP), which every descendant inherits, whatever it does to its environment,
// its descriptors, its session or its dumpability: only a process with the right to write
// another cgroup's cgroup.procs (root) can leave it. When the step ends, the cgroup is frozen,
// what is in it is named and killed, and it is removed once it is empty. Its name carries the
// step's id, so that the next run removes the cgroup of a run that died (SweepOrphans).

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/difftrain/gpusmoke/internal/procstat"
)

// cgroupPrefix begins the name of every step's cgroup: "gpusmoke.<run id>.<section>".
const cgroupPrefix = "gpusmoke."

// cgroupWalkMax bounds the cgroup directories SweepOrphans looks through.
const cgroupWalkMax = 10000

// stepCgroupsOff turns per-step cgroups off (tests of the path a machine without them takes).
var stepCgroupsOff bool

// stepCgroup is one step's cgroup: its directory, and a descriptor of it that clone3 starts the
// leader in.
type stepCgroup struct {
	dir    string
	fd     int
	stepID string
}

// cgroup2Mount is where the cgroup v2 hierarchy is mounted, and the cgroup that mount shows at
// its root ("/" unless it is a bind mount of a sub-tree), from /proc/self/mountinfo.
func cgroup2Mount() (mnt, root string, err error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return "", "", fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		fields, fs := strings.Fields(pre), strings.Fields(post)
		if ok && len(fields) >= 5 && len(fs) > 0 && fs[0] == "cgroup2" {
			return unescapeMount(fields[4]), unescapeMount(fields[3]), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", "", fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	return "", "", errors.New("no cgroup v2 file system is mounted (/proc/self/mountinfo)")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroup is the directory of this process's cgroup v2: its path in /proc/self/cgroup ("0::"),
// under the mount that shows it.
func ownCgroup() (string, error) {
	mnt, root, err := cgroup2Mount()
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "", fmt.Errorf("read /proc/self/cgroup: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		p, ok := strings.CutPrefix(line, "0::")
		if !ok {
			continue
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
			return "", fmt.Errorf("this process's cgroup %s is outside the cgroup v2 mount at %s (its root is %s)", p, mnt, root)
		}
		return filepath.Join(mnt, rel), nil
	}
	return "", errors.New("/proc/self/cgroup has no cgroup v2 line (0::): the cgroup v2 hierarchy is not in use")
}

// StepCgroups reports whether each step can run in its own cgroup v2, a child of this process's:
// nil, or why not (no cgroup v2, a cgroup this user may not create children in, a kernel
// without the cgroup freezer). It creates a child and removes it again.
func StepCgroups() error {
	if stepCgroupsOff {
		return errors.New("per-step cgroups are turned off")
	}
	pid := os.Getpid()
	g, err := newStepCgroup(fmt.Sprintf("%d.%d.probe/preflight", pid, procstat.StartTicks(pid)))
	if err != nil {
		return err
	}
	return g.remove()
}

// newStepCgroup creates the cgroup of the step stepID under this process's cgroup and opens it.
func newStepCgroup(stepID string) (*stepCgroup, error) {
	if stepCgroupsOff {
		return nil, errors.New("per-step cgroups are turned off")
	}
	parent, err := ownCgroup()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(parent, cgroupPrefix+strings.ReplaceAll(stepID, "/", "."))
	if err := os.Mkdir(dir, 0o755); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.EROFS) {
			return nil, fmt.Errorf("create cgroup %s: %w (a suite that does not run as root needs a delegated cgroup v2)", dir, err)
		}
		return nil, fmt.Errorf("create cgroup %s: %w", dir, err)
	}
	g, err := openCgroup(dir, stepID)
	if err != nil {
		_ = syscall.Rmdir(dir)
		return nil, err
	}
	return g, nil
}

// openCgroup opens the cgroup at dir, which must have the cgroup v2 freezer (Linux 5.2).
func openCgroup(dir, stepID string) (*stepCgroup, error) {
	if _, err := os.Stat(filepath.Join(dir, "cgroup.freeze")); err != nil {
		return nil, fmt.Errorf("cgroup %s: no cgroup.freeze (the cgroup v2 freezer needs Linux 5.2): %w", dir, err)
	}
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup %s: %w", dir, err)
	}
	return &stepCgroup{dir: dir, fd: fd, stepID: stepID}, nil
}

// tree is the cgroup's directory and those of its descendants, parents first.
func (g *stepCgroup) tree() []string {
	dirs := []string{g.dir}
	for i := 0; i < len(dirs) && len(dirs) < cgroupWalkMax; i++ {
		ents, _ := os.ReadDir(dirs[i])
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, filepath.Join(dirs[i], e.Name()))
			}
		}
	}
	return dirs
}

// procs are the processes in the cgroup and its descendants.
func (g *stepCgroup) procs() []int {
	var pids []int
	for _, d := range g.tree() {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// freeze stops every process in the cgroup where it is (a fork stops too); a SIGKILL still ends them.
func (g *stepCgroup) freeze() {
	_ = os.WriteFile(filepath.Join(g.dir, "cgroup.freeze"), []byte("1"), 0)
}

// kill sends SIGKILL to every process in the cgroup: all at once through cgroup.kill (Linux
// 5.14), which a fork cannot slip through, or else one by one (frozen, they cannot fork).
func (g *stepCgroup) kill() {
	if os.WriteFile(filepath.Join(g.dir, "cgroup.kill"), []byte("1"), 0) == nil {
		return
	}
	for _, pid := range g.procs() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// populated reports whether a live process is left in the cgroup or below (cgroup.events).
func (g *stepCgroup) populated() bool {
	b, err := os.ReadFile(filepath.Join(g.dir, "cgroup.events"))
	return err == nil && bytes.Contains(b, []byte("populated 1"))
}

// remove removes the cgroup and its descendants, which must be empty, and closes its descriptor.
func (g *stepCgroup) remove() error {
	if g.fd >= 0 {
		syscall.Close(g.fd)
		g.fd = -1
	}
	dirs := g.tree()
	var first error
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := syscall.Rmdir(dirs[i]); err != nil && !errors.Is(err, syscall.ENOENT) && first == nil {
			first = fmt.Errorf("remove cgroup %s: %w", dirs[i], err)
		}
	}
	return first
}

// orphanCgroups opens the step cgroups, anywhere under the cgroup v2 mount, of the runs that
// dead judges gone, and that this process may freeze.
func orphanCgroups(dead func(stepID string) bool) []*stepCgroup {
	if stepCgroupsOff {
		return nil
	}
	mnt, _, err := cgroup2Mount()
	if err != nil {
		return nil
	}
	var out []*stepCgroup
	dirs := []string{mnt}
	for i := 0; i < len(dirs) && len(dirs) < cgroupWalkMax; i++ {
		ents, _ := os.ReadDir(dirs[i])
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			dir := filepath.Join(dirs[i], e.Name())
			id, ok := cgroupStepID(e.Name())
			if !ok {
				dirs = append(dirs, dir)
				continue
			}
			if !dead(id) || syscall.Access(filepath.Join(dir, "cgroup.freeze"), 2 /* W_OK */) != nil {
				continue
			}
			if g, err := openCgroup(dir, id); err == nil {
				out = append(out, g)
			}
		}
	}
	return out
}

// cgroupStepID is the step id a step cgroup's name carries ("gpusmoke.<pid>.<ticks>.<random>.<section>").
func cgroupStepID(name string) (string, bool) {
	rest, ok := strings.CutPrefix(name, cgroupPrefix)
	if !ok {
		return "", false
	}
	f := strings.SplitN(rest, ".", 4)
	if len(f) != 4 {
		return "", false
	}
	return f[0] + "." + f[1] + "." + f[2] + "/" + f[3], true
}
