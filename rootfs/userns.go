package rootfs

import (
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"prison/internal/mountinfo"
)

// A jail with a user namespace of its own (Layout.IDMap) assembles its
// root as root of that namespace only: it cannot traverse the host's
// root-only directories (the state store, the image store, a --root kept
// under a 0700 directory), make device nodes, mount a disk, or idmap a
// mount. So the launcher, host root, hands it what it needs as detached
// mounts (Attach): the trees it binds from, cloned with open_tree(2) and
// idmapped (mount_setattr(2), MOUNT_ATTR_IDMAP) so that a file the host's
// root owns shows as the jail root's, and su, setuid programs and ls -l
// look as they do on the host.
//
// Trees are attached in a stage, a directory every user can traverse with
// one empty directory per tree: the init's mount namespace is a copy of
// the host's, so the stage's mounts are the jail's alone, and pivot_root
// takes them away with the rest of the host's tree. Binding many paths of
// one host filesystem (the host-derived root's /usr and two dozen /etc
// entries) costs one tree and one idmap, not one per path.

// Attach attaches a tree at Target (absolute: in the stage; relative: in
// the jail's root). The launcher makes it: a clone of the host's Source
// (recursive when Recursive), or, with FSType, a new mount of that
// filesystem on the device Source; idmapped for the jail's user namespace
// when IDMap.
type Attach struct {
	Source, Target, FSType string
	Recursive, IDMap       bool
}

func (Attach) op() {}

func (a Attach) String() string {
	if a.FSType != "" {
		return fmt.Sprintf("attach %s of %s on %s", a.FSType, a.Source, show(a.Target))
	}
	return fmt.Sprintf("attach %s on %s", a.Source, show(a.Target))
}

// StageRoot is the stage directory a jail's root is attached or mounted
// on.
const StageRoot = "root"

// stager hands out the stage's directories: one per host mount that binds
// come from, shared by all binds of that mount.
type stager struct {
	dir    string
	staged map[string]string // host mount point -> its directory in the stage
	n      int
	mounts []mountinfo.Mount // the host's, read at the first need
}

// tree returns the stage path that shows the host path p idmapped, and the
// Attach that puts it there when this is the first bind from p's mount.
func (s *stager) tree(p string) (string, []Op, error) {
	if s.mounts == nil {
		var err error
		if s.mounts, err = hostMounts(); err != nil {
			return "", nil, err
		}
	}
	m := mountOf(s.mounts, p)
	var ops []Op
	dir, ok := s.staged[m.Point]
	if !ok {
		dir = path.Join(s.dir, strconv.Itoa(s.n))
		s.n++
		if s.staged == nil {
			s.staged = map[string]string{}
		}
		s.staged[m.Point] = dir
		ops = append(ops, Attach{Source: m.Point, Target: dir, IDMap: true})
	}
	rel := strings.TrimPrefix(p, m.Point)
	return path.Join(dir, rel), ops, nil
}

// below returns the host mounts strictly below p, in mount order: a
// recursive bind of p from a stage, which holds one mount, needs them
// bound one by one.
func (s *stager) below(p string) []mountinfo.Mount {
	var out []mountinfo.Mount
	for _, m := range s.mounts {
		if m.Point != p && strings.HasPrefix(m.Point, strings.TrimSuffix(p, "/")+"/") {
			out = append(out, m)
		}
	}
	return out
}

// StageDirs are the stage directories a plan's Attach ops use: what the
// launcher makes before the init starts.
func StageDirs(ops []Op, stage string) []string {
	dirs := []string{path.Join(stage, StageRoot)}
	for _, op := range ops {
		if a, ok := op.(Attach); ok && strings.HasPrefix(a.Target, stage+"/") && a.Target != dirs[0] {
			dirs = append(dirs, a.Target)
		}
	}
	return dirs
}

// mountCache is the host's mount table, read once and again only after
// the kernel says it changed: poll(2) on an open mountinfo reports
// POLLPRI on every mount or unmount in the namespace (proc(5)). A daemon
// plans many roots, and the table rarely changes.
var mountCache struct {
	sync.Mutex
	f      *os.File
	mounts []mountinfo.Mount
}

// hostMounts returns the mount table of prison's mount namespace. The
// slice is the cache's own: never appended to.
func hostMounts() ([]mountinfo.Mount, error) {
	c := &mountCache
	c.Lock()
	defer c.Unlock()
	if c.f != nil {
		fds := []unix.PollFd{{Fd: int32(c.f.Fd()), Events: unix.POLLPRI}}
		if n, err := unix.Poll(fds, 0); err == nil && n == 0 {
			return c.mounts, nil
		}
		c.f.Close()
		c.f = nil
	}
	// Opened first: a change while the table is read shows at the next
	// poll, and the table is read again then. Opened blocking, so that
	// os.NewFile keeps it out of Go's netpoller: the poller's epoll would
	// poll it too, and take the change away from this poll.
	fd, err := unix.Open("/proc/self/mountinfo", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("rootfs: %w", &os.PathError{Op: "open", Path: "/proc/self/mountinfo", Err: err})
	}
	f := os.NewFile(uintptr(fd), "/proc/self/mountinfo")
	b, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("rootfs: %w", err)
	}
	ms := mountinfo.Parse(b)
	c.f, c.mounts = f, ms
	return ms, nil
}

