// Package nsinit is the jail side of prison's start path and the format the
// launcher talks to it in.
//
// The jail side is C (init.c), run as a constructor of the prison binary
// before the Go runtime starts when the binary is executed as
//
//	prison __prison_init
//
// with the sync socket on fd 3. Importing this package links that
// constructor in; cmd/prison imports it for that reason. See init.c for the
// protocol and docs/startpath.md for why the init is not Go.
package nsinit

/*
#include "nsinit.h"
*/
import "C"

import (
	"encoding/binary"
	"fmt"

	"golang.org/x/sys/unix"

	"prison/rootfs"
)

// Sentinel is the argument that turns the prison binary into the jail's init.
const Sentinel = C.NSINIT_SENTINEL

// AwaitMap, after the jail's name, has the init wait for its ids to be
// mapped and execute itself again (a jail started without root).
const AwaitMap = C.NSINIT_AWAIT_MAP

// LockFD is the init's descriptor for the jail's state lock; the ones below
// it are stdio and the sync socket.
const LockFD = C.NSINIT_LOCK_FD

// Message types on the sync socket.
const (
	MsgReady      = C.NSINIT_MSG_READY
	MsgError      = C.NSINIT_MSG_ERROR
	MsgStarted    = C.NSINIT_MSG_STARTED
	MsgExecFailed = C.NSINIT_MSG_EXEC_FAILED
	MsgExit       = C.NSINIT_MSG_EXIT
	MsgGo         = C.NSINIT_MSG_GO
	MsgCgroup     = C.NSINIT_MSG_CGROUP
	MsgNetNS      = C.NSINIT_MSG_NETNS
	MsgJoin       = C.NSINIT_MSG_JOIN
	MsgMounts     = C.NSINIT_MSG_MOUNTS
	MsgPark       = C.NSINIT_MSG_PARK
)

// Broadcast, queued with a signal to a jail's PID 1 (SI_QUEUE), has it
// send the signal to every process of the jail.
const Broadcast = C.NSINIT_BROADCAST

// Steps that are not plan records, as reported in an error message.
const (
	OpCaps     = C.NSINIT_OP_CAPS
	OpFilter   = C.NSINIT_OP_FILTER
	OpExec     = C.NSINIT_OP_EXEC
	OpUser     = C.NSINIT_OP_USER
	OpCwd      = C.NSINIT_OP_CWD
	OpInit     = C.NSINIT_OP_INIT
	OpCgroupNS = C.NSINIT_OP_CGROUPNS
	OpCgroup   = C.NSINIT_OP_CGROUP
	OpNotify   = C.NSINIT_OP_NOTIFY
)

// ExitSetup is the init's exit status when it fails before the command runs.
const ExitSetup = C.NSINIT_EXIT_SETUP

// The resident launcher's socket and messages (client.c).
const (
	SocketEnv     = C.NSINIT_SOCKET_ENV
	SocketDefault = C.NSINIT_SOCKET_DEFAULT
	UserNSEnv     = C.NSINIT_USERNS_ENV
	RunVerb       = C.NSINIT_RUN_VERB
	Relay         = C.NSINIT_RELAY
	OCIName       = C.NSINIT_OCI_NAME
	ExecVerb      = C.NSINIT_EXEC_VERB

	ClientRun       = C.NSINIT_CLIENT_RUN
	DaemonFallback  = C.NSINIT_DAEMON_FALLBACK
	DaemonClone     = C.NSINIT_DAEMON_CLONE
	CloneJoin       = C.NSINIT_CLONE_JOIN
	CloneIntoCgroup = C.NSINIT_CLONE_INTO_CGROUP
	CloneUserNS     = C.NSINIT_CLONE_USERNS
	CloneNetNS      = C.NSINIT_CLONE_NETNS
	ClientNetNS     = C.NSINIT_CLIENT_NETNS
	ClientSpawned   = C.NSINIT_CLIENT_SPAWNED
	ClientReaped    = C.NSINIT_CLIENT_REAPED
	DaemonDone      = C.NSINIT_DAEMON_DONE
)

