package rootfs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// A host-derived root binds host trees read-only, and the jail's root reads
// through any mode (CAP_DAC_OVERRIDE). So every entry of a bound tree that
// the host keeps from other users is hidden: an empty read-only tmpfs over a
// directory, /dev/null over anything else (issue 9). A symlink is judged
// where it points: inside a bound tree by that tree's walk, outside them it
// dangles in the jail.
//
// The cost decides how. The /etc entries are small (about 100 entries that
// are not links on Debian): they are walked on every start, ~60 µs here, and
// are always exact. /usr and the library directories hold ~150,000 entries:
// walking them takes 300-400 ms, a hundred times a whole start. Their
// result is cached, in the process (a daemon) and in CacheDir (root-only, as
// for compiled filters), and is walked again when
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

// CacheDir holds what prison computes once and reuses: prison's compiled
// filters and this package's walks of the host trees. It must be root's
// only: whoever can write it decides what jails see.
var CacheDir = "/var/cache/prison"

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
	f, err := os.Open(dir)
	if err != nil {
		return out
	}
	defer f.Close()
	// The directory's d_type spares a stat of each link: /etc/alternatives
	// and /etc/ssl/certs are mostly links.
	ents, _ := f.ReadDir(-1)
	fd := int(f.Fd())
	for _, e := range ents {
		if e.Type()&os.ModeSymlink != 0 {
			continue
		}
		p := dir + "/" + e.Name()
		var st unix.Stat_t
		if unix.Fstatat(fd, e.Name(), &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
		switch {
		case st.Mode&unix.S_IFMT == unix.S_IFLNK:
		case hostOnly(st.Mode) || isDir && slices.Contains(secretDirs, p):
			out = append(out, hiddenEntry{Path: p, Dir: isDir})
		case isDir:
			out = walkHidden(p, out)
		}
	}
	return out
}

// maskMounts hides entries: they come after the binds they lie in.
func maskMounts(hs []hiddenEntry) []specs.Mount {
	ms := make([]specs.Mount, 0, len(hs))
	for _, h := range hs {
		if h.Dir {
			ms = append(ms, specs.Mount{Destination: h.Path, Type: "tmpfs", Source: "tmpfs",
				Options: []string{"ro", "nosuid", "nodev", "noexec", "mode=0755", "size=4k"}})
		} else {
			// Not nodev: a device on a nodev mount cannot be opened, and
			// the mask should read empty, as runc's do.
			ms = append(ms, specs.Mount{Destination: h.Path, Type: "bind", Source: "/dev/null",
				Options: []string{"bind", "ro", "nosuid", "noexec"}})
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
	file := filepath.Join(CacheDir, "hidden-"+key[:32])
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
		old, _ := filepath.Glob(filepath.Join(CacheDir, "hidden-*"))
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
	for _, e := range es {
		if strings.ContainsRune(e.Path, '\n') {
			return fmt.Errorf("rootfs: cache: newline in %q", e.Path)
		}
		kind := "f"
		if e.Dir {
			kind = "d"
		}
		fmt.Fprintf(&b, "%s %s\n", kind, e.Path)
	}
	if err := os.MkdirAll(filepath.Dir(file), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(file), ".tmp-")
	if err != nil {
		return err
	}
	_, werr := f.Write(b.Bytes())
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr == nil {
		werr = os.Rename(f.Name(), file)
	}
	if werr != nil {
		os.Remove(f.Name())
	}
	return werr
}

// readHidden trusts a cache file only if it and its directory are this
// user's and nobody else may write them.
func readHidden(file string) (time.Time, []hiddenEntry, bool) {
	for _, p := range []string{filepath.Dir(file), file} {
		var st unix.Stat_t
		if unix.Lstat(p, &st) != nil || int(st.Uid) != os.Geteuid() || st.Mode&0o022 != 0 {
			return time.Time{}, nil, false
		}
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return time.Time{}, nil, false
	}
	first, rest, ok := strings.Cut(string(b), "\n")
	var ns int64
	if _, err := fmt.Sscan(first, &ns); !ok || err != nil {
		return time.Time{}, nil, false
	}
	var es []hiddenEntry
	for _, l := range strings.Split(rest, "\n") {
		if l == "" {
			continue
		}
		kind, p, ok := strings.Cut(l, " ")
		if !ok || (kind != "d" && kind != "f") || !strings.HasPrefix(p, "/") {
			return time.Time{}, nil, false
		}
		es = append(es, hiddenEntry{Path: p, Dir: kind == "d"})
	}
	return time.Unix(0, ns), es, true
}
