package image

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"prison/internal/mountinfo"
)

const (
	lockShared    = unix.LOCK_SH
	lockExclusive = unix.LOCK_EX
)

// errBusy is a lock that another process holds.
var errBusy = errors.New("image store: busy")

// lock takes flock(2) how on the store's lock file name, waiting for it
// unless how has LOCK_NB (then errBusy). The lock goes with the process:
// a pull that is killed holds nothing.
func (s *Store) lock(name string, how int) (unlock func(), err error) {
	p := filepath.Join(s.dir, name)
	fd, err := unix.Open(p, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: p, Err: err}
	}
	for {
		err = unix.Flock(fd, how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errBusy
		}
		return nil, &os.PathError{Op: "flock", Path: p, Err: err}
	}
	return func() { unix.Close(fd) }, nil
}

// collect removes what no image uses: layers (unless mounted), blobs, and
// leftovers of extractions that were killed. It runs only while no Add is
// under way (the store's lock, exclusive, not waited for): an Add's
// layers are not in the index until it ends.
func (s *Store) collect() {
	unlock, err := s.lock("lock", lockExclusive|unix.LOCK_NB)
	if err != nil {
		return
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return
	}
	layers, blobs := map[string]bool{}, map[string]bool{}
	for d, rec := range ix.Images {
		blobs[strings.TrimPrefix(d, "sha256:")] = true
		blobs[strings.TrimPrefix(rec.Config, "sha256:")] = true
		for _, l := range rec.Layers {
			layers[strings.TrimPrefix(l.DiffID, "sha256:")] = true
		}
	}
	var mounted map[string]bool
	dir := filepath.Join(s.dir, "layers", "sha256")
	for _, e := range readDirNames(dir) {
		if layers[e] {
			continue
		}
		if mounted == nil {
			mounted = s.mountedLayers()
		}
		if !mounted[e] {
			_ = os.RemoveAll(filepath.Join(dir, e))
		}
	}
	dir = filepath.Join(s.dir, "blobs", "sha256")
	for _, e := range readDirNames(dir) {
		if !blobs[e] {
			_ = os.Remove(filepath.Join(dir, e))
		}
	}
	dir = filepath.Join(s.dir, "tmp")
	for _, e := range readDirNames(dir) {
		_ = os.RemoveAll(filepath.Join(dir, e))
	}
}

func readDirNames(dir string) []string {
	f, err := os.Open(dir)
	if err != nil {
		return nil
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return names
}

// mountedLayers returns the layers (by hex digest) that some mount of
// some mount namespace names: an overlay whose options list the layer's
// directory (lowerdir=DIR/layers/sha256/HEX/root…), or a bind mount of it.
// Each namespace is read once, through one of its processes.
func (s *Store) mountedLayers() map[string]bool {
	marker := []byte(mountinfo.Escape(filepath.Join(s.dir, "layers", "sha256")) + "/")
	used := map[string]bool{}
	seen := map[string]bool{}
	for _, pid := range readDirNames("/proc") {
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		ns, err := os.Readlink("/proc/" + pid + "/ns/mnt")
		if err != nil || seen[ns] {
			continue
		}
		seen[ns] = true
		b, err := os.ReadFile("/proc/" + pid + "/mountinfo")
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			for {
				i := bytes.Index(line, marker)
				if i < 0 {
					break
				}
				line = line[i+len(marker):]
				if len(line) >= 64 {
					used[string(line[:64])] = true
				}
			}
		}
	}
	return used
}

// renameNoReplace renames old to new unless new exists (fs.ErrExist).
func renameNoReplace(oldpath, newpath string) error {
	err := unix.Renameat2(unix.AT_FDCWD, oldpath, unix.AT_FDCWD, newpath, unix.RENAME_NOREPLACE)
	if err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return nil
}

// syncFS flushes the filesystem that holds path: a layer's thousands of
// files, in one call, before the rename that makes it visible.
func syncFS(path string) error {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Syncfs(fd); err != nil {
		return &os.PathError{Op: "syncfs", Path: path, Err: err}
	}
	return nil
}

func fileOwner(fi fs.FileInfo) (uint32, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return st.Uid, true
}
