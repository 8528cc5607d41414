package test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Lifecycle tests use addresses in 10.254.60.0/24 (see network_test.go).

// listed is one jail of prison list --json.
type listed struct {
	Name      string            `json:"name"`
	JID       int               `json:"jid"`
	Addrs     []string          `json:"ip4.addr"`
	Hostname  string            `json:"host.hostname"`
	Path      string            `json:"path"`
	Status    string            `json:"status"`
	Processes int               `json:"processes"`
	PID       int               `json:"pid"`
	Params    map[string]string `json:"parameters"`
}

func listJSON(t *testing.T, args ...string) []listed {
	t.Helper()
	out := mustRun(t, append([]string{"list", "--json"}, args...)...)
	var l []listed
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("prison list --json: %v\n%s", err, out)
	}
	return l
}

func findListed(t *testing.T, name string) (listed, bool) {
	t.Helper()
	for _, j := range listJSON(t) {
		if j.Name == name {
			return j, true
		}
	}
	return listed{}, false
}

// create makes a persistent jail; the test's cleanup deletes it (before
// jailName's check for leftovers, which was registered first).
func create(t *testing.T, name string, args ...string) {
	t.Helper()
	r := prison(t, nil, append([]string{"create", name}, args...)...)
	if r.code != 0 {
		t.Fatalf("prison create %s: exit %d: %s", name, r.code, r.stderr)
	}
	t.Cleanup(func() { prison(t, nil, "delete", "-t", "0", name) })
}

func TestCreateOutlivesItsLauncher(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--ip", "10.254.60.1", "--host", "web1")
	j, ok := findListed(t, n)
	if !ok {
		t.Fatalf("prison list does not show %s", n)
	}
	if j.Status != "running" || j.Hostname != "web1" || strings.Join(j.Addrs, ",") != "10.254.60.1" || j.Processes != 0 {
		t.Errorf("prison list: %+v, want running, web1, 10.254.60.1, 0 processes", j)
	}
	// The launcher is gone; the jail is its PID 1 alone, and that is the
	// C init, no Go process of prison's.
	if inits := jailInits(n); len(inits) != 1 || inits[0] != strconv.Itoa(j.PID) {
		t.Fatalf("jail inits %v, list says pid %d", inits, j.PID)
	}
	ppid := statusField(t, j.PID, "PPid")
	if comm, _ := os.ReadFile("/proc/" + ppid + "/comm"); strings.HasPrefix(string(comm), "prison") {
		t.Errorf("the jail's init still has a prison parent (%s, %q)", ppid, comm)
	}
	if threads := statusField(t, j.PID, "Threads"); threads != "1" {
		t.Errorf("the jail's init has %s threads: a Go runtime?", threads)
	}
	// The network works with nobody holding it: the host reaches the jail.
	if out, err := exec.Command("ping", "-c", "1", "-W", "5", "10.254.60.1").CombinedOutput(); err != nil {
		t.Errorf("ping the persistent jail: %v\n%s", err, out)
	}
}

// statusField reads one field of /proc/PID/status.
func statusField(t *testing.T, pid int, key string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	t.Fatalf("/proc/%d/status: no %s", pid, key)
	return ""
}

