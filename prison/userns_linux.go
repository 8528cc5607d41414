package prison

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strconv"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
	"prison/rootfs"
	"prison/seccomp"
)

// A jail's user namespace (issue 12): root inside is an unprivileged range
// of host ids outside. Every namespace of the jail is made by the init's
// clone, so the user namespace owns them all, and root inside holds its
// capabilities over the jail's own network, hostname, IPC and mounts and
// over nothing of the host's. The range comes from the state store at
// the claim (ids_linux.go) and is the jail's while it lives.

// AnnotationUserNS says which user namespace a jail has: "auto" (a range
// the store allocates), "host" (none: FreeBSD's model, root inside is
// host root with fewer powers), or the RANGE that linux.uidMappings and
// gidMappings then spell out.
const AnnotationUserNS = "prison.userns"

// UserNSEnv is the environment variable whose value is --userns's
// default. A daemon's client passes its own on (client.c).
const UserNSEnv = nsinit.UserNSEnv

func checkUserNS(c *Config) error {
	switch c.UserNS {
	case "host":
		return nil
	case "", "auto":
	default:
		if _, err := ParseIDRange(c.UserNS); err != nil {
			return err
		}
	}
	if p, err := seccomp.ParseAllow(c.Allow); err == nil && p.Chflags {
		// The kernel asks for CAP_LINUX_IMMUTABLE in the host's user
		// namespace (fileattr_set_prepare), which no jail of its own
		// ever holds.
		return errors.New("--allow chflags: needs --userns host: the kernel lets only the host's root set immutable and append-only flags")
	}
	return nil
}

// specUserNS adds the user namespace and its mapping to the spec.
func (c *Config) specUserNS(s *specs.Spec) error {
	mode := c.UserNS
	if mode == "" {
		mode = "auto"
	}
	s.Annotations[AnnotationUserNS] = mode
	if mode == "host" {
		return nil
	}
	s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
	size := uint32(DefaultIDRangeSize)
	if mode != "auto" {
		r, err := ParseIDRange(mode)
		if err != nil {
			return err
		}
		setMappings(s, r.Map())
		size = r.Size
	}
	if s.Linux.Sysctl != nil && s.Linux.Sysctl["net.ipv4.ping_group_range"] != "" {
		// Written inside, the range is the jail's gids: a gid it does
		// not map makes the write fail.
		s.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 " + strconv.FormatUint(uint64(size-1), 10)
	}
	return nil
}

// StageDir is where jails with a user namespace attach the trees they get
// from the host (rootfs/userns.go): beside the store, and unlike it
// traversable by every user, since the init is no host user.
func StageDir() string { return StateDir + "-mnt" }

// makeStage makes the stage's directories that a plan uses: empty, owned
// by root and not writable by anyone else.
func makeStage(dirs []string) error {
	for _, d := range append([]string{StageDir()}, dirs...) {
		if err := unix.Mkdir(d, 0o755); err != nil && err != unix.EEXIST {
			return fmt.Errorf("stage: %w", &os.PathError{Op: "mkdir", Path: d, Err: err})
		}
	}
	return nil
}

// asOwner runs spawn with this thread's real and effective ids set to
// the host ids of the jail's root (IDMap.Root): a user namespace is owned by its creator's effective
// uid, and the kernel charges what is counted per user in it (inotify
// instances, message queue bytes, processes) to that owner in the host's
// namespace too. Owned by root, a jail would share root's counts and
// could exhaust them (issue 9). Real ids too: an execve whose real and
// effective ids differ, and any later change of the effective ids (the
// init's become_root), would clear the init's parent-death signal. The
// saved ids stay 0, the way back. Credentials are per thread; the thread
// is locked, and the Go runtime starts no thread from a locked one
// (newm's template thread), so no other goroutine runs with them.
// client.c's as_owner does the same for a daemon's client.
func asOwner(m *IDMap, spawn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	uid, gid := m.Root()
	if err := setThreadIDs(uid, gid); err != nil {
		if rerr := setThreadIDs(0, 0); rerr != nil {
			panic(fmt.Sprintf("prison: cannot restore the launcher's ids: %v", rerr))
		}
		return fmt.Errorf("start init: become the user namespace's owner %d: %w", uid, err)
	}
	err := spawn()
	if rerr := setThreadIDs(0, 0); rerr != nil {
		// Never let this thread run on as another user. It cannot
		// happen: 0 is this thread's saved uid and gid.
		panic(fmt.Sprintf("prison: cannot restore the launcher's ids: %v", rerr))
	}
	return err
}

// setThreadIDs sets the calling thread's real and effective uid and gid,
// keeping its capabilities effective: the change away from 0 clears
// them, the permitted set keeps them while the saved uid is 0.
func setThreadIDs(uid, gid uint32) error {
	const keep = ^uintptr(0)
	calls := [][4]uintptr{
		{unix.SYS_SETRESGID, uintptr(gid), uintptr(gid), keep},
		{unix.SYS_SETRESUID, uintptr(uid), uintptr(uid), keep},
	}
	if uid == 0 {
		calls[0], calls[1] = calls[1], calls[0]
	}
	for _, c := range calls {
		if _, _, e := unix.RawSyscall(c[0], c[1], c[2], c[3]); e != 0 {
			return e
		}
	}
	h := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var d [2]unix.CapUserData
	if err := unix.Capget(&h, &d[0]); err != nil {
		return err
	}
	d[0].Effective, d[1].Effective = d[0].Permitted, d[1].Permitted
	return unix.Capset(&h, &d[0])
}

// sendTrees makes the detached mounts the plan's Attach ops attach, for
// the user namespace of the init, and sends them to it.
func (j *Jail) sendTrees(plan *nsinit.Plan) error {
	var attach []rootfs.Attach
	for _, op := range plan.Ops {
		if a, ok := op.(rootfs.Attach); ok {
			attach = append(attach, a)
		}
	}
	if len(attach) == 0 {
		return nil
	}
	userns, err := j.initNS("user")
	if err != nil {
		return err
	}
	defer unix.Close(userns)
	fds := make([]int, 0, len(attach))
	defer func() { closeFDs(fds) }()
	for _, a := range attach {
		fd, err := rootfs.MakeTree(a, userns)
		if err != nil {
			return err
		}
		fds = append(fds, fd)
	}
	if err := unix.Sendmsg(j.syncFD(), nsinit.MountsMessage(len(fds)), unix.UnixRights(fds...), nil, 0); err != nil {
		return fmt.Errorf("sync: send trees: %w", err)
	}
	return nil
}

// initNS opens a namespace of the jail's init, made by its clone. The
// pid is the init's until the spawner reaps it, which it does not before
// Start returns.
func (j *Jail) initNS(kind string) (int, error) {
	p := "/proc/" + strconv.Itoa(j.initPID) + "/ns/" + kind
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("the init's %s namespace: %w", kind, &os.PathError{Op: "open", Path: p, Err: err})
	}
	// Alive after the open (its pidfd says), the pid was the init's
	// when it was opened.
	if err := j.spawner.signal(0); err != nil {
		unix.Close(fd)
		return -1, errInitGone
	}
	return fd, nil
}

func closeFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}