// mountOf is the mount that holds path p: the last mounted of those whose
// mount point is p or above it.
func mountOf(mounts []mountinfo.Mount, p string) mountinfo.Mount {
	best := mountinfo.Mount{Point: "/"}
	for _, m := range mounts {
		if m.Point == "/" || m.Point == p || strings.HasPrefix(p, m.Point+"/") {
			if len(m.Point) >= len(best.Point) {
				best = m
			}
		}
	}
	return best
}

// planBindIDMap is planMount's bind for a jail with a user namespace.
// Every bind shows the host's owners, idmapped: a read-only one from the
// stage, so that binding many paths of one filesystem costs one idmap; a
// writable one as a tree of its own, whose files the jail's root then
// owns as the host's root does, as with its --root: what the provider
// gives a jail to write is the jail's. "noidmap" attaches a tree as it
// is: the jail's root is an unrelated user there, and may do what the
// host's permission bits let others do. A device node is bound as it is:
// device filesystems cannot be idmapped.
func (s *stager) planBindIDMap(src, target string, flags uintptr, noidmap bool, fi os.FileInfo, link bool) ([]Op, error) {
	var ops []Op
	if fi.IsDir() {
		ops = mkdirAll(target, 0o755)
	} else {
		ops = append(mkdirAll(path.Dir(target), 0o755), Touch{Path: target})
	}
	readonly := flags&unix.MS_RDONLY != 0
	switch {
	case fi.Mode()&(os.ModeDevice|os.ModeCharDevice) != 0:
		ops = append(ops, Mount{Source: src, Target: target, Flags: flags&^readOnlyish | unix.MS_BIND})
	case readonly && !noidmap:
		real, err := followLink(src, link)
		if err != nil {
			return nil, err
		}
		from, attach, err := s.tree(real)
		if err != nil {
			return nil, err
		}
		ops = append(ops, attach...)
		ops = append(ops, Mount{Source: from, Target: target, Flags: flags&^readOnlyish | unix.MS_BIND})
		if flags&unix.MS_REC != 0 {
			for _, m := range s.below(real) {
				sub, attach, err := s.tree(m.Point)
				if err != nil {
					return nil, err
				}
				t := path.Join(target, strings.TrimPrefix(m.Point, real))
				ops = append(ops, attach...)
				ops = append(ops, Mount{Source: sub, Target: t, Flags: unix.MS_BIND})
				ops = append(ops, Mount{Target: t, Flags: unix.MS_REMOUNT | unix.MS_BIND | flags&readOnlyish})
			}
		}
	default:
		ops = append(ops, Attach{Source: src, Target: target, Recursive: flags&unix.MS_REC != 0, IDMap: !noidmap})
	}
	if extra := flags & readOnlyish; extra != 0 {
		ops = append(ops, Mount{Target: target, Flags: unix.MS_REMOUNT | unix.MS_BIND | extra})
	}
	return ops, nil
}

// followLink resolves host path p when it is a link itself: followed on
// the host, where it points, since one to an absolute path would leave
// the stage. Links above it, relative as a merged /usr's /lib is,
// resolve inside the stage's tree as on the host.
func followLink(p string, link bool) (string, error) {
	if !link {
		return p, nil
	}
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("rootfs: bind source: %w", err)
	}
	return real, nil
}

// resolveHost is followLink for a path not yet looked at: one lstat.
func resolveHost(p string) (string, error) {
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return "", fmt.Errorf("rootfs: bind source: %w", &os.PathError{Op: "lstat", Path: p, Err: err})
	}
	return followLink(p, st.Mode&unix.S_IFMT == unix.S_IFLNK)
}

// MakeTree makes the detached mount that a plans's Attach attaches,
// idmapped for the user namespace userns when it asks. Host side.
func MakeTree(a Attach, userns int) (int, error) {
	var fd int
	var err error
	if a.FSType != "" {
		fd, err = newMount(a.FSType, a.Source)
	} else {
		flags := unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC
		if a.Recursive {
			flags |= unix.AT_RECURSIVE
		}
		fd, err = unix.OpenTree(unix.AT_FDCWD, a.Source, uint(flags))
		if err != nil {
			err = &os.PathError{Op: "open_tree", Path: a.Source, Err: err}
		}
	}
	if err != nil {
		return -1, fmt.Errorf("rootfs: %w", err)
	}
	if !a.IDMap {
		return fd, nil
	}
	attr := &unix.MountAttr{Attr_set: unix.MOUNT_ATTR_IDMAP, Userns_fd: uint64(userns)}
	flags := unix.AT_EMPTY_PATH
	if a.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	if err := unix.MountSetattr(fd, "", uint(flags), attr); err != nil {
		unix.Close(fd)
		if err == unix.EINVAL {
			return -1, fmt.Errorf("rootfs: %s: its filesystem cannot be idmapped for the jail's user namespace "+
				"(or a mount below it cannot); run the jail with --userns host, or bind it with --mount SRC:DST:noidmap", a.Source)
		}
		return -1, fmt.Errorf("rootfs: idmap %s: %w", a.Source, err)
	}
	return fd, nil
}

// newMount mounts a filesystem of type fstype on the device source as a
// detached mount: a disk layer, which only host root may mount.
func newMount(fstype, source string) (int, error) {
	fs, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigSetString(fs, "source", source); err != nil {
		return -1, fmt.Errorf("mount %s on %s: %w", fstype, source, err)
	}
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("mount %s on %s: %w", fstype, source, err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOATIME)
	if err != nil {
		return -1, fmt.Errorf("mount %s on %s: %w", fstype, source, err)
	}
	return fd, nil
}
