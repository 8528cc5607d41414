package test

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
)

// TestExhaustPtys: terminals are a host-wide table (kernel.pty.max less
// what is reserved for the host's own devpts). A jail that opens all it
// can stops at its share, and the host and a second jail still get a
// terminal while it holds them (issue 9, finding 5).
func TestExhaustPtys(t *testing.T) {
	root := probeRoot(t)
	hog := startJail(t, jailName(t), "--root", root, "/bin/sh", "-c", "echo ready; /probe ptys-hold")
	got, _ := hog.out.ReadString('\n')
	if want := "ptys=128 stop=ENOSPC\n"; got != want {
		t.Fatalf("a jail opening every terminal it can: %q, want %q", got, want)
	}
	if f, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0); err != nil {
		t.Errorf("the host cannot open a terminal while a jail holds its share: %v", err)
	} else {
		f.Close()
	}
	got = jailLine(t, "run", "--name", jailName(t), "--root", root, "/bin/sh", "-c",
		"/probe ptys | cut -d' ' -f1")
	if got != fmt.Sprintf("ptys=%d", 128) {
		t.Errorf("a second jail beside it: %s, want ptys=128", got)
	}
}

// TestExhaustKeys: the kernel's key quotas are per user, and jail root is
// host uid 0, so the keyring calls are refused outright: 200 keys tried
// inside do not appear in root's key count (which other host activity may
// move a little meanwhile).
func TestExhaustKeys(t *testing.T) {
	before := rootKeys(t)
	got := jailLine(t, "run", "--name", jailName(t), "--root", sharedProbeRoot(t), "/probe", "addkeys", "200")
	if got != "add_key=EPERM" {
		t.Errorf("inside: %s, want add_key=EPERM", got)
	}
	if after := rootKeys(t); after >= before+100 {
		t.Errorf("root's key count went from %d to %d", before, after)
	}
}

// rootKeys is root's key count in /proc/key-users.
func rootKeys(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/key-users")
	if err != nil {
		t.Skipf("no /proc/key-users: %v", err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && f[0] == "0:" {
			n, err := strconv.Atoi(f[1])
			if err != nil {
				t.Fatalf("/proc/key-users: %q", l)
			}
			return n
		}
	}
	return 0
}

// TestExhaustMsgQueues: POSIX message queue memory is accounted per user,
// and root inside is host uid 0. A jail that creates queues until it
// cannot stops at its own limit (prison.JailMsgQueueBytes), and host root
// can still create one while the jail holds them.
func TestExhaustMsgQueues(t *testing.T) {
	hog := startJail(t, jailName(t), "--root", probeRoot(t), "/bin/sh", "-c", "echo ready; /probe mqueues-hold")
	got, _ := hog.out.ReadString('\n')
	if want := "mqueues=2 stop=EMFILE\n"; got != want {
		t.Fatalf("a jail creating every queue it can: %q, want %q", got, want)
	}
	// The probe run on the host, as host root.
	name := fmt.Sprintf("prison-test-%d", os.Getpid())
	if out, err := exec.Command(probeBin, "mqueue", name).Output(); err != nil || string(out) != "mq_open=ok\n" {
		t.Errorf("host root cannot create a message queue while a jail holds its share: %v %q", err, out)
	}
}
