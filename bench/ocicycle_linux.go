package bench

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// CycleMain is ocicycle's command line (bench/cmd/ocicycle): it makes
// the process a child subreaper, runs the cycle that args describe
// (-runtime BIN -root DIR -bundle DIR -pid-file FILE ID) and writes its
// report line to stdout.
func CycleMain(ctx context.Context, args []string, stdout io.Writer) error {
	var c CycleSpec
	fs := flag.NewFlagSet("ocicycle", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&c.Runtime, "runtime", "", "the OCI runtime, an absolute path")
	fs.StringVar(&c.Root, "root", "", "its state directory (--root)")
	fs.StringVar(&c.Bundle, "bundle", "", "the bundle")
	fs.StringVar(&c.PIDFile, "pid-file", "", "where create writes the container's pid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: ocicycle -runtime BIN -root DIR -bundle DIR -pid-file FILE ID")
	}
	c.ID = fs.Arg(0)
	for _, p := range []string{c.Runtime, c.Root, c.Bundle, c.PIDFile} {
		if !filepath.IsAbs(p) {
			return fmt.Errorf("%q: want an absolute path for each of -runtime, -root, -bundle and -pid-file", p)
		}
	}
	// The container's process, once create has exited, is an orphan:
	// reparented to this process, which can then wait for it.
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("PR_SET_CHILD_SUBREAPER: %w", err)
	}
	smp, err := RunCycle(ctx, c)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, FormatCycle(smp))
	return err
}

// RunCycle runs one cycle of c: `RUNTIME --root ROOT create --bundle B
// --pid-file P ID`, `start ID`, a wait for the process in P, `delete ID`,
// each command with stdin and stdout on /dev/null and stderr on a pipe
// (prison takes no file there for a container that starts later). It
// returns the wall time of each step in ms, after their sum ("total"):
// create and start and delete from the fork of the command to its reap,
// wait from start's reap to the reap of the container's process, which
// must exit 0. Whatever fails, nothing of the container is left: its
// process is killed and reaped, and it is deleted with --force. Every
// other process that ended up the caller's child (reparented) is reaped
// too; one still alive a moment after the delete is an error.
//
// Preconditions: the calling process is a child subreaper and nothing
// else in it waits for children but os/exec's own.
func RunCycle(ctx context.Context, c CycleSpec) (smp Sample, err error) {
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	rt := func(args ...string) []string {
		return append([]string{c.Runtime, "--root", c.Root}, args...)
	}
	pid, created, reaped := 0, false, false
	defer func() {
		if err == nil {
			return
		}
		// Even when the run is interrupted: what it made goes.
		ctx := context.WithoutCancel(ctx)
		if pid > 0 {
			_ = unix.Kill(pid, unix.SIGKILL)
			_, _ = waitPID(pid, killTimeout)
		}
		if created {
			if _, derr := cycleStep(ctx, devnull, rt("delete", "--force", c.ID)); derr != nil {
				err = errors.Join(err, derr)
			}
		}
		_ = os.Remove(c.PIDFile)
		if !reaped {
			err = errors.Join(err, reapOrphans(orphanTimeout))
		}
	}()

	// A failed create may have left its state: deleted too.
	created = true
	dCreate, err := cycleStep(ctx, devnull, rt("create", "--bundle", c.Bundle, "--pid-file", c.PIDFile, c.ID))
	if err != nil {
		return nil, err
	}
	if pid, err = readPIDFile(c.PIDFile); err != nil {
		return nil, err
	}
	dStart, err := cycleStep(ctx, devnull, rt("start", c.ID))
	if err != nil {
		return nil, err
	}
	t0 := time.Now()
	ws, err := waitPID(pid, InvocationTimeout)
	dWait := time.Since(t0)
	if err != nil {
		return nil, err
	}
	pid = 0
	if !ws.Exited() || ws.ExitStatus() != 0 {
		return nil, fmt.Errorf("the container's process %s", describeWait(ws))
	}
	dDelete, err := cycleStep(ctx, devnull, rt("delete", c.ID))
	if err != nil {
		return nil, err
	}
	created = false
	if err := os.Remove(c.PIDFile); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	reaped = true
	if err := reapOrphans(orphanTimeout); err != nil {
		return nil, err
	}
	steps := Sample{{keyCreate, ms(dCreate)}, {keyStart, ms(dStart)}, {keyWait, ms(dWait)}, {keyDelete, ms(dDelete)}}
	var total float64
	for _, m := range steps {
		total += m.Value
	}
	return append(Sample{{keyTotal, total}}, steps...), nil
}

