package netns

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// LockPath serialises the changes prison makes to the host's network:
// Attach, Detach and Sweep take it. A Sweep that listed links before a
// concurrent Attach created its host link would otherwise delete that jail's
// fresh rules, and with them the guarantee that nothing of the jail leaves
// the machine. It is held around those calls only, so jails still start in
// parallel.
var LockPath = "/run/lock/prison-network"

// lockHost takes the host-wide network lock; the returned function
// releases it.
func lockHost() (func(), error) {
	if err := os.MkdirAll(filepath.Dir(LockPath), 0o755); err != nil {
		return nil, fmt.Errorf("network: lock: %w", err)
	}
	f, err := os.OpenFile(LockPath, os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("network: lock: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("network: lock %s: %w", LockPath, err)
	}
	return func() { f.Close() }, nil
}
