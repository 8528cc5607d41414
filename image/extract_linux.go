package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Overlayfs's names for OCI whiteouts (Documentation/filesystems/overlayfs.rst,
// "whiteouts and opaque directories"); the OCI image spec's names for them
// in a layer (image-spec layer.md, "Whiteouts").
const (
	whiteoutPrefix  = ".wh."
	whiteoutMeta    = ".wh..wh."     // aufs metadata (.wh..wh.plnk, …): not files
	whiteoutOpaque  = ".wh..wh..opq" // the directory hides the layers below it
	opaqueXattr     = "trusted.overlay.opaque"
	userOpaqueXattr = "user.overlay.opaque"
)

// EntryError is an archive entry that the store refuses: one that would
// leave the layer's directory, or that the store cannot represent. The
// whole layer, and so the whole pull or import, fails with it.
type EntryError struct {
	Layer string // the layer's diff-id
	Entry string // the entry's name, as the archive has it
	Err   error
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("layer %s: entry %q: %v", shortDigest(e.Layer), e.Entry, e.Err)
}

func (e *EntryError) Unwrap() error { return e.Err }

// Reasons an EntryError gives.
var (
	errAbsolute   = errors.New("absolute path: refused")
	errDotDot     = errors.New("'..' in the path: refused (it could leave the layer)")
	errSymlinkDir = errors.New("a directory on its path is a symlink in this layer: refused (it could leave the layer)")
	errNotDir     = errors.New("a directory on its path is not a directory in this layer")
	errLinkTarget = errors.New("hardlink target is not a file of this layer: refused")
	errBadType    = errors.New("entry type not supported")
	errWhiteout   = errors.New("whiteout of no name")
)

// extractor writes one layer's tar stream into a new, empty directory.
// Every name is resolved from the directory's fd one component at a time
// with openat2(RESOLVE_BENEATH|RESOLVE_NO_SYMLINKS), so an entry can name
// nothing outside it: not through "..", an absolute path, nor a symlink
// that an earlier entry planted; each of those is refused.
//
// Preconditions: the caller is root (ownership, whiteout devices, trusted.*
// xattrs), and dir is private to it: the tree is written by name below
// fds, and only this process may change it meanwhile.
type extractor struct {
	root   int    // the layer's directory
	dir    string // its path, for the removal of replaced directory trees
	diffID string
	dirs   []dirTime // directory times, set last: their entries change them
}

type dirTime struct {
	rel string
	ts  []unix.Timespec
}

// extract writes the tar stream r into dir, which exists and is empty, and
// returns the digest ("sha256:…") and the size of the stream as read.
func extract(r io.Reader, dir, diffID string) (digest string, size int64, err error) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return "", 0, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	defer unix.Close(fd)
	// A layer without a "./" entry gets the root of an ordinary root.
	if err := unix.Fchmod(fd, 0o755); err != nil {
		return "", 0, &os.PathError{Op: "chmod", Path: dir, Err: err}
	}
	x := &extractor{root: fd, dir: dir, diffID: diffID}
	h := sha256.New()
	cr := &countingReader{r: io.TeeReader(r, h)}
	if err := x.run(tar.NewReader(cr)); err != nil {
		return "", 0, err
	}
	// The digest covers the whole stream: the end-of-archive blocks and
	// whatever padding follows them.
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return "", 0, fmt.Errorf("layer %s: %w", shortDigest(diffID), err)
	}
	return hashString(h), cr.n, nil
}

func hashString(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

func (x *extractor) run(tr *tar.Reader) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		// With GODEBUG=tarinsecurepath=0 the reader flags names such
		// as "../x" itself; entry below refuses them either way.
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("layer %s: %w", shortDigest(x.diffID), err)
		}
		if err := x.entry(hdr, tr); err != nil {
			return &EntryError{Layer: x.diffID, Entry: hdr.Name, Err: err}
		}
	}
	return x.setDirTimes()
}

