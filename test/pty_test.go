package test

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"
	"golang.org/x/term"
)

// startOnPty runs prison with a new terminal as its stdin, stdout and stderr,
// as a user at a terminal would. It returns the terminal's mode from before
// prison started too.
func startOnPty(t *testing.T, rows, cols uint16, args ...string) (*exec.Cmd, *ptyReader, *unix.Termios) {
	t.Helper()
	cmd := exec.Command(prisonBin, args...)
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	mode, err := unix.IoctlGetTermios(int(ptmx.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// A hang-up, as when a terminal closes, ends an interactive shell.
		if cmd.ProcessState == nil {
			cmd.Process.Signal(syscall.SIGHUP)
			cmd.Wait()
		}
		ptmx.Close()
	})
	r := &ptyReader{f: ptmx, lines: make(chan string, 64)}
	go r.pump()
	return cmd, r, mode
}

type ptyReader struct {
	f     *os.File
	lines chan string
}

func (r *ptyReader) pump() {
	s := bufio.NewScanner(r.f)
	for s.Scan() {
		r.lines <- strings.TrimRight(s.Text(), "\r")
	}
	close(r.lines)
}

// expect waits (bounded) for a line starting with want and returns it; the
// terminal's echo of the typed command does not count.
func (r *ptyReader) expect(t *testing.T, want string) string {
	t.Helper()
	timeout := time.After(20 * time.Second)
	var seen []string
	for {
		select {
		case l, ok := <-r.lines:
			if !ok {
				t.Fatalf("terminal closed before %q; saw %q", want, seen)
			}
			if strings.HasPrefix(strings.TrimPrefix(l, "# "), want) {
				return l
			}
			seen = append(seen, l)
		case <-timeout:
			t.Fatalf("no %q on the terminal; saw %q", want, seen)
		}
	}
}

func TestTerminal(t *testing.T) {
	n := jailName(t)
	cmd, r, before := startOnPty(t, 30, 100, "run", "--name", n, "/bin/sh")
	fd := int(r.f.Fd())
	io.WriteString(r.f, "echo tty=$(tty) size=$(stty size) term=$TERM\n")
	line := r.expect(t, "tty=/")
	// The jail's own devpts: its first pty is pts/0, whatever the host has.
	if !strings.Contains(line, "tty=/dev/pts/0") || !strings.Contains(line, "size=30 100") {
		t.Errorf("inside: %q, want the jail's /dev/pts/0 sized 30x100", line)
	}
	// A resize of the caller's terminal follows into the jail.
	if err := pty.Setsize(r.f, &pty.Winsize{Rows: 40, Cols: 120}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // SIGWINCH is asynchronous; the check below is not timed
	io.WriteString(r.f, "echo resized=$(stty size)\n")
	if l := r.expect(t, "resized="); !strings.Contains(l, "resized=40 120") {
		t.Errorf("after resize: %q, want 40 120", l)
	}
	io.WriteString(r.f, "exit 3\n")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want 3", code)
	}
	after, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	if before.Lflag != after.Lflag || before.Iflag != after.Iflag || before.Oflag != after.Oflag {
		t.Errorf("terminal mode not restored: before %+v after %+v", before, after)
	}
}

func TestNoTerminalHandleWithoutTty(t *testing.T) {
	n := jailName(t)
	root := probeRoot(t)
	// stdin is a pipe, stdout and stderr the caller's terminal: the jail
	// must get pipes, and TIOCSTI has nothing to inject into.
	cmd := exec.Command(prisonBin, "run", "--name", n, "--root", root, "/bin/sh", "-c", "/probe fds; /probe tiocsti")
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	defer tty.Close()
	cmd.Stdin = strings.NewReader("")
	cmd.Stdout, cmd.Stderr = tty, tty
	if err := cmd.Run(); err != nil {
		t.Fatalf("prison: %v", err)
	}
	tty.Close()
	var out bytes.Buffer
	ptmx.SetReadDeadline(time.Now().Add(5 * time.Second))
	io.Copy(&out, ptmx)
	if strings.Contains(out.String(), "/dev/pts") || !strings.Contains(out.String(), "refused") {
		t.Errorf("the jail got a handle on the caller's terminal:\n%s", out.String())
	}
	if term.IsTerminal(int(tty.Fd())) && strings.Contains(out.String(), "injected") {
		t.Errorf("TIOCSTI injection worked")
	}
}
