package seccomp

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Params are the jail's FreeBSD-style knobs that change what root inside may
// do. The zero value is the strictest jail: every knob off, SysV IPC disabled.
type Params struct {
	// SetHostname is allow.set_hostname: sethostname and setdomainname are
	// answered by the launcher through seccomp user notification
	// (ServeNotify), because root inside lacks CAP_SYS_ADMIN.
	SetHostname bool
	// RawSockets is allow.raw_sockets: SOCK_RAW on AF_INET and AF_INET6, and
	// CAP_NET_RAW. SOCK_PACKET stays refused: the kernel turns it into an
	// AF_PACKET socket, which is a family, not a raw IP socket.
	RawSockets bool
	// SocketAF is allow.socket_af: lifts the limit to UNIX, IPv4, IPv6 and
	// routing sockets.
	SocketAF bool
	// Chflags is allow.chflags: CAP_LINUX_IMMUTABLE, so root inside may set
	// the immutable and append-only flags.
	Chflags bool
	// SysVIPC is false when sysvipc=disable: the SysV IPC calls then fail
	// with ENOSYS, as on a kernel built without them.
	SysVIPC bool
	// HostIDs is --userns host: root inside is host uid 0, and what the
	// kernel counts per user would be counted against host root. So
	// inotify_init and inotify_init1 become notifications, which the
	// jail's init answers with an instance it makes as a host uid of the
	// jail's own (serve_inotify in init.c): the jail's instances are
	// counted against that uid's fs.inotify.max_user_instances.
	HostIDs bool
}

// Linux's numbers, spelled out because this file is pure and must give the
// same policy when built on any OS (syscall.EAFNOSUPPORT is 47 on Darwin).
const (
	errEPERM        = 1
	errENOSYS       = 38
	errEAFNOSUPPORT = 97

	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
	afXDP     = 44

	sockRaw    = 3
	sockPacket = 10
	// sockTypeMask is the kernel's SOCK_TYPE_MASK: the type argument also
	// carries SOCK_NONBLOCK and SOCK_CLOEXEC above it.
	sockTypeMask = 0xf

	netlinkRoute = 0

	sIFMT  = 0o170000
	sIFCHR = 0o020000
	sIFBLK = 0o060000

	tiocsti   = 0x5412
	tioclinux = 0x541c

	perLinux     = 0
	perQuery     = 0xffffffff
	lower32      = 0xffffffff
	cloneNewNS   = 0x00020000
	cloneNewTime = 0x00000080
	// cloneNewMask is every CLONE_NEW* flag clone(2) accepts: cgroup, UTS,
	// IPC, user, PID, net and mount. CLONE_NEWTIME's bit is the exit signal
	// in clone(2); only unshare(2) and clone3(2) read it as a namespace.
	cloneNewMask   = 0x7e000000 | cloneNewNS
	unshareNewMask = cloneNewMask | cloneNewTime
)

