package test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestHostnameAndDefaultName(t *testing.T) {
	n := jailName(t)
	if got := strings.TrimSpace(mustRun(t, "run", "--name", n, "--host", "cust1", "hostname")); got != "cust1" {
		t.Errorf("hostname inside = %q, want cust1", got)
	}
	// Without --host the hostname is the jail's name.
	if got := strings.TrimSpace(mustRun(t, "run", "--name", n, "cat", "/proc/sys/kernel/hostname")); got != n {
		t.Errorf("default hostname = %q, want the name %q", got, n)
	}
	host, _ := os.Hostname()
	if host == "cust1" {
		t.Errorf("the host's hostname changed to cust1")
	}
}

func TestOwnProcessTable(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "/bin/sh", "-c", `echo self=$$; ls /proc | grep -E '^[0-9]+$' | tr '\n' ' '`)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != "self=2" {
		t.Fatalf("want the command as PID 2 under the jail's reaper, got %q", out)
	}
	pids := strings.Fields(lines[1])
	// PID 1 (reaper), the shell, and the pipeline's processes: nothing of
	// the host's hundreds.
	if len(pids) > 5 || pids[0] != "1" {
		t.Errorf("/proc inside lists %v, want only the jail's few processes", pids)
	}
	ps := mustRun(t, "run", "--name", n, "ps", "-e", "-o", "pid=,comm=")
	if strings.Contains(ps, "go") || strings.Count(strings.TrimSpace(ps), "\n") > 3 {
		t.Errorf("ps inside shows more than the jail:\n%s", ps)
	}
}

func TestOwnIPCNamespace(t *testing.T) {
	n := jailName(t)
	// An object made on the host is invisible inside...
	key := 0x50000 + os.Getpid()%0xffff
	id, err := unix.SysvShmGet(key, 4096, unix.IPC_CREAT|0o600)
	if err != nil {
		t.Fatalf("shmget on host: %v", err)
	}
	t.Cleanup(func() { unix.SysvShmCtl(id, unix.IPC_RMID, nil) })
	inside := mustRun(t, "run", "--name", n, "cat", "/proc/sysvipc/shm")
	if strings.Contains(inside, strconv.Itoa(key)) {
		t.Errorf("the host's shm key %d is visible inside:\n%s", key, inside)
	}
	// ...and one made inside is invisible on the host: compare by key,
	// since other programs on the host may make segments meanwhile.
	out := mustRun(t, "run", "--name", n, "/bin/sh", "-c",
		"ipcmk -M 4096 >/dev/null && awk 'NR>1 {print $1}' /proc/sysvipc/shm")
	keys := strings.Fields(out)
	if len(keys) != 1 || keys[0] == "0" {
		t.Fatalf("ipcmk inside: the jail's segments are %q, want exactly the new one", keys)
	}
	host, _ := os.ReadFile("/proc/sysvipc/shm")
	for _, l := range strings.Split(string(host), "\n")[1:] {
		if f := strings.Fields(l); len(f) > 0 && f[0] == keys[0] {
			t.Errorf("the segment made inside (key %s) shows on the host", keys[0])
		}
	}
}

func TestOwnNetworkNamespaceLoopbackOnly(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "cat", "/proc/net/dev")
	var ifaces []string
	for _, l := range strings.Split(out, "\n")[2:] {
		if name, _, ok := strings.Cut(strings.TrimSpace(l), ":"); ok {
			ifaces = append(ifaces, name)
		}
	}
	if len(ifaces) != 1 || ifaces[0] != "lo" {
		t.Errorf("interfaces inside = %v, want only lo", ifaces)
	}
}

