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
}

// RefusedError says why a client is not served: it then launches the jail
// itself, as though no daemon listened, with its own privileges.
type RefusedError struct{ Reason string }

func (e *RefusedError) Error() string { return "client refused: " + e.Reason }

// maxRequest bounds a request; a larger one fails to send and the client
// falls back.
const maxRequest = 256 << 10

var requestBufs = sync.Pool{New: func() any { b := make([]byte, maxRequest); return &b }}

// AcceptClient reads a client's request from conn and checks that the
// client may have it served. A *RefusedError means conn still wants an
// answer: send it Fallback.
func AcceptClient(conn *net.UnixConn) (*Client, error) {
	bp := requestBufs.Get().(*[]byte)
	defer requestBufs.Put(bp)
	buf := *bp
	n, _, flags, _, err := conn.ReadMsgUnix(buf, nil)
	if err == nil && n == 0 {
		err = io.EOF // a probe such as Listen's
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
// namespaces, with every capability the daemon has, running the daemon's
// own binary. Anything less falls back to the client's own privileges.
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
	caps, err := effectiveCaps(c.PID)
	if err != nil {
		return err
	}
	if caps&self.caps != self.caps {
		return fmt.Errorf("pid %d lacks capabilities %#x", c.PID, self.caps&^caps)
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
	caps  uint64
	files [5][2]uint64
}

var daemonIdentity = sync.OnceValues(func() (identity, error) {
	var id identity
	var err error
	if id.caps, err = effectiveCaps(0); err != nil {
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

// effectiveCaps reads a process's effective capabilities: capget(2) costs
// less than rendering /proc/PID/status.
func effectiveCaps(pid int) (uint64, error) {
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3, Pid: int32(pid)}
	var data [2]unix.CapUserData
	if err := unix.Capget(&hdr, &data[0]); err != nil {
		return 0, fmt.Errorf("peer: capget %d: %w", pid, err)
	}
	return uint64(data[1].Effective)<<32 | uint64(data[0].Effective), nil
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

// requestSpawn has the client clone the init with flags, fd 3 of the init
// being sync; the client also keeps the jail's state lock for the jail's
// life. awaitSpawn reads the outcome.
func (c *Client) requestSpawn(flags uintptr, name string, sync, lock int) error {
	exe, err := sealedSelf()
	if err != nil {
		return err
	}
	m := binary.NativeEndian.AppendUint32(nil, nsinit.DaemonClone)
	m = binary.NativeEndian.AppendUint32(m, 0)
	m = binary.NativeEndian.AppendUint64(m, uint64(flags))
	m = append(append(m, name...), 0)
	if _, _, err := c.conn.WriteMsgUnix(m, unix.UnixRights(sync, lock, int(exe.Fd())), nil); err != nil {
		return fmt.Errorf("start init: client: %w", err)
	}
	c.spawning = true
	return nil
}

// awaitSpawn returns the pid of the init that requestSpawn asked for, or 0
// when it asked for none.
func (c *Client) awaitSpawn() (int, error) {
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

// reaped waits for the client to reap the init. A client gone without
// saying counts as the init killed: its parent-death signal is SIGKILL.
func (c *Client) reaped() syscall.WaitStatus {
	buf := make([]byte, 16)
	n, err := c.conn.Read(buf)
	if err != nil || n < 8 || binary.NativeEndian.Uint32(buf) != nsinit.ClientReaped {
		return syscall.WaitStatus(syscall.SIGKILL)
	}
	return syscall.WaitStatus(binary.NativeEndian.Uint32(buf[4:]))
}

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
