package prison

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"
	"unsafe"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// NoJailError is returned for a name that no running jail has.
type NoJailError struct{ Name string }

func (e *NoJailError) Error() string { return fmt.Sprintf("%q: no such jail", e.Name) }

// Running is a live jail found in the state store: its record, and a pidfd
// that pins its PID 1 so that no signal ever reaches a process that reused
// its pid. Close it when done.
type Running struct {
	State
	pidfd int
}

// Find returns the running jail named name. Any prison process can find
// any jail; the state store is root's.
func Find(name string) (*Running, error) {
	if err := checkName(&Config{Name: name}); err != nil || name == "" {
		return nil, &ParamError{Err: fmt.Errorf("jail name %q: not a valid name", name)}
	}
	s, err := readState(name)
	if err != nil || !alive(name) {
		return nil, &NoJailError{Name: name}
	}
	if s.InitPID == 0 {
		// Started a moment ago: the launcher writes the init's pid while
		// the init assembles the root.
		deadline := time.Now().Add(2 * time.Second)
		for s.InitPID == 0 && time.Now().Before(deadline) && alive(name) {
			time.Sleep(5 * time.Millisecond)
			if s, err = readState(name); err != nil {
				return nil, &NoJailError{Name: name}
			}
		}
		if s.InitPID == 0 {
			return nil, &NoJailError{Name: name}
		}
	}
	r, err := pin(s)
	if err != nil {
		return nil, &NoJailError{Name: name}
	}
	return r, nil
}

// pin opens a pidfd of the jail's init, and checks that the pid is still
// the init's: after pidfd_open, the pidfd names that process even if it
// dies, so a match of the start time once is a match for good.
func pin(s *State) (*Running, error) {
	fd, err := unix.PidfdOpen(s.InitPID, 0)
	if err != nil {
		return nil, err
	}
	// A jail whose PID 1 is exiting is over, though the init still holds
	// the state lock for a moment: killed from the host, it must not be
	// found or listed then.
	if st, exiting, err := procStat(s.InitPID); err != nil || st != s.InitStart || exiting {
		unix.Close(fd)
		return nil, unix.ESRCH
	}
	return &Running{State: *s, pidfd: fd}, nil
}

// Close releases the pidfd.
func (r *Running) Close() error {
	if r.pidfd < 0 {
		return nil
	}
	err := unix.Close(r.pidfd)
	r.pidfd = -1
	return err
}

// Alive tells whether the jail's PID 1 still runs.
func (r *Running) Alive() bool {
	return unix.PidfdSendSignal(r.pidfd, 0, nil, 0) == nil
}

// List returns every jail in the store that is running, in JID order, and
// removes what dead ones left (Sweep).
func List() ([]*Running, error) {
	if err := Sweep(); err != nil {
		return nil, err
	}
	all, err := list()
	if err != nil {
		return nil, err
	}
	var out []*Running
	for _, s := range all {
		if s.InitPID == 0 || !alive(s.Name) {
			continue // starting, or gone since the sweep
		}
		if r, err := pin(s); err == nil {
			out = append(out, r)
		}
	}
	slices.SortFunc(out, func(a, b *Running) int { return a.JID - b.JID })
	return out, nil
}

// Kill sends sig to every process of the jail (kill(-1) by its PID 1),
// not to its PID 1 alone: FreeBSD's jail -r and killall -j.
func (r *Running) Kill(sig syscall.Signal) error {
	if sig == unix.SIGKILL || sig == unix.SIGSTOP || r.SharedPID {
		// Not catchable by the init: it would die, or stop, itself.
		// In a PID namespace not its own, kill(-1) would reach others.
		return r.eachProcess(sig)
	}
	// SI_QUEUE with the broadcast value (nsinit.h); the layout is the
	// kernel's siginfo for a queued signal: signo, errno, code, then pid,
	// uid and the value at 16, 20 and 24.
	var info unix.Siginfo
	b := (*[unsafe.Sizeof(info)]byte)(unsafe.Pointer(&info))[:]
	put32 := func(off int, v int32) { binary.NativeEndian.PutUint32(b[off:], uint32(v)) }
	put32(0, int32(sig))
	put32(8, -1) // SI_QUEUE
	put32(16, int32(os.Getpid()))
	put32(20, int32(os.Getuid()))
	put32(24, nsinit.Broadcast)
	err := unix.PidfdSendSignal(r.pidfd, sig, &info, 0)
	if errors.Is(err, unix.ESRCH) {
		return &NoJailError{Name: r.Name}
	}
	return err
}

