package test

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// daemon is a prison daemon that one test started on a socket of its own.
type daemon struct {
	cmd  *exec.Cmd
	sock string
	log  *lockedBuffer
}

// startDaemon starts a daemon; the test's cleanup stops it and checks that
// it exited cleanly and took its socket with it.
func startDaemon(t *testing.T) *daemon {
	t.Helper()
	d := &daemon{sock: filepath.Join(t.TempDir(), "d.sock"), log: &lockedBuffer{}}
	d.cmd = exec.Command(prisonBin, "daemon", "--socket", d.sock, "-v")
	d.cmd.Stderr = d.log
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		d.stop(t)
		if fileExists(d.sock) {
			t.Errorf("the daemon left its socket %s", d.sock)
		}
		// Its pool's spare veth pairs die with their namespaces, which
		// the kernel tears down asynchronously: wait, bounded.
		prefix := fmt.Sprintf("prs%x.", d.cmd.Process.Pid&0xfffff)
		var left []string
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			left = left[:0]
			links, _ := os.ReadDir("/sys/class/net")
			for _, l := range links {
				if strings.HasPrefix(l.Name(), prefix) {
					left = append(left, l.Name())
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			t.Errorf("the daemon's spare links outlived it: %v", left)
		}
	})

	// A bound against a hang, not a measure: the daemon listens within
	// milliseconds on an idle machine.
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(d.log.String(), "listening") {
		if time.Now().After(deadline) {
			t.Fatalf("daemon did not start:\n%s", d.log)
		}
		time.Sleep(10 * time.Millisecond)
	}
	return d
}

// stop stops the daemon as an admin would (SIGTERM) and waits for it to
// exit; the test's cleanup then checks what it left. Its log is complete
// only then: the daemon logs a jail it served after it answered the
// client (cmd/prison's serveClient), so that line can land after the
// client exited, late on a busy machine; a stopping daemon first waits
// for the clients it serves, and Wait for the copy of its output.
func (d *daemon) stop(t *testing.T) {
	t.Helper()
	if d.cmd.ProcessState != nil {
		return
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	if err := d.cmd.Wait(); err != nil {
		t.Errorf("daemon: %v\n%s", err, d.log)
	}
}

func (d *daemon) env() []string { return []string{"PRISON_SOCKET=" + d.sock} }

// served tells whether the daemon's log says it ran the jail named name.
// The log is complete once the daemon stopped (d.stop).
func (d *daemon) served(name string) bool {
	sc := bufio.NewScanner(strings.NewReader(d.log.String()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), ": served ") && strings.Contains(sc.Text(), `"`+name+`"`) {
			return true
		}
	}
	return false
}

// refused tells whether the daemon's log has a client launching on its
// own for reason. The log is complete once the daemon stopped (d.stop).
func (d *daemon) refused(reason string) bool {
	for _, l := range strings.Split(d.log.String(), "\n") {
		if strings.Contains(l, "launches on its own") && strings.Contains(l, reason) {
			return true
		}
	}
	return false
}

func TestDaemonServesRun(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	root := probeRoot(t)
	// A relative --root is the client's, not the daemon's.
	dir, base := filepath.Split(root)
	cmd := exec.Command(prisonBin, "run", "--name", n, "--root", base, "--ip", "10.254.30.1", "--host", "served",
		"/bin/sh", "-c", "hostname; ip -4 -o addr show dev eth0 | awk '{print $4}'; echo to-stderr >&2; exit 7")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), d.env()...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 7 {
		t.Fatalf("exit %d (%v), want the command's 7; stderr: %s", code, err, errb.String())
	}
	if got := strings.Fields(out.String()); strings.Join(got, " ") != "served 10.254.30.1/32" {
		t.Errorf("stdout %q, want the jail's hostname and address", out.String())
	}
	if errb.String() != "to-stderr\n" {
		t.Errorf("stderr %q, want only the command's", errb.String())
	}
	d.stop(t)
	if !d.served(n) {
		t.Errorf("the daemon did not serve the jail:\n%s", d.log)
	}
}

