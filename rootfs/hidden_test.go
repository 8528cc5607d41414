package rootfs

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestHostOnly(t *testing.T) {
	for _, c := range []struct {
		mode uint32
		want bool
	}{
		{unix.S_IFREG | 0o644, false}, {unix.S_IFREG | 0o755, false}, {unix.S_IFREG | 0o600, true},
		{unix.S_IFREG | 0o640, true}, {unix.S_IFREG | 0o711, true}, {unix.S_IFDIR | 0o755, false},
		{unix.S_IFDIR | 0o700, true}, {unix.S_IFDIR | 0o750, true}, {unix.S_IFDIR | 0o711, true},
		{unix.S_IFDIR | 0o754, true}, {unix.S_IFDIR | 0o1777, false},
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
		{Path: d + "/priv", Dir: true}, {Path: d + "/pub/deep/rules", Dir: true},
		{Path: d + "/pub/group"}, {Path: d + "/pub/key"},
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
	files, _ := filepath.Glob(filepath.Join(CacheDir, "hidden-*"))
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

// BenchmarkHostMountsFromFile is a lone launcher's: the cache file, not the
// process's copy.
func BenchmarkHostMountsFromFile(b *testing.B) {
	useCacheDir(b, b.TempDir())
	HostMounts()
	b.ResetTimer()
	for range b.N {
		treeCache.Lock()
		treeCache.key = ""
		treeCache.Unlock()
		HostMounts()
	}
}

// useCacheDir points the cache at dir for one test, and forgets the
// process's copy before and after.
func useCacheDir(tb testing.TB, dir string) {
	old := CacheDir
	CacheDir = dir
	treeCache.key = ""
	tb.Cleanup(func() { CacheDir, treeCache.key = old, "" })
}