// eachProcess signals the jail's processes one by one from the host, its
// PID 1 spared: for SIGKILL and SIGSTOP, which PID 1 cannot pass on. A
// process forked meanwhile may be missed; Stop kills PID 1 in the end,
// which takes all of them.
func (r *Running) eachProcess(sig syscall.Signal) error {
	procs, err := r.Processes()
	if err != nil {
		return err
	}
	for _, p := range procs {
		if p.PID == r.InitPID {
			continue
		}
		fd, err := unix.PidfdOpen(p.PID, 0)
		if err != nil {
			continue
		}
		// Still in the jail: the pid was not reused since the walk.
		if ns, err := pidNS(p.PID); err == nil && ns == p.ns {
			_ = unix.PidfdSendSignal(fd, sig, nil, 0)
		}
		unix.Close(fd)
	}
	return nil
}

// Process is one process of a jail.
type Process struct {
	PID     int    // on the host
	JailPID int    // in the jail
	UID     int    // real uid
	Command string // its command line, or its name for a kernel-made one
	ns      uint64
}

// Processes lists the jail's processes, its PID 1 first: those of its
// PID namespace, or of its cgroup when the namespace is not its own.
func (r *Running) Processes() ([]Process, error) {
	ns, err := pidNS(r.InitPID)
	if err != nil {
		return nil, &NoJailError{Name: r.Name}
	}
	var pids []int
	if r.SharedPID && r.Cgroup != nil {
		pids = r.Cgroup.Procs()
	} else if pids, err = allPIDs(); err != nil {
		return nil, err
	}
	var out []Process
	for _, pid := range pids {
		if n, err := pidNS(pid); err != nil || n != ns {
			continue
		}
		p, err := readProcess(pid)
		if err != nil {
			continue // exited meanwhile
		}
		p.ns = ns
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b Process) int { return a.JailPID - b.JailPID })
	// The init first: in a namespace not its own it is not PID 1.
	if i := slices.IndexFunc(out, func(p Process) bool { return p.PID == r.InitPID }); i > 0 {
		init := out[i]
		copy(out[1:i+1], out[:i])
		out[0] = init
	}
	return out, nil
}

// ProcessCounts returns how many processes each jail has besides its PID
// 1, in one walk of /proc for all of them.
func ProcessCounts(jails []*Running) map[string]int {
	byNS := map[uint64]string{}
	out := map[string]int{}
	for _, j := range jails {
		if j.SharedPID && j.Cgroup != nil {
			out[j.Name] = max(len(j.Cgroup.Procs())-1, 0)
			continue
		}
		if ns, err := pidNS(j.InitPID); err == nil {
			byNS[ns] = j.Name
			out[j.Name] = -1 // its PID 1, counted below
		}
	}
	pids, _ := allPIDs()
	for _, pid := range pids {
		if ns, err := pidNS(pid); err == nil {
			if name, ok := byNS[ns]; ok {
				out[name]++
			}
		}
	}
	for name, n := range out {
		out[name] = max(n, 0)
	}
	return out
}

// HostDerived tells whether the jail's root is one made from the host,
// which has no path of the host's to show.
func (s *State) HostDerived() bool { return s.Root == filepath.Join(s.Dir(), "root") }

// pidNS identifies the PID namespace of process pid.
func pidNS(pid int) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/pid", &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func allPIDs() ([]int, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

// readProcess reads what ps shows of pid. The command line is the
// tenant's to write: it is made printable here.
func readProcess(pid int) (Process, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Process{}, err
	}
	p := Process{PID: pid}
	name := ""
	for _, line := range strings.Split(string(status), "\n") {
		k, v, _ := strings.Cut(line, ":")
		f := strings.Fields(v)
		switch {
		case k == "Name" && len(f) > 0:
			name = "[" + strings.TrimSpace(v) + "]"
		case k == "Uid" && len(f) > 0:
			p.UID, _ = strconv.Atoi(f[0])
		case k == "NSpid" && len(f) > 0:
			p.JailPID, _ = strconv.Atoi(f[len(f)-1])
		}
	}
	cmd, _ := os.ReadFile(dir + "/cmdline")
	p.Command = printable(strings.TrimRight(strings.ReplaceAll(string(cmd), "\x00", " "), " "))
	if p.Command == "" {
		p.Command = printable(name)
	}
	return p, nil
}