// TestExecSeesTheJail: a command joined with prison exec is in the jail's
// namespaces, with its filter, capabilities and limits, exactly as the
// jail's own command of prison run.
func TestExecSeesTheJail(t *testing.T) {
	n := jailName(t)
	root := probeRoot(t)
	create(t, n, "--root", root, "--ip", "10.254.60.2", "--host", "exec1")
	j, _ := findListed(t, n)
	for _, ns := range []string{"mnt", "uts", "ipc", "net", "pid", "cgroup"} {
		host, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/%s", j.PID, ns))
		if err != nil {
			t.Fatal(err)
		}
		// pid_for_children of the init is its own PID namespace.
		inside := strings.TrimSpace(mustRun(t, "exec", n, "readlink", "/proc/self/ns/"+ns))
		if inside != host {
			t.Errorf("namespace %s: exec is in %s, the jail in %s", ns, inside, host)
		}
	}
	status := func(out string) map[string]string {
		m := map[string]string{}
		for _, l := range strings.Split(out, "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok {
				m[k] = strings.TrimSpace(v)
			}
		}
		return m
	}
	execd := status(mustRun(t, "exec", n, "cat", "/proc/self/status"))
	ran := status(mustRun(t, "run", "--root", root, "cat", "/proc/self/status"))
	for _, k := range []string{"CapEff", "CapPrm", "CapBnd", "CapInh", "CapAmb", "NoNewPrivs", "Seccomp", "Seccomp_filters", "Uid", "Gid", "Groups"} {
		if execd[k] != ran[k] {
			t.Errorf("%s: exec has %q, a jail's command %q", k, execd[k], ran[k])
		}
	}
	if execd["Seccomp"] != "2" {
		t.Errorf("exec runs without the seccomp filter (Seccomp: %q)", execd["Seccomp"])
	}
	limits := mustRun(t, "exec", n, "cat", "/proc/self/limits")
	if want := mustRun(t, "run", "--root", root, "cat", "/proc/self/limits"); limits != want {
		t.Errorf("exec's limits differ from a jail command's:\n%s\nwant\n%s", limits, want)
	}
	// The filter holds in exec as in the jail: every call of the policy's
	// probe table (mount, setns, unshare, raw sockets…) gets the same
	// answer.
	if got, want := mustRun(t, "exec", n, "/probe", "syscalls"), mustRun(t, "run", "--root", root, "/probe", "syscalls"); got != want {
		t.Errorf("the system calls answer differently in exec:\n%s\nthan in a jail's command:\n%s", got, want)
	}
	if out := mustRun(t, "exec", n, "hostname"); strings.TrimSpace(out) != "exec1" {
		t.Errorf("hostname in exec: %q", out)
	}
	// The command is in the jail's process table, under the jail's PID 1.
	ps := mustRun(t, "exec", n, "ps", "-o", "pid,comm")
	if !strings.Contains(ps, "prison-init") {
		t.Errorf("ps in exec does not show the jail's PID 1:\n%s", ps)
	}
	if got := mustRun(t, "exec", n, "sh", "-c", "echo $HOSTNAME $HOME; pwd"); got != "exec1 /root\n/\n" {
		t.Errorf("exec environment: %q", got)
	}
}

func TestExecStatusUserAndInput(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t))
	if r := prison(t, nil, "exec", n, "sh", "-c", "exit 7"); r.code != 7 {
		t.Errorf("exit 7 in exec: got %d (%s)", r.code, r.stderr)
	}
	if r := prison(t, nil, "exec", n, "no-such-command"); r.code != 127 {
		t.Errorf("missing command: exit %d, want 127 (%s)", r.code, r.stderr)
	}
	if got := mustRun(t, "exec", "-u", "nobody", n, "id", "-u"); strings.TrimSpace(got) != "65534" {
		t.Errorf("exec -u nobody: uid %q", got)
	}
	// -U: the host's user of that name (jexec -U), with its host groups.
	if got := mustRun(t, "exec", "-U", "daemon", n, "id", "-u"); strings.TrimSpace(got) != "1" {
		t.Errorf("exec -U daemon: uid %q, want the host's daemon (1)", got)
	}
	assertOneLine(t, prison(t, nil, "exec", "-U", "nosuchhostuser", n, "true"), `-U "nosuchhostuser": no such user on the host`)
	assertOneLine(t, prison(t, nil, "exec", "-u", "root", "-U", "root", n, "true"), "-u and -U: give one of them")
	if got := mustRun(t, "exec", "-e", "GREETING=hi", "--cwd", "/tmp", n, "sh", "-c", "echo $GREETING; pwd"); got != "hi\n/tmp\n" {
		t.Errorf("exec -e --cwd: %q", got)
	}
	r := prison(t, strings.NewReader("from stdin\n"), "exec", n, "cat")
	if r.code != 0 || r.stdout != "from stdin\n" {
		t.Errorf("exec stdin: exit %d, %q", r.code, r.stdout)
	}
	r = prison(t, nil, "exec", "-u", "nosuchuser", n, "true")
	assertOneLine(t, r, `-u "nosuchuser": no such user`)
	r = prison(t, nil, "exec", "t-no-such-jail", "true")
	assertOneLine(t, r, `"t-no-such-jail": no such jail`)
}

