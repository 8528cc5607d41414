package netns

import (
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// newNamespace makes a network namespace held only by the returned file,
// as prison's launcher does before any process is in it.
func newNamespace(t testing.TB) *os.File {
	t.Helper()
	ch := make(chan *os.File, 1)
	go func() {
		// The thread goes back to the host's namespace afterwards: a
		// locked goroutine that exits on the main thread does not take
		// the thread with it, and would keep the namespace alive.
		runtime.LockOSThread()
		host, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Errorf("open host namespace: %v", err)
			ch <- nil
			return
		}
		defer host.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			t.Errorf("unshare: %v", err)
			ch <- nil
			return
		}
		f, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			t.Errorf("open namespace: %v", err)
		}
		if unix.Setns(int(host.Fd()), unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- f
	}()
	f := <-ch
	if f == nil {
		t.FailNow()
	}
	return f
}

// TestAttachNS attaches a namespace that no process is in yet, then has a
// process enter it, as a jail's init does, and reaches it from the host.
func TestAttachNS(t *testing.T) {
	requireRoot(t)
	addrs := mustParse(t, "10.213.9.1")
	p := &Plan{Jail: "t-ns", Addrs: addrs}
	expectClean(t, []string{p.HostLink()}, addrs...)
	ns := newNamespace(t)
	a, err := AttachNS(p, int(ns.Fd()))
	if err != nil {
		ns.Close()
		t.Fatalf("AttachNS: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Detach(); err != nil {
			t.Errorf("Detach: %v", err)
		}
	})
	cmd := exec.Command("nsenter", "--net=/proc/self/fd/3", "sleep", "60")
	cmd.ExtraFiles = []*os.File{ns}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	ns.Close() // from here the namespace lives with the process alone
	deadline := time.Now().Add(5 * time.Second)
	for {
		// nsenter execs sleep once it is in the namespace.
		if exe, _ := os.Readlink("/proc/" + strconv.Itoa(cmd.Process.Pid) + "/exe"); exe != "" && exe != "/usr/bin/nsenter" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nsenter did not exec")
		}
		time.Sleep(5 * time.Millisecond)
	}
	listenIn(t, cmd.Process.Pid, "10.213.9.1:7040")
	c, err := net.DialTimeout("tcp", "10.213.9.1:7040", 5*time.Second)
	if err != nil {
		t.Fatalf("host -> namespace attached by fd: %v", err)
	}
	c.Close()
}
