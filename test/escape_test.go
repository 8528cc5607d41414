package test

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The escape tests replay, as a hostile tenant, the ways an audit reached
// the host from a jail's root (issue 9): each asserts what the host sees
// afterwards, since "the call failed inside" alone would not show that
// nothing happened outside. The suite runs them twice, without and with a
// prison daemon, so the Go launcher and the daemon's C client both answer.

// fileState is what a tenant could change of a host file.
type fileState struct {
	mode     os.FileMode
	uid, gid uint32
	sum      [32]byte
}

func stateOf(t *testing.T, path string) fileState {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fileState{fi.Mode(), st.Uid, st.Gid, sha256.Sum256(b)}
}

// TestEscapeStdioFile: a host file given as stdin, stdout or stderr reaches
// the jail as a byte stream. Root inside tries what CAP_FOWNER and
// CAP_DAC_OVERRIDE allow on the descriptor it holds (reopen it read-write
// through /proc/self/fd, rewrite and truncate it, chmod 4755, chown, set a
// file capability): the host files keep their contents, modes and owners,
// and what the jail wrote is in the output file all the same.
func TestEscapeStdioFile(t *testing.T) {
	dir := t.TempDir()
	in, out, errf := filepath.Join(dir, "script"), filepath.Join(dir, "out.log"), filepath.Join(dir, "err.log")
	if err := os.WriteFile(in, []byte("input line\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{out, errf} {
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	inBefore := stateOf(t, in)
	attack := `
read line; echo "read: $line"
echo rootme > /proc/self/fd/0 2>/dev/null
for fd in 0 1 2; do
	chmod 4755 /proc/self/fd/$fd 2>/dev/null
	chown 65534:65534 /proc/self/fd/$fd 2>/dev/null
	setcap cap_setuid+ep /proc/self/fd/$fd 2>/dev/null
	truncate -s 0 /proc/self/fd/$fd 2>/dev/null
done
echo after >&2
cat /etc/hostname > /proc/self/fd/1
`
	stdin, err := os.Open(in)
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := os.OpenFile(out, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stdout.Close()
	stderr, err := os.OpenFile(errf, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer stderr.Close()
	n := jailName(t)
	cmd := exec.Command(prisonBin, "run", "--name", n, "--host", "stdio1", "/bin/sh", "-c", attack)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(errf)
		t.Fatalf("prison run: %v\n%s", err, b)
	}
	if after := stateOf(t, in); after != inBefore {
		t.Errorf("the host's stdin file changed: %+v, was %+v", after, inBefore)
	}
	for _, p := range []string{out, errf} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		if fi.Mode() != 0o644 || st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s: mode %v owner %d:%d, want -rw-r--r-- 0:0", filepath.Base(p), fi.Mode(), st.Uid, st.Gid)
		}
		if caps, _ := unix.Getxattr(p, "security.capability", nil); caps > 0 {
			t.Errorf("%s got a file capability", filepath.Base(p))
		}
	}
	if b, _ := os.ReadFile(out); string(b) != "read: input line\nstdio1\n" {
		t.Errorf("out.log: %q, want what the jail wrote", b)
	}
	if b, _ := os.ReadFile(errf); string(b) != "after\n" {
		t.Errorf("err.log: %q, want what the jail wrote", b)
	}
}

// TestEscapeStdioDevNull: exec.Cmd's nil stdin is the host's /dev/null. A
// copy of it (same device) stands in for the real one, which the attack
// would break for the whole machine if it held.
func TestEscapeStdioDevNull(t *testing.T) {
	null := filepath.Join(t.TempDir(), "null")
	if err := unix.Mknod(null, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(null, 0o666); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(null, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := jailName(t)
	cmd := exec.Command(prisonBin, "run", "--name", n, "/bin/sh", "-c",
		"chmod 0777 /proc/self/fd/0; chown 65534 /proc/self/fd/0; cat; echo done")
	cmd.Stdin = f
	got, err := cmd.Output()
	if err != nil || string(got) != "done\n" {
		t.Fatalf("prison run: %v, %q", err, got)
	}
	fi, err := os.Stat(null)
	if err != nil {
		t.Fatal(err)
	}
	if st := fi.Sys().(*syscall.Stat_t); fi.Mode().Perm() != 0o666 || st.Uid != 0 {
		t.Errorf("the host's null device: %v owner %d, want 0666 owner 0", fi.Mode(), st.Uid)
	}
}

// fakeDaemon listens on path as a tenant's fake prison daemon would, with
// a backlog that a connection of its own fills: the next client blocks in
// connect(2) until the test lets it through with accept.
type fakeDaemon struct{ fd, filler int }

func listenFake(t *testing.T, path string) *fakeDaemon {
	t.Helper()
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeDaemon{fd: fd, filler: -1}
	t.Cleanup(func() {
		unix.Close(f.fd)
		if f.filler >= 0 {
			unix.Close(f.filler)
		}
	})
	if err := unix.Bind(fd, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	if err := unix.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	if f.filler, err = unix.Socket(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Connect(f.filler, &unix.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
	return f
}

// childOf returns the only child of pid, waiting for it (bounded).
func childOf(t *testing.T, pid string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		b, _ := os.ReadFile("/proc/" + pid + "/task/" + pid + "/children")
		if f := strings.Fields(string(b)); len(f) == 1 {
			return f[0]
		}
	}
	t.Fatalf("pid %s: no child", pid)
	return ""
}

// TestEscapeInitBinary (CVE-2019-5736): a tenant who controls a root makes
// the command the provider runs there a script whose interpreter is
// /proc/self/exe. The jail's PID 2 then executes whatever the init was
// executed from, and its client part connects to the root's
// /run/prison.sock, where the tenant's fake daemon waits. Neither gives the
// host away: PID 2's executable cannot be written, chmodded or chowned into
// the host's prison binary (acted out here with all of the host root's
// powers, more than the tenant has), and the client does not believe the
// fake daemon (it would print what the daemon sends, with its status).
func TestEscapeInitBinary(t *testing.T) {
	root, fake := evilRoot(t)
	before := stateOf(t, prisonBin)

	n := jailName(t)
	cmd, out, errb := startEvil(t, "run", "--name", n, "--root", root, "/evil")
	var init string
	for deadline := time.Now().Add(20 * time.Second); init == "" && time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if pids := jailInits(n); len(pids) == 1 {
			init = pids[0]
		}
	}
	if init == "" {
		t.Fatalf("no init for jail %s: %s", n, errb.String())
	}
	pid2 := childOf(t, init)
	// PID 2 runs /evil's interpreter once it blocks on the fake daemon.
	exe := "/proc/" + pid2 + "/exe"
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if b, _ := os.ReadFile("/proc/" + pid2 + "/cmdline"); bytes.HasPrefix(b, []byte("/proc/self/exe\x00")) {
			break
		}
	}
	if b, _ := os.ReadFile("/proc/" + pid2 + "/cmdline"); !bytes.HasPrefix(b, []byte("/proc/self/exe\x00")) {
		t.Fatalf("PID 2 did not run /evil's interpreter: %q", b)
	}
	chmodErr := os.Chmod(exe, 0o6777)
	chownErr := os.Chown(exe, 65534, 65534)
	w, openErr := os.OpenFile(exe, os.O_WRONLY, 0)
	if openErr == nil {
		w.Close()
	}
	truncErr := os.Truncate(exe, 0)
	if after := stateOf(t, prisonBin); after != before {
		t.Errorf("the host's prison binary changed through the jail's PID 2 (chmod: %v, chown: %v, open: %v, truncate: %v): %+v, was %+v",
			chmodErr, chownErr, openErr, truncErr, after, before)
		os.Chmod(prisonBin, before.mode)
		os.Chown(prisonBin, int(before.uid), int(before.gid))
	}

	// Let the blocked client in, and answer as a daemon would that has
	// run its command: status 42, "pwned".
	conn, _, err := unix.Accept4(fake.fd, unix.SOCK_CLOEXEC)
	if err != nil {
		t.Fatal(err)
	}
	conn2, _, err := unix.Accept4(fake.fd, unix.SOCK_CLOEXEC)
	if err == nil {
		conn, conn2 = conn2, conn // the filler came first
		unix.Close(conn2)
	}
	answerPwned(conn)
	cmd.Wait()
	if code := cmd.ProcessState.ExitCode(); code == 42 || strings.Contains(out.String(), "pwned") {
		t.Errorf("prison inside the jail believed the tenant's fake daemon: exit %d, %q", code, out.String())
	}
}

// evilRoot is a tenant's root whose /evil runs the executable it came from
// as its interpreter ("#!/proc/self/exe run"), with a fake daemon listening
// at /run/prison.sock in it.
func evilRoot(t *testing.T) (string, *fakeDaemon) {
	t.Helper()
	root := probeRoot(t)
	if err := os.WriteFile(filepath.Join(root, "evil"), []byte("#!/proc/self/exe run\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "run"), 0o755); err != nil {
		t.Fatal(err)
	}
	return root, listenFake(t, filepath.Join(root, "run", "prison.sock"))
}

// startEvil starts prison with args in the background, with the default
// daemon socket (inside a jail, the tenant's); the test's cleanup kills it.
func startEvil(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *lockedBuffer) {
	t.Helper()
	cmd = exec.Command(prisonBin, args...)
	cmd.Env = append(os.Environ(), "PRISON_SOCKET=")
	stdout, stderr = &lockedBuffer{}, &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stdout, stderr
}

// answerPwned answers a client as a daemon would that has run its
// command: status 42, "pwned" on stdout. A prison that believes it shows.
func answerPwned(conn int) {
	done := binary.NativeEndian.AppendUint32(nil, 6) // NSINIT_DAEMON_DONE
	done = binary.NativeEndian.AppendUint32(done, 42)
	done = binary.NativeEndian.AppendUint32(done, 6)
	done = append(done, "pwned\n"...)
	_ = unix.Send(conn, done, unix.MSG_NOSIGNAL)
	unix.Close(conn)
}

// TestEscapeCredentials: the command's user, group and supplementary
// groups are always the plan's, never what the caller of prison had.
func TestEscapeCredentials(t *testing.T) {
	n := jailName(t)
	cmd := exec.Command("setpriv", "--groups", "4,27,100", "--regid", "5", "--ruid", "7",
		prisonBin, "run", "--name", n, "/bin/sh", "-c", "id -u; id -g; id -G; id -ru; id -rg")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	got, err := cmd.Output()
	if err != nil {
		t.Fatalf("prison run under setpriv: %v %q %s", err, got, stderr.String())
	}
	if string(got) != "0\n0\n0\n0\n0\n" {
		t.Errorf("root inside is %q, want uid, gid, groups, real uid and gid all 0", got)
	}
	n = jailName(t)
	cmd = exec.Command("setpriv", "--groups", "4,27,100", prisonBin, "run", "--name", n, "--user", "nobody",
		"/bin/sh", "-c", "id -u; id -G")
	if got, err = cmd.Output(); err != nil || string(got) != "65534\n65534\n" {
		t.Errorf("nobody inside: %v %q, want 65534 and no other group", err, got)
	}
}

// TestEscapeExactModes: the init makes the root's directories and device
// nodes with exact modes and no chmod by path afterwards (a path in a root
// that a second jail can write may have become a symlink to a host file by
// then); the command gets the caller's umask back.
func TestEscapeExactModes(t *testing.T) {
	n := jailName(t)
	cmd := exec.Command("/bin/sh", "-c", `umask 077; exec "$0" "$@"`, prisonBin, "run", "--name", n,
		"/bin/sh", "-c", "stat -c '%a %n' /tmp /dev/null /dev/pts /var/tmp; umask")
	got, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "1777 /tmp\n666 /dev/null\n755 /dev/pts\n1777 /var/tmp\n0077\n"
	if string(got) != want {
		t.Errorf("inside, under a caller's umask 077:\n%s\nwant\n%s", got, want)
	}
}

// TestEscapeMalformedPlan: the init reads its plan defensively. Plans whose
// first record is malformed (nothing before it runs) must end in an error
// report, never in a read past a record.
func TestEscapeMalformedPlan(t *testing.T) {
	rec := func(typ uint32, payload []byte, length uint32) []byte {
		b := binary.NativeEndian.AppendUint32(nil, typ)
		b = binary.NativeEndian.AppendUint32(b, length)
		b = append(b, payload...)
		for len(b)%8 != 0 {
			b = append(b, 0)
		}
		return b
	}
	for _, c := range []struct {
		name string
		plan []byte
	}{
		{"length past the end", rec(20, []byte("sh\x00"), 1<<20)},
		{"length that wraps", rec(20, []byte("sh\x00"), 0xfffffffd)},
		{"unterminated string", rec(9, []byte("hostnamexx"), 10)},
		{"mount without its strings", rec(1, make([]byte, 8), 8)},
		{"too many groups", rec(23, make([]byte, 12), 12)},
		{"filter too long", rec(26, make([]byte, 8+8*5000), 8+8*5000)},
		{"short header", []byte{20, 0, 0}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "too many groups" {
				binary.NativeEndian.PutUint32(c.plan[8+8:], 65)
			}
			fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
			if err != nil {
				t.Fatal(err)
			}
			ours := os.NewFile(uintptr(fds[0]), "sync")
			theirs := os.NewFile(uintptr(fds[1]), "sync")
			defer ours.Close()
			if _, err := ours.Write(c.plan); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(prisonBin, "__prison_init", "malformed")
			cmd.ExtraFiles = []*os.File{theirs}
			err = cmd.Start()
			theirs.Close()
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 64)
			ours.SetReadDeadline(time.Now().Add(20 * time.Second))
			n, rerr := ours.Read(buf)
			cmd.Wait()
			if code := cmd.ProcessState.ExitCode(); code != 125 {
				t.Errorf("init exit %d, want 125", code)
			}
			if rerr != nil || n != 12 || binary.NativeEndian.Uint32(buf) != 2 {
				t.Fatalf("init reported %d bytes %x (%v), want an ERROR message", n, buf[:n], rerr)
			}
			if e := syscall.Errno(binary.NativeEndian.Uint32(buf[8:])); e != unix.EINVAL {
				t.Errorf("init reported %v, want EINVAL", e)
			}
		})
	}
}

// TestEscapeOrphans: a jail never outlives the process that started it,
// whatever moment that process is killed at. The audit's race (a client
// killed between its clone and the child's parent-death signal) lasts
// microseconds, and random kills did not hit it here even against the old
// code; the fix holds by construction (client.c spawn), and this test
// guards the property and the state lock's hand-over to PID 1. Hundreds of clients of a
// daemon, and of launchers without one, killed 0-15 ms after their start:
// afterwards no init of that jail is left, and the name and address that
// every one of them claimed are free (no two jails ever held them).
func TestEscapeOrphans(t *testing.T) {
	if os.Getenv("PRISON_TEST_DAEMON") == "1" {
		t.Skip("the first pass covers both modes")
	}
	for _, mode := range []string{"launcher", "daemon"} {
		t.Run(mode, func(t *testing.T) {
			var d *daemon
			var env []string
			if mode == "daemon" {
				d = startDaemon(t)
				env = d.env()
			}
			n := jailName(t)
			for i := 0; i < 150; i++ {
				cmd := exec.Command(prisonBin, "run", "--name", n, "--ip", "10.254.41.2", "sleep", "30")
				cmd.Env = append(os.Environ(), env...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(time.Duration(rand.IntN(15000)) * time.Microsecond)
				cmd.Process.Kill()
				cmd.Wait()
				if pids := jailInits(n); len(pids) > 1 {
					t.Fatalf("round %d: %d inits of one jail: %v", i, len(pids), pids)
				}
			}
			if d != nil {
				// A loaded daemon may still be reading the request of a
				// client killed a moment ago, and claim the name for it
				// before it finds the client gone: stopping it drains
				// that, so that what is checked below is final.
				d.cmd.Process.Signal(syscall.SIGTERM)
				if err := d.cmd.Wait(); err != nil {
					t.Errorf("daemon: %v\n%s", err, d.log)
				}
			}
			// A jail's state goes with its last process; the kernel ends
			// the processes of a killed launcher's jail asynchronously.
			deadline := time.Now().Add(10 * time.Second)
			for (len(jailInits(n)) > 0 || fileExists("/run/prison/"+n)) && time.Now().Before(deadline) {
				time.Sleep(20 * time.Millisecond)
			}
			if left := jailInits(n); len(left) > 0 {
				t.Fatalf("orphaned inits outlived their killed prison run: %v", left)
			}
			// The name and address are free: a new jail takes both.
			got := mustRun(t, "run", "--name", n, "--ip", "10.254.41.2", "/bin/sh", "-c", "echo ok")
			if got != "ok\n" {
				t.Errorf("after the kills: %q", got)
			}
		})
	}
}

// TestEscapeSignalDispositions: a jail starts with every signal at its
// default, whatever the caller of prison ignored (a shell's trap ”, nohup)
// — with or without a daemon. An ignored SIGCHLD in particular would have
// the kernel reap the command before the jail's PID 1 could report it.
func TestEscapeSignalDispositions(t *testing.T) {
	n := jailName(t)
	cmd := exec.Command("/bin/sh", "-c", `trap '' INT HUP QUIT CHLD USR1; exec "$0" "$@"`, prisonBin,
		"run", "--name", n, "/bin/sh", "-c", "grep SigIgn /proc/self/status; exit 3")
	got, _ := cmd.Output()
	if code := cmd.ProcessState.ExitCode(); code != 3 {
		t.Errorf("exit %d, want the command's 3", code)
	}
	if want := "SigIgn:\t0000000000000000\n"; string(got) != want {
		t.Errorf("inside, under a caller that ignores INT, HUP, QUIT, CHLD and USR1: %q, want %q", got, want)
	}
}
