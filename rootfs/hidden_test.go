package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/cachefile"
)

func TestHostOnly(t *testing.T) {
	for _, c := range []struct {
		mode uint32
		want bool
	}{
		{unix.S_IFREG | 0o644, false},
		{unix.S_IFREG | 0o755, false},
		{unix.S_IFREG | 0o600, true},
		{unix.S_IFREG | 0o640, true},
		{unix.S_IFREG | 0o711, true},
		{unix.S_IFDIR | 0o755, false},
		{unix.S_IFDIR | 0o700, true},
		{unix.S_IFDIR | 0o750, true},
		{unix.S_IFDIR | 0o711, true},
		{unix.S_IFDIR | 0o754, true},
		{unix.S_IFDIR | 0o1777, false},
	} {
		if got := hostOnly(c.mode); got != c.want {
			t.Errorf("hostOnly(%o) = %v, want %v", c.mode, got, c.want)
		}
	}
}

// TestWalkHidden: what others cannot read is listed, links and what lies
// below a hidden directory are not.
func TestWalkHidden(t *testing.T) {
	d := t.TempDir()
	mk := func(p string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(d, p)
		var err error
		if mode.IsDir() {
			err = os.Mkdir(p, mode.Perm())
		} else {
			err = os.WriteFile(p, []byte("x"), mode.Perm())
		}
		if err == nil {
			err = os.Chmod(p, mode.Perm()) // past the umask
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("pub", os.ModeDir|0o755)
	mk("pub/ok", 0o644)
	mk("pub/key", 0o600)
	mk("pub/group", 0o640)
	mk("priv", os.ModeDir|0o710)
	mk("priv/inner", 0o600)
	mk("pub/deep", os.ModeDir|0o755)
	mk("pub/deep/rules", os.ModeDir|0o700)
	if err := os.Symlink("key", filepath.Join(d, "pub/link")); err != nil {
		t.Fatal(err)
	}
	got := walkHidden(d, nil)
	want := []hiddenEntry{
		{Path: d + "/priv", Dir: true},
		{Path: d + "/pub/deep/rules", Dir: true},
		{Path: d + "/pub/group"},
		{Path: d + "/pub/key"},
	}
	slices.SortFunc(got, func(a, b hiddenEntry) int { return cmpString(a.Path, b.Path) })
	if !slices.Equal(got, want) {
		t.Errorf("walkHidden:\n got %v\nwant %v", got, want)
	}
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// TestHiddenCache: a walk is reused while the key and age allow, from the
// process and from the file; a change of a tree's top directory walks
// again; a cache file others may write is not trusted.
func TestHiddenCache(t *testing.T) {
	useCacheDir(t, filepath.Join(t.TempDir(), "cache"))
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "a"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	reset := func() { treeCache.key, treeCache.entries = "", nil }
	if es := hiddenInTrees([]string{tree}); len(es) != 1 {
		t.Fatalf("first walk: %v", es)
	}
	// A secret added by hand changes the tree's top directory.
	if err := os.WriteFile(filepath.Join(tree, "b"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if es := hiddenInTrees([]string{tree}); len(es) != 2 {
		t.Errorf("after adding a file: %v, want both files", es)
	}
	files, _ := filepath.Glob(filepath.Join(cachefile.Dir, "hidden-*"))
	if len(files) != 1 {
		t.Fatalf("cache files: %v, want one", files)
	}
	made, es, ok := readHidden(files[0])
	if !ok || len(es) != 2 || !fresh(made) {
		t.Errorf("cache file: %v %v %v", made, es, ok)
	}
	// A launcher without the process cache reads the file.
	reset()
	if err := os.WriteFile(files[0], []byte("1\nf /planted\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if es := hiddenInTrees([]string{tree}); len(es) != 2 {
		t.Errorf("a stale (1970) cache file was used: %v", es)
	}
	os.Chmod(files[0], 0o622)
	if _, _, ok := readHidden(files[0]); ok {
		t.Errorf("a cache file that others may write was trusted")
	}
}

// TestEtcCache: the cached walk of /etc-like directories is reused while
// nothing it read changed, and any change that alters what to hide is seen
// at the next call, from the process's copy and from the file.
func TestEtcCache(t *testing.T) {
	useCacheDir(t, filepath.Join(t.TempDir(), "cache"))
	// Tests cannot set ctimes back: they wait out a short window instead.
	old := racyWindow
	racyWindow = 30 * time.Millisecond
	t.Cleanup(func() { racyWindow = old })

	d := t.TempDir()
	for _, p := range []string{"etc/pam.d", "etc/security/limits.d", "elsewhere"} {
		if err := os.MkdirAll(filepath.Join(d, p), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p string, mode os.FileMode) {
		t.Helper()
		p = filepath.Join(d, p)
		if err := os.WriteFile(p, []byte("x"), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	write("etc/pam.d/login", 0o644)
	write("etc/security/limits.conf", 0o644)
	write("etc/security/opasswd", 0o600)
	write("elsewhere/key", 0o600)
	if err := os.Symlink("login", filepath.Join(d, "etc/pam.d/other")); err != nil {
		t.Fatal(err)
	}
	// A bound entry that is a link, as a bind source may be.
	if err := os.Symlink("../elsewhere", filepath.Join(d, "etc/linked")); err != nil {
		t.Fatal(err)
	}
	roots := []string{d + "/etc/pam.d", d + "/etc/security", d + "/etc/linked"}
	hidden := func() []string {
		t.Helper()
		st := make([]unix.Stat_t, len(roots))
		for i, r := range roots {
			if err := unix.Stat(r, &st[i]); err != nil {
				t.Fatal(err)
			}
		}
		var ps []string
		for _, e := range hiddenInEtc(roots, st) {
			ps = append(ps, strings.TrimPrefix(e.Path, d+"/"))
		}
		slices.Sort(ps)
		return ps
	}
	check := func(what string, want ...string) {
		t.Helper()
		if got := hidden(); !slices.Equal(got, want) {
			t.Errorf("%s: hidden %q, want %q", what, got, want)
		}
	}
	// prime makes the next call's walk the cached one, and proves it is
	// used, from the process or, with fromFile, from the file only.
	prime := func(fromFile bool, want ...string) {
		t.Helper()
		time.Sleep(2 * racyWindow)
		check("a new walk", want...)
		if etcCache.w == nil {
			t.Fatal("the walk was not cached")
		}
		planted := append(slices.Clone(etcCache.w.entries), hiddenEntry{Path: d + "/planted"})
		if fromFile {
			w := *etcCache.w
			w.entries = planted
			etcCache.w = nil
			if err := writeEtcWalk(filepath.Join(cachefile.Dir, "etc-hidden"), &w); err != nil {
				t.Fatal(err)
			}
		} else {
			etcCache.w.entries = planted
		}
		check("the cached walk", append(want, "planted")...)
		if fromFile {
			etcCache.w = nil
		}
	}
	base := []string{"etc/linked/key", "etc/security/opasswd"}
	for _, fromFile := range []bool{false, true} {
		// Each change is a fresh one: undo restores the base tree.
		for _, c := range []struct {
			what   string
			change func()
			want   []string
			undo   func()
		}{
			{
				"a chmod", func() { os.Chmod(filepath.Join(d, "etc/pam.d/login"), 0o640) },
				[]string{"etc/linked/key", "etc/pam.d/login", "etc/security/opasswd"},
				func() { os.Chmod(filepath.Join(d, "etc/pam.d/login"), 0o644) },
			},
			{
				"a new file", func() { write("etc/security/limits.d/new.conf", 0o600) },
				[]string{"etc/linked/key", "etc/security/limits.d/new.conf", "etc/security/opasswd"},
				func() { os.Remove(filepath.Join(d, "etc/security/limits.d/new.conf")) },
			},
			{
				"a removed file", func() { os.Remove(filepath.Join(d, "etc/security/opasswd")) },
				[]string{"etc/linked/key"},
				func() { write("etc/security/opasswd", 0o600) },
			},
			{
				"a link swapped for a file", func() {
					os.Remove(filepath.Join(d, "etc/pam.d/other"))
					write("etc/pam.d/other", 0o600)
				},
				[]string{"etc/linked/key", "etc/pam.d/other", "etc/security/opasswd"},
				func() {
					os.Remove(filepath.Join(d, "etc/pam.d/other"))
					os.Symlink("login", filepath.Join(d, "etc/pam.d/other"))
				},
			},
			{
				"a bound link retargeted", func() {
					os.Remove(filepath.Join(d, "etc/linked"))
					os.Symlink("pam.d", filepath.Join(d, "etc/linked"))
				},
				[]string{"etc/security/opasswd"},
				func() {
					os.Remove(filepath.Join(d, "etc/linked"))
					os.Symlink("../elsewhere", filepath.Join(d, "etc/linked"))
				},
			},
			{
				"a chmod below a bound link", func() { os.Chmod(filepath.Join(d, "elsewhere/key"), 0o644) },
				[]string{"etc/security/opasswd"},
				func() { os.Chmod(filepath.Join(d, "elsewhere/key"), 0o600) },
			},
		} {
			prime(fromFile, base...)
			c.change()
			check(fmt.Sprintf("%s (from the file: %v)", c.what, fromFile), c.want...)
			c.undo()
			check(fmt.Sprintf("%s undone (from the file: %v)", c.what, fromFile), base...)
		}
	}
	// A file others may write is not read.
	file := filepath.Join(cachefile.Dir, "etc-hidden")
	if _, ok := readEtcWalk(file); !ok {
		t.Fatal("the cache file was not read")
	}
	os.Chmod(file, 0o620)
	if _, ok := readEtcWalk(file); ok {
		t.Errorf("a cache file that others may write was trusted")
	}
}

// TestEtcRacy: a walk that read an inode changed within racyWindow of its
// start is not kept, since a change just after it might not move a ctime.
func TestEtcRacy(t *testing.T) {
	useCacheDir(t, filepath.Join(t.TempDir(), "cache"))
	d := t.TempDir()
	if err := os.WriteFile(filepath.Join(d, "a"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, exact := walkEtc([]string{d}); exact {
		t.Errorf("a walk of a tree changed just now was kept")
	}
	if _, exact := walkEtc([]string{d + "/missing"}); exact {
		t.Errorf("a walk that could not read its root was kept")
	}
}

// TestHostMountsHidesSecrets: the host's key directory and root-only
// files in the bound /etc entries are masked, after the binds they lie in.
func TestHostMountsHidesSecrets(t *testing.T) {
	var want []string
	for _, p := range []string{"/etc/ssl/private", "/etc/security/opasswd"} {
		if _, err := os.Stat(p); err == nil {
			want = append(want, p)
		}
	}
	if len(want) == 0 {
		t.Skip("the host has neither /etc/ssl/private nor /etc/security/opasswd")
	}
	useCacheDir(t, t.TempDir())
	ms := HostMounts()
	for _, w := range want {
		i := slices.IndexFunc(ms, func(m specs.Mount) bool { return m.Destination == w })
		if i < 0 {
			t.Errorf("%s is not masked", w)
			continue
		}
		if ms[i].Source != "tmpfs" && ms[i].Source != "/dev/null" {
			t.Errorf("%s: %+v is not a mask", w, ms[i])
		}
		parent := slices.IndexFunc(ms, func(m specs.Mount) bool { return m.Destination == filepath.Dir(w) })
		if parent < 0 || parent > i {
			t.Errorf("%s: masked before its bind (%d, %d)", w, parent, i)
		}
	}
}

// BenchmarkHostMounts is the planning cost of a host-derived root with a
// warm cache, as every start after the first pays it.
func BenchmarkHostMounts(b *testing.B) {
	useCacheDir(b, b.TempDir())
	HostMounts()
	b.ResetTimer()
	for range b.N {
		HostMounts()
	}
}

// BenchmarkHostMountsFromFile is a lone launcher's: the cache files, not
// the process's copies.
func BenchmarkHostMountsFromFile(b *testing.B) {
	useCacheDir(b, b.TempDir())
	HostMounts()
	b.ResetTimer()
	for range b.N {
		treeCache.Lock()
		treeCache.key = ""
		treeCache.Unlock()
		etcCache.Lock()
		etcCache.w = nil
		etcCache.Unlock()
		HostMounts()
	}
}

// useCacheDir points the caches at dir for one test, and forgets the
// process's copies before and after.
func useCacheDir(tb testing.TB, dir string) {
	old := cachefile.Dir
	cachefile.Dir = dir
	treeCache.key, etcCache.w = "", nil
	tb.Cleanup(func() { cachefile.Dir, treeCache.key, etcCache.w = old, "", nil })
}