// allowed are the calls a customer's root needs, allowed outright so that the
// filter decides them by number alone and the kernel's action cache (5.11+)
// skips the filter for them. Privilege checks inside these calls are left to
// the kernel and the capabilities root keeps (see Capabilities): setuid,
// chown, kill and ptrace work inside the jail because the PID namespace and
// the dropped capabilities bound them.
var allowed = []string{
	"accept", "accept4", "access", "alarm", "arch_prctl", "bind", "brk",
	"cachestat", "capget", "capset", "chdir", "chmod", "chown", "chroot",
	"clock_getres", "clock_gettime", "clock_nanosleep", "close", "close_range",
	"connect", "copy_file_range", "creat", "dup", "dup2", "dup3",
	"epoll_create", "epoll_create1", "epoll_ctl", "epoll_pwait", "epoll_pwait2",
	"epoll_wait", "eventfd", "eventfd2", "execve", "execveat", "exit",
	"exit_group", "faccessat", "faccessat2", "fadvise64", "fallocate",
	"fanotify_init", "fanotify_mark", "fchdir", "fchmod", "fchmodat",
	"fchmodat2", "fchown", "fchownat", "fcntl", "fdatasync", "fgetxattr",
	"file_getattr", "file_setattr", "flistxattr", "flock", "fork",
	"fremovexattr", "fsetxattr", "fstat", "fstatfs", "fsync", "ftruncate",
	"futex", "futex_requeue", "futex_wait", "futex_waitv", "futex_wake",
	"futimesat", "get_mempolicy", "get_robust_list", "get_thread_area",
	"getcpu", "getcwd", "getdents", "getdents64", "getegid", "geteuid",
	"getgid", "getgroups", "getitimer", "getpeername", "getpgid", "getpgrp",
	"getpid", "getppid", "getpriority", "getrandom", "getresgid", "getresuid",
	"getrlimit", "getrusage", "getsid", "getsockname", "getsockopt", "gettid",
	"gettimeofday", "getuid", "getxattr", "getxattrat", "inotify_add_watch",
	"inotify_init", "inotify_init1", "inotify_rm_watch", "io_cancel",
	"io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit",
	"ioprio_get", "ioprio_set", "kcmp", "kill", "landlock_add_rule",
	"landlock_create_ruleset", "landlock_restrict_self", "lchown", "lgetxattr",
	"link", "linkat", "listen", "listxattr", "listxattrat", "llistxattr",
	"lremovexattr", "lseek", "lsetxattr", "lstat", "madvise",
	"map_shadow_stack", "mbind", "membarrier", "memfd_create", "memfd_secret",
	"mincore", "mkdir", "mkdirat", "mlock", "mlock2", "mlockall", "mmap",
	"mprotect", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive",
	"mq_timedsend", "mq_unlink", "mremap", "mseal", "msync", "munlock",
	"munlockall", "munmap", "nanosleep", "newfstatat", "open", "openat",
	"openat2", "pause", "pidfd_getfd", "pidfd_open", "pidfd_send_signal",
	"pipe", "pipe2", "pkey_alloc", "pkey_free", "pkey_mprotect", "poll",
	"ppoll", "prctl", "pread64", "preadv", "preadv2", "prlimit64",
	"process_madvise", "process_mrelease", "process_vm_readv",
	"process_vm_writev", "pselect6", "ptrace", "pwrite64", "pwritev",
	"pwritev2", "read", "readahead", "readlink", "readlinkat", "readv",
	"recvfrom", "recvmmsg", "recvmsg", "remap_file_pages", "removexattr",
	"removexattrat", "rename", "renameat", "renameat2", "restart_syscall",
	"rmdir", "rseq", "rt_sigaction", "rt_sigpending", "rt_sigprocmask",
	"rt_sigqueueinfo", "rt_sigreturn", "rt_sigsuspend", "rt_sigtimedwait",
	"rt_tgsigqueueinfo", "sched_get_priority_max", "sched_get_priority_min",
	"sched_getaffinity", "sched_getattr", "sched_getparam",
	"sched_getscheduler", "sched_rr_get_interval", "sched_setaffinity",
	"sched_setattr", "sched_setparam", "sched_setscheduler", "sched_yield",
	"seccomp", "select", "sendfile", "sendmmsg", "sendmsg", "sendto",
	"set_mempolicy", "set_mempolicy_home_node", "set_robust_list",
	"set_thread_area", "set_tid_address", "setfsgid", "setfsuid", "setgid",
	"setgroups", "setitimer", "setpgid", "setpriority", "setregid",
	"setresgid", "setresuid", "setreuid", "setrlimit", "setsid", "setsockopt",
	"setuid", "setxattr", "setxattrat", "shutdown", "sigaltstack", "signalfd",
	"signalfd4", "splice", "stat", "statfs", "statx", "symlink", "symlinkat",
	"sync", "sync_file_range", "syncfs", "sysinfo", "tee", "tgkill", "time",
	"timer_create", "timer_delete", "timer_getoverrun", "timer_gettime",
	"timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime",
	"times", "tkill", "truncate", "umask", "uname", "unlink", "unlinkat",
	"utime", "utimensat", "utimes", "vfork", "vmsplice", "wait4", "waitid",
	"write", "writev",
}

