package prison

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
)

// A Client is a `prison run` process served by a resident launcher
// (`prison daemon`). The client, a few hundred lines of C that run before
// the Go runtime would start (internal/nsinit/client.c), forks the jail's
// init; the launcher does the rest, warm. Set it as Jail.Client.
type Client struct {
	Args  []string  // its command line after the program name
	Cwd   string    // its working directory, for relative paths
	Term  string    // its TERM
	Begun time.Time // when it started, on this process's clock
	PID   int

	conn     *net.UnixConn
	pidfd    int  // the init's, once spawned
	spawning bool // a spawn was asked for and not yet answered
	// reaped holds a REAPED that came where netns waited for NETNS: the
	// init died first.
	reaped *syscall.WaitStatus
}

// RefusedError says why a client is not served: it then launches the jail
// itself, as though no daemon listened, with its own privileges.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "client refused: " + e.Reason }

// maxRequest bounds a request; a larger one fails to send and the client
// falls back.
const maxRequest = 256 << 10

var requestBufs = sync.Pool{New: func() any { b := make([]byte, maxRequest); return &b }}

// RequestTimeout bounds the wait for a client's request. A client sends
// it right after connecting, so a connection that stays silent this long is
// not a client, and must not keep what it holds of the daemon's.
const RequestTimeout = 2 * time.Second

// AcceptClient reads a client's request from conn, waiting at most
// RequestTimeout, and checks that the client may have it served. A
// *RefusedError means conn still wants an answer: send it Fallback.
func AcceptClient(conn *net.UnixConn) (*Client, error) {
	bp := requestBufs.Get().(*[]byte)
	defer requestBufs.Put(bp)
	buf := *bp
	if err := conn.SetReadDeadline(time.Now().Add(RequestTimeout)); err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	n, _, flags, _, err := conn.ReadMsgUnix(buf, nil)
	if err == nil && n == 0 {
		err = io.EOF // a probe such as Listen's
	}
	if err == nil {
		// The rest of the conversation lasts as long as the jail.
		err = conn.SetReadDeadline(time.Time{})
	}
	if err != nil {
		return nil, fmt.Errorf("client: %w", err)
	}
	c := &Client{conn: conn, pidfd: -1}
	if flags&unix.MSG_TRUNC != 0 {
		return c, &RefusedError{"request too large"}
	}
	if err := c.parse(buf[:n]); err != nil {
		return c, &RefusedError{err.Error()}
	}
	if err := c.checkPeer(); err != nil {
		return c, &RefusedError{err.Error()}
	}
	return c, nil
}

func (c *Client) parse(b []byte) error {
	if len(b) < 16 || binary.NativeEndian.Uint32(b) != nsinit.ClientRun {
		return errors.New("not a run request")
	}
	nargs := int(binary.NativeEndian.Uint32(b[4:]))
	start := int64(binary.NativeEndian.Uint64(b[8:]))
	strs := strings.Split(strings.TrimSuffix(string(b[16:]), "\x00"), "\x00")
	if len(strs) != nargs+2 {
		return errors.New("malformed request")
	}
	c.Args, c.Cwd, c.Term = strs[:nargs], strs[nargs], strs[nargs+1]
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err == nil {
		c.Begun = time.Now().Add(-time.Duration(now.Nano() - start))
	}
	return nil
}

// checkPeer makes sure the client could have done everything the daemon
// does for it: root in the daemon's user, mount, network and PID
// namespaces, with every capability the daemon has, confined no more than
// the daemon (seccomp, no_new_privs, LSM label), running the daemon's own
// binary. Anything less falls back to the client's own privileges.
func (c *Client) checkPeer() error {
	raw, err := c.conn.SyscallConn()
	if err != nil {
		return err
	}
	var cred *unix.Ucred
	pidfd := -1
	cerr := raw.Control(func(fd uintptr) {
		if cred, err = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED); err == nil {
			pidfd, err = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_PEERPIDFD)
		}
	})
	if err = errors.Join(cerr, err); err != nil {
		return fmt.Errorf("peer credentials: %w", err)
	}
	defer unix.Close(pidfd)
	if cred.Uid != 0 {
		return fmt.Errorf("uid %d is not root", cred.Uid)
	}
	c.PID = int(cred.Pid)
	proc := "/proc/" + strconv.Itoa(c.PID)
	self, err := daemonIdentity()
	if err != nil {
		return err
	}
	peer, err := confinementOf(proc)
	if err != nil {
		return err
	}
	if err := self.conf.admits(peer); err != nil {
		return fmt.Errorf("pid %d %w", c.PID, err)
	}
	for i, name := range identityFiles {
		id, err := fileID(proc + "/" + name)
		if err != nil {
			return err
		}
		if id != self.files[i] {
			return fmt.Errorf("pid %d: %s differs from the daemon's", c.PID, name)
		}
	}
	// What was read of /proc/PID was the client's only if it still runs:
	// a pid is reused only after its process is gone.
	if err := unix.PidfdSendSignal(pidfd, 0, nil, 0); err != nil {
		return fmt.Errorf("pid %d: %w", c.PID, err)
	}
	return nil
}