// TestExecGivesNoHostHandles: the joining process is not in the jail, and
// nothing of the host's reaches the command: no host file as stdio, no
// executable of prison's that root inside can open (CVE-2019-5736), no
// other host descriptor (CVE-2024-21626).
func TestExecGivesNoHostHandles(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t))
	log := filepath.Join(t.TempDir(), "out.log")
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	extra, err := os.Open("/etc/hostname") // a host file the caller holds open
	if err != nil {
		t.Fatal(err)
	}
	defer extra.Close()
	cmd := exec.Command(prisonBin, "exec", n, "sh", "-c",
		"readlink /proc/self/fd/1; ls /proc/$$/fd; for p in /proc/[0-9]*; do readlink $p/exe; done; chmod 4755 /proc/self/fd/1")
	var stderr lockedBuffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	cmd.ExtraFiles = []*os.File{extra}
	_ = cmd.Run()
	f.Close()
	out := stderr.String()
	got, _ := os.ReadFile(log)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) == 0 || !strings.HasPrefix(lines[0], "pipe:") {
		t.Errorf("exec's stdout is %q, want a pipe (stderr: %s)", lines, out)
	}
	if st, err := os.Stat(log); err != nil || st.Mode().Perm() != 0o644&^umask() {
		t.Errorf("the host file given as stdout changed: %v %v", st.Mode(), err)
	}
	for _, l := range lines[1:] {
		if strings.Contains(l, "prison") || strings.Contains(l, "memfd") {
			t.Errorf("a process in the jail shows a prison executable: %q", l)
		}
		if l == "3" || l == "4" {
			t.Errorf("exec's command holds fd %s: %q", l, lines)
		}
	}
	// The joining process is outside the jail's PID namespace: inside, the
	// command's parent is no process of the jail.
	if ppid := mustRun(t, "exec", n, "sh", "-c", "grep PPid /proc/$$/status"); !strings.Contains(ppid, "\t0") {
		t.Errorf("exec's command has a parent in the jail: %q", ppid)
	}
}

func umask() os.FileMode {
	m := unix.Umask(0)
	unix.Umask(m)
	return os.FileMode(m)
}

func TestSetHostnameLive(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--host", "before")
	mustRun(t, "set", n, "host.hostname=after")
	if got := mustRun(t, "exec", n, "hostname"); got != "after\n" {
		t.Errorf("hostname after prison set: %q", got)
	}
	if j, _ := findListed(t, n); j.Hostname != "after" {
		t.Errorf("prison list shows hostname %q", j.Hostname)
	}
	assertOneLine(t, prison(t, nil, "set", n, "path=/srv"), "path: cannot change while the jail runs")
	assertOneLine(t, prison(t, nil, "set", n, "host.hostnme=x"), "host.hostnme: not a jail parameter")
	assertOneLine(t, prison(t, nil, "set", n, "host.hostname=-bad-"), `host.hostname "-bad-"`)
}