// sysVIPC are the SysV IPC calls that sysvipc=disable turns into ENOSYS.
var sysVIPC = []string{
	"msgctl", "msgget", "msgrcv", "msgsnd",
	"semctl", "semget", "semop", "semtimedop",
	"shmat", "shmctl", "shmdt", "shmget",
}

// inotifyCalls make an inotify instance, which the kernel counts against
// the caller's effective uid (fs.inotify.max_user_instances); watches are
// counted against the instance's maker.
var inotifyCalls = []string{"inotify_init", "inotify_init1"}

// hostnameCalls change the UTS namespace's names; root inside may not
// (no CAP_SYS_ADMIN) unless allow.set_hostname has the launcher do it.
var hostnameCalls = []string{"sethostname", "setdomainname"}

// deniedGroup is a set of calls refused with EPERM for one reason.
type deniedGroup struct {
	why   string
	names []string
}

// denied are the calls root inside must not make. They fail with EPERM, the
// errno a program expects when it lacks the privilege, never with a kill.
// Most also need a capability root inside does not keep; the filter refuses
// them anyway so that a kernel bug behind the capability check, or a
// capability kept by mistake, is not enough.
var denied = []deniedGroup{
	{
		"filesystems belong to the host: mounts, the new mount API, pivot_root",
		[]string{
			"mount", "umount2", "pivot_root", "fsopen", "fsconfig",
			"fsmount", "fspick", "move_mount", "open_tree", "open_tree_attr",
			"mount_setattr",
		},
	},
	{
		"the machine's clock is shared by every jail",
		[]string{"settimeofday", "clock_settime", "clock_adjtime", "adjtimex"},
	},
	{
		"kernel code and the running kernel belong to the host",
		[]string{
			"init_module", "finit_module", "delete_module", "kexec_load",
			"kexec_file_load", "reboot",
		},
	},
	{
		"host-wide state: swap, process accounting, disk quotas, the kernel log",
		[]string{
			"swapon", "swapoff", "acct", "quotactl", "quotactl_fd",
			"syslog",
		},
	},
	{
		"namespaces are the jail's walls: joining one, or making one with unshare's namespace flags (see below)",
		[]string{"setns"},
	},
	{
		"kernel keyrings are not namespaced: a key would be shared with the host",
		[]string{"keyctl", "add_key", "request_key"},
	},
	{
		"large kernel attack surface: eBPF, perf, userfaultfd (race widening), io_uring (bypasses this filter)",
		[]string{
			"bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
			"io_uring_enter", "io_uring_register",
		},
	},
	{
		"file handles open any inode on the file system, past the jail's root (CVE-2014-9357 'shocker')",
		[]string{"open_by_handle_at", "name_to_handle_at"},
	},
	{
		"raw hardware and kernel internals: I/O ports, dcookies, NUMA pages of other processes, hangup of the terminal",
		[]string{
			"iopl", "ioperm", "lookup_dcookie", "migrate_pages",
			"move_pages", "vhangup",
		},
	},
}

