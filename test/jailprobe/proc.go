package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"prison/internal/sysprobe"
)

// niceOf is the nice value of who; getpriority(2) returns 20-nice so that
// success is never negative.
func niceOf(which, who int) (int, error) {
	p, err := unix.Getpriority(which, who)
	return 20 - p, err
}

// nice tries to lower its own nice value by 5 through each of
// setpriority's three selectors (process, process group, user), then to
// raise it by 1.
func nice([]string) string {
	n, err := niceOf(unix.PRIO_PROCESS, 0)
	if err != nil {
		fail("getpriority: %v", err)
	}
	out := []string{fmt.Sprintf("nice=%d", n)}
	for _, s := range []struct {
		name  string
		which int
	}{{"lower-process", unix.PRIO_PROCESS}, {"lower-pgrp", unix.PRIO_PGRP}, {"lower-user", unix.PRIO_USER}} {
		out = append(out, s.name+"="+errnoName(unix.Setpriority(s.which, 0, n-5)))
	}
	out = append(out, "raise="+errnoName(unix.Setpriority(unix.PRIO_PROCESS, 0, n+1)))
	now, _ := niceOf(unix.PRIO_PROCESS, 0)
	return strings.Join(append(out, fmt.Sprintf("now=%d", now)), " ")
}

// ioprio_set(2)'s selectors and classes (linux/ioprio.h).
const (
	ioprioWhoProcess = 1
	ioprioWhoUser    = 3
	ioprioClassIdle  = 3
	ioprioClassShift = 13
)

// reniceUser is `renice -n NICE -u root` (setpriority(PRIO_USER, 0, NICE)
// as root) and `ionice -c 3 -u 0`, then tries each host PID given, which the jail must not reach,
// by process and by process group.
//
//	renice-user NICE [PID...]
func reniceUser(args []string) string {
	if len(args) < 1 {
		misuse("renice-user NICE [PID...]")
	}
	n, err := strconv.Atoi(args[0])
	if err != nil {
		misuse("renice-user: %v", err)
	}
	out := []string{"renice-user=" + errnoName(unix.Setpriority(unix.PRIO_USER, 0, n))}
	self, _ := niceOf(unix.PRIO_PROCESS, 0)
	out = append(out, fmt.Sprintf("self=%d", self))
	// The I/O priority has the same per-user selector (ionice -c 3 -u 0).
	_, _, e := unix.RawSyscall(unix.SYS_IOPRIO_SET, ioprioWhoUser, 0, ioprioClassIdle<<ioprioClassShift)
	out = append(out, "ionice-user="+sysprobe.ErrnoName(e))
	io, _, _ := unix.RawSyscall(unix.SYS_IOPRIO_GET, ioprioWhoProcess, 0, 0)
	out = append(out, fmt.Sprintf("self-ioclass=%d", io>>ioprioClassShift))
	for _, a := range args[1:] {
		pid, err := strconv.Atoi(a)
		if err != nil {
			misuse("renice-user: %v", err)
		}
		out = append(out, fmt.Sprintf("pid%d=%s pgrp%d=%s", pid, errnoName(unix.Setpriority(unix.PRIO_PROCESS, pid, n)),
			pid, errnoName(unix.Setpriority(unix.PRIO_PGRP, pid, n))))
	}
	return strings.Join(out, " ")
}

// ptraceChild starts a child (jailprobe pause), attaches to it, detaches,
// and kills it: root inside debugs and signals the jail's own processes.
func ptraceChild([]string) string {
	// ptrace requests must come from the attaching thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	p, err := os.StartProcess("/proc/self/exe", []string{"jailprobe", "pause"}, &os.ProcAttr{})
	if err != nil {
		fail("start child: %v", err)
	}
	var ws unix.WaitStatus
	attach := unix.PtraceAttach(p.Pid)
	out := []string{"attach=" + errnoName(attach)}
	if attach == nil {
		_, err := unix.Wait4(p.Pid, &ws, 0, nil)
		out = append(out, fmt.Sprintf("stopped=%v", err == nil && ws.Stopped()))
		out = append(out, "detach="+errnoName(unix.PtraceDetach(p.Pid)))
	}
	out = append(out, "kill="+errnoName(unix.Kill(p.Pid, unix.SIGKILL)))
	if _, err := unix.Wait4(p.Pid, &ws, 0, nil); err != nil {
		fail("wait child: %v", err)
	}
	out = append(out, fmt.Sprintf("killed=%v", ws.Signaled() && ws.Signal() == unix.SIGKILL))
	return strings.Join(out, " ")
}

// pause waits for a signal: the child of ptrace-child.
func pause([]string) string {
	for {
		unix.Pause()
	}
}

