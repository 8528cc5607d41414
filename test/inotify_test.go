package test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// With --userns host, root inside is host uid 0, whose per-user count of
// inotify instances (fs.inotify.max_user_instances) host root needs too
// (issue 9, finding 5). The jail's inotify calls are answered by its init,
// with instances made as a host uid of the jail's own: these tests show
// that a jail stops at that uid's limit, that host root and a second jail
// are untouched meanwhile, that prison exec's commands are served alike,
// and that inotify still works inside (tail -f). The limit is the host's
// own: the tests do not change it.

// inotifyName is a jail name of these tests, checked for leftovers at the
// test's end.
func inotifyName(t *testing.T) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	n := "inotify-" + hex.EncodeToString(b[:])
	t.Cleanup(func() { assertNoLeftovers(t, n) })
	return n
}

// inotifyLimits returns fs.inotify.max_user_instances, the script's
// LIMIT argument (more than that), the RLIMIT_NOFILE for a jail running
// it, and the line the script prints when it stops at the limit.
func inotifyLimits(t *testing.T) (perUser int, limit, nofile, want string) {
	t.Helper()
	b, err := os.ReadFile("/proc/sys/fs/inotify/max_user_instances")
	if err != nil {
		t.Fatal(err)
	}
	perUser, err = strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("max_user_instances: %q", b)
	}
	return perUser, strconv.Itoa(perUser + 16), strconv.Itoa(perUser + 64), fmt.Sprintf("instances=%d stop=EMFILE", perUser)
}

// requireRootInotify skips when host root cannot make an instance before
// any jail runs: the host's own processes hold root's share.
func requireRootInotify(t *testing.T) {
	t.Helper()
	fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		t.Skipf("host root cannot make an inotify instance before the test (%v): root's processes hold them all", err)
	}
	unix.Close(fd)
}

// inotifyOwner is the host uid that a running jail's inotify instances
// are made as, from its state.
func inotifyOwner(t *testing.T, name string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("/run/prison", name, "state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var s struct {
		Inotify *struct {
			UID int `json:"uid"`
		} `json:"inotify"`
	}
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatal(err)
	}
	if s.Inotify == nil {
		t.Fatalf("jail %s: no inotify owner in its state: %s", name, b)
	}
	return s.Inotify.UID
}

// TestHostUsernsInotifyExhaust: a host-mode jail that makes inotify
// instances until it may not stops at max_user_instances, all of its own
// uid's; meanwhile host root still makes one, and a second host-mode jail
// gets as many as the first. Without the jail's own uid it took host
// root's: root got EMFILE.
func TestHostUsernsInotifyExhaust(t *testing.T) {
	requireRootInotify(t)
	_, limit, nofile, want := inotifyLimits(t)
	for _, tc := range []struct {
		name  string
		allow []string
	}{
		{"served by the init", nil},
		// The launcher serves the hostname calls, and then the
		// inotify calls too (one listener per filter).
		{"served by the launcher beside set_hostname", []string{"--allow", "set_hostname"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := inotifyName(t)
			args := append([]string{"--userns", "host", "--nofile", nofile}, tc.allow...)
			hog := startJail(t, n, append(args, "/bin/sh", "-c",
				"echo ready; exec python3 -c '"+inotifyScript+"' "+limit)...)
			if got := jailLines(t, hog, 2); got[0] != want || got[1] != "READY" {
				t.Fatalf("a host-mode jail taking every inotify instance it can: %q, want %q, READY", got, want)
			}
			fd, err := unix.InotifyInit1(unix.IN_CLOEXEC)
			if err != nil {
				t.Errorf("host root cannot make an inotify instance while a host-mode jail holds its share: %v", err)
			} else {
				unix.Close(fd)
			}
			got := jailLine(t, append(append([]string{"run", "--name", inotifyName(t)}, args...),
				"python3", "-c", inotifyScript, limit)...)
			if got != want+"\nREADY" {
				t.Errorf("a second host-mode jail beside it: %q, want %q, READY", got, want)
			}
			if uid := inotifyOwner(t, n); uid == 0 {
				t.Errorf("the jail's inotify owner is host root")
			}
		})
	}
}