// cleanName splits an entry's name into its components, refusing those
// that could leave the layer. "./a//b/" is a/b; "" and "./" are the root.
func cleanName(name string) ([]string, error) {
	if strings.HasPrefix(name, "/") {
		return nil, errAbsolute
	}
	var comps []string
	for c := range strings.SplitSeq(name, "/") {
		switch c {
		case "", ".":
		case "..":
			return nil, errDotDot
		default:
			comps = append(comps, c)
		}
	}
	return comps, nil
}

func (x *extractor) entry(hdr *tar.Header, r io.Reader) error {
	if hdr.Typeflag == tar.TypeXGlobalHeader {
		return nil
	}
	comps, err := cleanName(hdr.Name)
	if err != nil {
		return err
	}
	if len(comps) == 0 { // the layer's root directory itself
		if hdr.Typeflag != tar.TypeDir {
			return errNotDir
		}
		return x.setMeta(x.root, hdr, "")
	}
	base := comps[len(comps)-1]
	parent, err := x.walk(comps[:len(comps)-1], true)
	if err != nil {
		return err
	}
	defer unix.Close(parent)
	rel := strings.Join(comps, "/")

	switch {
	case base == whiteoutOpaque:
		// Overlayfs's opaque directory: what the layers below have
		// under it is hidden.
		// Both namespaces: overlayfs mounted in a jail's user
		// namespace reads user.overlay.* (its userxattr option).
		for _, x := range []string{opaqueXattr, userOpaqueXattr} {
			if err := unix.Fsetxattr(parent, x, []byte("y"), 0); err != nil {
				return &os.PathError{Op: "setxattr " + x, Path: filepath.Dir(rel), Err: err}
			}
		}
		return nil
	case strings.HasPrefix(base, whiteoutMeta):
		return nil
	case strings.HasPrefix(base, whiteoutPrefix):
		// Overlayfs's whiteout: a 0:0 character device hides the name
		// in the layers below.
		name := strings.TrimPrefix(base, whiteoutPrefix)
		if name == "" || name == "." || name == ".." {
			return errWhiteout
		}
		if err := x.clear(parent, name, filepath.Join(filepath.Dir(rel), name), false); err != nil {
			return err
		}
		if err := unix.Mknodat(parent, name, unix.S_IFCHR, 0); err != nil {
			return &os.PathError{Op: "mknod", Path: name, Err: err}
		}
		return unix.Fchownat(parent, name, 0, 0, unix.AT_SYMLINK_NOFOLLOW)
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		return x.mkdir(parent, base, rel, hdr)
	case tar.TypeReg, tar.TypeRegA, tar.TypeGNUSparse: //nolint:staticcheck // TypeRegA: old archives still have it
		return x.file(parent, base, rel, hdr, r)
	case tar.TypeSymlink:
		if err := x.clear(parent, base, rel, false); err != nil {
			return err
		}
		if err := unix.Symlinkat(hdr.Linkname, parent, base); err != nil {
			return &os.PathError{Op: "symlink", Path: rel, Err: err}
		}
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "chown", Path: rel, Err: err}
		}
		return x.setTimes(parent, base, hdr)
	case tar.TypeLink:
		return x.link(parent, base, rel, hdr)
	case tar.TypeFifo:
		if err := x.clear(parent, base, rel, false); err != nil {
			return err
		}
		if err := unix.Mknodat(parent, base, unix.S_IFIFO|0o600, 0); err != nil {
			return &os.PathError{Op: "mkfifo", Path: rel, Err: err}
		}
		if err := unix.Fchownat(parent, base, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &os.PathError{Op: "chown", Path: rel, Err: err}
		}
		if err := unix.Fchmodat(parent, base, uint32(hdr.Mode&0o7777), 0); err != nil {
			return &os.PathError{Op: "chmod", Path: rel, Err: err}
		}
		return x.setTimes(parent, base, hdr)
	case tar.TypeChar, tar.TypeBlock:
		// Device nodes are skipped: a jail gets its own minimal /dev,
		// and a device file in a root would be a door to the host's
		// hardware (a copy of /dev/mem, /dev/sda) for the jail's root.
		return nil
	}
	return fmt.Errorf("%w: type %q", errBadType, hdr.Typeflag)
}