// The daemon's main thread is what its clients check before they trust
// it, and what the daemon compares them with (its namespaces, ids and
// capabilities in /proc/PID): serving jails, whose work takes threads
// into a jail's network namespace or ids and leaves them there, never
// changes it, however many jails it serves.
func TestDaemonMainThreadStays(t *testing.T) {
	d := startDaemon(t)
	self := func(pid int, what string) string {
		t.Helper()
		if strings.HasPrefix(what, "ns/") {
			l, _ := os.Readlink(fmt.Sprintf("/proc/%d/%s", pid, what))
			return l
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, _ := strings.Cut(l, ":"); k == what {
				return strings.Join(strings.Fields(v), " ")
			}
		}
		return ""
	}
	pid := d.cmd.Process.Pid
	keys := []string{"ns/net", "ns/uts", "ns/mnt", "Uid", "Gid", "CapEff"}
	before := map[string]string{}
	for _, k := range keys {
		before[k] = self(pid, k)
	}
	for i := range 24 {
		n := fmt.Sprintf("%s-%d", jailName(t), i)
		args := []string{"run", "--name", n, "--ip", fmt.Sprintf("10.254.30.%d", 100+i), "true"}
		if i%2 == 1 {
			args = []string{"run", "--name", n, "--userns", "host", "--allow", "set_hostname", "--net", "none", "sh", "-c", "touch /tmp/f; tail -f /tmp/f & sleep 0.1; hostname x" + strconv.Itoa(i)}
		}
		if r := prisonEnv(t, d.env(), nil, args...); r.code != 0 {
			t.Fatalf("jail %d: exit %d %q", i, r.code, r.stderr)
		}
		for _, k := range keys {
			if now := self(pid, k); now != before[k] {
				t.Fatalf("after %d jails the daemon's main thread shows %s %q, was %q", i+1, k, now, before[k])
			}
		}
	}
	d.stop(t)
	if strings.Count(d.log.String(), ": served ") < 24 {
		t.Errorf("the daemon served %d of 24 jails:\n%s", strings.Count(d.log.String(), ": served "), d.log)
	}
}

