// Package procstat reads what /proc says of a process: from /proc/<pid>/stat its state, parent,
// group, session and start time, and from /proc/<pid>/status whether a pid is a process or
// another thread's id; and it kills a process only while it is the one judged (KillChecked).
// The runner judges processes by it, and the tests tell a process from a later one given the
// same pid by its start time.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// Fields are the fields of /proc/<pid>/stat after the command name: state, ppid, pgrp, ...;
// nil when there is no such process.
func Fields(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return nil
	}
	return strings.Fields(string(b[i+1:]))
}

// StartTicks is field 22 of /proc/<pid>/stat: when the process started, in clock ticks since
// boot; 0 when there is no such process.
func StartTicks(pid int) uint64 {
	f := Fields(pid)
	if len(f) < 20 {
		return 0
	}
	n, _ := strconv.ParseUint(f[19], 10, 64)
	return n
}

// Leader reports whether pid is a process (the leader of its thread group), not another
// thread's id: /proc/<tid> resolves for every thread, though /proc lists only processes, and a
// thread's files there (fd, environ) are its process's.
func Leader(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false
	}
	_, rest, ok := bytes.Cut(b, []byte("\nTgid:"))
	if !ok {
		return false
	}
	line, _, _ := bytes.Cut(rest, []byte("\n"))
	tgid, err := strconv.Atoi(strings.TrimSpace(string(line)))
	return err == nil && tgid == pid
}

// Linux syscall numbers, the same on every architecture since 5.3 (the unified table).
const (
	sysPidfdSendSignal = 424
	sysPidfdOpen       = 434
)

// KillChecked sends SIGKILL to pid if, once a pidfd holds the process, still(), so that a pid
// reused by an unrelated process since it was judged is never killed. Without pidfds (Linux
// before 5.3, or a seccomp filter) it checks and kills by pid; a thread's id, which pidfd_open
// refuses, it never kills (a kill by pid would end the thread's process).
func KillChecked(pid int, still func() bool) {
	if pid <= 1 {
		return
	}
	fd, _, errno := syscall.Syscall(sysPidfdOpen, uintptr(pid), 0, 0)
	switch errno {
	case 0:
	case syscall.ESRCH:
		return // gone already
	default: // no pidfds (an old kernel, a seccomp filter), or not a process: a thread's id
		if still() && Leader(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return
	}
	defer syscall.Close(int(fd))
	if still() {
		_, _, _ = syscall.Syscall6(sysPidfdSendSignal, fd, uintptr(syscall.SIGKILL), 0, 0, 0, 0)
	}
}
