package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// SocketEnv names the socket of the daemon that serves `prison run`
// (internal/nsinit's NSINIT_SOCKET_ENV). "none" makes prison run launch the
// jail itself. It is spelled out here rather than imported: importing
// internal/nsinit would link its C constructor into the driver.
const SocketEnv = "PRISON_SOCKET"

// maxSocketPath is what fits in sockaddr_un's sun_path with its NUL. A
// longer PRISON_SOCKET makes prison run's client launch the jail itself,
// silently, so StartDaemon refuses one.
const maxSocketPath = 107

// Daemon is a `prison daemon` that the driver started for the daemon
// contenders. Its stdout and stderr go to a file, so that a line the daemon
// writes before it answers a client is in the file by the time that client
// has exited: Check reads it without racing a reader goroutine.
type Daemon struct {
	// Socket is the path the daemon listens on.
	Socket string

	cmd     *exec.Cmd
	start   func(*exec.Cmd) error // how it and SelfTest's clients start
	logPath string
	exited  chan struct{} // closed when the daemon has been reaped
	waitErr error         // its exit, once exited is closed

	mu   sync.Mutex
	seen int64 // bytes of the log that Check has accounted for
}

// StartDaemon starts `bin daemon --socket socket`, its output in logPath,
// and waits until the socket accepts connections and the daemon has
// greeted: the socket file must exist, a connect to it succeed (the daemon
// takes a connection that sends nothing for a probe), and its log hold the
// line "prison daemon: listening on SOCKET". The daemon writes that line
// after it listens, so a connect can succeed before the line lands (on a
// busy machine, long before): Check counts only what follows the greeting.
// It fails, with the daemon's output, when the daemon exits first or is not
// ready within timeout; it then leaves no daemon running.
//
// start starts the daemon, and SelfTest's clients: nil means cmd.Start,
// a MountNSRunner's Start runs the daemon in the runner's mount namespace,
// where it serves the clients that Start starts there (a daemon refuses
// clients of another mount namespace). Its Pdeathsig then goes with the
// runner's thread: stop the daemon before closing the runner.
func StartDaemon(ctx context.Context, start func(*exec.Cmd) error, bin, socket, logPath string, timeout time.Duration) (*Daemon, error) {
	if len(socket) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is longer than %d bytes: prison run would not use it", socket, maxSocketPath)
	}
	log, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "daemon", "--socket", socket)
	cmd.Stdout, cmd.Stderr = log, log
	// Not in the driver's process group, so a ^C at the terminal does not
	// stop it behind the driver's back: Stop does that. Where the platform
	// has it, it gets SIGTERM when the driver dies.
	cmd.SysProcAttr = daemonProcAttr()
	if start == nil {
		start = (*exec.Cmd).Start
	}
	err = start(cmd)
	log.Close() // the daemon has its own copy
	if err != nil {
		return nil, fmt.Errorf("start %s daemon: %w", bin, err)
	}
	d := &Daemon{Socket: socket, cmd: cmd, start: start, logPath: logPath, exited: make(chan struct{})}
	go func() {
		d.waitErr = cmd.Wait()
		close(d.exited)
	}()

	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	accepting := false
	for {
		if !accepting {
			if _, err := os.Stat(socket); err == nil {
				if c, err := net.Dial("unixpacket", socket); err == nil {
					c.Close()
					accepting = true
				}
			}
		}
		if accepting {
			// What it wrote up to its greeting is no one's failure.
			if end := greetingEnd(d.output(), socket); end >= 0 {
				d.seen = int64(end)
				return d, nil
			}
		}
		select {
		case <-d.exited:
			return nil, fmt.Errorf("prison daemon exited before it listened on %s (%w)%s", socket, d.waitErr, tail(d.output()))
		case <-deadline.C:
			_ = d.Stop(time.Second)
			if accepting {
				return nil, fmt.Errorf("prison daemon: %s accepts connections, but the daemon did not write %q %v after the start%s",
					socket, greeting+socket, timeout, tail(d.output()))
			}
			return nil, fmt.Errorf("prison daemon: %s does not accept connections %v after the start%s", socket, timeout, tail(d.output()))
		case <-ctx.Done():
			_ = d.Stop(time.Second)
			return nil, ctx.Err()
		case <-tick.C:
		}
	}
}

// greeting starts the line a daemon writes once it listens (cmd/prison's
// serveDaemon), followed by its socket.
const greeting = "prison daemon: listening on "

// greetingEnd returns the offset in out just past the daemon's greeting
// line for socket, or -1 when the whole line is not there yet.
func greetingEnd(out, socket string) int {
	line := greeting + socket + "\n"
	if i := strings.Index(out, line); i >= 0 {
		return i + len(line)
	}
	return -1
}

// PID is the daemon's process id.
func (d *Daemon) PID() int { return d.cmd.Process.Pid }

// output returns everything the daemon wrote.
func (d *Daemon) output() string {
	b, _ := os.ReadFile(d.logPath)
	return string(b)
}

