package test

import (
	"archive/tar"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"prison/image/imagetest"
)

// prison image and prison rootfs (issue 11, "roots without scripts").

// busyboxImage pushes to ref a one-layer image of the suite's busybox
// root plus /etc/marker holding marker, whose command cats it, and returns
// its digest. The registry is an imagetest.Registry: prison speaks plain
// HTTP to it (a loopback registry), and nothing leaves the machine.
func busyboxImage(t *testing.T, ref, marker string) string {
	t.Helper()
	data := tarDir(t, busyboxDir, func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "etc/marker", Mode: 0o644, Size: int64(len(marker)), Typeflag: tar.TypeReg})
		tw.Write([]byte(marker))
	})
	cfg := v1.Config{Env: []string{"PATH=/bin:/sbin:/usr/bin:/usr/sbin"}, Cmd: []string{"/bin/cat", "/etc/marker"}}
	return imagetest.Push(t, ref, imagetest.Image(t, cfg, time.Now(), imagetest.Layer(t, data)))
}

// imageEnv gives the test a store of its own (PRISON_IMAGE_DIR) that the
// host's /var/lib/prison/images never sees, and no daemon, whose store
// would be that of its own environment. The cleanup checks that the
// store is left empty.
func imageEnv(t *testing.T) (env []string, store string) {
	t.Helper()
	store = filepath.Join(t.TempDir(), "images")
	t.Cleanup(func() {
		for _, d := range []string{"layers/sha256", "blobs/sha256", "tmp"} {
			if ents, _ := os.ReadDir(filepath.Join(store, d)); len(ents) != 0 {
				t.Errorf("leftover in the image store's %s: %d entries", d, len(ents))
			}
		}
	})
	return []string{"PRISON_IMAGE_DIR=" + store, "PRISON_SOCKET=none"}, store
}

type imageLsRow struct {
	Ref, Digest string
	Size        int64
	Layers      []string
}

