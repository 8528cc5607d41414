//go:build !linux || !cgo

package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Compile needs libseccomp (cgo) on Linux; elsewhere it returns
// ErrNotSupported.
func Compile(s *specs.LinuxSeccomp) (*Program, error) {
	return nil, fmt.Errorf("seccomp: compile: %w", ErrNotSupported)
}
