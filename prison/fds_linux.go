package prison

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// PassableFiles are this process's descriptors 3 to 3+n-1, which runc's
// --preserve-fds gives the container's command as the same numbers
// (systemd's socket activation, LISTEN_FDS). Only sockets and anonymous
// pipes go into a jail: byte streams. A host file, directory or device
// held inside could be reopened through /proc/self/fd, chmod'ed, chown'ed
// or truncated by root there (a directory's descriptor was runc's
// CVE-2024-21626), and a named pipe reopened so is a host inode.
func PassableFiles(n int) ([]*os.File, error) {
	if n < 0 || n > nsinit.MaxPassedFDs {
		return nil, &ParamError{Err: fmt.Errorf("--preserve-fds %d: want 0 to %d", n, nsinit.MaxPassedFDs)}
	}
	files := make([]*os.File, 0, n)
	for fd := 3; fd < 3+n; fd++ {
		if what := notPassable(fd); what != "" {
			return nil, &ParamError{Err: fmt.Errorf("--preserve-fds %d: descriptor %d is %s: only sockets and pipes go into a jail", n, fd, what)}
		}
		files = append(files, os.NewFile(uintptr(fd), fmt.Sprintf("fd %d", fd)))
	}
	return files, nil
}

// notPassable says what fd is when it is not a socket or an anonymous
// pipe, or "" when it is one.
func notPassable(fd int) string {
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return "not open"
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFSOCK:
		return ""
	case unix.S_IFIFO:
		var fs unix.Statfs_t
		if unix.Fstatfs(fd, &fs) == nil && fs.Type == unix.PIPEFS_MAGIC {
			return ""
		}
		return "a named pipe"
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "a device"
	}
	return "neither a socket nor a pipe"
}