// identityFiles must be the same file for the client as for the daemon:
// the namespaces the daemon acts in on the client's behalf, and the binary,
// so that both sides speak one protocol and one policy.
var identityFiles = []string{"ns/user", "ns/mnt", "ns/net", "ns/pid", "exe"}

type identity struct {
	conf  confinement
	files [5][2]uint64
}

var daemonIdentity = sync.OnceValues(func() (identity, error) {
	var id identity
	var err error
	if id.conf, err = confinementOf("/proc/self"); err != nil {
		return id, err
	}
	for i, name := range identityFiles {
		if id.files[i], err = fileID("/proc/self/" + name); err != nil {
			return id, err
		}
	}
	return id, nil
})

func fileID(path string) ([2]uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return [2]uint64{}, fmt.Errorf("peer: %w", &os.PathError{Op: "stat", Path: path, Err: err})
	}
	return [2]uint64{st.Dev, st.Ino}, nil
}

// confinement is what limits a process beyond its credentials and
// namespaces: what the daemon does for a client must not escape any of it.
type confinement struct {
	caps       uint64 // effective capabilities
	seccomp    int    // 0 none, 1 strict, 2 filter
	filters    int    // seccomp filters installed (Seccomp_filters)
	noNewPrivs bool
	lsm        string // the LSM labels, "" without an LSM that has one
}

// lsmFiles hold a process's LSM labels: the one of the LSM that owns
// attr/current (SELinux, AppArmor or Smack), and AppArmor's and Smack's
// own, which a host stacking LSMs shows only there.
var lsmFiles = []string{"attr/current", "attr/apparmor/current", "attr/smack/current"}

// confinementOf reads the confinement of the process at proc, a /proc/PID
// directory. One read of status gives the capabilities with the rest,
// which costs less than capget(2) beside it.
func confinementOf(proc string) (confinement, error) {
	var c confinement
	status, err := readProc(proc+"/status", 16<<10)
	if err != nil {
		return c, err
	}
	var seen int
	for _, line := range strings.Split(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		val = strings.TrimSpace(val)
		var perr error
		switch key {
		case "CapEff":
			c.caps, perr = strconv.ParseUint(val, 16, 64)
		case "Seccomp":
			c.seccomp, perr = strconv.Atoi(val)
		case "Seccomp_filters":
			c.filters, perr = strconv.Atoi(val)
		case "NoNewPrivs":
			c.noNewPrivs = val != "0"
		default:
			continue
		}
		if perr != nil {
			return c, fmt.Errorf("peer: %s/status: %s: %w", proc, key, perr)
		}
		seen++
	}
	// Seccomp_filters is newer (Linux 5.9) than the others.
	if seen < 3 {
		return c, fmt.Errorf("peer: %s/status: no CapEff, Seccomp or NoNewPrivs", proc)
	}
	var labels []string
	for _, name := range lsmFiles {
		b, err := readProc(proc+"/"+name, 4<<10)
		// Without an LSM that labels processes, attr/current fails
		// with EINVAL; a stacked LSM's file is missing without it.
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOENT) {
			b, err = nil, nil
		}
		if err != nil {
			return c, err
		}
		if l := strings.TrimRight(string(b), "\x00\n"); l != "" {
			labels = append(labels, name+"="+l)
		}
	}
	c.lsm = strings.Join(labels, " ")
	return c, nil
}

// admits says why a client confined as p may not be served by a daemon
// confined as d, or nil if it may: it would get what its confinement
// refuses it. The error completes "pid N ".
func (d confinement) admits(p confinement) error {
	if p.caps&d.caps != d.caps {
		return fmt.Errorf("lacks capabilities %#x", d.caps&^p.caps)
	}
	// /proc tells how many filters a process has but not which, so any
	// filter may be one the daemon lacks: a filtered client launches on
	// its own, under its filter.
	if p.seccomp != 0 {
		return fmt.Errorf("has a seccomp filter (mode %d, %d filters; the daemon: mode %d)", p.seccomp, p.filters, d.seccomp)
	}
	if p.noNewPrivs && !d.noNewPrivs {
		return errors.New("has no_new_privs set, the daemon not")
	}
	if p.lsm != d.lsm {
		return fmt.Errorf("has LSM label %q, the daemon %q", p.lsm, d.lsm)
	}
	return nil
}

