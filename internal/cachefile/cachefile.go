// Package cachefile reads and writes prison's caches (compiled filters, the
// default root's walks of host trees) under a root-only directory. Whoever
// can write a cache decides what jails get, so a cache is read only when it
// and its directory belong to the reader and nobody else may write them,
// and a cache is replaced whole or not at all.
package cachefile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// Dir holds what prison computes once and reuses: compiled seccomp filters
// and the default root's walks of the host trees. It must be root's only:
// whoever can write it decides what jails get.
var Dir = "/var/cache/prison"

// Path names the cache file name in Dir.
func Path(name string) string { return filepath.Join(Dir, name) }

// Write replaces path with b: a reader sees the old file or the new one.
// The content is written to an unnamed file (O_TMPFILE) and only linked
// into the directory once complete, so a writer killed midway (a launcher
// taken down by SIGKILL) leaves nothing behind.
func Write(path string, b []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("cache: %w", err)
	}
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("cache: %w", &os.PathError{Op: "open", Path: dir, Err: err})
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		return fmt.Errorf("cache: write %s: %w", path, err)
	}
	tmp := filepath.Join(dir, ".tmp-"+strconv.Itoa(os.Getpid())+"-"+filepath.Base(path))
	_ = os.Remove(tmp) // a previous process of this pid that died here
	if err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
		return fmt.Errorf("cache: %w", &os.LinkError{Op: "link", Old: f.Name(), New: tmp, Err: err})
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("cache: %w", err), os.Remove(tmp))
	}
	return nil
}

// Read returns path's contents if it and its directory are this user's
// and nobody else may write them.
func Read(path string) ([]byte, bool) {
	for _, p := range []string{filepath.Dir(path), path} {
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
			return nil, false
		}
	}
	b, err := os.ReadFile(path)
	return b, err == nil
}
