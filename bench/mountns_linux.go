package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// MountNSRunner starts commands from one thread that lives in a mount
// namespace of its own, made once, before any measurement, so it costs the
// measured invocations nothing. The suite uses two:
//
//   - NewCgroupV1Runner, for crun: /sys/fs/cgroup/unified is covered by an
//     empty tmpfs, so crun sees a plain cgroup v1 machine and creates its
//     cgroups in the v1 hierarchies, as runc does on this host, instead of
//     refusing to run (see HybridCgroupV2Controllers).
//   - NewManyMountsRunner, for the mounts section: a host with hundreds of
//     mounts.
//
// Either way the host's mounts are untouched, and what the runner mounted
// goes with the namespace, which ends with the runner's thread at Close.
//
// A forked child inherits the mount namespace of the thread that forked it,
// and os/exec forks from the calling goroutine's thread, so every Start runs
// on the runner's locked goroutine.
type MountNSRunner struct {
	reqs chan startReq
	done chan struct{}
	tid  int // the runner's thread
}

type startReq struct {
	cmd  *exec.Cmd
	errc chan error
}

// NewMountNSRunner moves a thread of its own into a new mount namespace,
// sets the propagation of every mount there to prop (unix.MS_SLAVE or
// unix.MS_PRIVATE), runs setup on that thread to change the namespace, and
// returns the runner that starts commands from it. Close ends it. On
// failure the thread and the namespace are gone again.
func NewMountNSRunner(prop uintptr, setup func() error) (*MountNSRunner, error) {
	r := &MountNSRunner{reqs: make(chan startReq), done: make(chan struct{})}
	ready := make(chan error)
	goLockedOffMain(func() {
		// Never unlocked: the thread leaves the host's mount namespace and
		// must die with this goroutine rather than go back to the
		// scheduler's pool. The namespace goes with it.
		defer close(r.done)
		if err := enterMountNS(prop, setup); err != nil {
			ready <- err
			return
		}
		r.tid = unix.Gettid()
		ready <- nil
		for q := range r.reqs {
			q.errc <- q.cmd.Start()
		}
	})
	if err := <-ready; err != nil {
		return nil, err
	}
	return r, nil
}

// goLockedOffMain runs fn on a new goroutine locked to a thread that is not
// the process's main thread, and leaves it locked: the runtime ends such a
// thread when its goroutine returns, but never the main thread, which it
// would keep, parked, in whatever namespace fn left it (and /proc/self
// shows the main thread's mounts).
func goLockedOffMain(fn func()) {
	go func() {
		runtime.LockOSThread()
		if !onMainThread() {
			fn()
			return
		}
		// Hold the main thread while another goroutine takes a thread of
		// its own: a locked thread runs no other goroutine.
		locked := make(chan struct{})
		goLockedOffMain(func() {
			close(locked)
			fn()
		})
		<-locked
		runtime.UnlockOSThread()
	}()
}

// onMainThread reports whether the calling thread is the process's main
// thread. A variable for the tests.
var onMainThread = func() bool { return unix.Gettid() == unix.Getpid() }

// enterMountNS moves the calling thread into a new mount namespace, makes
// its mounts' propagation prop, and runs setup there.
//
// Preconditions: the calling goroutine is locked to its thread for good.
func enterMountNS(prop uintptr, setup func() error) error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	if err := unix.Mount("", "/", "", unix.MS_REC|prop, ""); err != nil {
		return fmt.Errorf("set the propagation of / (%#x): %w", prop, err)
	}
	return setup()
}

// NewCgroupV1Runner makes crun's namespace: the cgroup v2 mount covered.
func NewCgroupV1Runner() (*MountNSRunner, error) {
	// Slave, not private: mounts the host makes later (another jail's)
	// still show here, and nothing made here leaks out.
	return NewMountNSRunner(unix.MS_SLAVE, func() error {
		if err := unix.Mount("prison-bench", "/sys/fs/cgroup/unified", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
			return fmt.Errorf("cover /sys/fs/cgroup/unified: %w", err)
		}
		return nil
	})
}

// NewManyMountsRunner makes the mounts section's namespace: the host's
// mounts, made private, and n empty tmpfs mounts more, on dir/0 …
// dir/(n-1), directories it makes. Private: nothing mounted here reaches
// the host's namespace, and the host's later mounts do not show here.
func NewManyMountsRunner(dir string, n int) (*MountNSRunner, error) {
	return NewMountNSRunner(unix.MS_PRIVATE, func() error {
		for i := range n {
			p := filepath.Join(dir, strconv.Itoa(i))
			if err := os.MkdirAll(p, 0o750); err != nil {
				return err
			}
			// Plain, as `mount -t tmpfs` makes them: options would
			// lengthen each mountinfo line, and bwrap's reads with it.
			if err := unix.Mount("prison-bench", p, "tmpfs", 0, ""); err != nil {
				return fmt.Errorf("mount tmpfs %d of %d on %s: %w", i+1, n, p, err)
			}
		}
		return nil
	})
}

// Start starts cmd from the runner's thread. It has the signature of
// Contender.Start.
func (r *MountNSRunner) Start(cmd *exec.Cmd) error {
	q := startReq{cmd: cmd, errc: make(chan error, 1)}
	select {
	case r.reqs <- q:
		return <-q.errc
	case <-r.done:
		return fmt.Errorf("mount namespace runner closed")
	}
}

// CountMounts returns how many mounts a process in the runner's namespace
// sees: it starts cat there, which waits on its stdin, and counts the lines
// of its /proc/PID/mountinfo.
func (r *MountNSRunner) CountMounts() (int, error) {
	cmd := exec.Command("cat")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return 0, err
	}
	if err := r.Start(cmd); err != nil {
		stdin.Close()
		return 0, fmt.Errorf("start cat in the mount namespace: %w", err)
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/mountinfo")
	stdin.Close()
	if werr := cmd.Wait(); err == nil && werr != nil {
		err = fmt.Errorf("cat in the mount namespace: %w", werr)
	}
	if err != nil {
		return 0, err
	}
	return CountMountinfo(b), nil
}

// CountMountsHere returns how many mounts the calling thread's namespace
// has: the driver's own, unless called from a runner's thread.
func CountMountsHere() (int, error) {
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return 0, err
	}
	return CountMountinfo(b), nil
}

// CountMountinfo counts the mounts of a mountinfo file: its non-empty
// lines.
func CountMountinfo(b []byte) int {
	n := 0
	for l := range bytes.Lines(b) {
		if len(bytes.TrimSpace(l)) > 0 {
			n++
		}
	}
	return n
}

// Proc returns the path of the file name in /proc of the runner's
// thread: its mountinfo, its root (through which paths resolve in the
// runner's namespace) …
//
// Preconditions: the runner is not closed.
func (r *MountNSRunner) Proc(name string) string {
	return fmt.Sprintf("/proc/self/task/%d/%s", r.tid, name)
}

// MountNS returns the identity of the runner's mount namespace, the text
// of its /proc/…/ns/mnt link ("mnt:[INODE]"), which is that of every
// process started there.
func (r *MountNSRunner) MountNS() (string, error) {
	return os.Readlink(r.Proc("ns/mnt"))
}

// Close ends the runner's thread, and with it the namespace once nothing
// else is in it; commands already started keep running.
func (r *MountNSRunner) Close() {
	close(r.reqs)
	<-r.done
}