// readProc reads a small /proc file whole, or fails when it holds more
// than limit bytes.
func readProc(path string, limit int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("peer: %w", err)
	}
	if len(b) > limit {
		return nil, fmt.Errorf("peer: %s: more than %d bytes", path, limit)
	}
	return b, nil
}

// Fallback tells the client to launch the jail itself.
func (c *Client) Fallback() error {
	_, err := c.conn.Write(binary.NativeEndian.AppendUint32(nil, nsinit.DaemonFallback))
	return err
}

// maxOutput bounds what Finish relays of the launcher's own output.
const maxOutput = 64 << 10

// Finish gives the client its exit status and what `prison run` printed.
func (c *Client) Finish(status int, stdout, stderr []byte) error {
	stdout, stderr = stdout[:min(len(stdout), maxOutput)], stderr[:min(len(stderr), maxOutput)]
	m := binary.NativeEndian.AppendUint32(nil, nsinit.DaemonDone)
	m = binary.NativeEndian.AppendUint32(m, uint32(int32(status)))
	m = binary.NativeEndian.AppendUint32(m, uint32(len(stdout)))
	_, err := c.conn.Write(append(append(m, stdout...), stderr...))
	return err
}

// Close closes the connection, and with it the client's wait.
func (c *Client) Close() error {
	if c.pidfd >= 0 {
		unix.Close(c.pidfd)
		c.pidfd = -1
	}
	return c.conn.Close()
}

// spawn has the client clone the init with flags and execute the daemon's
// sealed copy of prison in it, fd 3 of the init being sync; the client
// also keeps hold (the jail's state lock) for the jail's life. pid reads
// the outcome. The init inherits the client's stdio, credentials and
// limits; a client has no terminal.
func (c *Client) spawn(j *Jail, sync, hold int, flags uintptr) error {
	if j.Spec.Process.Terminal {
		return errors.New("bug: a daemon's client has no terminal")
	}
	if len(j.Files) > 0 {
		return errors.New("bug: a daemon's client passes no descriptors but stdio")
	}
	if sharedPIDNS(j.Spec) != "" {
		return errors.New("bug: a daemon's client cannot clone into a PID namespace to join")
	}
	name, lock := j.Name, hold
	exe, err := sealedSelf()
	if err != nil {
		return err
	}
	var how uint32
	if j.joined != nil {
		how = nsinit.CloneJoin
	}
	fds := []int{sync, lock, int(exe.Fd())}
	if j.cgroupDir != nil {
		how |= nsinit.CloneIntoCgroup
		fds = append(fds, int(j.cgroupDir.Fd()))
	}
	// The jail's root gets the stdio pipes, and owns a user namespace
	// the clone makes.
	var uid, gid, has uint32
	if r := j.jailIDs(); r != nil {
		uid, gid = r.Root()
		has = 1
	}
	userns := j.newUserNS()
	if userns != nil {
		how |= nsinit.CloneUserNS
	}
	if j.clientNet {
		how |= nsinit.CloneNetNS
	}
	m := binary.NativeEndian.AppendUint32(nil, nsinit.DaemonClone)
	m = binary.NativeEndian.AppendUint32(m, how)
	m = binary.NativeEndian.AppendUint64(m, uint64(flags))
	m = binary.NativeEndian.AppendUint32(m, uid)
	m = binary.NativeEndian.AppendUint32(m, gid)
	m = binary.NativeEndian.AppendUint32(m, has)
	m = binary.NativeEndian.AppendUint32(m, 0)
	m = append(append(m, name...), 0)
	if userns != nil {
		m = append(append(m, mapFile(userns.UIDs)...), 0)
		m = append(append(m, mapFile(userns.GIDs)...), 0)
	}
	if _, _, err := c.conn.WriteMsgUnix(m, unix.UnixRights(fds...), nil); err != nil {
		return fmt.Errorf("start init: client: %w", err)
	}
	c.spawning = true
	if j.joined == nil {
		// The jail is alive exactly as long as the client, as it is as
		// long as the launcher without a daemon.
		j.state.handOver()
	}
	return nil
}

