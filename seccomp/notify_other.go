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
	Filter                          []SockFilter
	Listener                        bool
	NotifiesInotify, NotifiesOthers bool
}

// Owner is the host uid and gid that the jail's inotify instances are made
// as; see the Linux documentation.
type Owner struct{ UID, GID uint32 }

// ServeNotify returns ErrNotSupported off Linux.
func ServeNotify(ctx context.Context, listener *os.File, inotify *Owner) error {
	return fmt.Errorf("seccomp: serve notifications: %w", ErrNotSupported)
}
