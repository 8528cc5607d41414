// Package test starts real jails with the built prison binary and asserts,
// from inside them, what a user would observe. It needs root: without it the
// tests skip with a message, except under CI=true, where they fail.
package test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
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
		exec.Command("bash", "../scripts/busybox-root.sh", busyboxDir),
	}
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
	for i := 0; i < 500 && !strings.Contains(log.String(), "listening"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	os.Setenv("PRISON_SOCKET", sock)
	code := m.Run()
	d.Process.Signal(syscall.SIGTERM)
	err := d.Wait()
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
