package prison

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// spawner is the one seam through which a jail's init comes to be, and
// the launcher's handle on it afterwards: the Go launcher's own fork and
// exec (forkExec), or a daemon's client, which clones the init in its own
// process (Client). A new way (clone3 into the jail's cgroup) is one more
// spawner, not a branch in the launcher.
type spawner interface {
	// spawn starts the prison binary as "prison __prison_init NAME" in
	// new namespaces (flags), with the sync socket on fd 3 and hold on fd
	// 4 (nsinit.h). It may return before the init exists: pid says.
	spawn(j *Jail, sync, hold int, flags uintptr) error
	// pid returns the init's pid, once it exists.
	pid() (int, error)
	// signal sends sig to the init, never to a process that reused its pid.
	signal(sig syscall.Signal) error
	// wait returns once the init is reaped.
	wait() (syscall.WaitStatus, error)
	// release lets go of the handle on the init, once it is reaped.
	release()
}

// spawnerOf is the jail's spawner: its daemon's client, or the launcher.
func (j *Jail) spawnerOf() spawner {
	if j.Client != nil {
		return j.Client
	}
	return &forkExec{pidfd: -1}
}

// forkExec is the Go launcher's spawner: the init is its child.
type forkExec struct {
	initPID, pidfd int
	locked         bool // the launching goroutine is locked to its thread
}

func (f *forkExec) spawn(j *Jail, sync, hold int, flags uintptr) error {
	exe, done, err := initExecutable(j)
	if err != nil {
		return err
	}
	defer done()
	stdio, err := j.openStdio()
	if err != nil {
		return err
	}
	attr := &syscall.ProcAttr{
		Env:   []string{},
		Files: append(stdio, uintptr(sync), uintptr(hold)),
		Sys:   &syscall.SysProcAttr{Cloneflags: flags},
	}
	if j.cgroupDir != nil {
		// Born in the jail's cgroup v2 group (clone3).
		attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, int(j.cgroupDir.Fd())
	}
	f.dieWithLauncher(j, attr.Sys)
	// syscall.ForkExec, not os/exec: os.StartProcess first checks that
	// clone(CLONE_PIDFD) works with a throwaway child, once per process,
	// which for a launcher is every time. The name in the arguments tells
	// ps(1) on the host which jail an init belongs to.
	args := []string{"prison", nsinit.Sentinel, j.Name}
	fork := func() (int, error) { return syscall.ForkExec(exe, args, attr) }
	// The clone makes the jail's user namespace, whose maps must be
	// written before the init executes: executed before them, it would
	// not be root there and would lose every capability.
	var mapped *os.File // a rootless init's: it waits for newuidmap
	switch m := j.rootless; {
	case m != nil && m.Count > 0:
		// A user may map only their own ids: newuidmap and newgidmap map
		// the subordinate ones once the init exists, and the init,
		// executed before them, executes itself again once they are
		// (nsinit.AwaitMap).
		r, w, err := os.Pipe()
		if err != nil {
			j.closeAfterStart()
			return fmt.Errorf("start init: %w", err)
		}
		defer r.Close()
		defer w.Close()
		mapped = w
		attr.Files = append(attr.Files, r.Fd())
		args = append(args, nsinit.AwaitMap)
	case m != nil:
		attr.Sys.UidMappings, attr.Sys.GidMappings = rootlessIDMaps(*m)
	case j.newUserNS() != nil:
		ids := j.newUserNS()
		attr.Sys.UidMappings, attr.Sys.GidMappings = sysProcIDMaps(ids.UIDs), sysProcIDMaps(ids.GIDs)
		attr.Sys.GidMappingsEnableSetgroups = true // su, login, sshd inside
		fork = func() (pid int, err error) {
			err = asOwner(ids, func() error { pid, err = syscall.ForkExec(exe, args, attr); return err })
			return pid, err
		}
	}
	if path := sharedPIDNS(j.Spec); path != "" {
		fork = inPIDNS(path, fork)
	}
	pid, err := fork()
	j.closeAfterStart()
	if err != nil {
		return fmt.Errorf("start init: %w", err)
	}
	f.initPID = pid
	// The init is our child, so its pid cannot be reused before wait
	// reaps it; the pidfd keeps signal right after that too.
	if f.pidfd, err = unix.PidfdOpen(pid, 0); err != nil {
		_ = unix.Kill(pid, unix.SIGKILL)
		return fmt.Errorf("start init: pidfd: %w", err)
	}
	if mapped != nil {
		err := mapRootless(pid, *j.rootless)
		if err == nil {
			_, err = mapped.Write([]byte{'m'})
		}
		if err != nil {
			_ = unix.Kill(pid, unix.SIGKILL)
			return err
		}
	}
	return nil
}