// inotifyUseScript checks what a program sees of the instances it gets:
// the flags it asked for, EINVAL for others, and events of a watch.
const inotifyUseScript = `
import ctypes, errno, fcntl, os, struct
libc = ctypes.CDLL(None, use_errno=True)
def init(flags):
    fd = libc.inotify_init1(flags)
    return fd, (0 if fd >= 0 else ctypes.get_errno())
fd, e = init(0o1)
print("bad flags:", errno.errorcode.get(e, e))
fd, e = init(0o4000 | 0o2000000)
print("nonblock:", bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK), "cloexec:", bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))
fd, e = init(0)
print("plain: nonblock:", bool(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK), "cloexec:", bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC))
open("/tmp/w", "w").close()
wd = libc.inotify_add_watch(fd, b"/tmp/w", 2)
with open("/tmp/w", "a") as f:
    f.write("x")
print("event:", struct.unpack("iIII", os.read(fd, 64)[:16])[1] == 2)
`

// TestHostUsernsInotifyWorks: inside a host-mode jail the instances are
// real ones, with the flags asked for, watches and events; GNU tail -f
// follows a file through inotify. From prison exec too, whose commands
// are served by their own init.
func TestHostUsernsInotifyWorks(t *testing.T) {
	wantUse := "bad flags: EINVAL\nnonblock: True cloexec: True\nplain: nonblock: False cloexec: False\nevent: True"
	// tail -f, with an inotify watch in its fdinfo, sees a line written
	// after it started.
	tail := `touch /tmp/f; tail -f /tmp/f & sleep 0.5; echo followed >> /tmp/f; sleep 0.5
cat /proc/$!/fdinfo/* | grep -c "^inotify wd:"; kill $!`
	wantTail := "followed\n1"

	if got := jailLine(t, "run", "--name", inotifyName(t), "--userns", "host", "python3", "-c", inotifyUseScript); got != wantUse {
		t.Errorf("inotify in a host-mode jail:\n%s\nwant\n%s", got, wantUse)
	}
	if got := jailLine(t, "run", "--name", inotifyName(t), "--userns", "host", "sh", "-c", tail); got != wantTail {
		t.Errorf("tail -f in a host-mode jail: %q, want %q", got, wantTail)
	}

	requireRootInotify(t)
	_, limit, nofile, want := inotifyLimits(t)
	n := inotifyName(t)
	mustRun(t, "create", "--userns", "host", "--nofile", nofile, n)
	t.Cleanup(func() { prison(t, nil, "delete", n) })
	if got := jailLine(t, "exec", n, "python3", "-c", inotifyUseScript); got != wantUse {
		t.Errorf("inotify in prison exec:\n%s\nwant\n%s", got, wantUse)
	}
	if got := jailLine(t, "exec", n, "sh", "-c", tail); got != wantTail {
		t.Errorf("tail -f in prison exec: %q, want %q", got, wantTail)
	}
	// Two commands at once share the jail's uid: the second gets none
	// while the first holds them all, and host root is untouched.
	hog := startExec(t, n, "sh", "-c", "echo ready; exec python3 -c '"+inotifyScript+"' "+limit)
	if got := jailLines(t, hog, 2); got[0] != want || got[1] != "READY" {
		t.Fatalf("prison exec taking every inotify instance it can: %q, want %q, READY", got, want)
	}
	if got := jailLine(t, "exec", n, "python3", "-c", inotifyScript, "1"); got != "instances=0 stop=EMFILE\nREADY" {
		t.Errorf("a second command of the jail meanwhile: %q, want none (its uid's are all taken)", got)
	}
	if fd, err := unix.InotifyInit1(unix.IN_CLOEXEC); err != nil {
		t.Errorf("host root cannot make an inotify instance while prison exec holds the jail's share: %v", err)
	} else {
		unix.Close(fd)
	}
}