func TestDaemonBadInput(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	r := prisonEnv(t, d.env(), nil, "run", "--name", n, "--ip", "10.254.30.999", "true")
	if r.code != 125 {
		t.Errorf("bad --ip through the daemon: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, `--ip "10.254.30.999"`)
	r = prisonEnv(t, d.env(), nil, "run", "--name", n, "/no/such/command")
	if r.code != 127 {
		t.Errorf("missing command through the daemon: exit %d, want 127", r.code)
	}
	assertOneLine(t, r, "command not found")
	d.stop(t)
	if !d.served(n) {
		t.Errorf("the daemon did not serve the runs:\n%s", d.log)
	}
}

// A root that lacks the daemon's capabilities must not get them from it:
// it launches on its own, and fails as it would without a daemon.
func TestDaemonRefusesRootWithoutCapabilities(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	cmd := exec.Command("setpriv", "--bounding-set", "-all", "--inh-caps", "-all",
		prisonBin, "run", "--name", n, "echo", "ran")
	cmd.Env = append(os.Environ(), d.env()...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Errorf("exit %d, want 125; stderr: %s", code, errb.String())
	}
	assertOneLine(t, result{stderr: errb.String()}, "operation not permitted")
	if out.String() != "" {
		t.Errorf("the command ran for a root without capabilities: %q", out.String())
	}
	// The client, unable to check the daemon's identity without
	// capabilities, does not even ask; a client that did ask would be
	// refused.
	d.stop(t)
	if d.served(n) {
		t.Errorf("the daemon served a root without capabilities:\n%s", d.log)
	}
}

// A client in another mount namespace sees other paths: it launches on
// its own, and its jail works.
func TestDaemonOtherMountNamespace(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	cmd := exec.Command("unshare", "--mount", "--propagation", "private", prisonBin, "run", "--name", n, "echo", "ok")
	cmd.Env = append(os.Environ(), d.env()...)
	out, err := cmd.Output()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("run from another mount namespace: %v, %q", err, out)
	}
	d.stop(t)
	if !d.refused("ns/mnt differs") {
		t.Errorf("the daemon served a client of another mount namespace:\n%s", d.log)
	}
}

// The jail belongs to its client: a daemon killed while jails run leaves
// them running, and each client still ends with its command's status.
func TestDaemonKilledWhileJailRuns(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	b := startJailEnv(t, d.env(), n, "/bin/sh", "-c", "echo ready; read x; exit 9")
	d.cmd.Process.Kill()
	d.cmd.Wait()
	b.stdin.Close()
	b.cmd.Wait()
	if code := b.cmd.ProcessState.ExitCode(); code != 9 {
		t.Errorf("exit %d after the daemon died, want the command's 9", code)
	}
	if !strings.Contains(b.stderr.String(), "the daemon stopped while the jail ran") {
		t.Logf("the daemon's log:\n%s", d.log)
	}
	assertOneLine(t, result{stderr: b.stderr.String()}, "the daemon stopped while the jail ran")
	// The socket the killed daemon left refuses connections: the next
	// prison run launches on its own, and removes the jail's state (the
	// cleanup checks).
	if r := prisonEnv(t, d.env(), nil, "run", "echo", "alone"); r.code != 0 || r.stdout != "alone\n" {
		t.Errorf("run beside a dead daemon's socket: exit %d, %q %q", r.code, r.stdout, r.stderr)
	}
	os.Remove(d.sock) // a SIGKILL leaves it; the cleanup checks for a clean stop's
}

// A command line too long for one message to the daemon launches on its
// own.
func TestDaemonLongCommandLine(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	args := []string{"run", "--name", n, "/bin/sh", "-c", `echo $#`, "sh"}
	for range 3000 {
		args = append(args, strings.Repeat("x", 100))
	}
	r := prisonEnv(t, d.env(), nil, args...)
	if r.code != 0 || r.stdout != "3000\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	d.stop(t)
	if d.served(n) {
		t.Errorf("the daemon served a request larger than its limit")
	}
}

// SIGTERM stops the daemon from taking new jails at once, and lets the
// ones it serves finish.
func TestDaemonStopWaitsForJails(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	b := startJailEnv(t, d.env(), n, "/bin/sh", "-c", "echo ready; read x; exit 4")
	d.cmd.Process.Signal(syscall.SIGTERM)
	deadline := time.Now().Add(10 * time.Second)
	for fileExists(d.sock) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// New runs launch on their own meanwhile.
	if out := mustRun(t, "run", "echo", "still"); strings.TrimSpace(out) != "still" {
		t.Errorf("a run while the daemon stops: %q", out)
	}
	exited := make(chan error, 1)
	go func() { exited <- d.cmd.Wait() }()
	select {
	case err := <-exited:
		t.Fatalf("the daemon exited (%v) while it served a jail", err)
	case <-time.After(200 * time.Millisecond):
	}
	b.stdin.Close()
	b.cmd.Wait()
	if code := b.cmd.ProcessState.ExitCode(); code != 4 {
		t.Errorf("served jail: exit %d, want 4", code)
	}
	if err := <-exited; err != nil {
		t.Errorf("daemon: %v\n%s", err, d.log)
	}
}

// The client's SIGKILL ends its jail, and the daemon removes the jail's
// state and address without waiting for another prison call.
func TestDaemonClientKilled(t *testing.T) {
	d := startDaemon(t)
	n := jailName(t)
	b := startJailEnv(t, d.env(), n, "--ip", "10.254.30.2", "/bin/sh", "-c", "echo ready; sleep 300")
	b.kill()
	// The name and the address are free at once, as after a launcher's
	// SIGKILL without a daemon: the jail lived as long as its client.
	if r := prisonEnv(t, d.env(), nil, "run", "--name", n, "--ip", "10.254.30.2", "true"); r.code != 0 {
		t.Errorf("the same jail again, at once: exit %d, %s", r.code, r.stderr)
	}
	deadline := time.Now().Add(10 * time.Second)
	for (len(jailInits(n)) > 0 || fileExists("/run/prison/"+n)) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := jailInits(n); len(left) > 0 {
		t.Errorf("jail init alive after its client's SIGKILL: %v", left)
	}
	if fileExists("/run/prison/" + n) {
		t.Errorf("the daemon kept the state of a jail whose client was killed")
	}
}

func TestDaemonCommandErrors(t *testing.T) {
	d := startDaemon(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"daemon", "--socket", d.sock}, "--socket " + d.sock + ": a daemon listens there already"},
		{[]string{"daemon", "--socket", "/nonexistent/d.sock"}, "--socket /nonexistent/d.sock: no such directory /nonexistent"},
		{[]string{"daemon", "--socket", d.sock + "2", "--pool", "-1"}, "--pool -1: want 0 or more"},
	} {
		r := prison(t, nil, c.args...)
		if r.code != 125 {
			t.Errorf("%v: exit %d, want 125", c.args, r.code)
		}
		assertOneLine(t, r, c.want)
	}
	if !fileExists(d.sock) {
		t.Errorf("a second daemon took the first one's socket away")
	}
}

// TestDaemonQuickJailsAtOnce: jails whose command ends at once, many at a
// time, all succeed through the daemon, as the bench's 50 parallel jails
// do. (The race those once lost, a client reaping the init before the
// daemon recorded it, needs a daemon delayed by a millisecond at the wrong
// moment; prison's TestRecordOfAnInitGone reproduces it on demand.)
func TestDaemonQuickJailsAtOnce(t *testing.T) {
	d := startDaemon(t)
	const n = 40
	var wg sync.WaitGroup
	errs := make(chan string, n)
	for range n {
		name := jailName(t)
		wg.Go(func() {
			r := prisonEnv(t, d.env(), nil, "run", "--name", name, "--net", "none", "/bin/true")
			if r.code != 0 {
				errs <- fmt.Sprintf("%s: exit %d: %s", name, r.code, r.stderr)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	d.stop(t)
	if got := strings.Count(d.log.String(), ": served "); got != n {
		t.Errorf("the daemon served %d of %d jails", got, n)
	}
}
