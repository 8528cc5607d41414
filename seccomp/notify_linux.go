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

// Owner is the host uid and gid that the jail's inotify instances are made
// as, and counted against (Params.HostIDs).
type Owner struct{ UID, GID uint32 }

// ServeNotify answers the jail's sethostname and setdomainname calls
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
// With inotify not nil, it also answers inotify_init and inotify_init1
// (Params.HostIDs) as serve_inotify in init.c does, which serves them when
// they are all a jail's filter notifies: it makes the instance as
// inotify's ids, on one thread of its own for the listener's life, and
// installs it in the caller (SECCOMP_IOCTL_NOTIF_ADDFD). Without it they
// fail with ENOSYS.
//
// ServeNotify returns nil when ctx is done or when every process using the
// filter has exited (the listener hangs up), and an error only when the
// listener itself fails. Closing listener does not wake it; cancel ctx.
func ServeNotify(ctx context.Context, listener *os.File, inotify *Owner) error {
	rc, err := listener.SyscallConn()
	if err != nil {
		return fmt.Errorf("seccomp: serve notifications: %w", err)
	}
	var host unix.Stat_t
	if err := unix.Stat("/proc/self/ns/uts", &host); err != nil {
		return fmt.Errorf("seccomp: serve notifications: %w", &os.PathError{Op: "stat", Path: "/proc/self/ns/uts", Err: err})
	}
	// ctx cannot interrupt poll(2); a pipe closed by ctx can.
	cancelR, cancelW, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("seccomp: serve notifications: %w", err)
	}
	defer cancelR.Close()
	stop := context.AfterFunc(ctx, func() { cancelW.Close() })
	defer func() {
		if stop() {
			cancelW.Close()
		}
	}()

	var maker *inotifyMaker
	if inotify != nil {
		var err error
		cerr := rc.Control(func(fd uintptr) { maker, err = startInotifyMaker(int(fd), *inotify) })
		if err = errors.Join(cerr, err); err != nil {
			return fmt.Errorf("seccomp: serve notifications: inotify: %w", err)
		}
		defer maker.stop()
	}
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
			done, answered, serr = serveOne(int(fd), int(cancelR.Fd()), host, maker)
		})
		if answered {
			bucket.spend(time.Now())
		}
		if cerr != nil {
			return fmt.Errorf("seccomp: serve notifications: %w", cerr)
		}
		if serr != nil {
			return fmt.Errorf("seccomp: serve notifications: %w", serr)
		}
		if done {
			return nil
		}
	}
}

// Each jail's share of the launcher's time for its names: see ServeNotify.
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
func serveOne(fd, cancel int, host unix.Stat_t, inotify *inotifyMaker) (done, answered bool, err error) {
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
	if inotify != nil && isInotifyCall(int(req.Data.Nr)) && req.Data.Arch == nativeAuditArch() {
		return false, true, inotify.serve(fd, &req)
	}
	errno, ok := answer(fd, &req, host)
	if !ok {
		return false, true, nil
	}
	return false, true, send(fd, req.ID, errno)
}

// send answers notification id with errno (0: success, returning 0).
func send(fd int, id uint64, errno unix.Errno) error {
	resp := notifResp{ID: id, Error: -int32(errno)}
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)); err != nil && !errors.Is(err, unix.ENOENT) {
		return os.NewSyscallError("ioctl SECCOMP_IOCTL_NOTIF_SEND", err)
	}
	return nil
}

// notifAddfd is struct seccomp_notif_addfd.
type notifAddfd struct {
	ID         uint64
	Flags      uint32
	SrcFD      uint32
	NewFD      uint32
	NewFDFlags uint32
}

// isInotifyCall tells whether nr makes an inotify instance: inotify_init1,
// and inotify_init where the ABI has it (x86-64; arm64 has only the
// first).
func isInotifyCall(nr int) bool {
	return nr == unix.SYS_INOTIFY_INIT1 || runtime.GOARCH == "amd64" && nr == 253
}

