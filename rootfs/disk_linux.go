package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// A disk is a kept layer's own filesystem: ext4 in a sparse file on the
// host, attached to a loop device when its jail starts and mounted inside
// the jail's mount namespace (planOverlay). The loop device is attached
// with LO_FLAGS_AUTOCLEAR: the kernel detaches it when the last user
// closes it, which is the jail's mount once the launcher has let go, so
// the jail's end (however it ends) leaves no device attached.
//
// Host side, in the launcher. Preconditions for every function here: the
// jail's name is claimed, so that no other prison process uses the file.

// MakeDisk creates the disk image path of size bytes with an empty ext4
// filesystem, or grows the filesystem of an existing one to size. It never
// shrinks one: a size below the file's is an error.
func MakeDisk(path string, size int64) error {
	var st unix.Stat_t
	switch err := unix.Lstat(path, &st); {
	case errors.Is(err, unix.ENOENT):
		return makeDisk(path, size)
	case err != nil:
		return &os.PathError{Op: "stat", Path: path, Err: err}
	case st.Mode&unix.S_IFMT != unix.S_IFREG:
		return fmt.Errorf("disk %s: not a regular file", path)
	case st.Size > size:
		return fmt.Errorf("disk %s: %d bytes, more than the %d asked for: a disk is never shrunk", path, st.Size, size)
	case st.Size < size:
		return growDisk(path, st.Size, size)
	}
	return nil
}

// makeDisk makes the filesystem in a file of its own that becomes path
// only once it is whole.
func makeDisk(path string, size int64) error {
	tmp := path + ".new"
	_ = os.Remove(tmp) // one that a killed launcher left
	fd, err := unix.Open(tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: tmp, Err: err}
	}
	err = unix.Ftruncate(fd, size) // sparse: blocks are taken as the jail writes
	unix.Close(fd)
	if err == nil {
		// -m 0: no blocks reserved for root, who is the jail's own
		// root here; root_owner: the layer's top directory is root's.
		err = run("mkfs.ext4", "-q", "-F", "-m", "0", "-E", "root_owner=0:0", "-L", "prison", tmp)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("disk %s: %w", path, err)
	}
	return nil
}

// growDisk extends the file and its filesystem (offline: the jail is not
// running). On failure the file gets its old size back.
func growDisk(path string, from, to int64) error {
	if err := os.Truncate(path, to); err != nil {
		return fmt.Errorf("disk %s: %w", path, err)
	}
	// resize2fs wants a freshly checked filesystem; e2fsck -p exits 1
	// when it corrected something, which is fine.
	err := run("e2fsck", "-f", "-p", path)
	var ee *exec.ExitError
	if errors.As(err, &ee) && ee.ExitCode() == 1 {
		err = nil
	}
	if err == nil {
		err = run("resize2fs", path)
	}
	if err != nil {
		_ = os.Truncate(path, from)
		return fmt.Errorf("disk %s: grow to %d bytes: %w", path, to, err)
	}
	return nil
}

// run runs an e2fsprogs tool, whose error output becomes the error.
func run(name string, args ...string) error {
	bin, err := lookTool(name)
	if err != nil {
		return err
	}
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C"}
	if err := cmd.Run(); err != nil {
		if msg := strings.TrimSpace(out.String()); msg != "" {
			return fmt.Errorf("%s: %w: %s", name, err, lastLine(msg))
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// lookTool finds an e2fsprogs program: in PATH, or in the sbin
// directories that a non-login root's PATH may lack.
func lookTool(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/sbin", "/sbin"} {
		if p := filepath.Join(d, name); unix.Access(p, unix.X_OK) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s: not found (install e2fsprogs)", name)
}

func lastLine(s string) string {
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// AttachLoop attaches the disk image path to a free loop device, with
// LO_FLAGS_AUTOCLEAR, and returns the device open, and its path. Keep it
// open until the device is mounted: closing the last handle on an
// unmounted device detaches it.
func AttachLoop(path string) (*os.File, string, error) {
	backing, err := unix.Open(path, unix.O_RDWR|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("loop: %w", &os.PathError{Op: "open", Path: path, Err: err})
	}
	defer unix.Close(backing) // the device holds the file once configured
	ctl, err := unix.Open("/dev/loop-control", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("loop: %w", &os.PathError{Op: "open", Path: "/dev/loop-control", Err: err})
	}
	defer unix.Close(ctl)
	cfg := unix.LoopConfig{Fd: uint32(backing)}
	cfg.Info.Flags = unix.LO_FLAGS_AUTOCLEAR
	copy(cfg.Info.File_name[:len(cfg.Info.File_name)-1], path)
	// Another process may take the free device between the question and
	// the configuration: LOOP_CONFIGURE then fails with EBUSY, and the
	// next free one is tried.
	for range 32 {
		n, err := unix.IoctlRetInt(ctl, unix.LOOP_CTL_GET_FREE)
		if err != nil {
			return nil, "", fmt.Errorf("loop: get a free device: %w", err)
		}
		dev := "/dev/loop" + strconv.Itoa(n)
		fd, err := unix.Open(dev, unix.O_RDWR|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, "", fmt.Errorf("loop: %w", &os.PathError{Op: "open", Path: dev, Err: err})
		}
		err = unix.IoctlLoopConfigure(fd, &cfg)
		if err == nil {
			return os.NewFile(uintptr(fd), dev), dev, nil
		}
		unix.Close(fd)
		if !errors.Is(err, unix.EBUSY) {
			return nil, "", fmt.Errorf("loop: configure %s for %s: %w", dev, path, err)
		}
	}
	return nil, "", fmt.Errorf("loop: no free device for %s", path)
}

// LoopOf returns the loop device that the disk image path is attached to,
// or "" when none is.
func LoopOf(path string) string {
	// The kernel shows the file's path with its links resolved.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	ents, _ := os.ReadDir("/sys/block")
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "loop") {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/sys/block", e.Name(), "loop", "backing_file"))
		if err == nil && strings.TrimSuffix(string(b), "\n") == path {
			return "/dev/" + e.Name()
		}
	}
	return ""
}

// WaitDetached waits, at most d, until no loop device holds the disk
// image path: the one of the name's previous jail goes when the kernel has
// torn down that jail's mount namespace, a moment after its init died.
// Two mounts of one ext4 filesystem would corrupt it.
func WaitDetached(path string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		dev := LoopOf(path)
		if dev == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("disk %s: still attached to %s", path, dev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