// Policy returns the jail's syscall policy for p as an OCI seccomp section.
// It is pure: the same Params give the same section on every host, so
// `prison spec` can print it and another OCI runtime can run it.
//
// The section is an allow-list: any call not named fails with ENOSYS, so that
// libc falls back from syscalls the policy does not know yet. Only the native
// ABI is listed; Compile refuses other ABIs with ENOSYS.
//
// Some calls have several rules with argument conditions. Their precedence
// is libseccomp's: on one argument, equality tests (==, masked ==) are tried
// before range tests, so a rule whose condition is `arg >= 0` (always true)
// is that argument's "any other value" case. Arguments the kernel reads as
// 32-bit ints are compared through a 0xffffffff mask, so setting bits above
// 31 neither dodges a refusal nor changes the answer.
func Policy(p Params) *specs.LinuxSeccomp {
	s := &specs.LinuxSeccomp{
		DefaultAction:   specs.ActErrno,
		DefaultErrnoRet: errnoRet(errENOSYS),
		Architectures:   nativeArches(),
	}
	add := func(action specs.LinuxSeccompAction, errno uint, names []string, args ...specs.LinuxSeccompArg) {
		// Copies: a caller editing the section must not edit the tables.
		r := specs.LinuxSyscall{Names: slices.Clone(names), Action: action, Args: args}
		if action == specs.ActErrno {
			r.ErrnoRet = errnoRet(errno)
		}
		s.Syscalls = append(s.Syscalls, r)
	}
	allow := func(names []string, args ...specs.LinuxSeccompArg) { add(specs.ActAllow, 0, names, args...) }
	refuse := func(errno uint, names []string, args ...specs.LinuxSeccompArg) {
		add(specs.ActErrno, errno, names, args...)
	}

	if p.HostIDs {
		allow(sorted(slices.DeleteFunc(slices.Clone(allowed), func(n string) bool { return slices.Contains(inotifyCalls, n) })))
		add(specs.ActNotify, 0, inotifyCalls)
	} else {
		allow(sorted(allowed))
	}
	if p.SysVIPC {
		allow(sysVIPC)
	} else {
		refuse(errENOSYS, sysVIPC)
	}
	if p.SetHostname {
		add(specs.ActNotify, 0, hostnameCalls)
	} else {
		refuse(errEPERM, hostnameCalls)
	}
	for _, g := range denied {
		refuse(errEPERM, g.names)
	}
	// clone3 passes its flags in a struct the filter cannot read. ENOSYS
	// makes glibc (2.34+) and others fall back to clone, whose flags it can.
	refuse(errENOSYS, []string{"clone3"})

	// New namespaces would let root inside build a world where it holds
	// CAP_SYS_ADMIN (a user namespace) and reach kernel code written for
	// real root; fork, threads and unshare(CLONE_FS|CLONE_FILES) stay.
	allow([]string{"clone"}, masked(0, cloneNewMask, 0))
	refuse(errEPERM, []string{"clone"}, anyOther(0))
	allow([]string{"unshare"}, masked(0, unshareNewMask, 0))
	refuse(errEPERM, []string{"unshare"}, anyOther(0))

	// Only the default personality and the query: the others change the
	// address-space layout (ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO,
	// READ_IMPLIES_EXEC) or emulate other systems' ABIs.
	allow([]string{"personality"}, masked(0, lower32, perLinux))
	allow([]string{"personality"}, masked(0, lower32, perQuery))
	refuse(errEPERM, []string{"personality"}, anyOther(0))

	// Device nodes reach drivers directly; regular files, fifos and
	// sockets are what mknod is used for inside a jail.
	for _, m := range []struct {
		name string
		mode uint
	}{{"mknod", 1}, {"mknodat", 2}} {
		refuse(errEPERM, []string{m.name}, masked(m.mode, sIFMT, sIFCHR))
		refuse(errEPERM, []string{m.name}, masked(m.mode, sIFMT, sIFBLK))
		allow([]string{m.name}, anyOther(m.mode))
	}

	// TIOCSTI pushes bytes into a terminal's input and TIOCLINUX can paste
	// the console selection: both let the jail type commands into a shell
	// outside it that shares the terminal. The mask matters:
	// CVE-2019-10063 passed TIOCSTI|1<<32 past a 64-bit comparison.
	refuse(errEPERM, []string{"ioctl"}, masked(1, lower32, tiocsti))
	refuse(errEPERM, []string{"ioctl"}, masked(1, lower32, tioclinux))
	allow([]string{"ioctl"}, anyOther(1))

	socketRules(p, add)
	return s
}