// TestKillPsWhich: kill signals every process of the jail and leaves a
// persistent jail up; ps and which name the jail's processes.
func TestKillPsWhich(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t))
	mustRun(t, "exec", n, "sh", "-c", "sleep 1000 >/dev/null 2>&1 & sleep 1001 >/dev/null 2>&1 &")
	ps := mustRun(t, "ps", n)
	var sleepPID string
	for _, l := range strings.Split(ps, "\n") {
		f := strings.Fields(l)
		if len(f) >= 5 && f[3] == "sleep" && f[4] == "1000" {
			sleepPID = f[0]
			if f[1] == f[0] {
				t.Errorf("ps: jail pid equals host pid: %q", l)
			}
		}
	}
	if sleepPID == "" || !strings.Contains(ps, "prison __prison_init "+n) {
		t.Fatalf("prison ps:\n%s", ps)
	}
	if got := mustRun(t, "which", sleepPID); got != n+"\n" {
		t.Errorf("prison which %s: %q, want %s", sleepPID, got, n)
	}
	if got := mustRun(t, "which", strconv.Itoa(os.Getpid())); got != "host\n" {
		t.Errorf("prison which of the test: %q", got)
	}
	if j, _ := findListed(t, n); j.Processes != 2 {
		t.Errorf("list: %d processes, want 2", j.Processes)
	}
	mustRun(t, "kill", n, "KILL")
	waitFor(t, "the jail's processes to die", func() bool { j, _ := findListed(t, n); return j.Processes == 0 })
	if j, ok := findListed(t, n); !ok || j.Status != "running" {
		t.Errorf("after prison kill, the persistent jail is %+v", j)
	}
	assertOneLine(t, prison(t, nil, "kill", n, "NOSUCHSIG"), `SIGNAL "NOSUCHSIG"`)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestStopKillsWhatIgnoresTERM: stop waits -t seconds for processes that
// ignore SIGTERM, then kills them, and leaves nothing behind.
func TestStopKillsWhatIgnoresTERM(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--ip", "10.254.60.3")
	mustRun(t, "exec", n, "sh", "-c", "(trap '' TERM; exec sleep 1000) >/dev/null 2>&1 &")
	mustRun(t, "exec", n, "sh", "-c", "sleep 1000 >/dev/null 2>&1 &")
	start := time.Now()
	mustRun(t, "stop", "-t", "1", n)
	if d := time.Since(start); d < time.Second {
		t.Errorf("stop returned after %v, before its 1 s grace for the process that ignores SIGTERM", d)
	}
	if _, ok := findListed(t, n); ok {
		t.Errorf("prison list still shows %s after stop", n)
	}
	assertOneLine(t, prison(t, nil, "stop", n), "no such jail")
}

// TestHooks: exec.* run where jail(8) runs them, in order; a failing
// exec.start takes the jail down again.
func TestHooks(t *testing.T) {
	n := jailName(t)
	dir := t.TempDir()
	trace := filepath.Join(dir, "trace")
	host := func(hook string) string { return fmt.Sprintf("%s=echo %s >> %s", hook, hook, trace) }
	create(t, n, "--root", probeRoot(t),
		host("exec.prestart"), host("exec.created"), "exec.start=echo started > /started",
		host("exec.poststart"), host("exec.prestop"), "exec.stop=touch /stopped", host("exec.poststop"))
	if got := mustRun(t, "exec", n, "cat", "/started"); got != "started\n" {
		t.Errorf("exec.start did not run inside: %q", got)
	}
	mustRun(t, "stop", n)
	got, _ := os.ReadFile(trace)
	want := "exec.prestart\nexec.created\nexec.poststart\nexec.prestop\nexec.poststop\n"
	if string(got) != want {
		t.Errorf("host hooks ran as\n%s\nwant\n%s", got, want)
	}

	bad := jailName(t)
	r := prison(t, nil, "create", "--root", probeRoot(t), bad, "exec.start=exit 3")
	if r.code != 125 || !strings.Contains(r.stderr, "exec.start") {
		t.Errorf("failing exec.start: exit %d, %q", r.code, r.stderr)
	}
	if _, ok := findListed(t, bad); ok {
		t.Errorf("the jail of a failed exec.start is still listed")
	}
}

