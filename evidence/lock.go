package evidence

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Lock takes dir's lock file (LockFile), so that one process at a time writes the evidence
// directory: the suite for the life of the run, then the renderer while it renders and seals.
// The kernel releases an flock however its holder ends. With wait 0 a held lock is an error
// that names its holder; otherwise Lock waits for it up to wait, calling waiting once with the
// holder's pid first. release gives the lock up and removes the file, so that no lock outlives
// the run.
func Lock(dir string, wait time.Duration, waiting func(holder string)) (release func(), err error) {
	p := filepath.Join(dir, LockFile)
	deadline := time.Now().Add(wait)
	told := false
	for {
		f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		err = flock(f)
		if err == nil {
			if err := f.Truncate(0); err == nil {
				fmt.Fprintf(f, "%d\n", os.Getpid())
			}
			return func() { os.Remove(p); f.Close() }, nil
		}
		holder, _ := os.ReadFile(p)
		f.Close()
		who := strings.TrimSpace(string(holder))
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", p, err)
		}
		if wait <= 0 || time.Now().After(deadline) {
			return nil, fmt.Errorf("another run is writing it (%s held by pid %s)", LockFile, who)
		}
		if !told && waiting != nil {
			waiting(who)
			told = true
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// flock takes f's exclusive lock without blocking, through SyscallConn (os.File.Fd would put
// the descriptor into blocking mode).
func flock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var lerr error
	if err := rc.Control(func(fd uintptr) { lerr = syscall.Flock(int(fd), syscall.LOCK_EX|syscall.LOCK_NB) }); err != nil {
		return err
	}
	return lerr
}
