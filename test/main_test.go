// Package test starts real jails with the built prison binary and asserts,
// from inside them, what a user would observe. It needs root: without it the
// tests skip with a message, except under CI=true, where they fail.
package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
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
	return m.Run()
}
