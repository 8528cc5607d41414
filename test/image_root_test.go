package test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The jail's own layer (issue 11): --image, --ephemeral, --disk.

const layerRoot = "/var/lib/prison/jails"

// layerOf is where jail name keeps its layer on the host.
func layerOf(name string) string { return filepath.Join(layerRoot, name) }

// imageBase is a base that jails share: the busybox root, with a marker
// file of the provider's. Made before the test's jails, so that it is
// removed after them.
func imageBase(t *testing.T) string {
	t.Helper()
	base := probeRoot(t)
	writeFile(t, filepath.Join(base, "etc", "release"), "base 1\n")
	return base
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

// layerName is jailName, whose cleanup also deletes the jail with its
// layer (prison delete --purge) and checks that neither the layer nor a
// loop device of its disk is left.
func layerName(t *testing.T) string {
	t.Helper()
	n := jailName(t)
	t.Cleanup(func() {
		prison(t, nil, "delete", "-t", "0", "--purge", n)
		assertNoLayer(t, n)
	})
	return n
}

// assertNoLayer checks that nothing of jail name's layer is on the host.
func assertNoLayer(t *testing.T, name string) {
	t.Helper()
	if fileExists(layerOf(name)) {
		t.Errorf("leftover: layer %s", layerOf(name))
	}
	// The kernel detaches a disk's loop device once the jail's mount
	// namespace is gone, a moment after the jail.
	disk := filepath.Join(layerOf(name), "disk.img")
	deadline := time.Now().Add(10 * time.Second)
	for loopHolds(t, disk) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if loopHolds(t, disk) {
		t.Errorf("leftover: a loop device holds %s", disk)
	}
}

// loopHolds tells whether losetup lists a device backed by file.
func loopHolds(t *testing.T, file string) bool {
	out, err := exec.Command("losetup", "-a").Output()
	if err != nil {
		t.Fatalf("losetup -a: %v", err)
	}
	return strings.Contains(string(out), file)
}

func execIn(t *testing.T, name, script string) result {
	t.Helper()
	return prison(t, nil, "exec", name, "/bin/sh", "-c", script)
}

func mustExec(t *testing.T, name, script string) string {
	t.Helper()
	r := execIn(t, name, script)
	if r.code != 0 {
		t.Fatalf("exec %s %q: exit %d: %s%s", name, script, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

func mustCreate(t *testing.T, name string, args ...string) {
	t.Helper()
	if r := prison(t, nil, append([]string{"create", name}, args...)...); r.code != 0 {
		t.Fatalf("prison create %s: exit %d: %s", name, r.code, r.stderr)
	}
}

func mustStop(t *testing.T, name string) {
	t.Helper()
	if r := prison(t, nil, "stop", "-t", "0", name); r.code != 0 {
		t.Fatalf("prison stop %s: exit %d: %s", name, r.code, r.stderr)
	}
}

// TestImageRootSharedBase: two jails running on one base both see it,
// and neither sees what the other writes; the base does not change.
func TestImageRootSharedBase(t *testing.T) {
	base := imageBase(t)
	a, b := layerName(t), layerName(t)
	mustCreate(t, a, "--image", base)
	mustCreate(t, b, "--image", base)
	for _, n := range []string{a, b} {
		if got := mustExec(t, n, "cat /etc/release"); got != "base 1\n" {
			t.Errorf("%s reads the base's /etc/release as %q", n, got)
		}
	}
	mustExec(t, a, "echo from-a > /mine && echo changed > /etc/release")
	if r := execIn(t, b, "cat /mine"); r.code == 0 || !strings.Contains(r.stderr, "No such file") {
		t.Errorf("%s sees %s's /mine: exit %d %q", b, a, r.code, r.stdout)
	}
	if got := mustExec(t, b, "cat /etc/release"); got != "base 1\n" {
		t.Errorf("%s sees %s's change to the base: %q", b, a, got)
	}
	mustExec(t, b, "echo from-b > /mine")
	if got := mustExec(t, a, "cat /mine /etc/release"); got != "from-a\nchanged\n" {
		t.Errorf("%s reads its own files as %q", a, got)
	}
	if fileExists(filepath.Join(base, "mine")) {
		t.Errorf("a jail wrote into the base")
	}
	if got, _ := os.ReadFile(filepath.Join(base, "etc", "release")); string(got) != "base 1\n" {
		t.Errorf("the base's /etc/release became %q", got)
	}
	// Two jails never share a layer: the name is taken while one runs.
	r := prison(t, nil, "create", a, "--image", base)
	if r.code != 125 {
		t.Errorf("second create of %s: exit %d, want 125", a, r.code)
	}
	assertOneLine(t, r, `a jail of that name is running`)
	if got := mustExec(t, a, "cat /mine"); got != "from-a\n" {
		t.Errorf("after a refused create, %s reads %q", a, got)
	}
}

// TestImageRootKeptAcrossStop: the jail made again under its name finds
// its files; delete --purge is what removes them.
func TestImageRootKeptAcrossStop(t *testing.T) {
	base := imageBase(t)
	n := layerName(t)
	mustCreate(t, n, "--image", base)
	mustExec(t, n, "echo kept > /root/note && rm /etc/release")
	mustStop(t, n)
	if !fileExists(layerOf(n)) {
		t.Fatalf("stop removed the layer %s", layerOf(n))
	}
	if fi, err := os.Stat(layerRoot); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want mode 0700: a tenant's setuid files are in there", layerRoot, fi.Mode(), err)
	}
	if fi, err := os.Stat(layerOf(n)); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("%s: %v %v, want mode 0700", layerOf(n), fi.Mode(), err)
	}
	// The jail.conf parameter is the flag's twin.
	mustCreate(t, n, "image="+base)
	if got := mustExec(t, n, "cat /root/note; ls /etc/release 2>&1; true"); !strings.HasPrefix(got, "kept\n") || !strings.Contains(got, "No such file") {
		t.Errorf("made again, the jail reads %q: want its note, and the base file it removed still gone", got)
	}
	// delete keeps the layer too; --purge removes it, with no jail
	// running as with one.
	if r := prison(t, nil, "delete", "-t", "0", n); r.code != 0 {
		t.Fatalf("delete: exit %d: %s", r.code, r.stderr)
	}
	if !fileExists(layerOf(n)) {
		t.Fatalf("delete without --purge removed the layer")
	}
	if r := prison(t, nil, "delete", "--purge", n); r.code != 0 {
		t.Fatalf("delete --purge of a stopped jail's layer: exit %d: %s", r.code, r.stderr)
	}
	assertNoLayer(t, n)
	mustCreate(t, n, "--image", base)
	if r := execIn(t, n, "cat /root/note"); r.code == 0 {
		t.Errorf("after delete --purge, the jail still reads %q", r.stdout)
	}
	if r := prison(t, nil, "delete", "-t", "0", "--purge", n); r.code != 0 {
		t.Fatalf("delete --purge of a running jail: exit %d: %s", r.code, r.stderr)
	}
	assertNoLayer(t, n)
	if r := prison(t, nil, "delete", "--purge", n); r.code == 0 || !strings.Contains(r.stderr, "no such jail") {
		t.Errorf("delete --purge of nothing: exit %d %q, want no such jail", r.code, r.stderr)
	}
}

// TestEphemeralLayerNotKept: an ephemeral layer goes with its jail, and
// nothing of it is ever on the host's disk.
func TestEphemeralLayerNotKept(t *testing.T) {
	base := imageBase(t)
	n := layerName(t)
	mustCreate(t, n, "--image", base, "--ephemeral")
	mustExec(t, n, "echo gone > /root/note")
	if fileExists(layerOf(n)) {
		t.Errorf("an ephemeral jail has a layer on the host: %s", layerOf(n))
	}
	mustStop(t, n)
	mustCreate(t, n, "--image", base, "--ephemeral")
	if r := execIn(t, n, "cat /root/note"); r.code == 0 {
		t.Errorf("an ephemeral jail made again reads %q", r.stdout)
	}
	// A jail without a name of the user's could never be made again:
	// its layer is ephemeral too.
	out := mustRun(t, "run", "--image", base, "/bin/sh", "-c", "echo x > /x; cat /x")
	if out != "x\n" {
		t.Errorf("unnamed jail: %q", out)
	}
	ents, _ := os.ReadDir(layerRoot)
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "j") && len(e.Name()) == 9 {
			t.Errorf("an unnamed jail left a layer: %s", e.Name())
		}
	}
}

