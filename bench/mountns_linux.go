package bench

import (
	"fmt"
	"os/exec"
	"runtime"

	"golang.org/x/sys/unix"
)

// MountNSRunner starts commands from one thread that lives in a private
// mount namespace, in which /sys/fs/cgroup/unified is covered by an empty
// tmpfs. There crun sees a plain cgroup v1 machine and creates its cgroups
// in the v1 hierarchies, as runc does on this host, instead of refusing to
// run (see HybridCgroupV2Controllers). The namespace is made once, before
// any measurement, so it costs the measured invocations nothing; the host's
// mounts are untouched.
//
// A forked child inherits the mount namespace of the thread that forked it,
// and os/exec forks from the calling goroutine's thread, so every Start runs
// on the runner's locked goroutine.
type MountNSRunner struct {
	reqs chan startReq
	done chan struct{}
}

type startReq struct {
	cmd  *exec.Cmd
	errc chan error
}

// NewCgroupV1Runner makes the namespace and returns its runner. Close ends
// it.
func NewCgroupV1Runner() (*MountNSRunner, error) {
	r := &MountNSRunner{reqs: make(chan startReq), done: make(chan struct{})}
	ready := make(chan error)
	go func() {
		// Never unlocked: the thread leaves the host's mount namespace and
		// must die with this goroutine rather than go back to the
		// scheduler's pool. The namespace goes with it.
		runtime.LockOSThread()
		defer close(r.done)
		if err := enterCgroupV1Namespace(); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for q := range r.reqs {
			q.errc <- q.cmd.Start()
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return r, nil
}

// enterCgroupV1Namespace moves the calling thread into a new mount namespace
// and covers the cgroup v2 mount there.
//
// Preconditions: the calling goroutine is locked to its thread for good.
func enterCgroupV1Namespace() error {
	if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
		return fmt.Errorf("unshare mount namespace: %w", err)
	}
	// Slave, not private: mounts the host makes later (another jail's)
	// still show here, and nothing made here leaks out.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("make / rslave: %w", err)
	}
	if err := unix.Mount("prison-bench", "/sys/fs/cgroup/unified", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
		return fmt.Errorf("cover /sys/fs/cgroup/unified: %w", err)
	}
	return nil
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

// Close ends the runner's thread; commands already started keep running.
func (r *MountNSRunner) Close() {
	close(r.reqs)
	<-r.done
}
