package rootfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/cachefile"
)

// A host-derived root binds host trees read-only, and the jail's root reads
// through any mode (CAP_DAC_OVERRIDE). So every entry of a bound tree that
// the host keeps from other users is hidden: an empty read-only tmpfs over a
// directory, /dev/null over anything else (issue 9). A symlink is judged
// where it points: inside a bound tree by that tree's walk, outside them it
// dangles in the jail.
//
// The cost decides how. The bound /etc directories hold ~60 entries that
// are not links on Debian, next to ~700 links (/etc/alternatives,
// /etc/ssl/certs): walking them takes ~500 µs, a tenth of a start. Their
// walk is kept with a stamp of every inode it read (etcWalk) and reused
// while every stamp holds, which a stat of each tells (~60 µs): exact, see
// etcWalk.holds. /usr and the library directories hold ~150,000 entries:
// walking them takes 300-400 ms, a hundred times a whole start, and so
// does stamping them. Their result is cached, in the process (a daemon)
// and in cachefile.Dir (root-only, as for compiled filters), and is walked again
// when
//
//   - a package manager's database or a bound top directory changes (stat of
//     a dozen files, ~15 µs): installs, upgrades and removals, which is how
//     almost everything in /usr arrives;
//   - or the cached walk is older than hiddenMaxAge.
//
// What no cheap check sees is a hand-made change deep in /usr: a chmod in
// place, or a secret copied there by hand. The kernel keeps no change
// counter for a tree; seeing those at once takes statting every entry (the
// walk) or a fanotify watch held by a resident process, which a lone
// `prison run` is not. hiddenMaxAge bounds how long such a change can go
// unseen. Over-hiding is harmless (a file a jail cannot read anyway), so the
// cache only errs by age.

// hiddenMaxAge bounds how stale the cached walk of the host trees may be.
const hiddenMaxAge = 10 * time.Minute

// secretDirs are hidden whatever their mode: where keys are kept, in case
// an admin opened one up for a group's daemon.
var secretDirs = []string{
	"/etc/ssl/private", "/etc/pki/tls/private", "/etc/pki/CA/private",
	"/usr/local/etc/ssl/private",
}

// packageDBs change with every install, upgrade and removal.
var packageDBs = []string{
	"/var/lib/dpkg/status", "/var/lib/dpkg/info", "/var/lib/rpm", "/usr/lib/sysimage/rpm",
	"/lib/apk/db/installed", "/var/lib/pacman/local",
}

// hiddenEntry is one path to hide, and whether it is a directory.
type hiddenEntry struct {
	Path string
	Dir  bool
}

// hostOnly says whether others may not read the entry of mode m: a file
// without o+r, a directory without o+r or o+x.
func hostOnly(m uint32) bool {
	if m&unix.S_IFMT == unix.S_IFDIR {
		return m&0o005 != 0o005
	}
	return m&0o004 == 0
}

// walkHidden lists what to hide below dir (dir itself is judged by the
// caller). It descends into nothing it hides.
func walkHidden(dir string, out []hiddenEntry) []hiddenEntry {
	w := walker{out: out}
	w.walkRoot(dir)
	return w.out
}

// A walker lists what to hide below the directories it walks. With record
// set it also keeps a stamp of every inode whose state its result depends
// on, for etcWalk.
type walker struct {
	out    []hiddenEntry
	record bool
	stamps []stamp
	// failed: something could not be read, so the stamps do not prove
	// the result.
	failed bool
}

// walkRoot walks below dir, following a link at dir as the bind of it does.
func (w *walker) walkRoot(dir string) {
	fd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		w.failed = true
		return
	}
	if w.record {
		// Stamped before reading: a change after it moves the ctime.
		var st unix.Stat_t
		if unix.Fstat(fd, &st) != nil {
			unix.Close(fd)
			w.failed = true
			return
		}
		w.stamps = append(w.stamps, stampOf(dir, true, &st))
	}
	w.walk(fd, dir)
}