// TestImageRootBaseUpgrade: the provider changes the base while the jails
// are stopped; each sees the new base with its own changes on top.
func TestImageRootBaseUpgrade(t *testing.T) {
	base := imageBase(t)
	writeFile(t, filepath.Join(base, "etc", "motd"), "motd 1\n")
	a, b := layerName(t), layerName(t)
	mustRun(t, "run", "--name", a, "--image", base, "/bin/sh", "-c", "echo a > /own; echo mine > /etc/motd")
	mustRun(t, "run", "--name", b, "--image", base, "/bin/sh", "-c", "echo b > /own")
	writeFile(t, filepath.Join(base, "etc", "release"), "base 2\n")
	writeFile(t, filepath.Join(base, "etc", "motd"), "motd 2\n")
	writeFile(t, filepath.Join(base, "new"), "new\n")
	for n, want := range map[string]string{
		a: "base 2\nnew\na\nmine\n",   // its own motd hides the base's
		b: "base 2\nnew\nb\nmotd 2\n", // the base's, upgraded
	} {
		got := mustRun(t, "run", "--name", n, "--image", base, "/bin/cat", "/etc/release", "/new", "/own", "/etc/motd")
		if got != want {
			t.Errorf("%s after the upgrade reads %q, want %q", n, got, want)
		}
	}
}