// Plan is everything the init does, in order: the filesystem ops, the
// hostname, then the process.
type Plan struct {
	// PassFDs is how many descriptors the command gets from 3 on, which
	// the launcher sends right behind the plan (MsgFDs).
	PassFDs int
	// Join, when not 0, enters the namespaces (CLONE_NEW* flags) of a
	// running jail first, through a pidfd of its init that the launcher
	// sends as MsgJoin: prison exec.
	Join uint32
	// Persist keeps the init after its command, or with none (Args
	// empty): a jail with a life of its own (prison create).
	Persist bool
	// UserNS: the init is in the jail's user namespace (made by its
	// clone, or entered by Join) and becomes its root before anything
	// else.
	UserNS bool
	// JoinCgroup: the init waits for MsgCgroup (CgroupMessage) and
	// moves itself into the cgroup files that come with it. CgroupNS: it
	// then makes the jail's cgroup namespace there.
	JoinCgroup, CgroupNS bool

	Ops      []rootfs.Op
	Hostname string // empty: leave the UTS namespace's name alone
	// Loopback sets lo up: for a jail whose network the launcher does not
	// touch.
	Loopback bool
	// Rows and Cols size the pty, when Ops open one.
	Rows, Cols uint16

	Args, Env  []string
	Cwd        string
	UID, GID   uint32
	Groups     []uint32
	Caps       uint64 // bit n: capability n is kept
	Ambient    uint64 // capabilities an ordinary user's command keeps (OCI's ambient set)
	NoNewPrivs bool
	// Filter is a compiled seccomp program; FilterFlags go to seccomp(2)
	// (SECCOMP_FILTER_FLAG_NEW_LISTENER when it has notify rules).
	Filter      []unix.SockFilter
	FilterFlags uint32
	// Inotify, when not nil, has the init answer the filter's
	// notifications itself, which must then be inotify_init and
	// inotify_init1 alone: with instances it makes as these host ids,
	// which the jail's instances are counted against
	// (seccomp.Params.HostIDs). The listener then stays in the init.
	Inotify *IDs
	// Rlimits are set by the init, for itself and so for the command.
	Rlimits []Rlimit
	// NullStdio: bit n makes the command's fd n the jail's /dev/null.
	NullStdio uint8
	// Umask is the command's umask; nil leaves the caller's.
	Umask *uint32
	// Lookup checks before READY that the command can be executed.
	Lookup bool
}

// IDs are a host uid and gid.
type IDs struct{ UID, GID uint32 }

// Rlimit is one resource limit (setrlimit(2)).
type Rlimit struct {
	Name       string // RLIMIT_NOFILE…, for messages
	Resource   int
	Soft, Hard uint64
}

// Step names the plan record at index i of an encoded plan, or a fixed step
// for the negative Op* values, for error messages.
func (p *Plan) Step(i int) string {
	switch i {
	case OpCaps:
		return "set capabilities"
	case OpFilter:
		return "install seccomp filter"
	case OpExec:
		return "start command"
	case OpUser:
		return fmt.Sprintf("set user %d:%d", p.UID, p.GID)
	case OpCwd:
		return "chdir " + p.Cwd
	case OpInit:
		return "execute the init"
	case OpCgroupNS:
		return "make the cgroup namespace"
	case OpCgroup:
		return "join the jail's cgroup"
	case OpNotify:
		if p.Inotify != nil {
			return fmt.Sprintf("serve inotify calls as %d:%d", p.Inotify.UID, p.Inotify.GID)
		}
		return "serve inotify calls"
	}
	if p.Join != 0 {
		if i == 0 {
			return "enter the jail's namespaces"
		}
		i--
	}
	if p.UserNS {
		if i == 0 {
			return "become root of the jail's user namespace"
		}
		i--
	}
	if i >= 0 && i < len(p.Ops) {
		return p.Ops[i].String()
	}
	// After the ops come the hostname and loopback records, when present.
	if k := i - len(p.Ops); k >= 0 {
		if p.Hostname != "" {
			if k == 0 {
				return "sethostname " + p.Hostname
			}
			k--
		}
		if p.Loopback {
			if k == 0 {
				return "set lo up"
			}
			k--
		}
		// Then the process records, in Encode's order.
		k -= len(p.Args) + len(p.Env) + 3 // USER, CAPS, FLAGS
		if p.Cwd != "" {
			k--
		}
		if k >= 0 && k < len(p.Rlimits) {
			r := p.Rlimits[k]
			return fmt.Sprintf("set %s to %d:%d", r.Name, r.Soft, r.Hard)
		}
	}
	return fmt.Sprintf("step %d", i)
}

// OpAt returns the plan's op at index i, if i names one.
func (p *Plan) OpAt(i int) (rootfs.Op, bool) {
	if p.Join != 0 {
		i--
	}
	if p.UserNS {
		i--
	}
	if i >= 0 && i < len(p.Ops) {
		return p.Ops[i], true
	}
	return nil, false
}

type encoder struct{ b []byte }

func (e *encoder) rec(t uint32, parts ...[]byte) {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	e.b = binary.NativeEndian.AppendUint32(e.b, t)
	e.b = binary.NativeEndian.AppendUint32(e.b, uint32(n))
	for _, p := range parts {
		e.b = append(e.b, p...)
	}
	for n%8 != 0 {
		e.b = append(e.b, 0)
		n++
	}
}

func u32(v uint32) []byte { return binary.NativeEndian.AppendUint32(nil, v) }
func u64(v uint64) []byte { return binary.NativeEndian.AppendUint64(nil, v) }
func cstr(s string) []byte {
	return append([]byte(s), 0)
}