// TestImagePullRunRm is a user's session: pull an image from a registry,
// list it, run a jail on it, remove it.
func TestImagePullRunRm(t *testing.T) {
	env, _ := imageEnv(t)
	host := imagetest.Registry(t)
	ref := host + "/prison-test/bb:1"
	n := jailName(t)
	digest := busyboxImage(t, ref, "marker "+n+"\n")

	r := prisonEnv(t, env, nil, "image", "pull", ref)
	if r.code != 0 || r.stdout != ref+" "+digest+"\n" || r.stderr != "" {
		t.Fatalf("image pull: exit %d %q %q, want %q and a quiet stderr (not a terminal)", r.code, r.stdout, r.stderr, ref+" "+digest)
	}
	r = prisonEnv(t, env, nil, "image", "ls")
	if r.code != 0 || !strings.Contains(r.stdout, ref) || !strings.Contains(r.stdout, digest[:len("sha256:")+12]) {
		t.Errorf("image ls: exit %d %q, want %s %s", r.code, r.stdout, ref, digest[:19])
	}
	r = prisonEnv(t, env, nil, "image", "ls", "--json")
	var rows []imageLsRow
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Ref != ref ||
		rows[0].Digest != digest || rows[0].Size == 0 || len(rows[0].Layers) != 1 {
		t.Fatalf("image ls --json: %v %q", err, r.stdout)
	}
	if _, err := os.Stat(filepath.Join(rows[0].Layers[0], "etc/marker")); err != nil {
		t.Errorf("the layer directory: %v", err)
	}

	// The image's own command, then one of the command line's.
	r = prisonEnv(t, env, nil, "run", "--name", n, "--ephemeral", "--image", ref)
	if r.code != 0 || r.stdout != "marker "+n+"\n" {
		t.Errorf("run --image %s: exit %d %q %s", ref, r.code, r.stdout, r.stderr)
	}
	r = prisonEnv(t, env, nil, "run", "--name", n, "--ephemeral", "--image", ref, "/bin/sh", "-c", "echo changed > /etc/marker; cat /etc/marker")
	if r.code != 0 || r.stdout != "changed\n" {
		t.Errorf("a jail writing on the image: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if b, err := os.ReadFile(filepath.Join(rows[0].Layers[0], "etc/marker")); err != nil || string(b) != "marker "+n+"\n" {
		t.Errorf("the stored layer after a jail wrote on it: %q %v, want it as pulled", b, err)
	}

	if r := prisonEnv(t, env, nil, "image", "rm", ref); r.code != 0 || r.stderr != "" {
		t.Fatalf("image rm: exit %d %s", r.code, r.stderr)
	}
	if r := prisonEnv(t, env, nil, "image", "ls"); r.code != 0 || strings.Contains(r.stdout, ref) {
		t.Errorf("image ls after rm: exit %d %q", r.code, r.stdout)
	}
	r = prisonEnv(t, env, nil, "image", "rm", ref)
	if r.code != 125 || r.stderr != "prison: image "+ref+": not in the image store (prison image ls lists them)\n" {
		t.Errorf("image rm of a removed image: exit %d %q, want 125 and one line", r.code, r.stderr)
	}
}

// TestImageRmWhileRunning removes an image that a running jail runs on:
// the jail keeps it whole; the layer goes once the jail is gone.
func TestImageRmWhileRunning(t *testing.T) {
	env, _ := imageEnv(t)
	host := imagetest.Registry(t)
	ref, other := host+"/prison-test/used:1", host+"/prison-test/other:1"
	n := jailName(t)
	busyboxImage(t, ref, "in use\n")
	busyboxImage(t, other, "other\n")
	if r := prisonEnv(t, env, nil, "image", "pull", ref); r.code != 0 {
		t.Fatalf("image pull: exit %d %s", r.code, r.stderr)
	}
	b := startJailEnv(t, env, n, "--ephemeral", "--image", ref, "/bin/sh", "-c", "echo ready; read x; cat /etc/marker")
	if r := prisonEnv(t, env, nil, "image", "rm", ref); r.code != 0 {
		t.Fatalf("image rm: exit %d %s", r.code, r.stderr)
	}
	b.stdin.Write([]byte("\n"))
	if l, _ := b.out.ReadString('\n'); l != "in use\n" {
		t.Errorf("the jail read %q after its image was removed, want \"in use\"", l)
	}
	b.stop()
	// The next write of the store collects the layer; the cleanup
	// checks that nothing is left.
	if r := prisonEnv(t, env, nil, "image", "pull", other); r.code != 0 {
		t.Fatalf("image pull: exit %d %s", r.code, r.stderr)
	}
	if r := prisonEnv(t, env, nil, "image", "rm", other); r.code != 0 {
		t.Fatalf("image rm: exit %d %s", r.code, r.stderr)
	}
}

// TestImageImport imports a docker save archive under its own name and
// runs a jail on it.
func TestImageImport(t *testing.T) {
	env, _ := imageEnv(t)
	host := imagetest.Registry(t)
	src := host + "/prison-test/src:1"
	busyboxImage(t, src, "imported\n")
	srcRef, err := name.ParseReference(src)
	if err != nil {
		t.Fatal(err)
	}
	img, err := remote.Image(srcRef)
	if err != nil {
		t.Fatal(err)
	}
	archive := filepath.Join(t.TempDir(), "save.tar")
	if err := tarball.WriteToFile(archive, name.MustParseReference("example.com/team/app:2"), img); err != nil {
		t.Fatal(err)
	}
	r := prisonEnv(t, env, nil, "image", "import", archive)
	if r.code != 0 || !strings.HasPrefix(r.stdout, "example.com/team/app:2 sha256:") {
		t.Fatalf("image import: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	n := jailName(t)
	if r := prisonEnv(t, env, nil, "run", "--name", n, "--ephemeral", "--image", "example.com/team/app:2"); r.code != 0 || r.stdout != "imported\n" {
		t.Errorf("run --image of the import: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := prisonEnv(t, env, nil, "image", "rm", "example.com/team/app:2"); r.code != 0 {
		t.Errorf("image rm: exit %d %s", r.code, r.stderr)
	}
}

// TestRootfsBusybox makes a root with prison rootfs busybox and runs a
// jail in it.
func TestRootfsBusybox(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "roots", "bb")
	start := time.Now()
	if r := prison(t, nil, "rootfs", "busybox", dir); r.code != 0 || r.stderr != "" {
		t.Fatalf("rootfs busybox: exit %d %s", r.code, r.stderr)
	}
	t.Logf("prison rootfs busybox: %v", time.Since(start))
	n := jailName(t)
	r := prison(t, nil, "run", "--name", n, "--root", dir, "/bin/sh", "-c", "echo ok; id -un; ls /usr/bin/awk")
	if r.code != 0 || r.stdout != "ok\nroot\n/usr/bin/awk\n" {
		t.Errorf("run --root on a busybox root: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	r = prison(t, nil, "rootfs", "busybox", dir)
	if r.code != 125 || !strings.Contains(r.stderr, "not empty") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("rootfs busybox into a root: exit %d %q, want 125 and one line", r.code, r.stderr)
	}
}

// TestRootfsDebootstrapMissing: without debootstrap (not on PATH here,
// whether installed or not), one line names it and its package.
func TestRootfsDebootstrapMissing(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "deb")
	r := prisonEnv(t, []string{"PATH=" + t.TempDir()}, nil, "rootfs", "debootstrap", dir, "bookworm")
	want := "prison: debootstrap is not installed: install Debian's package debootstrap (apt-get install debootstrap)\n"
	if r.code != 125 || r.stderr != want {
		t.Errorf("rootfs debootstrap: exit %d %q, want 125 and %q", r.code, r.stderr, want)
	}
	if _, err := os.Lstat(dir); err == nil {
		t.Errorf("%s made for nothing", dir)
	}
}