// TestJailKilledFromHost: a jail whose PID 1 was SIGKILLed from the host
// is never reported as running, and its state goes with the next call.
func TestJailKilledFromHost(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--ip", "10.254.60.4")
	j, _ := findListed(t, n)
	if err := unix.Kill(j.PID, unix.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the init to die", func() bool { return len(jailInits(n)) == 0 })
	if _, ok := findListed(t, n); ok {
		t.Errorf("a jail whose init was killed is listed")
	}
	assertOneLine(t, prison(t, nil, "exec", n, "true"), "no such jail")
	// Its name and address are free again.
	create(t, n, "--root", probeRoot(t), "--ip", "10.254.60.4")
}

// TestRunJailIsListedAndJoinable: a jail of prison run is a jail like the
// others.
func TestRunJailIsListedAndJoinable(t *testing.T) {
	n := jailName(t)
	startJail(t, n, "--root", probeRoot(t), "--host", "runner", "/bin/sh", "-c", "echo ready; sleep 300")
	// prison run records the jail's init while its command runs, off
	// the start path: the command's first line can come first.
	var j listed
	var ok bool
	waitFor(t, "the run jail to be listed", func() bool { j, ok = findListed(t, n); return ok })
	if !ok || j.Status != "running" || j.Processes != 1 {
		t.Fatalf("prison list: %+v (found %v)", j, ok)
	}
	if got := mustRun(t, "exec", n, "hostname"); got != "runner\n" {
		t.Errorf("exec into a run jail: %q", got)
	}
	mustRun(t, "stop", "-t", "5", n)
	waitFor(t, "the run jail to end", func() bool { _, ok := findListed(t, n); return !ok })
}

// TestConcurrentCreateDelete: 20 jails created and deleted at once leave
// nothing behind, and each gets its own JID.
func TestConcurrentCreateDelete(t *testing.T) {
	const n = 20
	names := make([]string, n)
	for i := range names {
		names[i] = jailName(t)
	}
	var wg sync.WaitGroup
	errs := make(chan string, 2*n)
	for i, name := range names {
		wg.Go(func() {
			if r := prison(t, nil, "create", "--ip", fmt.Sprintf("10.254.60.%d", 100+i), name); r.code != 0 {
				errs <- fmt.Sprintf("create %s: %d %s", name, r.code, r.stderr)
			}
		})
	}
	wg.Wait()
	jids := map[int]string{}
	for _, j := range listJSON(t) {
		if prev, dup := jids[j.JID]; dup {
			t.Errorf("jails %s and %s share JID %d", prev, j.Name, j.JID)
		}
		jids[j.JID] = j.Name
	}
	for _, name := range names {
		wg.Go(func() {
			if r := prison(t, nil, "delete", "-t", "0", name); r.code != 0 {
				errs <- fmt.Sprintf("delete %s: %d %s", name, r.code, r.stderr)
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestMountsAndReadOnlyRoot: what a CI job brings in. Bound directories
// carry no setuid power and no devices; a read-only root stays so.
func TestMountsAndReadOnlyRoot(t *testing.T) {
	n := jailName(t)
	src := t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "input"), []byte("data\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "run", "--name", n, "--root", probeRoot(t), "--read-only",
		"--mount", src+":/work:ro", "--mount", src+":/rw", "--tmpfs", "/scratch:1m", "/bin/sh", "-c", `
cat /work/input
touch /work/x 2>/dev/null && echo work-writable
touch /newfile 2>/dev/null && echo root-writable
echo out > /rw/output
dd if=/dev/zero of=/scratch/fill bs=1k count=2048 2>/dev/null || echo scratch-full
grep -E ' /(work|rw|scratch) ' /proc/self/mountinfo | cut -d' ' -f5,6 | sed 's/,idmapped//' | sort
`)
	// With a user namespace, the bound trees are idmapped (and so say).
	want := "data\nscratch-full\n/rw rw,nosuid,nodev,relatime\n/scratch rw,nosuid,nodev,relatime\n/work ro,nosuid,nodev,relatime\n"
	if out != want {
		t.Errorf("mounts:\n%s\nwant\n%s", out, want)
	}
	if b, _ := os.ReadFile(filepath.Join(src, "output")); string(b) != "out\n" {
		t.Errorf("a write to the rw mount did not reach the host: %q", b)
	}
	for _, bad := range []struct{ flag, msg string }{
		{"relative:/x", `--mount "relative:/x": the source must be an absolute path`},
		{"/nonexistent-src:/x", `--mount "/nonexistent-src:/x": source`},
		{src + ":/proc/x", `cannot mount on /proc/x`},
	} {
		assertOneLine(t, prison(t, nil, "run", "--mount", bad.flag, "true"), bad.msg)
	}
	assertOneLine(t, prison(t, nil, "run", "--tmpfs", "/x:lots", "true"), `--tmpfs "/x:lots": size "lots"`)
}

// TestEscapeExecBinary: TestEscapeInitBinary through prison exec. The
// tenant's /evil makes the joined command's execve run the executable it
// came from as the interpreter; that must be no host file root inside
// could change, and prison there must not trust the tenant's daemon.
func TestEscapeExecBinary(t *testing.T) {
	root, fake := evilRoot(t)
	before := stateOf(t, prisonBin)
	n := jailName(t)
	create(t, n, "--root", root)

	cmd, out, _ := startEvil(t, "exec", n, "/evil")
	// The joined command, once it blocks on the fake daemon.
	var pid string
	waitFor(t, "the joined command to run /evil's interpreter", func() bool {
		for _, l := range strings.Split(mustRun(t, "ps", n), "\n") {
			if f := strings.Fields(l); len(f) >= 4 && f[3] == "/proc/self/exe" {
				pid = f[0]
				return true
			}
		}
		return false
	})
	exe := "/proc/" + pid + "/exe"
	chmodErr := os.Chmod(exe, 0o6777)
	w, openErr := os.OpenFile(exe, os.O_WRONLY, 0)
	if openErr == nil {
		w.Close()
	}
	if after := stateOf(t, prisonBin); after != before {
		t.Errorf("the host's prison binary changed through a joined command (chmod: %v, open: %v)", chmodErr, openErr)
		os.Chmod(prisonBin, before.mode)
	}
	if conn, _, err := unix.Accept4(fake.fd, unix.SOCK_CLOEXEC); err == nil {
		answerPwned(conn)
	}
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code == 42 || strings.Contains(out.String(), "pwned") {
		t.Errorf("prison inside the jail believed the tenant's fake daemon: exit %d, %q", code, out.String())
	}
}

// TestExecTerminal: prison exec at a terminal gives the command a pty of
// the jail's own devpts, sized as the caller's; -T gives none.
func TestExecTerminal(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t))
	cmd, r, _ := startOnPty(t, 25, 90, "exec", n, "/bin/sh")
	io.WriteString(r.f, "echo tty=$(tty) size=$(stty size)\n")
	if line := r.expect(t, "tty=/"); !strings.Contains(line, "tty=/dev/pts/") || !strings.Contains(line, "size=25 90") {
		t.Errorf("exec at a terminal: %q, want a pty of the jail's sized 25x90", line)
	}
	io.WriteString(r.f, "exit 5\n")
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 5 {
		t.Errorf("exit %d, want 5", code)
	}
	if got := mustRun(t, "exec", "-T", n, "sh", "-c", "tty || true"); got != "not a tty\n" {
		t.Errorf("exec -T: %q", got)
	}
}

// TestManyCommandsOnOneJail: set, list, exec and ps at once on one jail
// never leave its record unreadable or wrong.
func TestManyCommandsOnOneJail(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--ip", "10.254.60.5")
	var wg sync.WaitGroup
	errs := make(chan string, 100)
	for i := range 8 {
		wg.Go(func() {
			for k := range 5 {
				host := fmt.Sprintf("h%d-%d", i, k)
				var r result
				switch k % 4 {
				case 0:
					r = prison(t, nil, "set", n, "host.hostname="+host)
				case 1:
					r = prison(t, nil, "list", "--json")
					var l []listed
					if err := json.Unmarshal([]byte(r.stdout), &l); err != nil {
						errs <- fmt.Sprintf("list --json: %v: %q", err, r.stdout)
					}
				case 2:
					r = prison(t, nil, "exec", n, "true")
				case 3:
					r = prison(t, nil, "ps", n)
				}
				if r.code != 0 {
					errs <- fmt.Sprintf("%d/%d: exit %d: %s", i, k, r.code, r.stderr)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	// The record and the jail agree on the hostname the last set left.
	j, _ := findListed(t, n)
	if got := strings.TrimSpace(mustRun(t, "exec", n, "hostname")); got != j.Hostname {
		t.Errorf("the jail's hostname is %q, its record says %q", got, j.Hostname)
	}
}

// TestRestart: restart makes the jail again with the parameters it had.
func TestRestart(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--ip", "10.254.60.6", "--host", "again", "exec.start=touch /tmp/started")
	before, _ := findListed(t, n)
	mustRun(t, "exec", n, "sh", "-c", "rm /tmp/started; sleep 1000 >/dev/null 2>&1 &")
	mustRun(t, "restart", n)
	after, ok := findListed(t, n)
	if !ok || after.PID == before.PID || after.Hostname != "again" || strings.Join(after.Addrs, ",") != "10.254.60.6" || after.Processes != 0 {
		t.Errorf("after restart: %+v (before %+v)", after, before)
	}
	mustRun(t, "exec", n, "test", "-e", "/tmp/started")
}

// TestCreateBadInput: a bad parameter gets one line naming it as the user
// gave it (ip4.addr, not --ip), exit 125, and nothing is left behind.
func TestCreateBadInput(t *testing.T) {
	n := jailName(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"ip4.addr=10.1.1.999"}, `ip4.addr "10.1.1.999": not an IP address`},
		{[]string{"--ip", "10.1.1.999"}, `--ip "10.1.1.999": not an IP address`},
		{[]string{"host.hostname=bad_name"}, `host.hostname "bad_name"`},
		{[]string{"path=/nonexistent"}, `path "/nonexistent": no such directory`},
		{[]string{"host.hostnme=x"}, `host.hostnme: not a jail parameter`},
		{[]string{"exec.timeout=soon"}, `exec.timeout "soon": want seconds`},
		{[]string{"sysvmsg=new", "sysvshm=inherit"}, `sysvmsg, sysvsem, sysvshm: prison takes one setting`},
	} {
		assertOneLine(t, prison(t, nil, append([]string{"create", n}, c.args...)...), c.want)
	}
	create(t, n, "ip4.addr=10.254.60.7")
	assertOneLine(t, prison(t, nil, "create", n), fmt.Sprintf(`name %q: a jail of that name is running`, n))
	other := jailName(t)
	assertOneLine(t, prison(t, nil, "create", other, "ip4.addr=10.254.60.7"), fmt.Sprintf(`ip4.addr 10.254.60.7: already held by jail %q`, n))
}

// TestExecLeavesBackgroundRunning: a command that leaves a process in the
// background (an rc script starting a daemon) returns its status, with
// its output, though that process holds its stdout on: prison exec, and
// the daemon's client, stop relaying once the command is done and its
// output drained, as jexec returns with its shell.
func TestExecLeavesBackgroundRunning(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t))
	out, err := os.OpenFile(filepath.Join(t.TempDir(), "out"), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prisonBin, "exec", n, "sh", "-c", "echo before; sleep 1000 & echo after; exit 3")
	cmd.Stdout = out // a file: relayed, never the jail's
	err = cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("prison exec did not return while its background process held stdout")
	}
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d (%v), want the command's 3", code, err)
	}
	if b, _ := os.ReadFile(out.Name()); string(b) != "before\nafter\n" {
		t.Errorf("output %q", b)
	}
	if j, _ := findListed(t, n); j.Processes != 1 {
		t.Errorf("the background process is gone: %d processes", j.Processes)
	}
}