// printable replaces control and format characters, so that a tenant's
// process name can neither drive the admin's terminal nor reorder what it
// shows (bidirectional overrides).
func printable(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == utf8.RuneError {
			return '?'
		}
		return r
	}, s)
}

// Which returns the name of the jail process pid belongs to, or "" for
// one of the host's. A process in another PID namespace that is not a
// jail of prison's is an error.
func Which(pid int) (string, error) {
	ns, err := pidNS(pid)
	if err != nil {
		return "", &ParamError{Err: fmt.Errorf("pid %d: no such process", pid)}
	}
	if host, err := pidNS(os.Getpid()); err == nil && host == ns {
		return "", nil
	}
	jails, err := List()
	if err != nil {
		return "", err
	}
	name := ""
	for _, j := range jails {
		if n, err := pidNS(j.InitPID); err == nil && n == ns {
			name = j.Name
		}
		j.Close()
	}
	if name == "" {
		return "", fmt.Errorf("pid %d: in a PID namespace that is no prison jail's", pid)
	}
	return name, nil
}

// Stop ends the jail as FreeBSD's jail -r does: SIGTERM to every process,
// up to timeout for them to exit, SIGKILL to the jail (its PID 1, which
// takes every process with it), and then the removal of everything the
// jail had on the host. It returns once the jail and its state are gone.
func (r *Running) Stop(timeout time.Duration) error {
	if err := r.Kill(unix.SIGTERM); err != nil {
		var nj *NoJailError
		if !errors.As(err, &nj) {
			return err
		}
	}
	deadline := time.Now().Add(timeout)
	for r.Alive() && time.Now().Before(deadline) {
		procs, err := r.Processes()
		if err != nil || len(procs) <= 1 {
			break // only PID 1 is left, or not even that
		}
		time.Sleep(20 * time.Millisecond)
	}
	return r.remove()
}

// remove kills the jail's PID 1 and removes the jail's host side once the
// kernel has taken the rest.
func (r *Running) remove() error {
	_ = unix.PidfdSendSignal(r.pidfd, unix.SIGKILL, nil, 0)
	// The pidfd polls readable once the process has exited.
	fds := []unix.PollFd{{Fd: int32(r.pidfd), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, 10_000)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	// The state lock is also held by a jail's launcher (prison run), which
	// removes the jail itself when it sees its init gone; a persistent
	// jail's lock went with its PID 1.
	dir := r.Dir()
	for deadline := time.Now().Add(5 * time.Second); held(dir) && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	if r.HostLink != "" {
		// The jail's network namespace dies after its last process: the
		// host link with it, and only then can its rules go.
		waitLinkGone(r.HostLink, 3*time.Second)
	}
	if err := Sweep(); err != nil {
		return err
	}
	if _, err := os.Lstat(dir); err == nil && held(dir) {
		return fmt.Errorf("%s: still held after its init was killed", r.Name)
	}
	return nil
}

// SetHostname changes the hostname of the running jail (jail -m
// host.hostname=NAME) and its record.
func (r *Running) SetHostname(name string) error {
	c := &Config{Hostname: name}
	if err := checkHostname(c); err != nil {
		return &ParamError{Err: errors.New(strings.Replace(err.Error(), "--host", "host.hostname", 1))}
	}
	// Under the store's lock from the change to its record: of two sets at
	// once, the one that names the hostname last also records it last.
	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	done := make(chan error, 1)
	go func() {
		// This thread enters the jail's UTS namespace and is never
		// unlocked: it ends with the goroutine, and no other goroutine
		// runs on it in the jail's namespace.
		runtime.LockOSThread()
		err := unix.Setns(r.pidfd, unix.CLONE_NEWUTS)
		if err == nil {
			err = unix.Sethostname([]byte(name))
		}
		done <- err
	}()
	if err := <-done; err != nil {
		return fmt.Errorf("host.hostname: %w", err)
	}
	s, err := readState(r.Name)
	if err != nil {
		return err
	}
	if s.InitPID != r.InitPID || s.InitStart != r.InitStart {
		return &NoJailError{Name: r.Name} // replaced meanwhile
	}
	s.Hostname = name
	r.Hostname = name
	return s.record(nil, nil)
}