// inotifyMaker makes the jail's inotify instances on one thread whose
// ids are owner's alone (credentials are per thread in the kernel;
// unix.Setresuid would change every thread's), as init.c's serve_inotify
// does: one thread for the listener's life, not one per call, whose ids
// would come and go with each.
type inotifyMaker struct {
	reqs chan inotifyReq
}

type inotifyReq struct {
	id    uint64
	flags uint32
	errno chan unix.Errno
}

// startInotifyMaker starts the thread; stop ends it.
func startInotifyMaker(fd int, owner Owner) (*inotifyMaker, error) {
	m := &inotifyMaker{reqs: make(chan inotifyReq)}
	ready := make(chan error, 1)
	go func() {
		// Never unlocked: the thread ends with the goroutine, and the
		// runtime runs no other goroutine on it meanwhile.
		runtime.LockOSThread()
		for _, c := range [][4]uintptr{
			{unix.SYS_SETGROUPS, 0, 0, 0},
			{unix.SYS_SETRESGID, uintptr(owner.GID), uintptr(owner.GID), uintptr(owner.GID)},
			{unix.SYS_SETRESUID, uintptr(owner.UID), uintptr(owner.UID), uintptr(owner.UID)},
		} {
			if _, _, e := unix.RawSyscall(c[0], c[1], c[2], c[3]); e != 0 {
				ready <- fmt.Errorf("become %d:%d: %w", owner.UID, owner.GID, e)
				return
			}
		}
		ready <- nil
		for r := range m.reqs {
			r.errno <- addInotify(fd, r.id, r.flags)
		}
	}()
	if err := <-ready; err != nil {
		return nil, err
	}
	return m, nil
}

func (m *inotifyMaker) stop() { close(m.reqs) }

// serve answers notification req, an inotify call: with the new
// instance's number in the caller, installed and answered by one ioctl
// (SECCOMP_ADDFD_FLAG_SEND), or with an errno: EINVAL for flags other
// than IN_NONBLOCK and IN_CLOEXEC (the kernel reads them as an int), the
// kernel's own (EMFILE at owner's fs.inotify.max_user_instances), or the
// caller's (EMFILE at its RLIMIT_NOFILE).
func (m *inotifyMaker) serve(fd int, req *notif) error {
	var flags uint32
	if req.Data.Nr == unix.SYS_INOTIFY_INIT1 {
		flags = uint32(req.Data.Args[0])
	}
	if flags&^uint32(unix.IN_NONBLOCK|unix.IN_CLOEXEC) != 0 {
		return send(fd, req.ID, unix.EINVAL)
	}
	r := inotifyReq{id: req.ID, flags: flags, errno: make(chan unix.Errno, 1)}
	m.reqs <- r
	if errno := <-r.errno; errno != 0 {
		return send(fd, req.ID, errno)
	}
	return nil
}

// addInotify runs on the maker's thread: it makes the instance and hands
// it over, returning 0, or the errno to answer with.
func addInotify(fd int, id uint64, flags uint32) unix.Errno {
	in, err := unix.InotifyInit1(int(flags&unix.IN_NONBLOCK) | unix.IN_CLOEXEC)
	if err != nil {
		var e unix.Errno
		if errors.As(err, &e) {
			return e
		}
		return unix.ENOMEM
	}
	defer unix.Close(in)
	add := notifAddfd{ID: id, Flags: unix.SECCOMP_ADDFD_FLAG_SEND, SrcFD: uint32(in), NewFDFlags: flags & unix.IN_CLOEXEC}
	if err := ioctl(fd, unix.SECCOMP_IOCTL_NOTIF_ADDFD, unsafe.Pointer(&add)); err != nil {
		var e unix.Errno
		if errors.As(err, &e) && e != unix.ENOENT {
			return e // the caller's, such as EMFILE
		}
		return 0 // the caller is gone: no one to answer
	}
	return 0
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