// pid returns the pid of the init that spawn asked for, or 0 when it asked
// for none.
func (c *Client) pid() (int, error) {
	if !c.spawning {
		return 0, nil
	}
	c.spawning = false
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.conn.ReadMsgUnix(buf, oob)
	if err == nil && n == 0 {
		err = errors.New("client gone")
	}
	if err != nil {
		return 0, fmt.Errorf("start init: client: %w", err)
	}
	if fds := rights(oob[:oobn]); len(fds) > 0 {
		c.pidfd = fds[0]
	}
	if n < 8 || binary.NativeEndian.Uint32(buf) != nsinit.ClientSpawned {
		return 0, errors.New("start init: client: unexpected message")
	}
	pid := int(int32(binary.NativeEndian.Uint32(buf[4:])))
	if pid < 0 {
		return 0, fmt.Errorf("start init: %w", syscall.Errno(-pid))
	}
	if c.pidfd < 0 {
		return 0, errors.New("start init: client: no pidfd")
	}
	return pid, nil
}

func rights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// netns receives the jail's network namespace, which the client makes in
// the init's user namespace (NSINIT_CLONE_NETNS).
func (c *Client) netns() (int, error) {
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := c.conn.ReadMsgUnix(buf, oob)
	fds := rights(oob[:oobn])
	switch {
	case err != nil || n < 8:
		closeFDs(fds)
		return -1, errInitGone
	case binary.NativeEndian.Uint32(buf) == nsinit.ClientReaped:
		ws := syscall.WaitStatus(binary.NativeEndian.Uint32(buf[4:]))
		c.reaped = &ws
		closeFDs(fds)
		return -1, errInitGone
	case binary.NativeEndian.Uint32(buf) != nsinit.ClientNetNS:
		closeFDs(fds)
		return -1, errors.New("start init: client: unexpected message")
	case int32(binary.NativeEndian.Uint32(buf[4:])) < 0:
		closeFDs(fds)
		return -1, fmt.Errorf("network namespace: %w", syscall.Errno(-int32(binary.NativeEndian.Uint32(buf[4:]))))
	case len(fds) != 1:
		closeFDs(fds)
		return -1, errors.New("start init: client: no network namespace")
	}
	return fds[0], nil
}

// wait waits for the client to reap the init. A client gone without
// saying counts as the init killed: its parent-death signal is SIGKILL.
func (c *Client) wait() (syscall.WaitStatus, error) {
	if c.reaped != nil {
		return *c.reaped, nil
	}
	buf := make([]byte, 16)
	oob := make([]byte, unix.CmsgSpace(4))
	for {
		n, oobn, _, _, err := c.conn.ReadMsgUnix(buf, oob)
		closeFDs(rights(oob[:oobn]))
		switch {
		case err != nil || n < 8:
			return syscall.WaitStatus(syscall.SIGKILL), nil
		case binary.NativeEndian.Uint32(buf) == nsinit.ClientNetNS:
			// The network namespace of a start that failed before it
			// was taken.
			continue
		case binary.NativeEndian.Uint32(buf) != nsinit.ClientReaped:
			return syscall.WaitStatus(syscall.SIGKILL), nil
		}
		return syscall.WaitStatus(binary.NativeEndian.Uint32(buf[4:])), nil
	}
}

// release keeps the init's pidfd: Close lets it go with the connection.
func (c *Client) release() {}

// signal sends sig to the init without a pid that could have been reused.
func (c *Client) signal(sig syscall.Signal) error {
	return unix.PidfdSendSignal(c.pidfd, sig, nil, 0)
}

// Listen makes the daemon's socket at path, for root alone, in place of
// one that a daemon now gone left behind.
func Listen(path string) (*net.UnixListener, error) {
	if c, err := net.Dial("unixpacket", path); err == nil {
		c.Close()
		return nil, &ParamError{Err: fmt.Errorf("--socket %s: a daemon listens there already", path)}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	l, err := net.ListenUnix("unixpacket", &net.UnixAddr{Name: path, Net: "unixpacket"})
	if errors.Is(err, unix.ENOENT) {
		return nil, &ParamError{Err: fmt.Errorf("--socket %s: no such directory %s", path, filepath.Dir(path))}
	}
	if err != nil {
		return nil, fmt.Errorf("daemon: %w", err)
	}
	// Only root can connect; checkPeer is what keeps out a root without
	// the daemon's capabilities.
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("daemon: %w", err)
	}
	return l, nil
}