// socketRules adds socket and socketpair. FreeBSD jails allow UNIX, IPv4,
// IPv6 and routing sockets (socket_unixiproute_only); every other family is
// kernel code a jail has no need for and fails with EAFNOSUPPORT, as if it
// were not built, unless allow.socket_af.
func socketRules(p Params, add func(specs.LinuxSeccompAction, uint, []string, ...specs.LinuxSeccompArg)) {
	socket := []string{"socket"}
	allow := func(args ...specs.LinuxSeccompArg) { add(specs.ActAllow, 0, socket, args...) }
	refuse := func(errno uint, args ...specs.LinuxSeccompArg) { add(specs.ActErrno, errno, socket, args...) }

	if p.SocketAF {
		// AF_XDP hands frames to the driver past every egress hook, so a
		// macvlan jail's frames would skip the check of their source
		// address (netns/doc.go), which its host end cannot make either:
		// the one family allow.socket_af does not open.
		refuse(errEAFNOSUPPORT, masked(0, lower32, afXDP))
	}
	if p.SocketAF && p.RawSockets {
		allow(anyOther(0))
		add(specs.ActAllow, 0, []string{"socketpair"})
		return
	}
	if !p.SocketAF {
		allow(masked(0, lower32, afUnix))
	}
	for _, af := range []uint64{afInet, afInet6} {
		family := masked(0, lower32, af)
		if !p.RawSockets {
			// EPERM, not EAFNOSUPPORT: "ping: socket: Operation not
			// permitted" is what a user without CAP_NET_RAW knows.
			refuse(errEPERM, family, masked(1, sockTypeMask, sockRaw))
		}
		if !p.SocketAF {
			// socket(AF_INET, SOCK_PACKET) is an AF_PACKET socket in
			// disguise (net/socket.c __sock_create).
			refuse(errEAFNOSUPPORT, family, masked(1, sockTypeMask, sockPacket))
		}
		allow(family, anyOther(1))
	}
	if p.SocketAF {
		allow(anyOther(0))
		add(specs.ActAllow, 0, []string{"socketpair"})
		return
	}
	// Routing sockets only: NETLINK_AUDIT, NETLINK_KOBJECT_UEVENT and the
	// rest talk to host-wide kernel subsystems.
	netlink := masked(0, lower32, afNetlink)
	allow(netlink, masked(2, lower32, netlinkRoute))
	refuse(errEAFNOSUPPORT, netlink, anyOther(2))
	refuse(errEAFNOSUPPORT, anyOther(0))

	// Only AF_UNIX implements socketpair among the allowed families.
	add(specs.ActAllow, 0, []string{"socketpair"}, masked(0, lower32, afUnix))
	add(specs.ActErrno, errEAFNOSUPPORT, []string{"socketpair"}, anyOther(0))
}

// masked is the condition (arg & mask) == value.
func masked(index uint, mask, value uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: mask, ValueTwo: value, Op: specs.OpMaskedEqual}
}

// anyOther is the condition arg >= 0: always true, tried after every
// equality test on the same argument.
func anyOther(index uint) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: 0, Op: specs.OpGreaterEqual}
}

func errnoRet(e uint) *uint { return &e }

func sorted(names []string) []string {
	s := append([]string(nil), names...)
	sort.Strings(s)
	return s
}

// nativeArches lists the ABI prison runs in. On x86-64 that excludes i386
// (whose socketcall(2) would carry any socket family past the socket rules)
// and x32.
func nativeArches() []specs.Arch {
	if a, ok := goarchToSeccomp[runtime.GOARCH]; ok {
		return []specs.Arch{a}
	}
	return nil
}

var goarchToSeccomp = map[string]specs.Arch{
	"amd64":   specs.ArchX86_64,
	"arm64":   specs.ArchAARCH64,
	"riscv64": specs.ArchRISCV64,
	"ppc64le": specs.ArchPPC64LE,
	"s390x":   specs.ArchS390X,
	"loong64": specs.ArchLOONGARCH64,
}

