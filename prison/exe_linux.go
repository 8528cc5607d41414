package prison

import (
	"fmt"
	"io"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// The jail's init is the prison binary, and its command is forked from the
// init: until the command's execve, the command's /proc/self/exe is the
// init's executable. A tenant who controls a root can make that execve
// interpret a script whose first line is "#!/proc/self/exe …": the kernel
// opens the interpreter while the old executable is still current, so the
// jail's PID 2 becomes the prison binary, dumpable, and root inside could
// write, chmod 6777 or chown it through /proc/2/exe (CVE-2019-5736). So the
// init never runs from the host's file as the host sees it:
//
//   - the launcher (one process per jail) executes it through a private,
//     detached, read-only, nosuid mount of the binary (open_tree(2) and
//     mount_setattr(2), about 60 µs): the inode is the host's, but no
//     write, chmod, chown, truncate or attribute change can pass a
//     read-only mount, nothing in the jail can remount it (no
//     CAP_SYS_ADMIN, and the mount belongs to no namespace), and a hard
//     link out of it is EXDEV;
//   - the daemon, which serves many jails, makes one sealed memfd copy of
//     itself at its start (SealedExecutable, a few ms once) and every
//     client's init is executed from it: the jail reaches a copy, never
//     the host's binary.
//
// runc solved the same problem first with memfd copies and later with
// read-only mounts (libcontainer/exeseal).

// readOnlyExecutable returns an O_PATH descriptor of the running binary on
// a detached read-only mount of its own. Host side.
func readOnlyExecutable() (int, error) {
	fd, err := unix.OpenTree(unix.AT_FDCWD, "/proc/self/exe", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("init executable: open_tree: %w", err)
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_RDONLY | unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(fd, "", unix.AT_EMPTY_PATH, attr); err != nil {
		unix.Close(fd)
		return -1, fmt.Errorf("init executable: mount_setattr: %w", err)
	}
	return fd, nil
}

// SealedExecutable returns a copy of the running prison binary in a memfd
// sealed against every change, for a daemon to execute its jails' inits
// from. Host side.
func SealedExecutable() (*os.File, error) {
	src, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, fmt.Errorf("init executable: %w", err)
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("prison-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("init executable: memfd_create: %w", err)
	}
	f := os.NewFile(uintptr(fd), "prison-init")
	if _, err := io.Copy(f, src); err != nil {
		f.Close()
		return nil, fmt.Errorf("init executable: copy: %w", err)
	}
	const seals = unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE | unix.F_SEAL_FUTURE_WRITE
	if _, err := unix.FcntlInt(f.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		f.Close()
		return nil, fmt.Errorf("init executable: seal: %w", err)
	}
	return f, nil
}

// sealedSelf is the daemon's one sealed copy, made for its first client.
var sealedSelf = sync.OnceValues(SealedExecutable)
