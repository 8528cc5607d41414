package image_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"golang.org/x/sys/unix"

	"prison/image"
	"prison/image/fetch"
	"prison/image/imagetest"
	"prison/internal/roottest"
)

func requireRoot(t *testing.T) { roottest.Require(t) }

// file is one entry of a test layer.
type file struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	body       string
}

// layerOf is a gzip-compressed layer of the given entries.
func layerOf(t *testing.T, fs ...file) v1.Layer {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, f := range fs {
		hdr := &tar.Header{
			Name: f.name, Linkname: f.link, Typeflag: f.typ, Mode: f.mode, Uid: f.uid, Gid: f.gid,
			Size: int64(len(f.body)), ModTime: time.Unix(1700000000, 0),
		}
		if hdr.Typeflag == 0 {
			hdr.Typeflag = tar.TypeReg
		}
		if hdr.Mode == 0 {
			hdr.Mode = 0o644
			if hdr.Typeflag == tar.TypeDir {
				hdr.Mode = 0o755
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return imagetest.Layer(t, b.Bytes())
}

// imageOf is an image of the host's platform with the given layers,
// lowest first.
func imageOf(t *testing.T, cfg v1.Config, layers ...v1.Layer) v1.Image {
	t.Helper()
	return imagetest.Image(t, cfg, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), layers...)
}

// openStore opens a store of its own for the test, in a sandbox directory
// that holds nothing else, and returns both.
func openStore(t *testing.T) (*image.Store, string) {
	t.Helper()
	sandbox := t.TempDir()
	s, err := image.Open(filepath.Join(sandbox, "images"))
	if err != nil {
		t.Fatal(err)
	}
	return s, sandbox
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// assertEmpty checks that the store holds no image, layer, blob or
// leftover, and that nothing but the store was written in its sandbox.
func assertEmpty(t *testing.T, s *image.Store, sandbox string) {
	t.Helper()
	for _, d := range []string{"layers/sha256", "blobs/sha256", "tmp"} {
		if n := names(t, filepath.Join(s.Dir(), d)); len(n) != 0 {
			t.Errorf("%s: left %q", d, n)
		}
	}
	if imgs, err := s.List(); err != nil || len(imgs) != 0 {
		t.Errorf("List: %v %v, want nothing", imgs, err)
	}
	if n := names(t, sandbox); !slices.Equal(n, []string{"images"}) {
		t.Errorf("the store's sandbox holds %q, want only the store", n)
	}
}

var twoLayers = struct{ lower, upper []file }{
	lower: []file{
		{name: "bin/", typ: tar.TypeDir},
		{name: "bin/su", mode: 0o4755, body: "su"},
		{name: "bin/su2", typ: tar.TypeLink, link: "bin/su"},
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/passwd", body: "root:x:0:0::/root:/bin/sh\n"},
		{name: "etc/gone", body: "deleted above"},
		{name: "home/", typ: tar.TypeDir},
		{name: "home/u/", typ: tar.TypeDir, uid: 1234, gid: 1234},
		{name: "home/u/notes", mode: 0o600, uid: 1234, gid: 1234, body: "mine"},
		{name: "lib/", typ: tar.TypeDir},
		{name: "lib/libc.so", body: "libc"},
		{name: "lib/libc.so.6", typ: tar.TypeSymlink, link: "libc.so"},
		{name: "opt/", typ: tar.TypeDir},
		{name: "opt/app/", typ: tar.TypeDir},
		{name: "opt/app/old", body: "old"},
	},
	upper: []file{
		{name: "etc/", typ: tar.TypeDir},
		{name: "etc/.wh.gone"},
		{name: "opt/", typ: tar.TypeDir},
		{name: "opt/app/", typ: tar.TypeDir},
		{name: "opt/app/.wh..wh..opq"},
		{name: "opt/app/new", body: "new"},
	},
}

var runConfig = v1.Config{
	Env:        []string{"PATH=/bin", "GREETING=hi"},
	Entrypoint: []string{"/bin/sh", "-c"},
	Cmd:        []string{"echo $GREETING"},
	WorkingDir: "/srv",
	User:       "1234:1234",
}

// TestPullIsARoot pulls a two-layer image from a registry and checks what
// a jail would see of it: the layers stacked by overlayfs, with the upper
// layer's whiteout and opaque directory in force, owners, modes and links
// as built; and what the configuration says to run.
func TestPullIsARoot(t *testing.T) {
	requireRoot(t)
	host := imagetest.Registry(t)
	img := imageOf(t, runConfig, layerOf(t, twoLayers.lower...), layerOf(t, twoLayers.upper...))
	digest := imagetest.Push(t, host+"/x:1", img)
	s, _ := openStore(t)

	var done, total []int64
	got, err := fetch.Pull(context.Background(), s, host+"/x:1", fetch.Options{
		Progress: func(d, tot int64) { done, total = append(done, d), append(total, tot) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if got.Ref != host+"/x:1" || got.Digest != digest || len(got.Layers) != 2 {
		t.Fatalf("Pull: ref %q digest %s layers %q, want %s/x:1 %s and 2 layers", got.Ref, got.Digest, got.Layers, host, digest)
	}
	if len(done) < 2 || total[0] == 0 || done[len(done)-1] != total[0] {
		t.Errorf("progress: done %v of %v, want it to go from 0 to the total", done, total)
	}
	looked, err := s.Lookup(host + "/x:1")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(looked.Layers, got.Layers) || !slices.Equal(looked.Env, runConfig.Env) ||
		!slices.Equal(looked.Entrypoint, runConfig.Entrypoint) || !slices.Equal(looked.Cmd, runConfig.Cmd) ||
		looked.WorkingDir != runConfig.WorkingDir || looked.User != runConfig.User {
		t.Errorf("Lookup: %+v, want the pulled layers and the configuration's %+v", looked, runConfig)
	}

	merged := t.TempDir()
	opts := "lowerdir=" + got.Layers[1] + ":" + got.Layers[0]
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, opts); err != nil {
		t.Fatalf("mount overlay %s: %v", opts, err)
	}
	t.Cleanup(func() { _ = unix.Unmount(merged, unix.MNT_DETACH) })
	read := func(p string) string {
		b, err := os.ReadFile(filepath.Join(merged, p))
		if err != nil {
			return "error: " + err.Error()
		}
		return string(b)
	}
	if b := read("etc/passwd"); !strings.HasPrefix(b, "root:") {
		t.Errorf("etc/passwd: %q", b)
	}
	for _, p := range []string{"etc/gone", "opt/app/old"} {
		if _, err := os.Lstat(filepath.Join(merged, p)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: %v, want it hidden by the upper layer", p, err)
		}
	}
	if b := read("opt/app/new"); b != "new" {
		t.Errorf("opt/app/new: %q", b)
	}
	if b := read("lib/libc.so.6"); b != "libc" {
		t.Errorf("lib/libc.so.6 (a symlink to libc.so): %q", b)
	}
	if b := read("bin/su2"); b != "su" {
		t.Errorf("bin/su2 (a hard link to bin/su): %q", b)
	}
	var st unix.Stat_t
	if err := unix.Stat(filepath.Join(merged, "bin/su"), &st); err != nil || st.Mode&0o7777 != 0o4755 || st.Uid != 0 {
		t.Errorf("bin/su: mode %o uid %d (%v), want a setuid-root 4755", st.Mode&0o7777, st.Uid, err)
	}
	if err := unix.Stat(filepath.Join(merged, "home/u/notes"), &st); err != nil || st.Uid != 1234 || st.Gid != 1234 {
		t.Errorf("home/u/notes: owner %d:%d (%v), want 1234:1234", st.Uid, st.Gid, err)
	}

	// Again: every layer is there already, and nothing is fetched.
	done, total = nil, nil
	again, err := fetch.Pull(context.Background(), s, host+"/x:1", fetch.Options{
		Progress: func(d, tot int64) { done, total = append(done, d), append(total, tot) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if again.Digest != digest || len(total) == 0 || total[0] != 0 {
		t.Errorf("second pull: digest %s, progress totals %v, want %s and nothing to fetch", again.Digest, total, digest)
	}
}

func TestPullOtherPlatformRefused(t *testing.T) {
	requireRoot(t)
	host := imagetest.Registry(t)
	img := imageOf(t, v1.Config{}, layerOf(t, file{name: "a", body: "a"}))
	cf, _ := img.ConfigFile()
	cf = cf.DeepCopy()
	cf.Architecture = "s390x"
	img, err := mutate.ConfigFile(img, cf)
	if err != nil {
		t.Fatal(err)
	}
	imagetest.Push(t, host+"/other:1", img)
	s, sandbox := openStore(t)
	_, err = fetch.Pull(context.Background(), s, host+"/other:1", fetch.Options{})
	if err == nil || !strings.Contains(err.Error(), "linux/s390x") || !strings.Contains(err.Error(), image.HostPlatform()) {
		t.Fatalf("Pull of a linux/s390x image: %v, want an error naming both platforms", err)
	}
	assertEmpty(t, s, sandbox)
}

// TestPullHostileLayer pulls images whose layer tries to write outside
// it: each pull fails naming the entry, and the store is left as it was.
func TestPullHostileLayer(t *testing.T) {
	requireRoot(t)
	host := imagetest.Registry(t)
	// Unique names: should a regression let an entry out, the test
	// finds it, and removes it.
	evil := "prison-evil-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	t.Cleanup(func() { os.Remove("/etc/" + evil); os.Remove("/" + evil) })
	for i, tc := range []struct {
		entries []file
		refused string
	}{
		{[]file{{name: "../" + evil, body: "x"}}, "../" + evil},
		{[]file{{name: "/" + evil, body: "x"}}, "/" + evil},
		{[]file{{name: "x", typ: tar.TypeSymlink, link: "/"}, {name: "x/etc/" + evil, body: "x"}}, "x/etc/" + evil},
		{[]file{{name: "shadow", typ: tar.TypeLink, link: "/etc/shadow"}}, "shadow"},
	} {
		ref := host + "/hostile:" + string(rune('a'+i))
		imagetest.Push(t, ref, imageOf(t, v1.Config{}, layerOf(t, file{name: "ok", body: "fine"}), layerOf(t, tc.entries...)))
		s, sandbox := openStore(t)
		_, err := fetch.Pull(context.Background(), s, ref, fetch.Options{})
		var ee *image.EntryError
		if !errors.As(err, &ee) || ee.Entry != tc.refused || strings.Contains(err.Error(), "\n") {
			t.Errorf("Pull %s: %v, want one line refusing %q", ref, err, tc.refused)
		}
		if _, err := s.Lookup(ref); !errors.Is(err, image.ErrNotFound) {
			t.Errorf("Lookup %s after the refused pull: %v, want ErrNotFound", ref, err)
		}
		// The lower layer came in whole before the refusal: the
		// failed pull collected it.
		if _, err := s.Remove(ref); !errors.Is(err, image.ErrNotFound) {
			t.Errorf("Remove %s: %v, want ErrNotFound", ref, err)
		}
		assertEmpty(t, s, sandbox)
		for _, p := range []string{"/etc/" + evil, "/" + evil, filepath.Join(filepath.Dir(sandbox), evil)} {
			if _, err := os.Lstat(p); err == nil {
				t.Errorf("%s: written on the host", p)
			}
		}
	}
}

// TestLayersShared pulls two images with a layer in common: it is stored
// once; removing one image keeps it for the other; removing both leaves
// the store empty.
func TestLayersShared(t *testing.T) {
	requireRoot(t)
	host := imagetest.Registry(t)
	base := layerOf(t, file{name: "etc/", typ: tar.TypeDir}, file{name: "etc/os-release", body: "ID=test\n"})
	a := imageOf(t, v1.Config{}, base, layerOf(t, file{name: "a", body: "a"}))
	b := imageOf(t, v1.Config{}, base, layerOf(t, file{name: "b", body: "b"}))
	imagetest.Push(t, host+"/a:1", a)
	imagetest.Push(t, host+"/b:1", b)
	s, sandbox := openStore(t)
	ia, err := fetch.Pull(context.Background(), s, host+"/a:1", fetch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ib, err := fetch.Pull(context.Background(), s, host+"/b:1", fetch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ia.Layers[0] != ib.Layers[0] {
		t.Errorf("the common layer: %s and %s, want one directory", ia.Layers[0], ib.Layers[0])
	}
	if n := names(t, filepath.Join(s.Dir(), "layers/sha256")); len(n) != 3 {
		t.Errorf("layers: %q, want 3 (one shared)", n)
	}
	if l, _ := s.List(); len(l) != 2 {
		t.Errorf("List: %d images, want 2", len(l))
	}

	removed, err := s.Remove(host + "/a:1")
	if err != nil || !slices.Equal(removed, []string{host + "/a:1"}) {
		t.Fatalf("Remove a: %q %v", removed, err)
	}
	for _, d := range ib.Layers {
		if _, err := os.Stat(filepath.Join(d, "etc/os-release")); err == nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(d, "b")); err != nil {
			t.Errorf("b's layer %s: %v after a's removal", d, err)
		}
	}
	if _, err := os.Stat(ia.Layers[1]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a's own layer %s: %v, want it removed", ia.Layers[1], err)
	}
	if _, err := s.Lookup(host + "/a:1"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Lookup a: %v, want ErrNotFound", err)
	}
	if _, err := s.Lookup(host + "/b:1"); err != nil {
		t.Errorf("Lookup b: %v", err)
	}
	if _, err := s.Remove(ib.Digest[:len("sha256:")+12]); err != nil {
		t.Fatalf("Remove b by its short digest: %v", err)
	}
	assertEmpty(t, s, sandbox)
}

// TestLayerInUseKept: a layer that a mount uses stays when its image is
// removed, and goes with the first store write after the unmount.
func TestLayerInUseKept(t *testing.T) {
	requireRoot(t)
	host := imagetest.Registry(t)
	imagetest.Push(t, host+"/used:1", imageOf(t, v1.Config{}, layerOf(t, file{name: "f", body: "f"})))
	imagetest.Push(t, host+"/other:1", imageOf(t, v1.Config{}, layerOf(t, file{name: "g", body: "g"})))
	s, sandbox := openStore(t)
	img, err := fetch.Pull(context.Background(), s, host+"/used:1", fetch.Options{})
	if err != nil {
		t.Fatal(err)
	}
	merged := t.TempDir()
	if err := unix.Mount("overlay", merged, "overlay", unix.MS_RDONLY, "lowerdir="+img.Layers[0]+":"+t.TempDir()); err != nil {
		t.Fatal(err)
	}
	mounted := true
	t.Cleanup(func() {
		if mounted {
			_ = unix.Unmount(merged, unix.MNT_DETACH)
		}
	})
	if _, err := s.Remove(host + "/used:1"); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(merged, "f")); err != nil || string(b) != "f" {
		t.Fatalf("the mounted layer after Remove: %q %v, want it whole", b, err)
	}
	if err := unix.Unmount(merged, 0); err != nil {
		t.Fatal(err)
	}
	mounted = false
	if _, err := fetch.Pull(context.Background(), s, host+"/other:1", fetch.Options{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(img.Layers[0]); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s: %v after the unmount and a pull, want it collected", img.Layers[0], err)
	}
	if _, err := s.Remove(host + "/other:1"); err != nil {
		t.Fatal(err)
	}
	assertEmpty(t, s, sandbox)
}

func TestRemoveUnknown(t *testing.T) {
	requireRoot(t)
	s, _ := openStore(t)
	_, err := s.Remove("nosuch:1")
	if !errors.Is(err, image.ErrNotFound) || err.Error() != "image docker.io/library/nosuch:1: not in the image store" {
		t.Errorf("Remove nosuch:1: %v", err)
	}
	if _, err := s.Lookup("sha256:0123456789abcdef"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Lookup of an unknown digest: %v", err)
	}
	if _, err := s.Lookup("sha256:0123"); err == nil || errors.Is(err, image.ErrNotFound) {
		t.Errorf("Lookup of a 4-digit digest: %v, want it refused as too short", err)
	}
}

// TestConcurrentPulls pulls one image into one store from several
// processes' worth of Stores at once: each gets it, the store has it once.
func TestConcurrentPulls(t *testing.T) {
	requireRoot(t)
	host := imagetest.Registry(t)
	img := imageOf(t, v1.Config{}, layerOf(t, twoLayers.lower...), layerOf(t, twoLayers.upper...))
	digest := imagetest.Push(t, host+"/x:1", img)
	s, _ := openStore(t)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			si, err := image.Open(s.Dir())
			if err == nil {
				_, err = fetch.Pull(context.Background(), si, host+"/x:1", fetch.Options{})
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("pull %d: %v", i, err)
		}
	}
	if n := names(t, filepath.Join(s.Dir(), "layers/sha256")); len(n) != 2 {
		t.Errorf("layers: %q, want 2", n)
	}
	if n := names(t, filepath.Join(s.Dir(), "tmp")); len(n) != 0 {
		t.Errorf("tmp: %q left", n)
	}
	got, err := s.Lookup(host + "/x:1")
	if err != nil || got.Digest != digest {
		t.Errorf("Lookup: %v %v", got, err)
	}
}

func TestImportDockerSave(t *testing.T) {
	requireRoot(t)
	one := imageOf(t, v1.Config{Cmd: []string{"one"}}, layerOf(t, file{name: "one", body: "1"}))
	two := imageOf(t, v1.Config{Cmd: []string{"two"}}, layerOf(t, file{name: "two", body: "2"}))
	dir := t.TempDir()
	archive := filepath.Join(dir, "save.tar")
	refs := map[name.Reference]v1.Image{
		name.MustParseReference("example.com/team/one:1"): one,
		name.MustParseReference("two:latest"):             two,
	}
	if err := tarball.MultiRefWriteToFile(archive, refs); err != nil {
		t.Fatal(err)
	}
	s, _ := openStore(t)
	imgs, err := fetch.Import(context.Background(), s, archive, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 {
		t.Fatalf("Import: %d images, want 2", len(imgs))
	}
	for ref, cmd := range map[string]string{"example.com/team/one:1": "one", "docker.io/library/two:latest": "two"} {
		img, err := s.Lookup(ref)
		if err != nil {
			t.Errorf("Lookup %s: %v", ref, err)
			continue
		}
		if !slices.Equal(img.Cmd, []string{cmd}) {
			t.Errorf("%s: Cmd %q, want [%s]", ref, img.Cmd, cmd)
		}
		if _, err := os.Stat(filepath.Join(img.Layers[0], cmd)); err != nil {
			t.Errorf("%s: %v", ref, err)
		}
	}
	if _, err := fetch.Import(context.Background(), s, archive, "renamed:1"); err == nil {
		t.Error("Import of a two-image archive under one name: no error")
	}

	single := filepath.Join(dir, "single.tar")
	if err := tarball.WriteToFile(single, name.MustParseReference("orig:1"), one); err != nil {
		t.Fatal(err)
	}
	imgs, err = fetch.Import(context.Background(), s, single, "renamed:2")
	if err != nil || len(imgs) != 1 || imgs[0].Ref != "docker.io/library/renamed:2" {
		t.Fatalf("Import --name renamed:2: %v %v", imgs, err)
	}
	if _, err := s.Lookup("orig:1"); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("Lookup orig:1 after an import under another name: %v", err)
	}
}

func TestImportOCILayout(t *testing.T) {
	requireRoot(t)
	img := imageOf(t, v1.Config{Cmd: []string{"oci"}}, layerOf(t, file{name: "oci", body: "o"}))
	dir := filepath.Join(t.TempDir(), "layout")
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "example.com/oci/app:2",
	})); err != nil {
		t.Fatal(err)
	}
	s, _ := openStore(t)
	imgs, err := fetch.Import(context.Background(), s, dir, "")
	if err != nil || len(imgs) != 1 || imgs[0].Ref != "example.com/oci/app:2" {
		t.Fatalf("Import of an OCI layout directory: %v %v", imgs, err)
	}
	if _, err := os.Stat(filepath.Join(imgs[0].Layers[0], "oci")); err != nil {
		t.Error(err)
	}

	// A tar of a layout whose index names a tag alone: it needs a name.
	bare := filepath.Join(t.TempDir(), "bare")
	p, err = layout.Write(bare, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img, layout.WithAnnotations(map[string]string{
		"org.opencontainers.image.ref.name": "latest",
	})); err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "oci.tar")
	tarDir(t, bare, archive)
	if _, err := fetch.Import(context.Background(), s, archive, ""); !errors.Is(err, fetch.ErrNoName) {
		t.Errorf("Import of an unnamed layout: %v, want ErrNoName", err)
	}
	imgs, err = fetch.Import(context.Background(), s, archive, "localhost/named:3")
	if err != nil || len(imgs) != 1 || imgs[0].Ref != "localhost/named:3" {
		t.Fatalf("Import of an OCI layout archive under a name: %v %v", imgs, err)
	}
	if n := names(t, filepath.Join(s.Dir(), "tmp")); len(n) != 0 {
		t.Errorf("tmp: %q left after the import", n)
	}
}

// tarDir writes the tree dir as a tar archive, as tar -C dir -cf out . does.
func tarDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	if err := tw.AddFS(os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestOpenRefusesAStoreOthersCanEnter(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "images")
	s, err := image.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.Dir())
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("Open made %s: %v %v, want mode 0700", dir, fi.Mode(), err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := image.Open(dir); err == nil || !strings.Contains(err.Error(), "chmod 0700 "+dir) {
		t.Errorf("Open of a 0755 store: %v, want a refusal that says chmod 0700", err)
	}
}

// TestNormalizeAgrees holds image.Normalize, which a jail's launcher uses
// without go-containerregistry, to go-containerregistry's reading of the
// same references, which pulls use.
func TestNormalizeAgrees(t *testing.T) {
	d := "sha256:" + strings.Repeat("ab", 32)
	for _, ref := range []string{
		"alpine", "alpine:3.20", "library/alpine", "docker.io/alpine", "index.docker.io/library/alpine:edge",
		"user/app", "user/app:v1.2-rc_3", "quay.io/a/b", "quay.io/a/b/c:tag", "localhost/x", "localhost:5000/x:1",
		"127.0.0.1:5000/x:1", "registry.example.com:443/team/app", "alpine@" + d, "quay.io/a/b@" + d,
		"127.0.0.1:5000/x:1@" + d,
	} {
		r, err := name.ParseReference(ref)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		want := strings.Replace(r.Name(), "index.docker.io/", "docker.io/", 1)
		got, err := image.Normalize(ref)
		if err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; go-containerregistry: %q", ref, got, err, want)
		}
	}
	for _, bad := range []string{"", "UPPER/case", "a:", "a@sha256:12", "http://x/y", "a//b", "a/:b", "host:port/x"} {
		if got, err := image.Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}