// walk opens the directory that comps name below the root, one component
// at a time, never following a symlink; with create, missing directories
// are made (0755, root's), as an archive that lists a file before its
// directory needs.
func (x *extractor) walk(comps []string, create bool) (int, error) {
	fd, err := unix.Dup(x.root)
	if err != nil {
		return -1, err
	}
	for _, c := range comps {
		next, err := openBeneath(fd, c)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, c, 0o755); err == nil {
				if next, err = openBeneath(fd, c); err == nil {
					err = unix.Fchmod(next, 0o755)
				}
			}
		}
		if errors.Is(err, unix.ENOTDIR) && isSymlink(fd, c) { // O_DIRECTORY's verdict on a symlink
			err = unix.ELOOP
		}
		unix.Close(fd)
		switch {
		case errors.Is(err, unix.ELOOP):
			return -1, errSymlinkDir
		case errors.Is(err, unix.ENOTDIR):
			return -1, errNotDir
		case err != nil:
			return -1, &os.PathError{Op: "open", Path: c, Err: err}
		}
		fd = next
	}
	return fd, nil
}

func isSymlink(dir int, name string) bool {
	var st unix.Stat_t
	return unix.Fstatat(dir, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK
}

// openBeneath opens the directory name (one component) in dir without
// following a symlink.
func openBeneath(dir int, name string) (int, error) {
	for {
		fd, err := unix.Openat2(dir, name, &unix.OpenHow{
			Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_NOFOLLOW | unix.O_CLOEXEC,
			Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV,
		})
		if !errors.Is(err, unix.EINTR) && !errors.Is(err, unix.EAGAIN) {
			return fd, err
		}
	}
}

// clear removes what an earlier entry left at base, as tar(1) replaces it;
// a directory stays when a directory comes again (keepDir).
func (x *extractor) clear(parent int, base, rel string, keepDir bool) error {
	var st unix.Stat_t
	err := unix.Fstatat(parent, base, &st, unix.AT_SYMLINK_NOFOLLOW)
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	if err != nil {
		return &os.PathError{Op: "stat", Path: rel, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return unlinkat(parent, base, rel, 0)
	}
	if keepDir {
		return nil
	}
	// The walk to parent followed no symlink, and nothing else writes
	// this private tree: the path names the same directory.
	if err := os.RemoveAll(filepath.Join(x.dir, rel)); err != nil {
		return err
	}
	return nil
}

func unlinkat(dir int, name, rel string, flags int) error {
	if err := unix.Unlinkat(dir, name, flags); err != nil {
		return &os.PathError{Op: "unlink", Path: rel, Err: err}
	}
	return nil
}

func (x *extractor) mkdir(parent int, base, rel string, hdr *tar.Header) error {
	if err := x.clear(parent, base, rel, true); err != nil {
		return err
	}
	err := unix.Mkdirat(parent, base, 0o700)
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return &os.PathError{Op: "mkdir", Path: rel, Err: err}
	}
	fd, err := openBeneath(parent, base)
	if err != nil {
		return &os.PathError{Op: "open", Path: rel, Err: err}
	}
	defer unix.Close(fd)
	return x.setMeta(fd, hdr, rel)
}

func (x *extractor) file(parent int, base, rel string, hdr *tar.Header, r io.Reader) error {
	if err := x.clear(parent, base, rel, false); err != nil {
		return err
	}
	fd, err := unix.Openat(parent, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &os.PathError{Op: "create", Path: rel, Err: err}
	}
	f := os.NewFile(uintptr(fd), rel)
	defer f.Close()
	if _, err := io.Copy(f, r); err != nil {
		return err
	}
	if err := x.setMeta(fd, hdr, ""); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return x.setTimes(parent, base, hdr)
}

func (x *extractor) link(parent int, base, rel string, hdr *tar.Header) error {
	comps, err := cleanName(hdr.Linkname)
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	if len(comps) == 0 {
		return errLinkTarget
	}
	tdir, err := x.walk(comps[:len(comps)-1], false)
	if errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("%w (%s)", errLinkTarget, hdr.Linkname)
	}
	if err != nil {
		return fmt.Errorf("hardlink target %q: %w", hdr.Linkname, err)
	}
	defer unix.Close(tdir)
	tbase := comps[len(comps)-1]
	var st unix.Stat_t
	if err := unix.Fstatat(tdir, tbase, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil || st.Mode&unix.S_IFMT == unix.S_IFDIR {
		return fmt.Errorf("%w (%s)", errLinkTarget, hdr.Linkname)
	}
	if err := x.clear(parent, base, rel, false); err != nil {
		return err
	}
	// No AT_SYMLINK_FOLLOW: a link to a symlink is a link to the symlink.
	if err := unix.Linkat(tdir, tbase, parent, base, 0); err != nil {
		return &os.PathError{Op: "link", Path: rel, Err: err}
	}
	return nil
}

// setMeta gives the open file or directory fd the entry's owner, mode
// (setuid, setgid and sticky bits included) and extended attributes; rel
// names a directory, whose times are set at the end.
func (x *extractor) setMeta(fd int, hdr *tar.Header, rel string) error {
	// chown clears setuid, setgid and security.capability: first.
	if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
		return &os.PathError{Op: "chown", Path: hdr.Name, Err: err}
	}
	if err := unix.Fchmod(fd, uint32(hdr.Mode&0o7777)); err != nil {
		return &os.PathError{Op: "chmod", Path: hdr.Name, Err: err}
	}
	for _, k := range slices.Sorted(maps.Keys(hdr.PAXRecords)) {
		name, ok := strings.CutPrefix(k, "SCHILY.xattr.")
		if !ok || !keptXattr(name) {
			continue
		}
		if err := unix.Fsetxattr(fd, name, []byte(hdr.PAXRecords[k]), 0); err != nil {
			return &os.PathError{Op: "setxattr " + name, Path: hdr.Name, Err: err}
		}
	}
	if hdr.Typeflag == tar.TypeDir {
		x.dirs = append(x.dirs, dirTime{rel: rel, ts: times(hdr)})
	}
	return nil
}

