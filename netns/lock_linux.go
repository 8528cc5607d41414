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
// the machine. Attach and Detach of a jail without an uplink take it
// shared: they touch only that jail's link, rules and routes, so they may
// run side by side. Sweep, and whatever involves an uplink (its tables,
// proxy entries and forwarding switches are shared), take it exclusive.
var LockPath = "/run/lock/prison-network"

// lockHost takes the host-wide network lock, exclusive or shared; the
// returned function releases it.
func lockHost(exclusive bool) (func(), error) {
	// /run/lock is the system's, world-readable by convention; only the
	// lock file itself is root's.
	if err := os.MkdirAll(filepath.Dir(LockPath), 0o755); err != nil { //nolint:gosec // G301: see above
		return nil, fmt.Errorf("network: lock: %w", err)
	}
	f, err := os.OpenFile(LockPath, os.O_RDONLY|os.O_CREATE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("network: lock: %w", err)
	}
	for {
		how := unix.LOCK_SH
		if exclusive {
			how = unix.LOCK_EX
		}
		err = unix.Flock(int(f.Fd()), how)
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