// walk lists what to hide below the directory open at fd, named dir, and
// closes fd. Subdirectories are opened relative to fd without following
// links, so what is read is what was judged.
func (w *walker) walk(fd int, dir string) {
	f := os.NewFile(uintptr(fd), dir)
	defer f.Close()
	// The directory's d_type spares a stat of each link: /etc/alternatives
	// and /etc/ssl/certs are mostly links.
	ents, err := f.ReadDir(-1)
	if err != nil {
		w.failed = true
	}
	for _, e := range ents {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		p := dir + "/" + e.Name()
		var st unix.Stat_t
		if unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			w.failed = true
			continue
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK { // a file system without d_type
			continue
		}
		if w.record {
			w.stamps = append(w.stamps, stampOf(p, false, &st))
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case hostOnly(st.Mode) || isDir && slices.Contains(secretDirs, p):
			w.out = append(w.out, hiddenEntry{Path: p, Dir: isDir})
		case isDir:
			sub, err := unix.Openat(fd, e.Name(), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				w.failed = true
				continue
			}
			w.walk(sub, p)
		}
	}
}

// A stamp is the state of one inode that a walk read, as stat shows it at
// a path.
type stamp struct {
	Path string
	// Follow: the path is a walked root, reached through a link as its
	// bind is; below the roots, links are not followed.
	Follow   bool
	Dev, Ino uint64
	Mode     uint32
	// Ctime and Mtime in Unix nanoseconds. The mtime adds nothing to
	// the ctime, which every change of it moves too; it is free.
	Ctime, Mtime int64
}

func stampOf(p string, follow bool, st *unix.Stat_t) stamp {
	return stamp{
		Path: p, Follow: follow, Dev: uint64(st.Dev), Ino: uint64(st.Ino), Mode: uint32(st.Mode),
		Ctime: st.Ctim.Nano(), Mtime: st.Mtim.Nano(),
	}
}

// holds says whether the path still leads to the stamped inode, unchanged.
func (s *stamp) holds() bool {
	var st unix.Stat_t
	var err error
	if s.Follow {
		err = unix.Stat(s.Path, &st)
	} else {
		err = unix.Lstat(s.Path, &st)
	}
	return err == nil && stampOf(s.Path, s.Follow, &st) == *s
}

// racyWindow is how far back from a walk's start a stamp's ctime must lie
// to tell apart from any later change (see etcWalk.holds). A variable for
// tests, which cannot set ctimes back.
var racyWindow = 2 * time.Second

// An etcWalk is a walk of the bound /etc directories, with a stamp of
// every inode its result depends on: each directory it read, before reading
// it, and each entry it judged that is not a link.
type etcWalk struct {
	made    time.Time // wall clock
	stamps  []stamp   // in walk order: a root's stamp comes first
	entries []hiddenEntry
}

// walkEtc walks below each of dirs. The walk's stamps prove it only if
// exact is true: nothing failed to read, and no stamp is racy.
func walkEtc(dirs []string) (w *etcWalk, exact bool) {
	made := time.Now().Round(0)
	wk := walker{record: true}
	for _, d := range dirs {
		wk.walkRoot(d)
	}
	w = &etcWalk{made: made, stamps: wk.stamps, entries: wk.out}
	if wk.failed || len(wk.stamps) == 0 {
		return w, false
	}
	edge := made.Add(-racyWindow).UnixNano()
	for _, s := range wk.stamps {
		if s.Ctime >= edge {
			return w, false
		}
	}
	return w, true
}

// holds says whether a walk of dirs now would list w.entries, given st,
// the stat of each of dirs through links. It is exact, by induction along
// the walk:
//
//   - the result is a function of what each root resolves to, each read
//     directory's entries (name, inode and d_type) and each judged entry's
//     mode: links are skipped by d_type, never read;
//   - a root is stat'ed through links as the walk opened it: the same
//     device and inode is the same directory, however the path to it
//     changed (a link retargeted, a mount on top, a component renamed all
//     change the inode stat finds or fail the stat);
//   - a directory's entries change only with its mtime and ctime (create,
//     unlink, rename in or out, and a link swapped for a file, which is an
//     unlink and a create); so a read directory with its stamp unchanged
//     maps the same names to the same inodes, whose types cannot change;
//     an entry that did not exist cannot appear unseen, and one judged
//     must be where it was;
//   - an inode's mode changes only with its ctime (chmod, chown), so a
//     judged entry with its stamp unchanged is judged the same; a mount
//     over it changes the device and inode its path shows.
//
// The ctime is set by the kernel from its coarse clock, which the user
// cannot set per file: two changes within one tick (or within a second on
// file systems that keep seconds) can share a ctime. A change after the
// walk's stat happens after made, so its ctime is at least made minus a
// tick; walkEtc keeps a walk only if every ctime is older than made by
// racyWindow, so a later change cannot repeat it. This holds while the
// clock is not set back, and a walk made in the future is dropped; on a
// network file system the server's clock sets ctimes, and the window
// assumes it agrees with the host's.
//
// The stamps are checked in walk order, a root's before those below it: if
// all hold, each was unchanged from the walk until its check, so the result
// is what a walk at the instant of each root's stat would list.
func (w *etcWalk) holds(dirs []string, st []unix.Stat_t) bool {
	if time.Now().Before(w.made) {
		return false
	}
	i := 0
	for j := range w.stamps {
		s := &w.stamps[j]
		if !s.Follow {
			if !s.holds() {
				return false
			}
			continue
		}
		if i == len(dirs) || dirs[i] != s.Path || stampOf(s.Path, true, &st[i]) != *s {
			return false
		}
		i++
	}
	return i == len(dirs)
}

