//go:build linux && amd64

package sysprobe

import "golang.org/x/sys/unix"

const hi = 1 << 32 // a bit the kernel drops from int arguments

func ifThen(cond bool, yes, no unix.Errno) unix.Errno {
	if cond {
		return yes
	}
	return no
}

// Probes lists the policy line by line for p. Arguments are chosen so that
// a call the filter wrongly allowed fails in the kernel with another errno,
// or does nothing harmful: in the seccomp tests' throwaway subprocess (own
// UTS, IPC and mount namespaces, no terminal) and in a jail alike.
func Probes(p Params, e *Env) []Probe {
	const (
		eperm  = unix.EPERM
		enosys = unix.ENOSYS
		eaf    = unix.EAFNOSUPPORT
		ok     = 0
	)
	atCWD := uint64(unix.AT_FDCWD & 0xffffffff)
	neg1 := ^uint64(0)
	ps := []Probe{
		// Refused outright.
		{Name: "mount", NR: unix.SYS_MOUNT, Want: eperm},
		{Name: "umount2", NR: unix.SYS_UMOUNT2, Want: eperm},
		{Name: "pivot_root", NR: unix.SYS_PIVOT_ROOT, Want: eperm},
		{Name: "swapon", NR: unix.SYS_SWAPON, Want: eperm},
		{Name: "swapoff", NR: unix.SYS_SWAPOFF, Want: eperm},
		{Name: "reboot", NR: unix.SYS_REBOOT, Want: eperm},
		{Name: "kexec_load", NR: unix.SYS_KEXEC_LOAD, Args: [6]uint64{0, 0, 0, 0xffff0000}, Want: eperm},
		{Name: "kexec_file_load", NR: unix.SYS_KEXEC_FILE_LOAD, Args: [6]uint64{neg1, neg1, 0, 0, 0xffffffff}, Want: eperm},
		{Name: "init_module", NR: unix.SYS_INIT_MODULE, Want: eperm},
		{Name: "finit_module", NR: unix.SYS_FINIT_MODULE, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "delete_module", NR: unix.SYS_DELETE_MODULE, Want: eperm},
		{Name: "settimeofday", NR: unix.SYS_SETTIMEOFDAY, Want: eperm},
		{Name: "clock_settime", NR: unix.SYS_CLOCK_SETTIME, Want: eperm},
		{Name: "clock_adjtime", NR: unix.SYS_CLOCK_ADJTIME, Want: eperm},
		{Name: "adjtimex", NR: unix.SYS_ADJTIMEX, Want: eperm},
		{Name: "acct", NR: unix.SYS_ACCT, Want: eperm},
		{Name: "quotactl", NR: unix.SYS_QUOTACTL, Want: eperm},
		{Name: "quotactl_fd", NR: unix.SYS_QUOTACTL_FD, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "syslog", NR: unix.SYS_SYSLOG, Args: [6]uint64{10}, Want: eperm},
		{Name: "keyctl", NR: unix.SYS_KEYCTL, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "add_key", NR: unix.SYS_ADD_KEY, Want: eperm},
		{Name: "request_key", NR: unix.SYS_REQUEST_KEY, Want: eperm},
		{Name: "bpf", NR: unix.SYS_BPF, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "perf_event_open", NR: unix.SYS_PERF_EVENT_OPEN, Want: eperm},
		{Name: "userfaultfd", NR: unix.SYS_USERFAULTFD, Args: [6]uint64{0xffff}, Want: eperm},
		{Name: "io_uring_setup", NR: unix.SYS_IO_URING_SETUP, Args: [6]uint64{1}, Want: eperm},
		{Name: "io_uring_enter", NR: unix.SYS_IO_URING_ENTER, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "io_uring_register", NR: unix.SYS_IO_URING_REGISTER, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "open_by_handle_at", NR: unix.SYS_OPEN_BY_HANDLE_AT, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "name_to_handle_at", NR: unix.SYS_NAME_TO_HANDLE_AT, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "iopl", NR: unix.SYS_IOPL, Want: eperm},
		{Name: "ioperm", NR: unix.SYS_IOPERM, Want: eperm},
		{Name: "lookup_dcookie", NR: unix.SYS_LOOKUP_DCOOKIE, Want: eperm},
		{Name: "migrate_pages", NR: unix.SYS_MIGRATE_PAGES, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "move_pages", NR: unix.SYS_MOVE_PAGES, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "vhangup", NR: unix.SYS_VHANGUP, Want: eperm},
		{Name: "setns", NR: unix.SYS_SETNS, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "fsopen", NR: unix.SYS_FSOPEN, Want: eperm},
		{Name: "fsconfig", NR: unix.SYS_FSCONFIG, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "fsmount", NR: unix.SYS_FSMOUNT, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "fspick", NR: unix.SYS_FSPICK, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "move_mount", NR: unix.SYS_MOVE_MOUNT, Args: [6]uint64{neg1, 0, neg1}, Want: eperm},
		{Name: "open_tree", NR: unix.SYS_OPEN_TREE, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "open_tree_attr", NR: 467, Args: [6]uint64{neg1}, Want: eperm},
		{Name: "mount_setattr", NR: unix.SYS_MOUNT_SETATTR, Args: [6]uint64{neg1}, Want: eperm},
		// Too long a name: EINVAL if the kernel ever saw it.
		{Name: "sethostname", NR: unix.SYS_SETHOSTNAME, Args: [6]uint64{e.ptr(), 1000}, Want: ifThen(p.SetHostname, ok, eperm), Notify: p.SetHostname, BPFOnly: p.SetHostname},
		{Name: "setdomainname", NR: unix.SYS_SETDOMAINNAME, Args: [6]uint64{e.ptr(), 1000}, Want: ifThen(p.SetHostname, ok, eperm), Notify: p.SetHostname, BPFOnly: p.SetHostname},

		// Namespaces. CLONE_NEWNS|CLONE_FS is EINVAL in the kernel, so an
		// allowed clone would not fork.
		{Name: "clone3", NR: unix.SYS_CLONE3, Want: enosys},
		{Name: "clone(NEWNS|FS)", NR: unix.SYS_CLONE, Args: [6]uint64{unix.CLONE_NEWNS | unix.CLONE_FS}, Want: eperm},
		{Name: "clone(NEWUSER|FS)", NR: unix.SYS_CLONE, Args: [6]uint64{unix.CLONE_NEWUSER | unix.CLONE_FS}, Want: eperm},
		{Name: "clone(NEWNET|FS|1<<32)", NR: unix.SYS_CLONE, Args: [6]uint64{unix.CLONE_NEWNET | unix.CLONE_FS | hi}, Want: eperm},
		{Name: "clone(THREAD)", NR: unix.SYS_CLONE, Args: [6]uint64{unix.CLONE_THREAD}, Want: ok},
		{Name: "clone(SIGCHLD)", NR: unix.SYS_CLONE, Args: [6]uint64{uint64(unix.SIGCHLD)}, Want: ok, BPFOnly: true},
		{Name: "unshare(NEWNS)", NR: unix.SYS_UNSHARE, Args: [6]uint64{unix.CLONE_NEWNS}, Want: eperm},
		{Name: "unshare(NEWUSER)", NR: unix.SYS_UNSHARE, Args: [6]uint64{unix.CLONE_NEWUSER}, Want: eperm},
		{Name: "unshare(NEWTIME)", NR: unix.SYS_UNSHARE, Args: [6]uint64{unix.CLONE_NEWTIME}, Want: eperm},
		// A private fd table on one thread breaks the Go runtime's
		// netpoller, so only the filter sees this one.
		{Name: "unshare(FILES)", NR: unix.SYS_UNSHARE, Args: [6]uint64{unix.CLONE_FILES}, Want: ok, BPFOnly: true},
		{Name: "unshare(0)", NR: unix.SYS_UNSHARE, Want: ok},

		// personality
		{Name: "personality(PER_LINUX)", NR: unix.SYS_PERSONALITY, Args: [6]uint64{0}, Want: ok},
		{Name: "personality(query)", NR: unix.SYS_PERSONALITY, Args: [6]uint64{0xffffffff}, Want: ok},
		{Name: "personality(-1)", NR: unix.SYS_PERSONALITY, Args: [6]uint64{neg1}, Want: ok},
		{Name: "personality(PER_BSD)", NR: unix.SYS_PERSONALITY, Args: [6]uint64{6}, Want: eperm},
		{Name: "personality(ADDR_NO_RANDOMIZE)", NR: unix.SYS_PERSONALITY, Args: [6]uint64{0x0040000}, Want: eperm},
		{Name: "personality(PER_BSD|1<<32)", NR: unix.SYS_PERSONALITY, Args: [6]uint64{6 | hi}, Want: eperm},

		// mknod
		{Name: "mknodat(S_IFCHR)", NR: unix.SYS_MKNODAT, Args: [6]uint64{atCWD, e.path("chr"), unix.S_IFCHR | 0o600, uint64(unix.Mkdev(1, 3))}, Want: eperm},
		{Name: "mknodat(S_IFBLK)", NR: unix.SYS_MKNODAT, Args: [6]uint64{atCWD, e.path("blk"), unix.S_IFBLK | 0o600, uint64(unix.Mkdev(7, 0))}, Want: eperm},
		{Name: "mknodat(S_IFCHR|1<<32)", NR: unix.SYS_MKNODAT, Args: [6]uint64{atCWD, e.path("chr2"), unix.S_IFCHR | 0o600 | hi, uint64(unix.Mkdev(1, 3))}, Want: eperm},
		{Name: "mknod(S_IFCHR)", NR: unix.SYS_MKNOD, Args: [6]uint64{e.path("chr3"), unix.S_IFCHR | 0o600, uint64(unix.Mkdev(1, 3))}, Want: eperm},
		{Name: "mknodat(S_IFIFO)", NR: unix.SYS_MKNODAT, Args: [6]uint64{atCWD, e.path("fifo"), unix.S_IFIFO | 0o600}, Want: ok},
		{Name: "mknodat(S_IFSOCK)", NR: unix.SYS_MKNODAT, Args: [6]uint64{atCWD, e.path("sock"), unix.S_IFSOCK | 0o600}, Want: ok},
		{Name: "mknod(S_IFREG)", NR: unix.SYS_MKNOD, Args: [6]uint64{e.path("reg"), unix.S_IFREG | 0o600}, Want: ok},
		{Name: "mknod(0)", NR: unix.SYS_MKNOD, Args: [6]uint64{e.path("reg0"), 0o600}, Want: ok},

		// Terminal injection. On /dev/null an allowed ioctl is ENOTTY.
		{Name: "ioctl(TIOCSTI)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.DevNull), unix.TIOCSTI, e.ptr()}, Want: eperm},
		{Name: "ioctl(TIOCSTI|1<<32)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.DevNull), unix.TIOCSTI | hi, e.ptr()}, Want: eperm},
		{Name: "ioctl(TIOCLINUX)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.DevNull), unix.TIOCLINUX, e.ptr()}, Want: eperm},
		{Name: "ioctl(TCGETS)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.DevNull), unix.TCGETS, e.ptr()}, Want: ok},
		{Name: "ioctl(TIOCSCTTY)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.DevNull), unix.TIOCSCTTY}, Want: ok},
		{Name: "ioctl(FIONREAD)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.Pipe[0]), unix.TIOCINQ, e.ptr()}, Want: ok},
		// musl passes int requests sign-extended: _IOR ones have bit 31 set.
		{Name: "ioctl(TIOCGPTN sign-extended)", NR: unix.SYS_IOCTL, Args: [6]uint64{uint64(e.DevNull), 0xffffffff00000000 | unix.TIOCGPTN, e.ptr()}, Want: ok},

		// SysV IPC. The objects are private (key 0) and removed at once: a
		// jail with sysvipc=inherit makes them in the host's namespace.
		{Name: "msgget", NR: unix.SYS_MSGGET, Args: [6]uint64{0, 0o600}, Want: ifThen(p.SysVIPC, ok, enosys), Undo: rmid(unix.SYS_MSGCTL)},
		{Name: "semget", NR: unix.SYS_SEMGET, Args: [6]uint64{0, 1, 0o600}, Want: ifThen(p.SysVIPC, ok, enosys), Undo: rmid(unix.SYS_SEMCTL)},
		{Name: "shmget", NR: unix.SYS_SHMGET, Args: [6]uint64{0, 4096, 0o600}, Want: ifThen(p.SysVIPC, ok, enosys), Undo: rmid(unix.SYS_SHMCTL)},
		{Name: "shmdt", NR: unix.SYS_SHMDT, Want: ifThen(p.SysVIPC, ok, enosys)},
		{Name: "semtimedop", NR: unix.SYS_SEMTIMEDOP, Args: [6]uint64{neg1}, Want: ifThen(p.SysVIPC, ok, enosys)},

		// Unknown and foreign calls.
		{Name: "syscall 1000", NR: 1000, Want: enosys},
		{Name: "x32 getpid", NR: 0x40000000 | unix.SYS_GETPID, Want: enosys},

		// What the init does after installing the filter.
		{Name: "prctl", NR: unix.SYS_PRCTL, Args: [6]uint64{unix.PR_GET_DUMPABLE}, Want: ok},
		{Name: "capset", NR: unix.SYS_CAPSET, Want: ok},
		{Name: "setresuid", NR: unix.SYS_SETRESUID, Args: [6]uint64{neg1, neg1, neg1}, Want: ok},
		{Name: "setresgid", NR: unix.SYS_SETRESGID, Args: [6]uint64{neg1, neg1, neg1}, Want: ok},
		{Name: "setgroups", NR: unix.SYS_SETGROUPS, Args: [6]uint64{neg1}, Want: ok},
		{Name: "wait4", NR: unix.SYS_WAIT4, Args: [6]uint64{neg1, 0, unix.WNOHANG}, Want: ok},
		{Name: "kill", NR: unix.SYS_KILL, Args: [6]uint64{0x7fffffff, 0}, Want: ok},
		{Name: "rt_sigprocmask", NR: unix.SYS_RT_SIGPROCMASK, Args: [6]uint64{0, 0, 0, 8}, Want: ok},
		{Name: "read", NR: unix.SYS_READ, Args: [6]uint64{neg1}, Want: ok},
		{Name: "write", NR: unix.SYS_WRITE, Args: [6]uint64{neg1}, Want: ok},
		{Name: "sendmsg", NR: unix.SYS_SENDMSG, Args: [6]uint64{neg1}, Want: ok},
		{Name: "recvmsg", NR: unix.SYS_RECVMSG, Args: [6]uint64{neg1}, Want: ok},
		{Name: "close", NR: unix.SYS_CLOSE, Args: [6]uint64{neg1}, Want: ok},
		{Name: "dup3", NR: unix.SYS_DUP3, Args: [6]uint64{neg1, 100}, Want: ok},
		{Name: "execve", NR: unix.SYS_EXECVE, Want: ok},
		{Name: "chdir", NR: unix.SYS_CHDIR, Args: [6]uint64{e.path("")}, Want: ok},
		{Name: "chroot", NR: unix.SYS_CHROOT, Want: ok},
		{Name: "setsid", NR: unix.SYS_SETSID, Want: ok, BPFOnly: true},
		{Name: "fork", NR: unix.SYS_FORK, Want: ok, BPFOnly: true},
		{Name: "exit_group", NR: unix.SYS_EXIT_GROUP, Want: ok, BPFOnly: true},
		{Name: "ptrace", NR: unix.SYS_PTRACE, Args: [6]uint64{neg1}, Want: ok},
		{Name: "getppid", NR: unix.SYS_GETPPID, Want: ok},
		{Name: "mseal", NR: 462, Args: [6]uint64{1}, Want: ok},
	}
	ps = append(ps, socketProbes(p)...)
	return ps
}

func socketProbes(p Params) []Probe {
	const (
		eperm = unix.EPERM
		eaf   = unix.EAFNOSUPPORT
		ok    = 0
	)
	family := func(f unix.Errno) unix.Errno { return ifThen(p.SocketAF, ok, f) }
	raw := ifThen(p.RawSockets, ok, eperm)
	sock := func(name string, af, typ, proto uint64, want unix.Errno) Probe {
		return Probe{Name: "socket(" + name + ")", NR: unix.SYS_SOCKET, Args: [6]uint64{af, typ, proto}, Want: want, Undo: closeFD}
	}
	// With allow.socket_af the kernel itself may answer EAFNOSUPPORT for
	// an exotic family (not built, or no such family), which the
	// subprocess could not tell from the filter's answer.
	exotic := func(pr Probe) Probe {
		pr.BPFOnly = p.SocketAF
		return pr
	}
	// socket(AF_INET, SOCK_PACKET) is an AF_PACKET socket, which needs
	// CAP_NET_RAW: with allow.socket_af alone the kernel answers EPERM in a
	// jail (whose root lacks it), the filter's errno for raw sockets.
	packetInDisguise := func(pr Probe) Probe {
		pr.BPFOnly = p.SocketAF && !p.RawSockets
		return pr
	}
	return []Probe{
		sock("AF_UNIX", unix.AF_UNIX, unix.SOCK_STREAM, 0, ok),
		sock("AF_INET stream nonblock cloexec", unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0, ok),
		sock("AF_INET6 dgram", unix.AF_INET6, unix.SOCK_DGRAM, 0, ok),
		sock("AF_INET ping", unix.AF_INET, unix.SOCK_DGRAM, unix.IPPROTO_ICMP, ok),
		sock("AF_INET6 ping", unix.AF_INET6, unix.SOCK_DGRAM, unix.IPPROTO_ICMPV6, ok),
		sock("AF_INET raw", unix.AF_INET, unix.SOCK_RAW, unix.IPPROTO_ICMP, raw),
		sock("AF_INET6 raw cloexec", unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_ICMPV6, raw),
		sock("AF_INET raw|1<<32", unix.AF_INET, unix.SOCK_RAW|hi, unix.IPPROTO_ICMP, raw),
		packetInDisguise(sock("AF_INET SOCK_PACKET", unix.AF_INET, unix.SOCK_PACKET, 0x300, family(eaf))),
		sock("AF_INET|1<<32 stream", unix.AF_INET|hi, unix.SOCK_STREAM, 0, ok),
		exotic(sock("AF_PACKET", unix.AF_PACKET, unix.SOCK_RAW, 0x300, family(eaf))),
		exotic(sock("AF_PACKET|1<<32", unix.AF_PACKET|hi, unix.SOCK_RAW, 0x300, family(eaf))),
		sock("AF_NETLINK route", unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE, ok),
		exotic(sock("AF_NETLINK audit", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT, family(eaf))),
		exotic(sock("AF_NETLINK uevent", unix.AF_NETLINK, unix.SOCK_DGRAM, unix.NETLINK_KOBJECT_UEVENT, family(eaf))),
		exotic(sock("AF_NETLINK audit|1<<32", unix.AF_NETLINK, unix.SOCK_RAW, unix.NETLINK_AUDIT|hi, family(eaf))),
		exotic(sock("AF_VSOCK", unix.AF_VSOCK, unix.SOCK_STREAM, 0, family(eaf))),
		sock("AF_XDP", unix.AF_XDP, unix.SOCK_RAW, 0, eaf),
		exotic(sock("AF_ALG", unix.AF_ALG, unix.SOCK_SEQPACKET, 0, family(eaf))),
		exotic(sock("AF_KEY", unix.AF_KEY, unix.SOCK_RAW, 2, family(eaf))),
		exotic(sock("AF_UNSPEC", unix.AF_UNSPEC, unix.SOCK_STREAM, 0, family(eaf))),
		exotic(sock("family 0xffffffff", 0xffffffff, unix.SOCK_STREAM, 0, family(eaf))),
		// No sv pointer: an allowed socketpair is EFAULT (AF_UNIX) or
		// EOPNOTSUPP (AF_INET).
		{Name: "socketpair(AF_UNIX)", NR: unix.SYS_SOCKETPAIR, Args: [6]uint64{unix.AF_UNIX, unix.SOCK_STREAM, 0}, Want: ok},
		{Name: "socketpair(AF_INET)", NR: unix.SYS_SOCKETPAIR, Args: [6]uint64{unix.AF_INET, unix.SOCK_STREAM, 0}, Want: family(eaf)},
	}
}

func closeFD(fd uintptr) { unix.Close(int(fd)) }

// rmid returns an Undo that removes the IPC object a *get call returned,
// with the matching *ctl call: msgctl(id, IPC_RMID), shmctl(id, IPC_RMID),
// semctl(id, 0, IPC_RMID).
func rmid(ctl uintptr) func(uintptr) {
	return func(id uintptr) {
		if ctl == unix.SYS_SEMCTL {
			unix.RawSyscall(ctl, id, 0, unix.IPC_RMID)
			return
		}
		unix.RawSyscall(ctl, id, unix.IPC_RMID, 0)
	}
}