// keptXattr says which extended attributes of an archive the layer gets:
// user.* and file capabilities (ping's cap_net_raw). trusted.overlay.* and
// user.overlay.* would steer overlayfs (redirects, metacopy, opacity) from
// the archive; security.* labels are the host's policy; the rest have no
// use in a root.
func keptXattr(name string) bool {
	switch {
	case name == "security.capability":
		return true
	case strings.HasPrefix(name, "user.overlay."):
		return false
	case strings.HasPrefix(name, "user."):
		return true
	}
	return false
}

func times(hdr *tar.Header) []unix.Timespec {
	atime := hdr.AccessTime
	if atime.IsZero() {
		atime = hdr.ModTime
	}
	return []unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
}

func (x *extractor) setTimes(parent int, base string, hdr *tar.Header) error {
	if err := unix.UtimesNanoAt(parent, base, times(hdr), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &os.PathError{Op: "utimes", Path: hdr.Name, Err: err}
	}
	return nil
}

// setDirTimes gives directories their times once their entries are in,
// deepest first. A directory that a later entry replaced is skipped.
func (x *extractor) setDirTimes() error {
	slices.SortStableFunc(x.dirs, func(a, b dirTime) int {
		return strings.Count(b.rel, "/") - strings.Count(a.rel, "/")
	})
	for _, d := range x.dirs {
		if d.rel == "" {
			if err := unix.UtimesNanoAt(x.root, ".", d.ts, 0); err != nil {
				return &os.PathError{Op: "utimes", Path: x.dir, Err: err}
			}
			continue
		}
		comps := strings.Split(d.rel, "/")
		parent, err := x.walk(comps[:len(comps)-1], false)
		if err != nil {
			continue
		}
		_ = unix.UtimesNanoAt(parent, comps[len(comps)-1], d.ts, unix.AT_SYMLINK_NOFOLLOW)
		unix.Close(parent)
	}
	return nil
}