// Encode serialises the plan in the format init.c reads. Record i of the
// result is Ops[i] (after the join record, when there is one), so the init's
// error index maps back to an op (OpAt).
func (p *Plan) Encode() ([]byte, error) {
	e := &encoder{b: make([]byte, 0, 4096)}
	if p.PassFDs > 0 {
		// First: MsgFDs is queued right behind the plan.
		e.rec(C.NSINIT_FDS, u32(uint32(p.PassFDs)))
	}
	if p.Join != 0 {
		e.rec(C.NSINIT_JOIN, u32(p.Join))
	}
	if p.UserNS {
		e.rec(C.NSINIT_USERNS)
	}
	trees := 0
	for _, op := range p.Ops {
		switch o := op.(type) {
		case rootfs.Mount:
			e.rec(C.NSINIT_MOUNT, u64(uint64(o.Flags)), cstr(o.Source), cstr(o.Target), cstr(o.FSType), cstr(o.Data))
		case rootfs.Root:
			e.rec(C.NSINIT_ROOT, cstr(o.Path))
		case rootfs.Mkdir:
			e.rec(C.NSINIT_MKDIR, u32(o.Mode), cstr(o.Path))
		case rootfs.Mknod:
			e.rec(C.NSINIT_MKNOD, u32(o.Mode), u64(o.Dev), cstr(o.Path))
		case rootfs.Symlink:
			e.rec(C.NSINIT_SYMLINK, cstr(o.Target), cstr(o.Path))
		case rootfs.WriteFile:
			how := uint32(C.NSINIT_WRITE_CREATE)
			if o.Truncate {
				how = C.NSINIT_WRITE_TRUNC
			}
			e.rec(C.NSINIT_WRITE, u32(how), u32(o.Mode), cstr(o.Path), o.Data)
		case rootfs.Touch:
			e.rec(C.NSINIT_WRITE, u32(C.NSINIT_WRITE_TOUCH), u32(0o644), cstr(o.Path))
		case rootfs.Pty:
			e.rec(C.NSINIT_PTY, u32(uint32(p.Rows)<<16|uint32(p.Cols)), cstr(o.Path))
		case rootfs.Pivot:
			e.rec(C.NSINIT_PIVOT)
		case rootfs.JoinNet:
			e.rec(C.NSINIT_JOINNET)
		case rootfs.SetNS:
			e.rec(C.NSINIT_SETNS, u32(o.Type), cstr(o.Path))
		case rootfs.Attach:
			if trees == C.NSINIT_MAX_MOUNT_FDS {
				return nil, fmt.Errorf("nsinit: more than %d trees to attach", C.NSINIT_MAX_MOUNT_FDS)
			}
			e.rec(C.NSINIT_ATTACH, u32(uint32(trees)), cstr(o.Target))
			trees++
		case rootfs.FSMount:
			parts := [][]byte{u64(o.Attrs), u32(uint32(len(o.Params))), u32(0), cstr(o.FSType), cstr(o.Target)}
			for _, kv := range o.Params {
				parts = append(parts, cstr(kv.Key), cstr(kv.Value))
			}
			e.rec(C.NSINIT_FSMOUNT, parts...)
		default:
			return nil, fmt.Errorf("bug: nsinit: no encoding for %T", op)
		}
	}
	if p.Hostname != "" {
		e.rec(C.NSINIT_HOSTNAME, cstr(p.Hostname))
	}
	if p.Loopback {
		e.rec(C.NSINIT_LOOPBACK)
	}
	if len(p.Args) == 0 && !p.Persist {
		return nil, fmt.Errorf("bug: nsinit: plan has no command")
	}
	for _, a := range p.Args {
		e.rec(C.NSINIT_ARG, cstr(a))
	}
	for _, v := range p.Env {
		e.rec(C.NSINIT_ENV, cstr(v))
	}
	if p.Cwd != "" {
		e.rec(C.NSINIT_CWD, cstr(p.Cwd))
	}
	if len(p.Groups) > C.NSINIT_MAX_GROUPS {
		return nil, fmt.Errorf("nsinit: %d supplementary groups, at most %d", len(p.Groups), C.NSINIT_MAX_GROUPS)
	}
	user := [][]byte{u32(p.UID), u32(p.GID), u32(uint32(len(p.Groups)))}
	for _, g := range p.Groups {
		user = append(user, u32(g))
	}
	e.rec(C.NSINIT_USER, user...)
	if p.Ambient != 0 {
		e.rec(C.NSINIT_CAPS, u64(p.Caps), u64(p.Ambient))
	} else {
		e.rec(C.NSINIT_CAPS, u64(p.Caps))
	}
	var flags uint32
	if p.NoNewPrivs {
		flags |= C.NSINIT_FLAG_NNP
	}
	if p.Persist {
		flags |= C.NSINIT_FLAG_PERSIST
	}
	if p.JoinCgroup {
		flags |= C.NSINIT_FLAG_CGROUP
	}
	if p.CgroupNS {
		flags |= C.NSINIT_FLAG_CGROUPNS
	}
	flags |= uint32(p.NullStdio&7) * C.NSINIT_FLAG_NULL0
	if p.Lookup {
		flags |= C.NSINIT_FLAG_LOOKUP
	}
	e.rec(C.NSINIT_FLAGS, u32(flags))
	for _, r := range p.Rlimits {
		e.rec(C.NSINIT_RLIMIT, u32(uint32(r.Resource)), u32(0), u64(r.Soft), u64(r.Hard))
	}
	if p.Umask != nil {
		e.rec(C.NSINIT_UMASK, u32(*p.Umask))
	}
	if len(p.Filter) > 0 {
		prog := make([]byte, 0, 8*len(p.Filter))
		for _, f := range p.Filter {
			prog = binary.NativeEndian.AppendUint16(prog, f.Code)
			prog = append(prog, f.Jt, f.Jf)
			prog = binary.NativeEndian.AppendUint32(prog, f.K)
		}
		e.rec(C.NSINIT_FILTER, u32(p.FilterFlags), u32(0), prog)
	}
	if p.Inotify != nil {
		e.rec(C.NSINIT_NOTIFY, u32(p.Inotify.UID), u32(p.Inotify.GID))
	}
	return e.b, nil
}

