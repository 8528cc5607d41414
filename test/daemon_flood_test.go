package test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The daemon's defences against its own clients (security audit, finding
// 10): a flood of idle connections, a client more confined than the
// daemon, a jail root whose /etc/passwd blocks, a jail flooding its
// launcher with sethostname calls.

// startDaemonUnder is startDaemon with the daemon run under wrapper, a
// command that executes its arguments (so that the pid stays the
// daemon's), and with more options. The test's cleanup stops the daemon,
// and checks what startDaemon's does.
func startDaemonUnder(t *testing.T, wrapper []string, opts ...string) *daemon {
	t.Helper()
	d := &daemon{sock: filepath.Join(t.TempDir(), "d.sock"), log: &lockedBuffer{}}
	args := append(append(wrapper, prisonBin, "daemon", "--socket", d.sock, "-v"), opts...)
	d.cmd = exec.Command(args[0], args[1:]...)
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if d.cmd.ProcessState == nil {
			d.cmd.Process.Signal(syscall.SIGTERM)
			exited := make(chan error, 1)
			go func() { exited <- d.cmd.Wait() }()
			select {
			case err := <-exited:
				if err != nil {
					t.Errorf("daemon: %v\n%s", err, d.log)
				}
			case <-time.After(15 * time.Second):
				// It waits for a client it still serves, forever.
				d.cmd.Process.Kill()
				<-exited
				os.Remove(d.sock)
				t.Errorf("the daemon did not stop within 15 s of SIGTERM:\n%s", d.log)
			}
		}
		if fileExists(d.sock) {
			t.Errorf("the daemon left its socket %s", d.sock)
		}
		prefix := fmt.Sprintf("prs%x.", d.cmd.Process.Pid&0xfffff)
		deadline := time.Now().Add(10 * time.Second)
		for {
			var left []string
			links, _ := os.ReadDir("/sys/class/net")
			for _, l := range links {
				if strings.HasPrefix(l.Name(), prefix) {
					left = append(left, l.Name())
				}
			}
			if len(left) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("the daemon's spare links outlived it: %v", left)
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(d.log.String(), "listening") {
		if time.Now().After(deadline) || d.exited() {
			t.Fatalf("daemon did not start:\n%s", d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d
}

// exited tells whether the daemon process is gone (or a zombie).
func (d *daemon) exited() bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", d.cmd.Process.Pid))
	if err != nil {
		return true
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return strings.HasPrefix(rest, "Z")
}

// fdCount is how many descriptors process pid holds.
func fdCount(t *testing.T, pid int) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("fds of pid %d: %v", pid, err)
	}
	return len(ents)
}

// warmFDs serves a run, so that what the daemon keeps for all (caches)
// exists, and returns how many descriptors it holds then.
func (d *daemon) warmFDs(t *testing.T) int {
	t.Helper()
	if r := prisonEnv(t, d.env(), nil, "run", "true"); r.code != 0 {
		t.Fatalf("warm-up run: exit %d: %s", r.code, r.stderr)
	}
	time.Sleep(100 * time.Millisecond)
	return fdCount(t, d.cmd.Process.Pid)
}

// awaitFDs waits (bounded) until process pid holds at most want
// descriptors, and returns how many it holds.
func awaitFDs(t *testing.T, pid, want int) int {
	t.Helper()
	n := fdCount(t, pid)
	for deadline := time.Now().Add(3 * time.Second); n > want && time.Now().Before(deadline); n = fdCount(t, pid) {
		time.Sleep(20 * time.Millisecond)
	}
	return n
}

// awaitServed is served, for a daemon that goes on running: the daemon
// writes the line before it lets its client go, and the test reads it
// through a pipe, so it is on its way when the client has exited; the bound
// is against a daemon that never writes it.
func (d *daemon) awaitServed(name string) bool {
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if d.served(name) {
			return true
		}
	}
	return d.served(name)
}

// cpuTime is the CPU time that process pid itself used, without its
// children's: utime and stime of /proc/PID/stat.
func cpuTime(t *testing.T, pid int) time.Duration {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatalf("cpu time of pid %d: %v", pid, err)
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	f := strings.Fields(rest) // from field 3, state
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("pid %d: bad stat %q", pid, b)
	}
	const hz = 100 // USER_HZ, the unit of /proc/PID/stat on every Linux
	return time.Duration(utime+stime) * time.Second / hz
}

