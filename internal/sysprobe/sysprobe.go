//go:build linux && amd64

// Package sysprobe is the jail's syscall policy as a table of attempts: for
// each line of the policy, a call with its arguments and the errno root
// inside a jail must get. The seccomp package's tests make the calls under
// the filter in a subprocess; the integration tests make them from inside a
// real jail (test/jailprobe). One table serves both, so the policy is
// checked the same way at both ends.
//
// It is pure Go without cgo, so that a static helper can carry it:
//
//	env, err := sysprobe.NewEnv()
//	defer env.Close()
//	got := sysprobe.Make(env, sysprobe.Probes(p, env))
//	fmt.Print(sysprobe.Format(got))
//
// and the side that knows the parameters compares:
//
//	errs := sysprobe.Check(sysprobe.Probes(p, &sysprobe.Env{}), parsed)
package sysprobe

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Params are the jail parameters that change a probe's answer. They are
// seccomp.Params field for field, so either converts to the other
// (sysprobe.Params(p)); seccomp's own tests import this package, which is
// why it cannot import seccomp.
type Params struct {
	SetHostname bool // allow.set_hostname
	RawSockets  bool // allow.raw_sockets
	SocketAF    bool // allow.socket_af
	Chflags     bool // allow.chflags
	SysVIPC     bool // false: sysvipc=disable
	// HostIDs (--userns host) has the jail's init answer the inotify
	// calls (seccomp.Params.HostIDs); no probe here depends on it.
	HostIDs bool
}

// AllParams is every combination of the five knobs, for tests that check
// the policy under each.
func AllParams() []Params {
	var ps []Params
	for i := range 32 {
		ps = append(ps, Params{
			SetHostname: i&1 != 0, RawSockets: i&2 != 0, SocketAF: i&4 != 0,
			Chflags: i&8 != 0, SysVIPC: i&16 != 0,
		})
	}
	return ps
}

// Probe is one call the policy decides, with the answer it must give. Want
// 0 means the filter lets the call through to the kernel, which may then
// fail it for its own reasons (bad arguments, chosen on purpose).
type Probe struct {
	Name string
	NR   uintptr
	Args [6]uint64
	Want unix.Errno
	// Notify: the filter hands the call to the launcher (allow.set_hostname).
	Notify bool
	// BPFOnly probes are checked in the compiled filter but never made:
	// the kernel's own answer would be ambiguous (setsid), the call would
	// disturb the prober (fork, exit_group), or the kernel itself answers
	// with the filter's errno (exotic families with allow.socket_af).
	BPFOnly bool
	// Undo, if set, releases what a successful call made (an fd, an IPC
	// object): in a jail sharing the host's IPC namespace it would outlive
	// the jail.
	Undo func(ret uintptr)
}

// FilterErrnos are the errnos the policy answers with. A call the filter
// should let through must not fail with one of them.
var FilterErrnos = []unix.Errno{unix.EPERM, unix.ENOSYS, unix.EAFNOSUPPORT}

// Env holds the memory and descriptors the probes point into. Its zero
// value is enough to list probes without making them (Check, BPF tests).
type Env struct {
	Dir     string // a scratch directory for mknod
	DevNull int    // an fd of /dev/null: allowed ioctls fail with ENOTTY
	Pipe    [2]int // a pipe for FIONREAD
	paths   [][]byte
	buf     [64]byte
	temp    bool // Dir was made by NewEnv
}