// cycleStep runs args to its end and returns its wall time, fork to reap.
// Its stderr is a pipe of its own, whose write end a container that
// create leaves behind may keep: what the command wrote is read until a
// moment after its exit, and only when it failed.
func cycleStep(ctx context.Context, devnull *os.File, args []string) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, InvocationTimeout)
	defer cancel()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	defer r.Close()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = devnull, devnull, w
	// The reader must not stop before the container does: a write to a
	// pipe nobody reads would kill it (SIGPIPE). Drained meanwhile.
	var out lockedBuffer
	drained := make(chan struct{})
	go func() {
		_, _ = io.Copy(&out, r)
		close(drained)
	}()
	t0 := time.Now()
	err = cmd.Start()
	w.Close()
	if err == nil {
		err = cmd.Wait()
	}
	d := time.Since(t0)
	if err == nil {
		go func() { <-drained }() // ends when the last writer does
		return d, nil
	}
	select {
	case <-drained:
	case <-time.After(100 * time.Millisecond):
	}
	return d, fmt.Errorf("%s %s: %w%s", filepath.Base(args[0]), verb(args), err, tail(out.String()))
}

// verb returns the runtime's verb in a command line of cycleStep's.
func verb(args []string) string {
	if len(args) > 3 {
		return args[3]
	}
	return strings.Join(args[1:], " ")
}

// readPIDFile returns the pid in a runtime's --pid-file.
func readPIDFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: %q is no pid", path, b)
	}
	return pid, nil
}

// waitPID waits for the process pid, the caller's child, to exit and
// reaps it; after timeout it kills it first.
func waitPID(pid int, timeout time.Duration) (unix.WaitStatus, error) {
	kill := time.AfterFunc(timeout, func() { _ = unix.Kill(pid, unix.SIGKILL) })
	defer kill.Stop()
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			return ws, fmt.Errorf("process %d is not the driver's child: not a subreaper?", pid)
		case err != nil:
			return ws, fmt.Errorf("wait for process %d: %w", pid, err)
		}
		return ws, nil
	}
}

// describeWait says how a process ended.
func describeWait(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "was killed by " + ws.Signal().String()
	}
	return "exited " + strconv.Itoa(ws.ExitStatus())
}

// reapOrphans reaps every child of the caller that has exited, waiting
// up to timeout for those still alive; it fails, naming them, when any
// is left.
func reapOrphans(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.ECHILD):
			return nil
		case errors.Is(err, unix.EINTR), err == nil && pid > 0:
			continue
		case err != nil:
			return fmt.Errorf("reap: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes left behind: %s", childrenOf(os.Getpid()))
		}
		time.Sleep(time.Millisecond)
	}
}

// childrenOf lists the children of pid, with their command names.
func childrenOf(pid int) string {
	tab, err := readProcTable()
	if err != nil {
		return err.Error()
	}
	var kids []string
	for _, k := range tab.kids[pid] {
		p := tab.byPID[k]
		kids = append(kids, fmt.Sprintf("%d (%s, %c)", p.pid, p.comm, p.state))
	}
	return strings.Join(kids, ", ")
}

// lockedBuffer is a bytes.Buffer that a goroutine writes while another
// reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