// raiseFDLimit raises the test's soft descriptor limit to at least n, as
// far as the hard limit allows, until the test ends.
func raiseFDLimit(t *testing.T, n uint64) {
	t.Helper()
	var old unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &old); err != nil {
		t.Fatal(err)
	}
	if old.Cur >= n {
		return
	}
	if old.Max < n {
		t.Skipf("needs %d descriptors; the hard limit is %d", n, old.Max)
	}
	raised := unix.Rlimit{Cur: n, Max: old.Max}
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &raised); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Setrlimit(unix.RLIMIT_NOFILE, &old) })
}

// A flood of idle connections, more than the daemon has descriptors,
// neither ends the daemon nor keeps it: the connections beyond its bounds
// are closed at once, the rest after the request deadline, and the daemon
// serves the next prison run.
func TestDaemonFloodIdleConnections(t *testing.T) {
	const limit, flood = 1024, 3000
	raiseFDLimit(t, flood+256)
	// A low descriptor limit makes a few thousand connections a flood;
	// without a pool, the daemon's descriptors are counted at rest.
	d := startDaemonUnder(t, []string{"prlimit", fmt.Sprintf("--nofile=%d:%d", limit, limit)}, "--pool", "0")
	pid := d.cmd.Process.Pid
	before := d.warmFDs(t)

	addr := &net.UnixAddr{Name: d.sock, Net: "unixpacket"}
	var conns []*net.UnixConn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	start := time.Now()
	for range flood {
		c, err := net.DialUnix("unixpacket", nil, addr)
		if err != nil {
			// A full listen queue: the daemon is slow to accept.
			time.Sleep(time.Millisecond)
			continue
		}
		conns = append(conns, c)
	}
	time.Sleep(200 * time.Millisecond)
	if d.exited() {
		t.Fatalf("the daemon died of %d idle connections:\n%s", len(conns), d.log)
	}
	if len(conns) < flood/2 {
		t.Fatalf("only %d of %d connections made", len(conns), flood)
	}

	// Every connection ends, unanswered, by the request deadline (2 s)
	// with room for a slow machine; none waits forever.
	deadline := start.Add(8 * time.Second)
	open, answered := 0, 0
	buf := make([]byte, 64)
	for _, c := range conns {
		// Once past the deadline, a closed connection still reads its
		// end at once.
		if soon := time.Now().Add(20 * time.Millisecond); soon.After(deadline) {
			c.SetReadDeadline(soon)
		} else {
			c.SetReadDeadline(deadline)
		}
		n, err := c.Read(buf)
		switch {
		case errors.Is(err, os.ErrDeadlineExceeded):
			open++
		case n > 0:
			answered++
		}
	}
	if open > 0 {
		t.Errorf("%d of %d idle connections still open after %s", open, len(conns), time.Since(start).Round(time.Millisecond))
	}
	if answered > 0 {
		t.Errorf("%d idle connections got an answer", answered)
	}
	if d.exited() {
		t.Fatalf("the daemon died of %d idle connections:\n%s", len(conns), d.log)
	}
	for _, c := range conns {
		c.Close()
	}
	conns = nil

	n := jailName(t)
	if r := prisonEnv(t, d.env(), nil, "run", "--name", n, "echo", "after"); r.code != 0 || r.stdout != "after\n" {
		t.Fatalf("run after the flood: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	if !d.awaitServed(n) {
		t.Errorf("the daemon did not serve the run after the flood:\n%s", d.log)
	}
	// What the flood held is released.
	if after := awaitFDs(t, pid, before); after > before {
		t.Errorf("the daemon holds %d descriptors after the flood, %d before", after, before)
	}
}

// A root confined by a seccomp filter of its own, or by no_new_privs, is
// not served: the daemon would do for it what its confinement forbids.
// It launches on its own and its jail works.
func TestDaemonFloodRefusesConfinedClient(t *testing.T) {
	d := startDaemon(t)
	for _, c := range []struct {
		name, reason string
		wrapper      []string
	}{
		{"seccomp", "has a seccomp filter", []string{probeBin, "seccomp-exec"}},
		{"no_new_privs", "has no_new_privs set", []string{"setpriv", "--no-new-privs"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := jailName(t)
			args := append(c.wrapper, prisonBin, "run", "--name", n, "echo", "ok")
			cmd := exec.Command(args[0], args[1:]...)
			cmd.Env = append(os.Environ(), d.env()...)
			var errb strings.Builder
			cmd.Stderr = &errb
			out, err := cmd.Output()
			if err != nil || string(out) != "ok\n" {
				t.Errorf("run under %s: %v, %q %q", c.name, err, out, errb.String())
			}
			if d.served(n) {
				t.Errorf("the daemon served a client under %s", c.name)
			}
			if !d.refused(c.reason) {
				t.Errorf("the daemon did not log why it refused the client (%s):\n%s", c.reason, d.log)
			}
		})
	}
}

// A FIFO at the jail's /etc/passwd must not hang prison run --user, nor
// hold anything of the daemon's.
func TestDaemonFloodFIFOPasswd(t *testing.T) {
	d := startDaemonUnder(t, nil, "--pool", "0")
	for _, mode := range launchModes(d) {
		t.Run(mode.name, func(t *testing.T) {
			n := jailName(t)
			root := probeRoot(t)
			passwd := filepath.Join(root, "etc/passwd")
			os.Remove(passwd)
			if err := unix.Mkfifo(passwd, 0o644); err != nil {
				t.Fatal(err)
			}
			before := d.warmFDs(t)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, prisonBin, "run", "--name", n, "--root", root, "--user", "nobody", "true")
			cmd.Env = append(os.Environ(), mode.env...)
			var out, errb strings.Builder
			cmd.Stdout, cmd.Stderr = &out, &errb
			cmd.WaitDelay = time.Second
			begun := time.Now()
			cmd.Run()
			took := time.Since(begun)
			if ctx.Err() != nil {
				t.Fatalf("prison run hung on a FIFO at /etc/passwd (killed after %s)", took.Round(time.Millisecond))
			}
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Errorf("exit %d, want 125", code)
			}
			r := result{stdout: out.String(), stderr: errb.String()}
			assertOneLine(t, r, `--user "nobody": the jail's /etc/passwd: not a regular file`)
			if mode.name == "daemon" && !d.awaitServed(n) {
				t.Errorf("the daemon did not serve the run:\n%s", d.log)
			}
			if after := awaitFDs(t, d.cmd.Process.Pid, before); after > before {
				t.Errorf("the daemon holds %d descriptors, %d before", after, before)
			}
		})
	}
}