func TestDefaultRootContents(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "/bin/sh", "-c",
		`for p in /etc/shadow /etc/gshadow /work /old_root; do [ -e $p ] && echo "visible: $p"; done
		 echo home=$(ls -A /home | wc -l) root=$(ls -A /root | wc -l)
		 touch /usr/x 2>/dev/null && echo "usr writable"
		 touch /tmp/x /root/x /etc/x && echo writable-ok
		 grep -c : /etc/passwd; cat /etc/hostname`)
	for _, bad := range []string{"visible:", "usr writable"} {
		if strings.Contains(out, bad) {
			t.Errorf("default root: %s", out)
		}
	}
	for _, want := range []string{"home=0 root=0", "writable-ok", n} {
		if !strings.Contains(out, want) {
			t.Errorf("default root: want %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\n6\n") == false {
		t.Errorf("the jail's own passwd should have its 6 system users:\n%s", out)
	}
}

func TestBusyboxRoot(t *testing.T) {
	n := jailName(t)
	root := probeRoot(t)
	out := mustRun(t, "run", "--name", n, "--root", root, "/bin/sh", "-c", "echo jailed > /hello; ls /; cat /proc/1/status | head -1")
	if !strings.Contains(out, "linuxrc") || !strings.Contains(out, "probe") {
		t.Errorf("--root: the jail's / is not the busybox root:\n%s", out)
	}
	// The root is the jail's, writable, and what it writes lands in DIR.
	if b, err := os.ReadFile(root + "/hello"); err != nil || string(b) != "jailed\n" {
		t.Errorf("--root is not writable through the jail: %q %v", b, err)
	}
}

func TestCleanEnvironment(t *testing.T) {
	n := jailName(t)
	t.Setenv("SECRET_OF_CALLER", "x")
	out := mustRun(t, "run", "--name", n, "--host", "h1", "--env", "FOO=bar", "--env", "PATH=/bin:/usr/bin", "/usr/bin/env")
	got := strings.Fields(out)
	want := map[string]bool{"PATH=/bin:/usr/bin": true, "HOME=/root": true, "HOSTNAME=h1": true, "FOO=bar": true}
	for _, kv := range got {
		if strings.HasPrefix(kv, "TERM=") {
			continue
		}
		if !want[kv] {
			t.Errorf("unexpected variable inside: %s", kv)
		}
		delete(want, kv)
	}
	if len(want) != 0 {
		t.Errorf("missing inside: %v (got %v)", want, got)
	}
}

func TestUserCwd(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "--user", "nobody", "--cwd", "/tmp", "/bin/sh", "-c", "id -u; id -g; pwd; echo $HOME")
	if f := strings.Fields(out); strings.Join(f, " ") != "65534 65534 /tmp /nonexistent" {
		t.Errorf("--user nobody --cwd /tmp: got %q", out)
	}
	out = mustRun(t, "run", "--name", n, "--user", "1000:33", "/bin/sh", "-c", "id -u; id -g")
	if f := strings.Fields(out); strings.Join(f, " ") != "1000 33" {
		t.Errorf("--user 1000:33: got %q", out)
	}
}

func TestExitStatus(t *testing.T) {
	n := jailName(t)
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"exit code", []string{"/bin/sh", "-c", "exit 7"}, 7, ""},
		{"killed by SIGKILL", []string{"/bin/sh", "-c", "kill -9 $$"}, 137, ""},
		{"killed by SIGTERM", []string{"/bin/sh", "-c", "kill -TERM $$"}, 143, ""},
		{"not found", []string{"nosuchcommand"}, 127, "nosuchcommand: command not found"},
		{"not found by path", []string{"/no/such"}, 127, "/no/such: command not found"},
		{"not executable", []string{"/etc/hostname"}, 126, "/etc/hostname: cannot execute"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := prison(t, nil, append([]string{"run", "--name", n}, c.args...)...)
			if r.code != c.code {
				t.Errorf("exit %d, want %d (stderr %q)", r.code, c.code, r.stderr)
			}
			if c.msg != "" {
				assertOneLine(t, r, c.msg)
			}
		})
	}
}

