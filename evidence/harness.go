package evidence

import "runtime/debug"

// Version is the harness's release, set at build time by `make bundle`
// (-ldflags "-X github.com/difftrain/gpusmoke/evidence.Version=v1.2.3"); "dev" otherwise.
var Version = "dev"

// HarnessInfo is this build of the harness: Version and the git commit it was built from,
// when the build recorded one.
func HarnessInfo() Harness {
	h := Harness{Version: Version}
	dirty := false
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				h.Commit = s.Value
			case "vcs.modified":
				dirty = s.Value == "true"
			}
		}
	}
	if dirty && h.Commit != "" {
		h.Commit += "-dirty"
	}
	return h
}
