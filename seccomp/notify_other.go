//go:build !linux

package seccomp

import (
	"context"
	"fmt"
	"os"
)

// SockFilter mirrors Linux's struct sock_filter so that Program has the same
// shape on every platform.
type SockFilter struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}

// Program is a compiled filter; see the Linux documentation.
type Program struct {
	Filter   []SockFilter
	Listener bool
}

// ServeHostname returns ErrNotSupported off Linux.
func ServeHostname(ctx context.Context, listener *os.File) error {
	return fmt.Errorf("seccomp: serve hostname: %w", ErrNotSupported)
}
