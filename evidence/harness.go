package evidence

import (
	"bufio"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
)

// Version and Commit are the harness's release and the git commit it was built from, stamped at
// build time by make smoke and make bundle (scripts/harness-ldflags: -ldflags "-X
// github.com/difftrain/gpusmoke/evidence.Version=v1.2.3 -X ....Commit=<sha>[-dirty]"). Unset,
// Version is "dev".
var (
	Version = "dev"
	Commit  = ""
)

// module is this module's path, as go.mod declares it.
const module = "github.com/difftrain/gpusmoke"

// HarnessInfo is this build of the harness: Version and Commit as the build stamped them; else
// the commit go build recorded (vcs.revision); else, for a plain `go test ./smoke`, which
// compiles the suite from the working tree just before it runs it and stamps nothing, what git
// says of that tree (sourceInfo).
func HarnessInfo() Harness {
	h := Harness{Version: Version, Commit: Commit}
	if h.Commit == "" {
		h.Commit = buildVCS()
	}
	if h.Version == "dev" && h.Commit == "" {
		if v, c := sourceInfo(); c != "" {
			h.Version, h.Commit = v, c
		}
	}
	return h
}

// buildVCS is the commit go build recorded (it records none in a test binary, a git worktree, or
// with GOFLAGS=-buildvcs=false), with -dirty when the tree was modified.
func buildVCS() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	commit, dirty := "", false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if dirty && commit != "" {
		commit += "-dirty"
	}
	return commit
}

// sourceInfo asks git, in the module this file was compiled from (when that is still this
// module's checkout), for what scripts/harness-ldflags stamps: `git describe --tags --always
// --dirty` and HEAD, with -dirty when a tracked file differs from it. "" when it cannot tell.
func sourceInfo() (version, commit string) {
	_, file, _, ok := runtime.Caller(0)
	if !ok || !filepath.IsAbs(file) {
		return "", ""
	}
	root := filepath.Dir(filepath.Dir(file))
	if !isModuleRoot(root) {
		return "", ""
	}
	git := func(args ...string) string {
		cmd := exec.Command("git", append([]string{"-C", root}, args...)...)
		cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		out, err := cmd.Output()
		if err != nil {
			return ""
		}
		return strings.TrimSpace(string(out))
	}
	if commit = git("rev-parse", "HEAD"); commit == "" {
		return "", ""
	}
	if git("status", "--porcelain", "--untracked-files=no") != "" {
		commit += "-dirty"
	}
	if version = git("describe", "--tags", "--always", "--dirty"); version == "" {
		version = "dev"
	}
	return version, commit
}

// isModuleRoot says whether dir holds this module's go.mod.
func isModuleRoot(dir string) bool {
	f, err := os.Open(filepath.Join(dir, "go.mod"))
	if err != nil {
		return false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); strings.HasPrefix(line, "module ") {
			return strings.TrimSpace(strings.TrimPrefix(line, "module ")) == module
		}
	}
	return false
}
