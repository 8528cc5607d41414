//go:build linux

package seccomp

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Kernel ABI of seccomp user notification (include/uapi/linux/seccomp.h);
// x/sys/unix has the ioctl numbers but not the structs.
type notifData struct {
	Nr   int32
	Arch uint32
	IP   uint64
	Args [6]uint64
}

type notif struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  notifData
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

// hostNameMax is __NEW_UTS_LEN: the kernel refuses longer names with EINVAL.
const hostNameMax = 64

// ServeHostname answers the jail's sethostname and setdomainname calls
// (allow.set_hostname) arriving on listener, the fd that
// seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER) returned
// inside the jail. It runs on the host, in the launcher, which has the
// CAP_SYS_ADMIN root inside lacks; it sets the name in the calling process's
// UTS namespace, never in the launcher's own.
//
// As on FreeBSD, only root inside the jail may set the names; others get
// EPERM. A request from a process in the launcher's own UTS namespace gets
// EPERM too, so a jail sharing the host's UTS namespace cannot rename the
// host.
//
// The launcher pays for every call it answers, on the host's CPU, not the
// jail's. So each jail is served at most hostnameRate calls a second, after
// a burst of hostnameBurst; beyond that its calls wait, blocked in the
// kernel in the jail's own processes (a signal interrupts and restarts them
// as any slow call), until the jail's bucket refills. Waiting, rather than
// failing with EBUSY, keeps the launcher idle: a caller that retried at
// once would cost the launcher a receive and a reply per try. A jail that
// loops on sethostname thus costs the host about hostnameRate answers a
// second, a small fraction of a core.
//
// ServeHostname returns nil when ctx is done or when every process using the
// filter has exited (the listener hangs up), and an error only when the
// listener itself fails. Closing listener does not wake it; cancel ctx.
func ServeHostname(ctx context.Context, listener *os.File) error {
	rc, err := listener.SyscallConn()
	if err != nil {
		return fmt.Errorf("seccomp: serve hostname: %w", err)
	}
	var host unix.Stat_t
	if err := unix.Stat("/proc/self/ns/uts", &host); err != nil {
		return fmt.Errorf("seccomp: serve hostname: %w", &os.PathError{Op: "stat", Path: "/proc/self/ns/uts", Err: err})
	}
	// ctx cannot interrupt poll(2); a pipe closed by ctx can.
	cancelR, cancelW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("seccomp: serve hostname: %w", err)
	}
	defer cancelR.Close()
	stop := context.AfterFunc(ctx, func() { cancelW.Close() })
	defer func() {
		if stop() {
			cancelW.Close()
		}
	}()

	bucket := tokenBucket{tokens: hostnameBurst, last: time.Now()}
	for {
		if wait := bucket.wait(time.Now()); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
		done, answered := false, false
		var serr error
		cerr := rc.Control(func(fd uintptr) {
			done, answered, serr = serveOne(int(fd), int(cancelR.Fd()), host)
		})
		if answered {
			bucket.spend(time.Now())
		}
		if cerr != nil {
			return fmt.Errorf("seccomp: serve hostname: %w", cerr)
		}
		if serr != nil {
			return fmt.Errorf("seccomp: serve hostname: %w", serr)
		}
		if done {
			return nil
		}
	}
}

// Each jail's share of the launcher's time for its names: see ServeHostname.
const (
	hostnameRate  = 20 // calls a second
	hostnameBurst = 10
)

// tokenBucket holds up to hostnameBurst calls, refilled at hostnameRate.
type tokenBucket struct {
	tokens float64
	last   time.Time
}

func (b *tokenBucket) refill(now time.Time) {
	b.tokens = min(hostnameBurst, b.tokens+now.Sub(b.last).Seconds()*hostnameRate)
	b.last = now
}

// wait returns how long until the bucket holds a call.
func (b *tokenBucket) wait(now time.Time) time.Duration {
	b.refill(now)
	if b.tokens >= 1 {
		return 0
	}
	return time.Duration((1 - b.tokens) / hostnameRate * float64(time.Second))
}

// spend takes a call out of the bucket.
func (b *tokenBucket) spend(now time.Time) {
	b.refill(now)
	b.tokens--
}

