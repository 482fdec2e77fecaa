package evidence

import (
	"fmt"
	"os"
	"syscall"
)

// openRegular opens p for reading only when it is a regular file, and returns its stat: it never
// follows a symlink (O_NOFOLLOW) and never blocks on a FIFO or a device (O_NONBLOCK), whose type
// fstat then refuses. A regular file is read with O_NONBLOCK cleared again.
func openRegular(p string) (*os.File, *syscall.Stat_t, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err == syscall.ELOOP {
		return nil, nil, fmt.Errorf("open %s: a symlink, not followed", p)
	}
	if err != nil {
		return nil, nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		syscall.Close(fd)
		return nil, nil, &os.PathError{Op: "fstat", Path: p, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		syscall.Close(fd)
		return nil, nil, fmt.Errorf("open %s: not a regular file (%s), not opened", p, kindOf(st.Mode))
	}
	if err := syscall.SetNonblock(fd, false); err != nil {
		syscall.Close(fd)
		return nil, nil, &os.PathError{Op: "fcntl", Path: p, Err: err}
	}
	return os.NewFile(uintptr(fd), p), &st, nil
}

// kindOf names a file type that is not a regular file, as SpecialsFile lists it.
func kindOf(mode uint32) string {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFLNK:
		return "symlink"
	case syscall.S_IFIFO:
		return "fifo"
	case syscall.S_IFSOCK:
		return "socket"
	case syscall.S_IFCHR, syscall.S_IFBLK:
		return "device"
	case syscall.S_IFDIR:
		return "directory"
	}
	return "other"
}