func TestSignalsReachCommand(t *testing.T) {
	n := jailName(t)
	for _, sig := range []syscall.Signal{
		syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP,
		syscall.SIGQUIT, syscall.SIGUSR1, syscall.SIGUSR2,
	} {
		t.Run(sig.String(), func(t *testing.T) {
			// The command reports the signal it got, then exits 0: the
			// signal reached the command, not just the launcher.
			script := fmt.Sprintf("trap 'echo got; exit 0' %d; echo ready; while :; do sleep 0.05; done", int(sig))
			cmd := exec.Command(prisonBin, "run", "--name", n, "/bin/sh", "-c", script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			// A signal that never arrives must fail the test, not hang it.
			watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
			defer watchdog.Stop()
			buf := make([]byte, 6)
			if _, err := out.Read(buf); err != nil || string(buf) != "ready\n" {
				t.Fatalf("jail did not start: %q %v", buf, err)
			}
			cmd.Process.Signal(sig)
			rest := make([]byte, 16)
			k, _ := out.Read(rest)
			err = cmd.Wait()
			if string(rest[:k]) != "got\n" || err != nil {
				t.Errorf("after %v: output %q, wait %v", sig, rest[:k], err)
			}
		})
	}
	// Without a handler the command dies of the signal: 128+N.
	cmd := exec.Command(prisonBin, "run", "--name", n, "/bin/sh", "-c", "echo ready; exec sleep 30")
	out, _ := cmd.StdoutPipe()
	cmd.Start()
	watchdog := time.AfterFunc(30*time.Second, func() { cmd.Process.Kill() })
	defer watchdog.Stop()
	buf := make([]byte, 6)
	out.Read(buf)
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code != 143 {
		t.Errorf("SIGTERM to a command without handler: exit %d, want 143", code)
	}
}

// assertOneLine checks prison's error output: exactly one line containing
// want (plus an optional hint line), and no Go stack trace.
func assertOneLine(t *testing.T, r result, want string) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	if len(lines) == 2 && strings.HasPrefix(lines[1], "hint: ") {
		lines = lines[:1]
	}
	if len(lines) != 1 || !strings.Contains(lines[0], want) || !strings.HasPrefix(lines[0], "prison: ") {
		t.Errorf("stderr = %q, want one line 'prison: …%s…'", r.stderr, want)
	}
	if strings.Contains(r.stderr, "goroutine") || strings.Contains(r.stderr, "panic") {
		t.Errorf("stack trace on stderr: %s", r.stderr)
	}
}

func TestBadInput(t *testing.T) {
	n := jailName(t)
	file := t.TempDir() + "/file"
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"hostname too long", []string{"--host", strings.Repeat("a", 65)}, `--host "aaaa`},
		{"hostname invalid", []string{"--host", "bad_name"}, `--host "bad_name": invalid character`},
		{"root missing", []string{"--root", "/no/such/dir"}, `--root "/no/such/dir": no such directory`},
		{"root not a directory", []string{"--root", file}, "not a directory"},
		{"cwd relative", []string{"--cwd", "tmp"}, `--cwd "tmp": must be an absolute path`},
		{"cwd missing", []string{"--cwd", "/no/such"}, `--cwd "/no/such": no such directory in the jail`},
		{"unknown user", []string{"--user", "nosuchuser"}, `--user "nosuchuser": no such user`},
		{"unknown group", []string{"--user", "root:nosuchgroup"}, `no such group`},
		{"bad env", []string{"--env", "NOVALUE"}, `--env "NOVALUE": want KEY=VALUE`},
		{"bad name", []string{"--name", "../x"}, `--name "../x"`},
		{"bad sysvipc", []string{"--sysvipc", "maybe"}, `--sysvipc "maybe"`},
		{"unknown flag", []string{"--bogus"}, "unknown flag: --bogus"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"run", "--name", n}, c.args...)
			if c.name == "bad name" {
				args = append([]string{"run"}, c.args...)
			}
			r := prison(t, nil, append(args, "true")...)
			if r.code != 125 {
				t.Errorf("exit %d, want 125", r.code)
			}
			assertOneLine(t, r, c.want)
		})
	}
	t.Run("no command", func(t *testing.T) {
		r := prison(t, nil, "run", "--name", n)
		if r.code != 125 {
			t.Errorf("exit %d, want 125", r.code)
		}
		assertOneLine(t, r, "command: missing")
	})
}