// inPIDNS has fork clone the init into the PID namespace at path, which
// an OCI spec joins (CRI's shareProcessNamespace): the init must be in it
// itself, as the container's process that clients inspect, and setns(2)
// from the init would move only its children. A thread's setns sets the
// namespace of its children, so the thread is locked from it until it is
// back in its own, before any other goroutine can run on it.
func inPIDNS(path string, fork func() (int, error)) func() (int, error) {
	return func() (int, error) {
		target, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("linux.namespaces: pid %q: %w", path, err)
		}
		defer unix.Close(target)
		own, err := unix.Open("/proc/thread-self/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, fmt.Errorf("start init: %w", err)
		}
		defer unix.Close(own)
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := unix.Setns(target, unix.CLONE_NEWPID); err != nil {
			return 0, fmt.Errorf("linux.namespaces: pid %q: %w", path, err)
		}
		pid, err := fork()
		if rerr := unix.Setns(own, unix.CLONE_NEWPID); rerr != nil {
			// Never let this thread start anything else there. It
			// cannot happen: the namespace is the process's own.
			panic(fmt.Sprintf("prison: cannot return to the launcher's PID namespace: %v", rerr))
		}
		return pid, err
	}
}

// initExecutable is the path the init is executed from, and what to
// release once it is: a read-only mount of the running binary
// (exe_linux.go), resolved on the host before anything of the jail
// exists. Only the host's root may make that mount; a rootless jail's
// init is executed as it is, which is not the jail's to change: the
// jail's root is the user, who cannot write it.
func initExecutable(j *Jail) (string, func(), error) {
	if j.rootless != nil {
		return "/proc/self/exe", func() {}, nil
	}
	fd, err := readOnlyExecutable()
	if err != nil {
		return "", nil, err
	}
	if fd <= nsinit.LockFD {
		unix.Close(fd)
		return "", nil, fmt.Errorf("bug: init executable on fd %d, which the init's stdio, sync socket or lock take", fd)
	}
	return "/proc/self/fd/" + strconv.Itoa(fd), func() { unix.Close(fd) }, nil
}

// dieWithLauncher has the init of a jail that does not persist die with
// its launcher, even by SIGKILL. The signal fires when the thread that
// started the init exits, not the process (golang/go#27505): the thread
// stays locked until Wait has seen the init die.
func (f *forkExec) dieWithLauncher(j *Jail, sys *syscall.SysProcAttr) {
	if j.Persist || j.Created || j.Detach {
		return
	}
	sys.Pdeathsig = syscall.SIGKILL
	runtime.LockOSThread()
	f.locked = true
}

func (f *forkExec) pid() (int, error) { return f.initPID, nil }

// newUserNS is the maps of the user namespace the init's clone makes, or
// nil: none, or a command joining a jail's.
func (j *Jail) newUserNS() *IDMap {
	if j.joined != nil || j.state == nil || j.state.IDs == nil || j.state.IDs.auto() {
		return nil
	}
	return j.state.IDs
}

func (f *forkExec) signal(sig syscall.Signal) error {
	return unix.PidfdSendSignal(f.pidfd, sig, nil, 0)
}

func (f *forkExec) wait() (syscall.WaitStatus, error) {
	var ws syscall.WaitStatus
	for {
		_, err := syscall.Wait4(f.initPID, &ws, 0, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return ws, fmt.Errorf("wait for init: %w", err)
		}
		return ws, nil
	}
}

func (f *forkExec) release() {
	if f.pidfd >= 0 {
		unix.Close(f.pidfd)
		f.pidfd = -1
	}
}

// unlock releases the thread spawn locked.
func (f *forkExec) unlock() {
	if f.locked {
		f.locked = false
		runtime.UnlockOSThread()
	}
}