// Message is one message from the init.
type Message struct {
	Type int32
	A, B int32
	FD   int // -1 when none came with it
}

// ParseMessage decodes a message read from the sync socket with its
// out-of-band data.
func ParseMessage(b, oob []byte) (Message, error) {
	m := Message{FD: -1}
	if len(oob) > 0 {
		cmsgs, err := unix.ParseSocketControlMessage(oob)
		if err != nil {
			return m, fmt.Errorf("nsinit: control message: %w", err)
		}
		for _, c := range cmsgs {
			fds, err := unix.ParseUnixRights(&c)
			if err != nil {
				continue
			}
			for i, fd := range fds {
				if i == 0 && m.FD < 0 {
					m.FD = fd
				} else {
					unix.Close(fd)
				}
			}
		}
	}
	if len(b) != 12 {
		if m.FD >= 0 {
			unix.Close(m.FD)
		}
		return m, fmt.Errorf("nsinit: message of %d bytes, want 12", len(b))
	}
	m.Type = int32(binary.NativeEndian.Uint32(b))
	m.A = int32(binary.NativeEndian.Uint32(b[4:]))
	m.B = int32(binary.NativeEndian.Uint32(b[8:]))
	return m, nil
}

// GoMessage is what the launcher sends to let the init go on.
func GoMessage() []byte { return u32(MsgGo) }

// ParkMessage goes with the launcher's end of the sync socket, which the
// init keeps for prison start (a jail created to start later).
func ParkMessage() []byte { return append(append(u32(MsgPark), u32(0)...), u32(0)...) }

// CgroupMessage goes with the cgroup files the init moves itself into
// (SCM_RIGHTS), at most MaxCgroupFiles.
func CgroupMessage() []byte { return append(append(u32(MsgCgroup), u32(0)...), u32(0)...) }

// MaxCgroupFiles is how many files one CgroupMessage may carry.
const MaxCgroupFiles = C.NSINIT_MAX_CGROUP_FDS

// FDsMessage goes with the descriptors the command gets from 3 on
// (SCM_RIGHTS), at most MaxPassedFDs, right behind the plan.
func FDsMessage() []byte { return append(append(u32(C.NSINIT_MSG_FDS), u32(0)...), u32(0)...) }

// MaxPassedFDs is how many descriptors one FDsMessage may carry.
const MaxPassedFDs = C.NSINIT_MAX_PASSED_FDS

// JoinMessage goes with the pidfd of the jail to enter (SCM_RIGHTS).
func JoinMessage() []byte { return append(append(u32(MsgJoin), u32(0)...), u32(0)...) }

// MountsMessage goes with the detached mounts that the plan's Attach ops
// attach, in their order (SCM_RIGHTS), at most MaxMounts.
func MountsMessage(n int) []byte {
	return append(append(u32(MsgMounts), u32(uint32(n))...), u32(0)...)
}

// MaxMounts is how many detached mounts one MountsMessage may carry.
const MaxMounts = C.NSINIT_MAX_MOUNT_FDS

// NetNSMessage goes with the jail's network namespace fd (SCM_RIGHTS).
func NetNSMessage() []byte { return append(append(u32(MsgNetNS), u32(0)...), u32(0)...) }
