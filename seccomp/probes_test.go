//go:build linux && cgo && amd64

package seccomp

import (
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/unix"
)

// probe is one call the policy decides, with the answer it must give. want
// 0 means the filter lets the call through to the kernel.
//
// Arguments are chosen so that a call the filter wrongly allowed fails in
// the kernel with another errno, or does nothing harmful in the throwaway
// subprocess (own UTS, IPC and mount namespaces, no terminal).
type probe struct {
	name   string
	nr     uintptr
	args   [6]uint64
	want   unix.Errno
	notify bool // the filter hands the call to the launcher
	// bpfOnly probes are checked in the compiled filter but not made: the
	// kernel's own answer would be ambiguous (setsid) or the call would
	// disturb the test process (fork, exit_group).
	bpfOnly bool
	close   bool // on success the call returns an fd to close
}

// probeEnv holds memory the probes point into.
type probeEnv struct {
	dir     string
	paths   [][]byte
	buf     [64]byte
	devNull int
	pipe    [2]int
}

func (e *probeEnv) path(name string) uint64 {
	b := append([]byte(filepath.Join(e.dir, name)), 0)
	e.paths = append(e.paths, b)
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

func (e *probeEnv) ptr() uint64 { return uint64(uintptr(unsafe.Pointer(&e.buf[0]))) }

const hi = 1 << 32 // a bit the kernel drops from int arguments

func ifThen(cond bool, yes, no unix.Errno) unix.Errno {
	if cond {
		return yes
	}
	return no
}

// probes lists the policy line by line for p.
func probes(p Params, e *probeEnv) []probe {
	const (
		eperm  = unix.EPERM
		enosys = unix.ENOSYS
		eaf    = unix.EAFNOSUPPORT
		ok     = 0
	)
	atCWD := uint64(unix.AT_FDCWD & 0xffffffff)
	neg1 := ^uint64(0)
	ps := []probe{
		// Refused outright.
		{name: "mount", nr: unix.SYS_MOUNT, want: eperm},
		{name: "umount2", nr: unix.SYS_UMOUNT2, want: eperm},
		{name: "pivot_root", nr: unix.SYS_PIVOT_ROOT, want: eperm},
		{name: "swapon", nr: unix.SYS_SWAPON, want: eperm},
		{name: "swapoff", nr: unix.SYS_SWAPOFF, want: eperm},
		{name: "reboot", nr: unix.SYS_REBOOT, want: eperm},
		{name: "kexec_load", nr: unix.SYS_KEXEC_LOAD, args: [6]uint64{0, 0, 0, 0xffff0000}, want: eperm},
		{name: "kexec_file_load", nr: unix.SYS_KEXEC_FILE_LOAD, args: [6]uint64{neg1, neg1, 0, 0, 0xffffffff}, want: eperm},
		{name: "init_module", nr: unix.SYS_INIT_MODULE, want: eperm},
		{name: "finit_module", nr: unix.SYS_FINIT_MODULE, args: [6]uint64{neg1}, want: eperm},
		{name: "delete_module", nr: unix.SYS_DELETE_MODULE, want: eperm},
		{name: "settimeofday", nr: unix.SYS_SETTIMEOFDAY, want: eperm},
		{name: "clock_settime", nr: unix.SYS_CLOCK_SETTIME, want: eperm},
		{name: "clock_adjtime", nr: unix.SYS_CLOCK_ADJTIME, want: eperm},
		{name: "adjtimex", nr: unix.SYS_ADJTIMEX, want: eperm},
		{name: "acct", nr: unix.SYS_ACCT, want: eperm},
		{name: "quotactl", nr: unix.SYS_QUOTACTL, want: eperm},
		{name: "quotactl_fd", nr: unix.SYS_QUOTACTL_FD, args: [6]uint64{neg1}, want: eperm},
		{name: "syslog", nr: unix.SYS_SYSLOG, args: [6]uint64{10}, want: eperm},
		{name: "keyctl", nr: unix.SYS_KEYCTL, args: [6]uint64{neg1}, want: eperm},
		{name: "add_key", nr: unix.SYS_ADD_KEY, want: eperm},
		{name: "request_key", nr: unix.SYS_REQUEST_KEY, want: eperm},
		{name: "bpf", nr: unix.SYS_BPF, args: [6]uint64{neg1}, want: eperm},
		{name: "perf_event_open", nr: unix.SYS_PERF_EVENT_OPEN, want: eperm},
		{name: "userfaultfd", nr: unix.SYS_USERFAULTFD, args: [6]uint64{0xffff}, want: eperm},
		{name: "io_uring_setup", nr: unix.SYS_IO_URING_SETUP, args: [6]uint64{1}, want: eperm},
		{name: "io_uring_enter", nr: unix.SYS_IO_URING_ENTER, args: [6]uint64{neg1}, want: eperm},
		{name: "io_uring_register", nr: unix.SYS_IO_URING_REGISTER, args: [6]uint64{neg1}, want: eperm},
		{name: "open_by_handle_at", nr: unix.SYS_OPEN_BY_HANDLE_AT, args: [6]uint64{neg1}, want: eperm},
		{name: "name_to_handle_at", nr: unix.SYS_NAME_TO_HANDLE_AT, args: [6]uint64{neg1}, want: eperm},
		{name: "iopl", nr: unix.SYS_IOPL, want: eperm},
		{name: "ioperm", nr: unix.SYS_IOPERM, want: eperm},
		{name: "lookup_dcookie", nr: unix.SYS_LOOKUP_DCOOKIE, want: eperm},
		{name: "migrate_pages", nr: unix.SYS_MIGRATE_PAGES, args: [6]uint64{neg1}, want: eperm},
		{name: "move_pages", nr: unix.SYS_MOVE_PAGES, args: [6]uint64{neg1}, want: eperm},
		{name: "vhangup", nr: unix.SYS_VHANGUP, want: eperm},
		{name: "setns", nr: unix.SYS_SETNS, args: [6]uint64{neg1}, want: eperm},
		{name: "fsopen", nr: unix.SYS_FSOPEN, want: eperm},
		{name: "fsconfig", nr: unix.SYS_FSCONFIG, args: [6]uint64{neg1}, want: eperm},
		{name: "fsmount", nr: unix.SYS_FSMOUNT, args: [6]uint64{neg1}, want: eperm},
		{name: "fspick", nr: unix.SYS_FSPICK, args: [6]uint64{neg1}, want: eperm},
		{name: "move_mount", nr: unix.SYS_MOVE_MOUNT, args: [6]uint64{neg1, 0, neg1}, want: eperm},
		{name: "open_tree", nr: unix.SYS_OPEN_TREE, args: [6]uint64{neg1}, want: eperm},
		{name: "open_tree_attr", nr: 467, args: [6]uint64{neg1}, want: eperm},
		{name: "mount_setattr", nr: unix.SYS_MOUNT_SETATTR, args: [6]uint64{neg1}, want: eperm},
		// Too long a name: EINVAL if the kernel ever saw it.
		{name: "sethostname", nr: unix.SYS_SETHOSTNAME, args: [6]uint64{e.ptr(), 1000}, want: ifThen(p.SetHostname, ok, eperm), notify: p.SetHostname, bpfOnly: p.SetHostname},
		{name: "setdomainname", nr: unix.SYS_SETDOMAINNAME, args: [6]uint64{e.ptr(), 1000}, want: ifThen(p.SetHostname, ok, eperm), notify: p.SetHostname, bpfOnly: p.SetHostname},

		// Namespaces. CLONE_NEWNS|CLONE_FS is EINVAL in the kernel, so an
		// allowed clone would not fork.
		{name: "clone3", nr: unix.SYS_CLONE3, want: enosys},
		{name: "clone(NEWNS|FS)", nr: unix.SYS_CLONE, args: [6]uint64{unix.CLONE_NEWNS | unix.CLONE_FS}, want: eperm},
		{name: "clone(NEWUSER|FS)", nr: unix.SYS_CLONE, args: [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_FS}, want: eperm},
		{name: "clone(NEWNET|FS|1<<32)", nr: unix.SYS_CLONE, args: [6]uint64{unix.CLONE_NEWNET | unix.CLONE_FS | hi}, want: eperm},
		{name: "clone(THREAD)", nr: unix.SYS_CLONE, args: [6]uint64{unix.CLONE_THREAD}, want: ok},
		{name: "clone(SIGCHLD)", nr: unix.SYS_CLONE, args: [6]uint64{uint64(unix.SIGCHLD)}, want: ok, bpfOnly: true},
		{name: "unshare(NEWNS)", nr: unix.SYS_UNSHARE, args: [6]uint64{unix.CLONE_NEWNS}, want: eperm},
		{name: "unshare(NEWUSER)", nr: unix.SYS_UNSHARE, args: [6]uint64{unix.CLONE_NEWUSER}, want: eperm},
		{name: "unshare(NEWTIME)", nr: unix.SYS_UNSHARE, args: [6]uint64{unix.CLONE_NEWTIME}, want: eperm},
		// A private fd table on one thread breaks the Go runtime's
		// netpoller, so only the filter sees this one.
		{name: "unshare(FILES)", nr: unix.SYS_UNSHARE, args: [6]uint64{unix.CLONE_FILES}, want: ok, bpfOnly: true},
		{name: "unshare(0)", nr: unix.SYS_UNSHARE, want: ok},

		// personality
		{name: "personality(PER_LINUX)", nr: unix.SYS_PERSONALITY, args: [6]uint64{0}, want: ok},
		{name: "personality(query)", nr: unix.SYS_PERSONALITY, args: [6]uint64{0xffffffff}, want: ok},
		{name: "personality(-1)", nr: unix.SYS_PERSONALITY, args: [6]uint64{neg1}, want: ok},
		{name: "personality(PER_BSD)", nr: unix.SYS_PERSONALITY, args: [6]uint64{6}, want: eperm},
		{name: "personality(ADDR_NO_RANDOMIZE)", nr: unix.SYS_PERSONALITY, args: [6]uint64{0x0040000}, want: eperm},
		{name: "personality(PER_BSD|1<<32)", nr: unix.SYS_PERSONALITY, args: [6]uint64{6 | hi}, want: eperm},

		// mknod
		{name: "mknodat(S_IFCHR)", nr: unix.SYS_MKNODAT, args: [6]uint64{atCWD, e.path("chr"), unix.S_IFCHR | 0o600, uint64(unix.Mkdev(1, 3))}, want: eperm},
		{name: "mknodat(S_IFBLK)", nr: unix.SYS_MKNODAT, args: [6]uint64{atCWD, e.path("blk"), unix.S_IFBLK | 0o600, uint64(unix.Mkdev(7, 0))}, want: eperm},
		{name: "mknodat(S_IFCHR|1<<32)", nr: unix.SYS_MKNODAT, args: [6]uint64{atCWD, e.path("chr2"), unix.S_IFCHR | 0o600 | hi, uint64(unix.Mkdev(1, 3))}, want: eperm},
		{name: "mknod(S_IFCHR)", nr: unix.SYS_MKNOD, args: [6]uint64{e.path("chr3"), unix.S_IFCHR | 0o600, uint64(unix.Mkdev(1, 3))}, want: eperm},
		{name: "mknodat(S_IFIFO)", nr: unix.SYS_MKNODAT, args: [6]uint64{atCWD, e.path("fifo"), unix.S_IFIFO | 0o600}, want: ok},
		{name: "mknodat(S_IFSOCK)", nr: unix.SYS_MKNODAT, args: [6]uint64{atCWD, e.path("sock"), unix.S_IFSOCK | 0o600}, want: ok},
		{name: "mknod(S_IFREG)", nr: unix.SYS_MKNOD, args: [6]uint64{e.path("reg"), unix.S_IFREG | 0o600}, want: ok},
		{name: "mknod(0)", nr: unix.SYS_MKNOD, args: [6]uint64{e.path("reg0"), 0o600}, want: ok},

		// Terminal injection. On /dev/null an allowed ioctl is ENOTTY.
		{name: "ioctl(TIOCSTI)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.devNull), unix.TIOCSTI, e.ptr()}, want: eperm},
		{name: "ioctl(TIOCSTI|1<<32)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.devNull), unix.TIOCSTI | hi, e.ptr()}, want: eperm},
		{name: "ioctl(TIOCLINUX)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.devNull), unix.TIOCLINUX, e.ptr()}, want: eperm},
		{name: "ioctl(TCGETS)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.devNull), unix.TCGETS, e.ptr()}, want: ok},
		{name: "ioctl(TIOCSCTTY)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.devNull), unix.TIOCSCTTY}, want: ok},
		{name: "ioctl(FIONREAD)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.pipe[0]), unix.TIOCINQ, e.ptr()}, want: ok},
		// musl passes int requests sign-extended: _IOR ones have bit 31 set.
		{name: "ioctl(TIOCGPTN sign-extended)", nr: unix.SYS_IOCTL, args: [6]uint64{uint64(e.devNull), 0xffffffff00000000 | unix.TIOCGPTN, e.ptr()}, want: ok},

		// SysV IPC (the subprocess has its own IPC namespace).
		{name: "msgget", nr: unix.SYS_MSGGET, args: [6]uint64{0, 0o600}, want: ifThen(p.SysVIPC, ok, enosys)},
		{name: "semget", nr: unix.SYS_SEMGET, args: [6]uint64{0, 1, 0o600}, want: ifThen(p.SysVIPC, ok, enosys)},
		{name: "shmget", nr: unix.SYS_SHMGET, args: [6]uint64{0, 4096, 0o600}, want: ifThen(p.SysVIPC, ok, enosys)},
		{name: "shmdt", nr: unix.SYS_SHMDT, want: ifThen(p.SysVIPC, ok, enosys)},
		{name: "semtimedop", nr: unix.SYS_SEMTIMEDOP, args: [6]uint64{neg1}, want: ifThen(p.SysVIPC, ok, enosys)},

		// Unknown and foreign calls.
		{name: "syscall 1000", nr: 1000, want: enosys},
		{name: "x32 getpid", nr: 0x40000000 | unix.SYS_GETPID, want: enosys},

		// What the init does after installing the filter.
		{name: "prctl", nr: unix.SYS_PRCTL, args: [6]uint64{unix.PR_GET_DUMPABLE}, want: ok},
		{name: "capset", nr: unix.SYS_CAPSET, want: ok},
		{name: "setresuid", nr: unix.SYS_SETRESUID, args: [6]uint64{neg1, neg1, neg1}, want: ok},
		{name: "setresgid", nr: unix.SYS_SETRESGID, args: [6]uint64{neg1, neg1, neg1}, want: ok},
		{name: "setgroups", nr: unix.SYS_SETGROUPS, args: [6]uint64{neg1}, want: ok},
		{name: "wait4", nr: unix.SYS_WAIT4, args: [6]uint64{neg1, 0, unix.WNOHANG}, want: ok},
		{name: "kill", nr: unix.SYS_KILL, args: [6]uint64{0x7fffffff, 0}, want: ok},
		{name: "rt_sigprocmask", nr: unix.SYS_RT_SIGPROCMASK, args: [6]uint64{0, 0, 0, 8}, want: ok},
		{name: "read", nr: unix.SYS_READ, args: [6]uint64{neg1}, want: ok},
		{name: "write", nr: unix.SYS_WRITE, args: [6]uint64{neg1}, want: ok},
		{name: "sendmsg", nr: unix.SYS_SENDMSG, args: [6]uint64{neg1}, want: ok},
		{name: "recvmsg", nr: unix.SYS_RECVMSG, args: [6]uint64{neg1}, want: ok},
		{name: "close", nr: unix.SYS_CLOSE, args: [6]uint64{neg1}, want: ok},
		{name: "dup3", nr: unix.SYS_DUP3, args: [6]uint64{neg1, 100}, want: ok},
		{name: "execve", nr: unix.SYS_EXECVE, want: ok},
		{name: "chdir", nr: unix.SYS_CHDIR, args: [6]uint64{e.path("")}, want: ok},
		{name: "chroot", nr: unix.SYS_CHROOT, want: ok},
		{name: "setsid", nr: unix.SYS_SETSID, want: ok, bpfOnly: true},
		{name: "fork", nr: unix.SYS_FORK, want: ok, bpfOnly: true},
		{name: "exit_group", nr: unix.SYS_EXIT_GROUP, want: ok, bpfOnly: true},
		{name: "ptrace", nr: unix.SYS_PTRACE, args: [6]uint64{neg1}, want: ok},
		{name: "getppid", nr: unix.SYS_GETPPID, want: ok},
		{name: "mseal", nr: 462, args: [6]uint64{1}, want: ok},
	}
	ps = append(ps, socketProbes(p)...)
	return ps
}

func socketProbes(p Params) []probe {
	const (
		eperm = unix.EPERM
		eaf   = unix.EAFNOSUPPORT
		ok    = 0
	)
	family := func(f unix.Errno) unix.Errno { return ifThen(p.SocketAF, ok, f) }
	raw := ifThen(p.RawSockets, ok, eperm)
	sock := func(name string, af, typ, proto uint64, want unix.Errno) probe {
		return probe{name: "socket(" + name + ")", nr: unix.SYS_SOCKET, args: [6]uint64{af, typ, proto}, want: want, close: true}
	}
	// With allow.socket_af the kernel itself may answer EAFNOSUPPORT for
	// an exotic family (not built, or no such family), which the
	// subprocess could not tell from the filter's answer.
	exotic := func(pr probe) probe {
		pr.bpfOnly = p.SocketAF
		return pr
	}
	return []probe{
		sock("AF_UNIX", unix.AF_UNIX, unix.SOCK_STREAM, 0, ok),
		sock("AF_INET stream nonblock cloexec", unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, ok),
		sock("AF_INET6 dgram", unix.AF_INET6, unix.SOCK_DGRAM, 0, ok),
		sock("AF_INET ping", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, ok),
		sock("AF_INET6 ping", unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMPV6, ok),
		sock("AF_INET raw", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, raw),
		sock("AF_INET6 raw cloexec", unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6, raw),
		sock("AF_INET raw|1<<32", unix.AF_INET, unix.SOCK_RAW|hi, unix.IPPROTO_ICMP, raw),
		sock("AF_INET SOCK_PACKET", unix.AF_INET, unix.SOCK_PACKET, 0x300, family(eaf)),
		sock("AF_INET|1<<32 stream", unix.AF_INET|hi, unix.SOCK_STREAM, 0, ok),
		exotic(sock("AF_PACKET", unix.AF_PACKET, unix.SOCK_RAW, 0x300, family(eaf))),
		exotic(sock("AF_PACKET|1<<32", unix.AF_PACKET|hi, unix.SOCK_RAW, 0x300, family(eaf))),
		sock("AF_NETLINK route", unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE, ok),
		exotic(sock("AF_NETLINK audit", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT, family(eaf))),
		exotic(sock("AF_NETLINK uevent", unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_KOBJECT_UEVENT, family(eaf))),
		exotic(sock("AF_NETLINK audit|1<<32", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT|hi, family(eaf))),
		exotic(sock("AF_VSOCK", unix.AF_VSOCK, unix.SOCK_STREAM, 0, family(eaf))),
		exotic(sock("AF_ALG", unix.AF_ALG, unix.SOCK_SEQPACKET, 0, family(eaf))),
		exotic(sock("AF_KEY", unix.AF_KEY, unix.SOCK_RAW, 2, family(eaf))),
		exotic(sock("AF_UNSPEC", unix.AF_UNSPEC, unix.SOCK_STREAM, 0, family(eaf))),
		exotic(sock("family 0xffffffff", 0xffffffff, unix.SOCK_STREAM, 0, family(eaf))),
		// No sv pointer: an allowed socketpair is EFAULT (AF_UNIX) or
		// EOPNOTSUPP (AF_INET).
		{name: "socketpair(AF_UNIX)", nr: unix.SYS_SOCKETPAIR, args: [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, want: ok},
		{name: "socketpair(AF_INET)", nr: unix.SYS_SOCKETPAIR, args: [6]uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, want: family(eaf)},
	}
}