// proc1exe tries what CVE-2019-5736 needed: the path to, and a handle on,
// the jail's init binary through /proc/1/exe, and tracing PID 1. Its own
// /proc/self/exe is the control.
func proc1exe([]string) string {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	_, self := os.Readlink("/proc/self/exe")
	_, link := os.Readlink("/proc/1/exe")
	fd, open := unix.Open("/proc/1/exe", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if open == nil {
		unix.Close(fd)
	}
	attach := unix.PtraceAttach(1)
	if attach == nil {
		var ws unix.WaitStatus
		unix.Wait4(1, &ws, unix.WALL, nil)
		unix.PtraceDetach(1)
	}
	return fmt.Sprintf("self=%s readlink=%s open=%s ptrace=%s", errnoName(self), errnoName(link), errnoName(open), errnoName(attach))
}

// chroot chroots into a new directory and checks it is the root there;
// then tries the classic escape (the working directory stays outside the
// new root: walk up, chroot there) and reports where it landed: the jail's
// root (where /probe is), not the host's. HOSTPATH, a path that exists only
// on the host, must stay out of sight.
//
//	chroot [HOSTPATH]
func chroot(args []string) string {
	dir, err := os.MkdirTemp("", "chroot-")
	if err != nil {
		fail("chroot: %v", err)
	}
	if err := os.WriteFile(dir+"/inside", nil, 0o644); err != nil {
		fail("chroot: %v", err)
	}
	defer os.RemoveAll(dir) // after the escape, dir is a path from the jail's root again
	if err := unix.Chroot(dir); err != nil {
		return "chroot=" + errnoName(err)
	}
	out := []string{"chroot=ok", "inside=" + errnoName(unix.Access("/inside", unix.F_OK))}
	for range 64 {
		unix.Chdir("..")
	}
	out = append(out, "escape-chroot="+errnoName(unix.Chroot(".")))
	landed := "elsewhere"
	switch {
	case unix.Access("/inside", unix.F_OK) == nil:
		landed = "chroot"
	case unix.Access("/probe", unix.F_OK) == nil:
		landed = "jail-root"
	}
	out = append(out, "landed="+landed)
	if len(args) > 0 {
		out = append(out, "host="+errnoName(unix.Access(args[0], unix.F_OK)))
	}
	return strings.Join(out, " ")
}

// fsImmutableFL is FS_IMMUTABLE_FL (linux/fs.h), which x/sys/unix lacks.
const fsImmutableFL = 0x10

// chflags sets the immutable flag (chflags schg, chattr +i) on a new file,
// checks it holds, and clears it again so the file can be removed.
func chflags([]string) string {
	f, err := os.CreateTemp("", "chflags-")
	if err != nil {
		fail("chflags: %v", err)
	}
	defer os.Remove(f.Name())
	defer f.Close()
	fd := int(f.Fd())
	attr, err := unix.IoctlGetUint32(fd, unix.FS_IOC_GETFLAGS)
	if err != nil {
		fail("chflags: FS_IOC_GETFLAGS: %v", err)
	}
	set := unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(attr|fsImmutableFL))
	out := []string{"set=" + errnoName(set)}
	if set == nil {
		w, err := unix.Open(f.Name(), unix.O_WRONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			unix.Close(w)
		}
		out = append(out, "write="+errnoName(err))
		out = append(out, "clear="+errnoName(unix.IoctlSetPointerInt(fd, unix.FS_IOC_SETFLAGS, int(attr))))
	}
	return strings.Join(out, " ")
}

// hostname sets the hostname and the domain name to NAME and reports both
// as uname(2) then shows them.
//
//	hostname NAME
func hostname(args []string) string {
	if len(args) != 1 {
		misuse("hostname NAME")
	}
	h := unix.Sethostname([]byte(args[0]))
	d := unix.Setdomainname([]byte(args[0]))
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		fail("uname: %v", err)
	}
	return fmt.Sprintf("sethostname=%s setdomainname=%s hostname=%s domainname=%s", errnoName(h), errnoName(d),
		unix.ByteSliceToString(u.Nodename[:]), unix.ByteSliceToString(u.Domainname[:]))
}

// shm finds (get) or creates (make) the SysV shared memory segment KEY.
//
//	shm get|make KEY
func shm(args []string) string {
	if len(args) != 2 {
		misuse("shm get|make KEY")
	}
	key, err := strconv.ParseInt(args[1], 0, 32)
	if err != nil {
		misuse("shm: %v", err)
	}
	switch args[0] {
	case "get":
		_, err = unix.SysvShmGet(int(key), 0, 0)
	case "make":
		_, err = unix.SysvShmGet(int(key), 4096, unix.IPC_CREAT|unix.IPC_EXCL|0o600)
	default:
		misuse("shm get|make KEY")
	}
	return "shmget=" + errnoName(err)
}