// serveOne waits for one notification and answers it. done reports that
// the caller should stop: ctx was cancelled or the listener hung up;
// answered, that it tried to receive a call, which costs the jail's bucket
// whatever became of the call: a call that its caller's signals interrupt
// again and again must not wake the launcher for free.
func serveOne(fd, cancel int, host unix.Stat_t) (done, answered bool, err error) {
	fds := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}, {Fd: int32(cancel), Events: unix.POLLIN}}
	if _, err := unix.Poll(fds, -1); err != nil {
		if errors.Is(err, unix.EINTR) {
			return false, false, nil
		}
		return false, false, os.NewSyscallError("poll", err)
	}
	if fds[1].Revents != 0 {
		return true, false, nil
	}
	if fds[0].Revents&(unix.POLLHUP|unix.POLLERR|unix.POLLNVAL) != 0 {
		return true, false, nil
	}
	if fds[0].Revents&unix.POLLIN == 0 {
		return false, false, nil
	}

	var req notif // the kernel insists on a zeroed struct
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req)); err != nil {
		// ENOENT: the caller was interrupted or died before we read it.
		if errors.Is(err, unix.EINTR) || errors.Is(err, unix.ENOENT) {
			return false, true, nil
		}
		return false, true, os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_RECV", err)
	}
	errno, ok := answer(fd, &req, host)
	if !ok {
		return false, true, nil
	}
	resp := notifResp{ID: req.ID, Error: -int32(errno)}
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)); err != nil && !errors.Is(err, unix.ENOENT) {
		return false, true, os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_SEND", err)
	}
	return false, true, nil
}

// answer performs the requested call and returns its errno (0 on success).
// ok is false when the request went stale (its task is gone, so the pid may
// name another process): then nothing was done and nobody waits for a reply.
func answer(fd int, req *notif, host unix.Stat_t) (errno unix.Errno, ok bool) {
	if a := nativeAuditArch(); a != 0 && req.Data.Arch != a {
		return unix.ENOSYS, true
	}
	nr := int(req.Data.Nr)
	if nr != unix.SYS_SETHOSTNAME && nr != unix.SYS_SETDOMAINNAME {
		return unix.ENOSYS, true
	}
	// The kernel reads len as an int.
	n := int32(uint32(req.Data.Args[1]))
	if n < 0 || n > hostNameMax {
		return unix.EINVAL, true
	}
	pid := int(req.Pid)
	name := make([]byte, n)
	if n > 0 {
		local := []unix.Iovec{{Base: &name[0], Len: uint64(n)}}
		remote := []unix.RemoteIovec{{Base: uintptr(req.Data.Args[0]), Len: int(n)}}
		got, err := unix.ProcessVMReadv(pid, local, remote, 0)
		if err != nil || got != int(n) {
			return unix.EFAULT, true
		}
	}
	root, err := isRootInside(pid)
	if err != nil {
		return unix.ESRCH, true
	}
	ns, err := unix.Open(fmt.Sprintf("/proc/%d/ns/uts", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return unix.ESRCH, true
	}
	defer unix.Close(ns)
	// Everything above read /proc/<pid>; the pid is only known to be the
	// caller's if the notification is still pending now (seccomp_unotify(2),
	// "Design goals; use of SECCOMP_USER_NOTIF_FLAG_CONTINUE" and ID_VALID).
	id := req.ID
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)); err != nil {
		return 0, false
	}
	if !root {
		return unix.EPERM, true
	}
	var st unix.Stat_t
	if err := unix.Fstat(ns, &st); err != nil {
		return unix.ESRCH, true
	}
	if st.Dev == host.Dev && st.Ino == host.Ino {
		return unix.EPERM, true
	}
	return setInUTS(ns, nr, name), true
}

// setInUTS makes the call on a thread that joins the jail's UTS namespace
// and is then thrown away: the goroutine ends locked, so the runtime ends
// the thread instead of reusing it with the jail's hostname.
func setInUTS(ns, nr int, name []byte) unix.Errno {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := unix.Setns(ns, unix.CLONE_NEWUTS); err != nil {
			ch <- err
			return
		}
		if nr == unix.SYS_SETHOSTNAME {
			ch <- unix.Sethostname(name)
		} else {
			ch <- unix.Setdomainname(name)
		}
	}()
	err := <-ch
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EPERM
}

// isRootInside reports whether pid's effective uid is root of its own user
// namespace, read from /proc as the launcher sees it.
func isRootInside(pid int) (bool, error) {
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return false, err
	}
	euid := int64(-1)
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) >= 3 && f[0] == "Uid:" {
			euid, err = strconv.ParseInt(f[2], 10, 64)
			if err != nil {
				return false, err
			}
		}
	}
	uidMap, err := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if err != nil {
		return false, err
	}
	for _, line := range strings.Split(string(uidMap), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		inside, err1 := strconv.ParseInt(f[0], 10, 64)
		outside, err2 := strconv.ParseInt(f[1], 10, 64)
		if err1 != nil || err2 != nil || inside != 0 {
			continue
		}
		return euid == outside, nil
	}
	return false, nil
}

func nativeAuditArch() uint32 {
	switch runtime.GOARCH {
	case "amd64":
		return unix.AUDIT_ARCH_X86_64
	case "arm64":
		return unix.AUDIT_ARCH_AARCH64
	}
	return 0
}

func ioctl(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}