var etcCache struct {
	sync.Mutex
	w *etcWalk
}

// hiddenInEtc lists what to hide below the bound /etc directories dirs,
// through the process's walk, then cachefile.Dir's, then a new walk. st holds
// the stat of each of dirs through links: the caller's, which judged them,
// spares a stat of each.
func hiddenInEtc(dirs []string, st []unix.Stat_t) []hiddenEntry {
	etcCache.Lock()
	defer etcCache.Unlock()
	if w := etcCache.w; w != nil && w.holds(dirs, st) {
		return w.entries
	}
	file := cachefile.Path("etc-hidden")
	if w, ok := readEtcWalk(file); ok && w.holds(dirs, st) {
		etcCache.w = w
		return w.entries
	}
	w, exact := walkEtc(dirs)
	if !exact {
		etcCache.w = nil
		return w.entries
	}
	etcCache.w = w
	// Best effort: a failed write costs the next launcher a walk.
	_ = writeEtcWalk(file, w)
	return w.entries
}

// maskMounts hides entries: they come after the binds they lie in.
func maskMounts(hs []hiddenEntry) []specs.Mount {
	ms := make([]specs.Mount, 0, len(hs))
	for _, h := range hs {
		if h.Dir {
			ms = append(ms, specs.Mount{
				Destination: h.Path, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=0755", "size=4k"},
			})
		} else {
			// Not nodev: a device on a nodev mount cannot be opened, and
			// the mask should read empty, as runc's do.
			ms = append(ms, specs.Mount{
				Destination: h.Path, Type: "bind", Source: "/dev/null",
				Options: []string{"bind", "ro", "nosuid", "noexec"},
			})
		}
	}
	return ms
}

var treeCache struct {
	sync.Mutex
	key     string
	made    time.Time
	entries []hiddenEntry
}

// hiddenInTrees lists what to hide in the bound top directories, through
// the cache described above.
func hiddenInTrees(trees []string) []hiddenEntry {
	key := treesKey(trees)
	treeCache.Lock()
	defer treeCache.Unlock()
	if treeCache.key == key && fresh(treeCache.made) {
		return treeCache.entries
	}
	file := cachefile.Path("hidden-" + key[:32])
	if made, es, ok := readHidden(file); ok && fresh(made) {
		treeCache.key, treeCache.made, treeCache.entries = key, made, es
		return es
	}
	made := time.Now()
	var es []hiddenEntry
	for _, t := range trees {
		es = walkHidden(t, es)
	}
	treeCache.key, treeCache.made, treeCache.entries = key, made, es
	// Best effort: a failed write costs the next jail a walk, nothing else.
	if writeHidden(file, made, es) == nil {
		// Each change of the package database leaves a file: keep one.
		old, _ := filepath.Glob(cachefile.Path("hidden-*"))
		for _, o := range old {
			if o != file {
				os.Remove(o)
			}
		}
	}
	return es
}

// fresh says whether a walk started at made may still be used; one from
// the future (a clock set back) may not.
func fresh(made time.Time) bool {
	age := time.Since(made)
	return age >= 0 && age < hiddenMaxAge
}