// baseCapabilities are what a customer's root needs, each judged:
//
//   - CAP_CHOWN, CAP_FOWNER, CAP_FSETID, CAP_DAC_OVERRIDE: root owns and
//     reads/writes every file of the jail; the jail's files are all it sees.
//   - CAP_SETUID, CAP_SETGID: su, login, daemons dropping to a user.
//   - CAP_SETPCAP: lets root drop capabilities from its children's bounding
//     set (service managers do); it grants nothing outside the bounding set.
//   - CAP_SETFCAP: package managers install binaries with file capabilities
//     (ping cap_net_raw+ep); exec caps them at the bounding set, so it grants
//     nothing root inside does not have.
//   - CAP_KILL: signal any process; the PID namespace holds only the jail's.
//   - CAP_NET_BIND_SERVICE: ports below 1024 in the jail's own network.
//   - CAP_SYS_CHROOT: chroot inside the jail; the jail itself is a
//     pivot_root, so chroot-escape tricks end at the jail's root.
//
// CAP_DAC_READ_SEARCH is not kept: CAP_DAC_OVERRIDE already lets root read
// and search every file of the jail, and what this one adds is what only
// escapes need: open_by_handle_at (shocker; the filter refuses it too) and
// linkat(AT_EMPTY_PATH), which links any file root holds open, even one
// passed in from outside, into the jail's tree (issue 9).
//
// CAP_AUDIT_WRITE (in Docker's default set) is not kept: the audit log is
// not namespaced, so it would let jail root forge host audit records once
// allow.socket_af opens NETLINK_AUDIT. Without it libaudit's EPERM or
// EAFNOSUPPORT reads as "no audit" and su and sshd carry on.
var baseCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
	"CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP",
	"CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
}

// Capabilities returns the capability names root inside the jail keeps for
// p, sorted. Everything else (CAP_SYS_ADMIN, CAP_NET_ADMIN, CAP_SYS_PTRACE,
// CAP_MKNOD, CAP_SYS_TIME, CAP_SYS_MODULE, CAP_BPF...) is dropped from every
// set, the bounding set included.
func Capabilities(p Params) []string {
	caps := append([]string(nil), baseCapabilities...)
	if p.RawSockets {
		caps = append(caps, "CAP_NET_RAW")
	}
	if p.Chflags {
		caps = append(caps, "CAP_LINUX_IMMUTABLE")
	}
	sort.Strings(caps)
	return caps
}

// Allow describes one allow.* parameter for help text.
type Allow struct {
	Name string // FreeBSD name without the "allow." prefix
	Does string // what it changes, one line
}

// Allows lists the allow.* parameters ParseAllow knows, in a stable order.
func Allows() []Allow {
	return []Allow{
		{"raw_sockets", "SOCK_RAW on IPv4/IPv6 (ping, traceroute) and CAP_NET_RAW; AF_PACKET stays refused"},
		{"set_hostname", "root inside may set the hostname and domain name (the launcher sets them in the jail's UTS namespace)"},
		{"socket_af", "every socket family but AF_XDP, not just UNIX, IPv4, IPv6 and routing (NETLINK_ROUTE)"},
		{"chflags", "CAP_LINUX_IMMUTABLE: root inside may set the immutable and append-only flags"},
		{"sysvipc", "SysV IPC calls allowed, in the host's IPC namespace (FreeBSD allow.sysvipc; same as --sysvipc inherit)"},
	}
}

// ParseAllow turns allow.* names ("raw_sockets" or "allow.raw_sockets") into
// the Params they switch on, starting from the zero Params. "sysvipc" sets
// SysVIPC; the caller also decides which IPC namespace that means.
func ParseAllow(names []string) (Params, error) {
	var p Params
	for _, n := range names {
		switch strings.TrimPrefix(n, "allow.") {
		case "raw_sockets":
			p.RawSockets = true
		case "set_hostname":
			p.SetHostname = true
		case "socket_af":
			p.SocketAF = true
		case "chflags":
			p.Chflags = true
		case "sysvipc":
			p.SysVIPC = true
		default:
			known := make([]string, 0, len(Allows()))
			for _, a := range Allows() {
				known = append(known, a.Name)
			}
			return Params{}, fmt.Errorf("--allow: unknown parameter %q (known: %s)", n, strings.Join(known, ", "))
		}
	}
	return p, nil
}
