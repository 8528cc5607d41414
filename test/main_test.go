// Package test starts real jails with the built prison binary and asserts,
// from inside them, what a user would observe. It needs root: without it the
// tests skip with a message, except under CI=true, where they fail.
package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	prisonBin  string // the prison binary under test
	probeBin   string // jailprobe, static, for inside the jails
	busyboxDir string // a busybox-static root template
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			fmt.Fprintln(os.Stderr, "test: integration tests need root, and CI=true: failing")
			return 1
		}
		fmt.Fprintln(os.Stderr, "test: skipping integration tests: they need root (run: sudo make test)")
		return 0
	}
	dir, err := os.MkdirTemp("", "prison-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	// Tests run prison as an ordinary user too.
	if err := os.Chmod(dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	prisonBin = filepath.Join(dir, "prison")
	probeBin = filepath.Join(dir, "jailprobe")
	busyboxDir = filepath.Join(dir, "busybox")
	steps := []*exec.Cmd{
		// Static, as the Makefile builds it.
		exec.Command("go", "build", "-tags", "netgo,osusergo",
			"-ldflags", "-linkmode external -extldflags -static", "-o", prisonBin, "../cmd/prison"),
		exec.Command("go", "build", "-o", probeBin, "./jailprobe"),
		// Beside prison, where prison image pull and import look for it.
		exec.Command("go", "build", "-tags", "netgo,osusergo", "-o", filepath.Join(dir, "prison-fetch"), "../cmd/prison-fetch"),
		exec.Command("bash", "../scripts/busybox-root.sh", busyboxDir),
	}
	steps = append(steps, exec.Command("ln", "-s", "prison", filepath.Join(dir, "prison-oci")))
	steps[1].Env = append(os.Environ(), "CGO_ENABLED=0")
	for _, c := range steps {
		if out, err := c.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "test: %v: %v\n%s", c.Args, err, out)
			return 1
		}
	}
	// A daemon on the machine's default socket would serve these jails
	// with another binary's code: the suite says which daemon, if any.
	os.Setenv("PRISON_SOCKET", "none")
	// The jails' commands inherit the signals this process ignores: run
	// in the background of a non-interactive shell or under nohup, it
	// ignores SIGINT or SIGHUP, and a shell in a jail then can neither trap
	// them nor die of them (TestSignalsReachCommand would wait forever).
	// A signal that Go catches is back to its default in a child, as from
	// an interactive shell; this process keeps ignoring them.
	for _, sig := range []os.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGQUIT} {
		if signal.Ignored(sig) {
			signal.Notify(make(chan os.Signal, 1), sig)
		}
	}
	if os.Getenv("PRISON_TEST_DAEMON") == "1" {
		return withSuiteDaemon(m, dir)
	}
	return m.Run()
}

// withSuiteDaemon runs the whole suite through a prison daemon: every
// jail that a daemon can serve is served by it.
func withSuiteDaemon(m *testing.M, dir string) int {
	sock := filepath.Join(dir, "daemon.sock")
	var log lockedBuffer
	d := exec.Command(prisonBin, "daemon", "--socket", sock, "-v")
	d.Stderr = &log
	if err := d.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "test: start the daemon:", err)
		return 1
	}
	exited := make(chan error, 1)
	go func() { exited <- d.Wait() }()
	// Until it listens, a prison run would launch on its own: no test
	// starts before. (The daemon listens within milliseconds on an idle
	// machine; the bound is against a hang.)
	for deadline := time.Now().Add(60 * time.Second); !strings.Contains(log.String(), "prison daemon: listening on "); {
		select {
		case err := <-exited:
			fmt.Fprintf(os.Stderr, "test: the daemon exited before it listened (%v):\n%s", err, log.String())
			return 1
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			fmt.Fprintf(os.Stderr, "test: the daemon did not listen:\n%s", log.String())
			d.Process.Kill()
			<-exited
			return 1
		}
	}
	os.Setenv("PRISON_SOCKET", sock)
	code := m.Run()
	d.Process.Signal(syscall.SIGTERM)
	err := <-exited
	fmt.Fprintf(os.Stderr, "test: the daemon served %d jails\n", strings.Count(log.String(), ": served "))
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "test: the daemon: %v\n%s", err, log.String())
		code = 1
	case !strings.Contains(log.String(), ": served "):
		fmt.Fprintf(os.Stderr, "test: the daemon served no jail:\n%s", log.String())
		code = 1
	case fileExists(sock):
		fmt.Fprintln(os.Stderr, "test: the daemon left its socket")
		code = 1
	}
	return code
}

// lockedBuffer is a bytes.Buffer that a process writes while tests read.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
