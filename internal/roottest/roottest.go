// Package roottest is the one rule for the unit tests that need root: they
// skip with a message without it, except under CI=true, where they fail,
// since CI promises root and a skip there would hide a whole tier.
package roottest

import (
	"os"
	"testing"
)

// Require skips or fails tb when the test does not run as root.
func Require(tb testing.TB) {
	tb.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		tb.Fatal("requires root, and CI=true (run with: go test -exec sudo)")
	}
	tb.Skip("requires root (run with: go test -exec sudo)")
}