// TestDiskLayerENOSPC: a kept layer with --disk is a filesystem of its
// own: writing past SIZE fails inside with ENOSPC, and the host's file
// holds no more than SIZE.
func TestDiskLayerENOSPC(t *testing.T) {
	base := imageBase(t)
	n := layerName(t)
	const size = 16 << 20
	out := mustRun(t, "run", "--name", n, "--image", base, "--disk", "16M", "/bin/sh", "-c",
		"dd if=/dev/zero of=/fill bs=1M count=64 2>&1; echo dd exit $?; stat -c %s /fill")
	assertENOSPC(t, out, 10<<20, size)
	disk := filepath.Join(layerOf(n), "disk.img")
	var st unix.Stat_t
	if err := unix.Stat(disk, &st); err != nil {
		t.Fatal(err)
	}
	if st.Size != size || st.Blocks*512 > size {
		t.Errorf("%s: %d bytes, %d allocated: want %d at most", disk, st.Size, st.Blocks*512, size)
	}
	if loopHolds(t, disk) {
		// The run is over: so must the jail's mount be, with its device.
		time.Sleep(2 * time.Second)
		if loopHolds(t, disk) {
			t.Errorf("a loop device still holds %s after the jail", disk)
		}
	}
	// The disk is the jail's: made again without --disk, it finds its
	// file, and the disk keeps its size.
	lines := strings.Split(strings.TrimSpace(out), "\n")
	got := mustRun(t, "run", "--name", n, "--image", base, "/bin/sh", "-c",
		"stat -c %s /fill; dd if=/dev/zero of=/more bs=1M count=64 2>&1 | grep -c 'No space left'")
	if want := lines[len(lines)-1] + "\n1\n"; got != want {
		t.Errorf("made again without --disk, the jail reads %q, want %q", got, want)
	}
}

// assertENOSPC checks dd's output: it failed for lack of space, having
// written between min and max bytes.
func assertENOSPC(t *testing.T, out string, min, max int64) {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.Contains(out, "No space left on device") || !strings.Contains(out, "dd exit 1") {
		t.Fatalf("dd past the disk: %q, want ENOSPC", out)
	}
	n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil || n < min || n > max {
		t.Errorf("dd wrote %q bytes before ENOSPC, want %d to %d", lines[len(lines)-1], min, max)
	}
}