func TestDuplicateName(t *testing.T) {
	n := jailName(t)
	startJail(t, n, "/bin/sh", "-c", "echo ready; exec cat")
	r := prison(t, nil, "run", "--name", n, "true")
	if r.code != 125 {
		t.Errorf("second jail with the same name: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, fmt.Sprintf(`--name %q: a jail of that name is running`, n))
}

// TestNotRoot: what only root may do says so in one line. A jail
// without a network is not among it (rootless_test.go).
func TestNotRoot(t *testing.T) {
	cmd := exec.Command(prisonBin, "daemon", "--socket", "/tmp/prison-notroot.sock")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	var errb strings.Builder
	cmd.Stderr = &errb
	cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 125 {
		t.Errorf("as nobody: exit %d, want 125", code)
	}
	assertOneLine(t, result{stderr: errb.String()}, "prison must run as root")
}

func TestSIGKILLOfLauncherKillsJail(t *testing.T) {
	n := jailName(t)
	b := startJail(t, n, "/bin/sh", "-c", "echo ready; sleep 300 & sleep 300")
	if len(jailInits(n)) == 0 {
		t.Fatal("no jail init found while the jail runs")
	}
	b.kill()
	// The kernel kills the init (parent-death signal) and with it the
	// jail's PID namespace; give it a moment, bounded.
	deadline := time.Now().Add(10 * time.Second)
	for len(jailInits(n)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if left := jailInits(n); len(left) > 0 {
		t.Fatalf("jail init still alive after SIGKILL of its launcher: %v", left)
	}
	// The next prison call removes what the killed launcher left (the
	// cleanup check asserts it).
	mustRun(t, "run", "true")
}

func TestOrphansReaped(t *testing.T) {
	n := jailName(t)
	// The inner shell exits at once, so its sleep is an orphan of the
	// jail's PID 1. Once it has exited, ps must not show it as a zombie.
	out := mustRun(t, "run", "--name", n, "/bin/sh", "-c",
		`sh -c 'sleep 0.1 &'
		 for i in $(seq 200); do ps -eo stat=,comm= | grep -q ' sleep$' || break; sleep 0.05; done
		 ps -eo stat=,comm=`)
	if strings.Contains(out, "sleep") {
		t.Errorf("an orphan is left (a zombie is not reaped):\n%s", out)
	}
}

func TestMinimalDev(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "--root", probeRoot(t), "/bin/sh", "-c", "ls /dev; ls /dev/pts; stat -c %t:%T /dev/null")
	want := "core fd full mqueue null ptmx pts random shm stderr stdin stdout tty urandom zero ptmx 1:3"
	if got := strings.Join(strings.Fields(out), " "); got != want {
		t.Errorf("/dev inside:\n got %s\nwant %s", got, want)
	}
}

func TestNoHostFDsInside(t *testing.T) {
	n := jailName(t)
	// A caller that leaves files open without close-on-exec hands them to
	// prison; none of them may reach the jail (CVE-2024-21626).
	leak, err := os.Open("/etc/hostname")
	if err != nil {
		t.Fatal(err)
	}
	defer leak.Close()
	cmd := exec.Command(prisonBin, "run", "--name", n, "--root", probeRoot(t), "--ip", "10.254.14.1", "/probe", "fds")
	// Ten of them: the launcher's fork reuses the lowest fds above its
	// own as scratch space, which would hide a leak of fds 4 and 5.
	for range 10 {
		cmd.ExtraFiles = append(cmd.ExtraFiles, leak)
	}
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("prison: %v", err)
	}
	for _, f := range strings.Fields(string(out)) {
		fd, target, _ := strings.Cut(f, "=")
		// fds 0-2 are the command's stdio; a higher one with no target
		// is the probe's own, closed directory listing.
		if fd != "0" && fd != "1" && fd != "2" && target != "" {
			t.Errorf("fd %s reached the jail: %s", fd, target)
		}
	}
}