// treesKey names the state of the trees as far as cheap checks see it.
func treesKey(trees []string) string {
	h := sha256.New()
	for _, p := range append(slices.Clone(trees), packageDBs...) {
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil {
			fmt.Fprintf(h, "%s -\n", p)
			continue
		}
		fmt.Fprintf(h, "%s %d %d %d %d.%d %d.%d %o %d\n", p, st.Dev, st.Ino, st.Size,
			st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec, st.Mode, st.Uid)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// The cache file: the walk's start (Unix nanoseconds), then one entry a
// line, "d PATH" or "f PATH". Paths with a newline are never cached (they
// make the write fail, and the next start walks).
func writeHidden(file string, made time.Time, es []hiddenEntry) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", made.UnixNano())
	if err := appendEntries(&b, es); err != nil {
		return err
	}
	return cachefile.Write(file, b.Bytes())
}

func appendEntries(b *bytes.Buffer, es []hiddenEntry) error {
	for _, e := range es {
		if strings.ContainsRune(e.Path, '\n') {
			return fmt.Errorf("rootfs: cache: newline in %q", e.Path)
		}
		kind := "f"
		if e.Dir {
			kind = "d"
		}
		fmt.Fprintf(b, "%s %s\n", kind, e.Path)
	}
	return nil
}

// readHidden reads a file writeHidden wrote, if cachefile.Read trusts it.
func readHidden(file string) (time.Time, []hiddenEntry, bool) {
	b, ok := cachefile.Read(file)
	if !ok {
		return time.Time{}, nil, false
	}
	first, rest, ok := strings.Cut(string(b), "\n")
	ns, err := strconv.ParseInt(first, 10, 64)
	if !ok || err != nil {
		return time.Time{}, nil, false
	}
	var es []hiddenEntry
	for _, l := range strings.Split(rest, "\n") {
		if l == "" {
			continue
		}
		e, ok := parseEntry(l)
		if !ok {
			return time.Time{}, nil, false
		}
		es = append(es, e)
	}
	return time.Unix(0, ns), es, true
}

func parseEntry(l string) (hiddenEntry, bool) {
	kind, p, ok := strings.Cut(l, " ")
	if !ok || (kind != "d" && kind != "f") || !strings.HasPrefix(p, "/") {
		return hiddenEntry{}, false
	}
	return hiddenEntry{Path: p, Dir: kind == "d"}, true
}

// The /etc cache file is a hidden file's, with a line for each stamp
// before the entries: "s FOLLOW DEV INO MODE CTIME MTIME PATH", FOLLOW
// being 1 or 0, the times in Unix nanoseconds.
func writeEtcWalk(file string, w *etcWalk) error {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%d\n", w.made.UnixNano())
	for _, s := range w.stamps {
		if strings.ContainsRune(s.Path, '\n') {
			return fmt.Errorf("rootfs: cache: newline in %q", s.Path)
		}
		follow := 0
		if s.Follow {
			follow = 1
		}
		fmt.Fprintf(&b, "s %d %d %d %d %d %d %s\n", follow, s.Dev, s.Ino, s.Mode, s.Ctime, s.Mtime, s.Path)
	}
	if err := appendEntries(&b, w.entries); err != nil {
		return err
	}
	return cachefile.Write(file, b.Bytes())
}

func readEtcWalk(file string) (*etcWalk, bool) {
	b, ok := cachefile.Read(file)
	if !ok {
		return nil, false
	}
	first, rest, ok := strings.Cut(string(b), "\n")
	ns, err := strconv.ParseInt(first, 10, 64)
	if !ok || err != nil {
		return nil, false
	}
	w := &etcWalk{made: time.Unix(0, ns)}
	for _, l := range strings.Split(rest, "\n") {
		switch {
		case l == "":
		case strings.HasPrefix(l, "s "):
			s, ok := parseStamp(l[2:])
			if !ok {
				return nil, false
			}
			w.stamps = append(w.stamps, s)
		default:
			e, ok := parseEntry(l)
			if !ok {
				return nil, false
			}
			w.entries = append(w.entries, e)
		}
	}
	return w, len(w.stamps) > 0
}

func parseStamp(l string) (stamp, bool) {
	f := strings.SplitN(l, " ", 7)
	if len(f) != 7 || (f[0] != "0" && f[0] != "1") || !strings.HasPrefix(f[6], "/") {
		return stamp{}, false
	}
	dev, err1 := strconv.ParseUint(f[1], 10, 64)
	ino, err2 := strconv.ParseUint(f[2], 10, 64)
	mode, err3 := strconv.ParseUint(f[3], 10, 32)
	ctime, err4 := strconv.ParseInt(f[4], 10, 64)
	mtime, err5 := strconv.ParseInt(f[5], 10, 64)
	if err := errors.Join(err1, err2, err3, err4, err5); err != nil {
		return stamp{}, false
	}
	return stamp{Path: f[6], Follow: f[0] == "1", Dev: dev, Ino: ino, Mode: uint32(mode), Ctime: ctime, Mtime: mtime}, true
}