// NewEnv makes a scratch directory under os.TempDir(), opens /dev/null and
// a pipe. Close releases them.
func NewEnv() (*Env, error) {
	dir, err := os.MkdirTemp("", "sysprobe-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, DevNull: -1, Pipe: [2]int{-1, -1}, temp: true}
	if e.DevNull, err = unix.Open("/dev/null", unix.O_RDWR|unix.O_CLOEXEC, 0); err != nil {
		e.Close()
		return nil, &os.PathError{Op: "open", Path: "/dev/null", Err: err}
	}
	if err := unix.Pipe2(e.Pipe[:], unix.O_CLOEXEC); err != nil {
		e.Close()
		return nil, os.NewSyscallError("pipe2", err)
	}
	return e, nil
}

// Close closes the descriptors and removes the scratch directory.
func (e *Env) Close() error {
	for _, fd := range []int{e.DevNull, e.Pipe[0], e.Pipe[1]} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
	if e.temp {
		return os.RemoveAll(e.Dir)
	}
	return nil
}

// path returns a pointer to the NUL-terminated path Dir/name, kept alive
// by e.
func (e *Env) path(name string) uint64 {
	b := append([]byte(e.Dir+"/"+name), 0)
	e.paths = append(e.paths, b)
	return uint64(uintptr(unsafe.Pointer(&b[0])))
}

// ptr points to 64 bytes of scratch memory.
func (e *Env) ptr() uint64 { return uint64(uintptr(unsafe.Pointer(&e.buf[0]))) }

// Result is the errno one probe got; 0 is success.
type Result struct {
	Name  string
	Errno unix.Errno
}

// Make makes every probe but the BPFOnly ones by raw syscall, in order, and
// undoes what succeeded.
//
// Preconditions: a filter installed without TSYNC applies to one thread
// only; the caller then locks its goroutine to that thread before
// installing it and calls Make from the same goroutine.
func Make(e *Env, ps []Probe) []Result {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread() // counted: the caller's own lock stays
	var out []Result
	for _, p := range ps {
		if p.BPFOnly {
			continue
		}
		a := p.Args
		r, _, errno := unix.RawSyscall6(p.NR, uintptr(a[0]), uintptr(a[1]), uintptr(a[2]), uintptr(a[3]), uintptr(a[4]), uintptr(a[5]))
		if errno == 0 && p.Undo != nil {
			p.Undo(r)
		}
		out = append(out, Result{p.Name, errno})
	}
	runtime.KeepAlive(e)
	return out
}

// Format renders results one per line as name=ERRNO ("ok" for success), the
// form jailprobe prints and Parse reads.
func Format(rs []Result) string {
	var b strings.Builder
	for _, r := range rs {
		fmt.Fprintf(&b, "%s=%s\n", r.Name, ErrnoName(r.Errno))
	}
	return b.String()
}

// ErrnoName is e's symbolic name (EPERM), "ok" for 0, or "errno N".
func ErrnoName(e unix.Errno) string {
	if e == 0 {
		return "ok"
	}
	if n := unix.ErrnoName(e); n != "" {
		return n
	}
	return fmt.Sprintf("errno %d", int(e))
}

// ParseErrno reverses ErrnoName.
func ParseErrno(s string) (unix.Errno, error) {
	if s == "ok" {
		return 0, nil
	}
	var n int
	if _, err := fmt.Sscanf(s, "errno %d", &n); err == nil {
		return unix.Errno(n), nil
	}
	for e := unix.Errno(1); e < 4096; e++ {
		if unix.ErrnoName(e) == s {
			return e, nil
		}
	}
	return 0, fmt.Errorf("sysprobe: unknown errno %q", s)
}

// Parse reads Format's lines into errnos by probe name. Names may hold
// spaces and parentheses but no '='.
func Parse(s string) (map[string]unix.Errno, error) {
	got := map[string]unix.Errno{}
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		name, errno, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("sysprobe: line %q: want name=ERRNO", l)
		}
		e, err := ParseErrno(errno)
		if err != nil {
			return nil, err
		}
		if _, dup := got[name]; dup {
			return nil, fmt.Errorf("sysprobe: %s reported twice", name)
		}
		got[name] = e
	}
	return got, nil
}

// Check compares what was observed with the table: every probe that is not
// BPFOnly was made; a refused one failed with exactly its errno; an allowed
// one did not fail with an errno of the filter's. It returns one line per
// disagreement, nil when none.
func Check(ps []Probe, got map[string]unix.Errno) []string {
	var bad []string
	known := map[string]bool{}
	for _, p := range ps {
		known[p.Name] = true
		if p.BPFOnly {
			continue
		}
		e, ok := got[p.Name]
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s: not made", p.Name))
		case p.Want != 0 && e != p.Want:
			bad = append(bad, fmt.Sprintf("%s: %s, want %s", p.Name, ErrnoName(e), ErrnoName(p.Want)))
		case p.Want == 0 && slices.Contains(FilterErrnos, e):
			bad = append(bad, fmt.Sprintf("%s: %s, want the call let through to the kernel", p.Name, ErrnoName(e)))
		}
	}
	for name := range got {
		if !known[name] {
			bad = append(bad, fmt.Sprintf("%s: made, but not in the table", name))
		}
	}
	slices.Sort(bad)
	return bad
}