// TestDiskGrowsNeverShrinks: a larger --disk grows the layer's disk with
// its files; a smaller one is refused, and the layer is left as it was.
func TestDiskGrowsNeverShrinks(t *testing.T) {
	base := imageBase(t)
	n := layerName(t)
	mustRun(t, "run", "--name", n, "--image", base, "--disk", "8M", "/bin/sh", "-c", "dd if=/dev/zero of=/a bs=1M count=5")
	out := mustRun(t, "run", "--name", n, "--image", base, "--disk", "24M", "/bin/sh", "-c",
		"dd if=/dev/zero of=/b bs=1M count=12 && stat -c %s /a /b")
	if out != "5242880\n12582912\n" {
		t.Errorf("after growing to 24M: %q", out)
	}
	r := prison(t, nil, "run", "--name", n, "--image", base, "--disk", "8M", "/bin/true")
	if r.code != 125 {
		t.Errorf("shrink: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, `--disk "8M": jail `+n+`'s layer is on a disk of 24M, which prison does not shrink`)
	if fi, err := os.Stat(filepath.Join(layerOf(n), "disk.img")); err != nil || fi.Size() != 24<<20 {
		t.Errorf("after a refused shrink: %v %v", fi, err)
	}
}

// TestEphemeralDiskENOSPC: an ephemeral layer's tmpfs is SIZE.
func TestEphemeralDiskENOSPC(t *testing.T) {
	base := imageBase(t)
	n := layerName(t)
	out := mustRun(t, "run", "--name", n, "--image", base, "--ephemeral", "--disk", "8M", "/bin/sh", "-c",
		"dd if=/dev/zero of=/fill bs=1M count=64 2>&1; echo dd exit $?; stat -c %s /fill")
	assertENOSPC(t, out, 6<<20, 8<<20)
}

// TestDiskHostDerivedRoot: the host-derived root's tmpfs is bounded: by
// --disk, and by default at 1G.
func TestDiskHostDerivedRoot(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "--disk", "8M", "/bin/sh", "-c",
		"dd if=/dev/zero of=/fill bs=1M count=64 2>&1; echo dd exit $?; stat -c %s /fill")
	assertENOSPC(t, out, 6<<20, 8<<20)
	if got := mustRun(t, "run", "--name", n, "df", "-B1", "--output=size", "/"); !strings.HasSuffix(got, "\n1073741824\n") {
		t.Errorf("the default root's size: %q, want 1G", got)
	}
}

// TestImageRootBadInput: each mistake is one line naming the flag, exit
// 125, and nothing is left: no layer, no state, no loop device.
func TestImageRootBadInput(t *testing.T) {
	base := imageBase(t)
	file := filepath.Join(base, "etc", "release")
	n := layerName(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--image", "/no/such/base"}, `--image "/no/such/base": no such directory`},
		{[]string{"--image", file}, `--image "` + file + `": not a directory`},
		{[]string{"--image", "no.such/image:1"}, `--image "no.such/image:1": no such directory, nor an image of that name in `},
		{[]string{"--image", base, "--root", base}, `--image "` + base + `": cannot be combined with --root`},
		{[]string{"--image", base, "--disk", "lots"}, `--disk "lots": want a number of bytes`},
		{[]string{"--image", base, "--disk", "64k"}, `--disk "64k": below the minimum of 1M`},
		{[]string{"--root", base, "--disk", "16M"}, `--disk "16M": needs a filesystem of the jail's own`},
		{[]string{"--ephemeral"}, `--ephemeral: only with --image`},
	} {
		r := prison(t, nil, append(append([]string{"run", "--name", n}, tc.args...), "/bin/true")...)
		if r.code != 125 {
			t.Errorf("%v: exit %d, want 125", tc.args, r.code)
		}
		assertOneLine(t, r, tc.want)
		if fileExists(layerOf(n)) || fileExists("/run/prison/"+n) {
			t.Errorf("%v left a layer or a state", tc.args)
			os.RemoveAll(layerOf(n))
		}
	}
	// As jail(8) parameters, the errors name the parameter.
	r := prison(t, nil, "create", n, "image="+base, "disk=64k")
	if r.code != 125 {
		t.Errorf("disk=64k: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, `disk "64k": below the minimum of 1M`)
	assertNoLayer(t, n)
}

// tarDir writes the tree at dir into a layer archive; extra adds entries
// after it.
func tarDir(t *testing.T, dir string, extra func(tw *tar.Writer)) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if dir != "" {
		err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
			if err != nil || p == dir {
				return err
			}
			link := ""
			if fi.Mode()&os.ModeSymlink != 0 {
				if link, err = os.Readlink(p); err != nil {
					return err
				}
			}
			hdr, err := tar.FileInfoHeader(fi, link)
			if err != nil {
				return err
			}
			hdr.Name, _ = filepath.Rel(dir, p)
			if err := tw.WriteHeader(hdr); err != nil {
				return err
			}
			if fi.Mode().IsRegular() {
				b, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				_, err = tw.Write(b)
				return err
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if extra != nil {
		extra(tw)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// dockerArchive writes what docker save would for an image of the given
// layers (lowest first) and configuration.
func dockerArchive(t *testing.T, config map[string]any, layers ...[]byte) string {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	var names, diffIDs []string
	for i, l := range layers {
		names = append(names, fmt.Sprintf("layer%d.tar", i))
		diffIDs = append(diffIDs, fmt.Sprintf("sha256:%x", sha256.Sum256(l)))
		add(names[i], l)
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": runtime.GOARCH, "os": "linux", "config": config,
		"rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs},
	})
	add("config.json", cfg)
	m, _ := json.Marshal([]map[string]any{{"Config": "config.json", "Layers": names}})
	add("manifest.json", m)
	tw.Close()
	p := filepath.Join(t.TempDir(), "image.tar")
	if err := os.WriteFile(p, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImageRootRef: --image REF runs an image of prison's store: its
// layers stacked in order, its entrypoint, environment and working
// directory, which the command line overrides.
func TestImageRootRef(t *testing.T) {
	store := filepath.Join(t.TempDir(), "images")
	// Not through a daemon, whose store is the one of its own
	// environment.
	env := []string{"PRISON_IMAGE_DIR=" + store, "PRISON_SOCKET=none"}
	top := tarDir(t, "", func(tw *tar.Writer) {
		tw.WriteHeader(&tar.Header{Name: "srv/", Mode: 0o755, Typeflag: tar.TypeDir})
		release := []byte("layer 2\n")
		tw.WriteHeader(&tar.Header{Name: "etc/release", Mode: 0o644, Size: int64(len(release)), Typeflag: tar.TypeReg})
		tw.Write(release)
		tw.WriteHeader(&tar.Header{Name: "bin/.wh.cat", Mode: 0o644, Typeflag: tar.TypeReg}) // the top layer deletes cat
	})
	base := imageBase(t)
	archive := dockerArchive(t, map[string]any{
		"Env":        []string{"PATH=/bin:/sbin", "FROM_IMAGE=yes", "MINE=image's"},
		"Entrypoint": []string{"/bin/sh", "-c"},
		"Cmd":        []string{`echo "entry in $(pwd): $FROM_IMAGE $MINE"`},
		"WorkingDir": "/srv",
	}, tarDir(t, base, nil), top)
	n := layerName(t)
	ref := "localhost/prison-test/" + n + ":1"
	if r := prisonEnv(t, env, nil, "image", "import", "--name", ref, archive); r.code != 0 {
		t.Fatalf("image import: exit %d: %s", r.code, r.stderr)
	}
	run := func(args ...string) result {
		return prisonEnv(t, env, nil, append([]string{"run", "--name", n, "--image", ref}, args...)...)
	}
	if r := run(); r.code != 0 || r.stdout != "entry in /srv: yes image's\n" {
		t.Errorf("the image's entrypoint: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := run("--env", "MINE=mine", "--cwd", "/etc"); r.code != 0 || r.stdout != "entry in /etc: yes mine\n" {
		t.Errorf("flags over the image's settings: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// A command replaces the entrypoint; the top layer is on top.
	r := run("/bin/sh", "-c", "read l < /etc/release; echo $l; ls /bin/cat 2>&1; echo note > /root/note")
	if r.code != 0 || r.stdout != "layer 2\nls: /bin/cat: No such file or directory\n" {
		t.Errorf("the layers' order: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	// A named jail on an image keeps its layer too.
	if r := run("/bin/busybox", "cat", "/root/note"); r.code != 0 || r.stdout != "note\n" {
		t.Errorf("kept layer on an image: exit %d %q %s", r.code, r.stdout, r.stderr)
	}
	if r := prisonEnv(t, env, nil, "create", n, "--image", ref); r.code != 0 {
		t.Fatalf("create: exit %d: %s", r.code, r.stderr)
	}
	list := mustRun(t, "list", "--json")
	if !strings.Contains(list, `"image": "`+ref+`@sha256:`) {
		t.Errorf("prison list --json does not name the image and its digest:\n%s", list)
	}
}

// TestImageRootManyLayers: an image whose layers' paths together pass a
// page, which mount(2)'s data could not hold.
func TestImageRootManyLayers(t *testing.T) {
	store := filepath.Join(t.TempDir(), "images")
	env := []string{"PRISON_IMAGE_DIR=" + store, "PRISON_SOCKET=none"}
	layers := [][]byte{tarDir(t, imageBase(t), nil)}
	const n = 48
	for i := 1; i < n; i++ {
		layers = append(layers, tarDir(t, "", func(tw *tar.Writer) {
			b := []byte(fmt.Sprintf("%d\n", i))
			tw.WriteHeader(&tar.Header{Name: fmt.Sprintf("l/%02d", i), Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
			tw.Write(b)
			tw.WriteHeader(&tar.Header{Name: "l/top", Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg})
			tw.Write(b)
		}))
	}
	archive := dockerArchive(t, map[string]any{"Env": []string{"PATH=/bin"}}, layers...)
	name := layerName(t)
	ref := "localhost/prison-test/" + name + ":many"
	if r := prisonEnv(t, env, nil, "image", "import", "--name", ref, archive); r.code != 0 {
		t.Fatalf("image import: exit %d: %s", r.code, r.stderr)
	}
	r := prisonEnv(t, env, nil, "run", "--name", name, "--image", ref, "--ephemeral", "/bin/sh", "-c",
		"ls /l | wc -l; cat /l/top; grep -o 'lowerdir+=' /proc/self/mountinfo | wc -l")
	if want := fmt.Sprintf("%d\n%d\n%d\n", n, n-1, n); r.code != 0 || strings.Join(strings.Fields(r.stdout), "\n")+"\n" != want {
		t.Errorf("%d layers: exit %d %q, want %q: %s", n, r.code, r.stdout, want, r.stderr)
	}
}