// A jail that loops on sethostname costs its launcher (the daemon, or
// prison run itself) a small share of a core, and its names still change.
func TestDaemonFloodSethostname(t *testing.T) {
	d := startDaemon(t)
	for _, mode := range launchModes(d) {
		t.Run(mode.name, func(t *testing.T) {
			n := jailName(t)
			b := startJailEnv(t, mode.env, n, "--root", probeRoot(t), "--allow", "set_hostname", "/bin/sh", "-c",
				"echo ready; read x; /probe sethostname-loop 1; /probe hostname final; read x")
			launcher := b.cmd.Process.Pid
			if mode.name == "daemon" {
				launcher = d.cmd.Process.Pid
			}
			cpu0, t0 := cpuTime(t, launcher), time.Now()
			io.WriteString(b.stdin, "\n")
			loop, _ := b.out.ReadString('\n')
			names, _ := b.out.ReadString('\n')
			cpu, took := cpuTime(t, launcher)-cpu0, time.Since(t0)
			b.stdin.Close()
			b.cmd.Wait()
			if !strings.HasPrefix(loop, "calls=") || strings.Contains(loop, "ok=0") {
				t.Fatalf("the loop: %q %s", loop, b.stderr)
			}
			if want := "sethostname=ok setdomainname=ok hostname=final domainname=final\n"; names != want {
				t.Errorf("after the loop: %q, want %q", names, want)
			}
			t.Logf("%s: launcher CPU %s in %s", strings.TrimSpace(loop), cpu, took.Round(time.Millisecond))
			if cpu > took*3/10 {
				t.Errorf("the launcher used %s of CPU in %s serving a jail's sethostname loop (%s)", cpu, took.Round(time.Millisecond), strings.TrimSpace(loop))
			}
			if mode.name == "daemon" && !d.awaitServed(n) {
				t.Errorf("the daemon did not serve the jail:\n%s", d.log)
			}
		})
	}
}

// launchMode is how prison run starts a jail: on its own, or served by d.
type launchMode struct {
	name string
	env  []string
}

func launchModes(d *daemon) []launchMode {
	return []launchMode{{"launcher", []string{"PRISON_SOCKET=none"}}, {"daemon", d.env()}}
}