// Output returns everything the daemon wrote, for the driver's log.
func (d *Daemon) Output() string { return d.output() }

// Check reports whether the daemon can have served the invocations since
// the last Check. The answer is no when it has exited (a client then finds
// no socket and launches the jail itself, silently), when its socket is
// gone, or when it wrote anything: without -v, the daemon speaks only to
// say that it refused a client ("launches on its own") or failed one.
func (d *Daemon) Check() error {
	select {
	case <-d.exited:
		return fmt.Errorf("prison daemon died (%w); its output: %s", d.waitErr, oneLine(d.output()))
	default:
	}
	if _, err := os.Stat(d.Socket); err != nil {
		return fmt.Errorf("prison daemon's socket is gone: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	f, err := os.Open(d.logPath)
	if err != nil {
		return fmt.Errorf("prison daemon's output: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.NewSectionReader(f, d.seen, 1<<20))
	if err != nil {
		return fmt.Errorf("prison daemon's output: %w", err)
	}
	d.seen += int64(len(b))
	if len(bytes.TrimSpace(b)) > 0 {
		return fmt.Errorf("not served by the prison daemon, which wrote: %s", oneLine(string(b)))
	}
	return nil
}

// Around runs measure between two Checks and fails it when either fails.
// It has the signature of Contender.Around.
func (d *Daemon) Around(measure func() (Sample, error)) (Sample, error) {
	if err := d.Check(); err != nil {
		return nil, err
	}
	smp, err := measure()
	if cerr := d.Check(); cerr != nil {
		return nil, cerr
	}
	return smp, err
}

// Stop sends the daemon SIGTERM, upon which it stops accepting, removes its
// socket and waits for the jails it serves, and waits for it to exit; after
// grace it kills it. The socket is removed in any case. The error says
// whether it had to be killed or exited badly.
func (d *Daemon) Stop(grace time.Duration) error {
	var errs []error
	select {
	case <-d.exited:
		errs = append(errs, fmt.Errorf("prison daemon had exited (%w)", d.waitErr))
	default:
		if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			errs = append(errs, fmt.Errorf("SIGTERM prison daemon: %w", err))
		}
		t := time.NewTimer(grace)
		select {
		case <-d.exited:
			t.Stop()
			if d.waitErr != nil {
				errs = append(errs, fmt.Errorf("prison daemon: %w", d.waitErr))
			}
		case <-t.C:
			_ = d.cmd.Process.Kill()
			<-d.exited
			errs = append(errs, fmt.Errorf("prison daemon did not exit within %v of SIGTERM; killed", grace))
		}
	}
	if err := os.Remove(d.Socket); err == nil {
		errs = append(errs, fmt.Errorf("prison daemon left its socket %s behind (removed)", d.Socket))
	} else if !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// SelfTest makes sure that the daemon serves the jails of bin run as the
// driver runs them (started as the daemon was), before any number depends
// on it. A client that the daemon serves never starts a Go runtime; one
// that launches the jail itself does. GODEBUG=inittrace=1 makes a Go
// runtime print a line per package init ("init …"), so the served run must
// print none, and the same run with PRISON_SOCKET=none, the control, must
// print some. A missing control line is not an error (the check is then
// inconclusive; log says so).
func (d *Daemon) SelfTest(ctx context.Context, bin, root string, log io.Writer) error {
	run := func(socket string) (string, error) {
		ctx, cancel := context.WithTimeout(ctx, InvocationTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, "run", "--root", root, "--net", "none", "/bin/true")
		cmd.Env = append(os.Environ(), SocketEnv+"="+socket, "GODEBUG=inittrace=1")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := d.start(cmd)
		if err == nil {
			err = cmd.Wait()
		}
		if err != nil {
			return out.String(), fmt.Errorf("%s=%s %s: %w%s", SocketEnv, socket, ShellQuote(cmd.Args), err, tail(out.String()))
		}
		return out.String(), nil
	}
	if err := d.Check(); err != nil {
		return err
	}
	out, err := run(d.Socket)
	if err != nil {
		return err
	}
	if err := d.Check(); err != nil {
		return err
	}
	if goStarted(out) {
		return fmt.Errorf("prison run with %s=%s started a Go runtime: the daemon did not serve it, and said nothing", SocketEnv, d.Socket)
	}
	control, err := run("none")
	if err != nil {
		return err
	}
	if !goStarted(control) {
		fmt.Fprintf(log, "benchjail: cannot tell whether the daemon serves: prison run prints no GODEBUG=inittrace lines without it either\n")
	}
	return nil
}

// goStarted reports whether output has a line of GODEBUG=inittrace=1.
func goStarted(output string) bool {
	for l := range strings.Lines(output) {
		if strings.HasPrefix(l, "init ") && strings.Contains(l, " @") {
			return true
		}
	}
	return false
}

// oneLine flattens s for an error message, keeping its end when it is long.
func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return "(nothing)"
	}
	return strings.TrimPrefix(tail(s), ": ")
}
