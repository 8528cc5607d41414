package image

import (
	"archive/tar"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"prison/internal/roottest"
)

// requireRoot skips a test that needs root, as the jail suite does: under
// CI=true it fails instead, so that a CI without root cannot pass unseen.
func requireRoot(t *testing.T) { roottest.Require(t) }

// entry is one tar entry of a test archive.
type entry struct {
	name, link string
	typ        byte
	mode       int64
	uid, gid   int
	body       string
	xattrs     map[string]string
	mtime      time.Time
}

func tarOf(t *testing.T, es ...entry) []byte {
	t.Helper()
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	for _, e := range es {
		hdr := &tar.Header{
			Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode,
			Uid: e.uid, Gid: e.gid, Size: int64(len(e.body)), ModTime: e.mtime,
			Format: tar.FormatPAX,
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
		if hdr.ModTime.IsZero() {
			hdr.ModTime = time.Unix(1700000000, 0)
		}
		for k, v := range e.xattrs {
			if hdr.PAXRecords == nil {
				hdr.PAXRecords = map[string]string{}
			}
			hdr.PAXRecords["SCHILY.xattr."+k] = v
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// layerRoot returns an empty layer directory inside a private sandbox
// directory, and the sandbox, so that a test can see what was written
// beside the layer.
func layerRoot(t *testing.T) (root, sandbox string) {
	t.Helper()
	sandbox = t.TempDir()
	root = filepath.Join(sandbox, "layer", "root")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	return root, sandbox
}

func lstat(t *testing.T, p string) *unix.Stat_t {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
	return &st
}

func TestExtractKeepsWhatARootNeeds(t *testing.T) {
	requireRoot(t)
	root, _ := layerRoot(t)
	mtime := time.Unix(1600000000, 0)
	b := tarOf(t,
		entry{name: "./", typ: tar.TypeDir, mode: 0o755},
		entry{name: "bin/", typ: tar.TypeDir, mode: 0o755},
		entry{name: "bin/su", mode: 0o4755, body: "su", mtime: mtime},
		entry{name: "bin/su-again", typ: tar.TypeLink, link: "bin/su"},
		entry{name: "bin/sh", typ: tar.TypeSymlink, link: "/bin/busybox"},
		entry{name: "home/u/notes", mode: 0o600, uid: 1234, gid: 1234, body: "mine"}, // no dir entries: made
		entry{name: "tmp/", typ: tar.TypeDir, mode: 0o1777, mtime: mtime},
		entry{name: "bin/ping", mode: 0o755, body: "ping", xattrs: map[string]string{
			"user.note":                 "kept",
			"security.capability":       string(capNetRaw),
			"trusted.overlay.redirect":  "/etc",
			"user.overlay.opaque":       "y",
			"security.selinux":          "system_u:object_r:bin_t:s0",
			"trusted.something.private": "x",
		}},
		entry{name: "run/fifo", typ: tar.TypeFifo, mode: 0o620},
		entry{name: "dev/mem", typ: tar.TypeChar, mode: 0o600},
		entry{name: "dev/sda", typ: tar.TypeBlock, mode: 0o600},
		entry{name: "etc/motd", body: "old"},
		entry{name: "etc/motd", body: "new"}, // a later entry replaces an earlier one
	)
	digest, size, err := extract(bytes.NewReader(b), root, "sha256:test")
	if err != nil {
		t.Fatal(err)
	}
	if digest != sha256Digest(b) || size != int64(len(b)) {
		t.Errorf("extract: digest %s size %d, want %s %d", digest, size, sha256Digest(b), len(b))
	}

	su := lstat(t, filepath.Join(root, "bin/su"))
	if su.Mode&0o7777 != 0o4755 || su.Uid != 0 || su.Gid != 0 {
		t.Errorf("bin/su: mode %o uid %d gid %d, want setuid 4755 root's", su.Mode&0o7777, su.Uid, su.Gid)
	}
	if su.Mtim.Sec != mtime.Unix() {
		t.Errorf("bin/su: mtime %d, want %d", su.Mtim.Sec, mtime.Unix())
	}
	if again := lstat(t, filepath.Join(root, "bin/su-again")); again.Ino != su.Ino {
		t.Errorf("bin/su-again: inode %d, want bin/su's %d (a hard link)", again.Ino, su.Ino)
	}
	if l, err := os.Readlink(filepath.Join(root, "bin/sh")); err != nil || l != "/bin/busybox" {
		t.Errorf("bin/sh: link %q (%v), want /bin/busybox", l, err)
	}
	notes := lstat(t, filepath.Join(root, "home/u/notes"))
	if notes.Uid != 1234 || notes.Gid != 1234 || notes.Mode&0o777 != 0o600 {
		t.Errorf("home/u/notes: uid %d gid %d mode %o, want 1234 1234 600", notes.Uid, notes.Gid, notes.Mode&0o777)
	}
	if home := lstat(t, filepath.Join(root, "home")); home.Mode&0o777 != 0o755 || home.Uid != 0 {
		t.Errorf("home (not in the archive): mode %o uid %d, want 755 root's", home.Mode&0o777, home.Uid)
	}
	if r := lstat(t, root); r.Mode&0o777 != 0o755 {
		t.Errorf("layer root: mode %o, want 755", r.Mode&0o777)
	}
	tmp := lstat(t, filepath.Join(root, "tmp"))
	if tmp.Mode&0o7777 != 0o1777 || tmp.Mtim.Sec != mtime.Unix() {
		t.Errorf("tmp: mode %o mtime %d, want 1777 %d", tmp.Mode&0o7777, tmp.Mtim.Sec, mtime.Unix())
	}
	if fifo := lstat(t, filepath.Join(root, "run/fifo")); fifo.Mode&unix.S_IFMT != unix.S_IFIFO || fifo.Mode&0o777 != 0o620 {
		t.Errorf("run/fifo: mode %o, want a FIFO 620", fifo.Mode)
	}
	for _, dev := range []string{"dev/mem", "dev/sda"} {
		if _, err := os.Lstat(filepath.Join(root, dev)); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s: a device node from the archive was made (%v)", dev, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/motd")); string(b) != "new" {
		t.Errorf("etc/motd: %q, want the later entry's \"new\"", b)
	}

	ping := filepath.Join(root, "bin/ping")
	if v := getxattr(t, ping, "user.note"); v != "kept" {
		t.Errorf("bin/ping: user.note %q, want kept", v)
	}
	if v := getxattr(t, ping, "security.capability"); v != string(capNetRaw) {
		t.Errorf("bin/ping: security.capability %x, want %x", v, capNetRaw)
	}
	for _, x := range []string{"trusted.overlay.redirect", "user.overlay.opaque", "trusted.something.private"} {
		if v := getxattr(t, ping, x); v != "" {
			t.Errorf("bin/ping: %s = %q from the archive, want none", x, v)
		}
	}
}

// capNetRaw is a VFS_CAP_REVISION_2 security.capability value granting
// CAP_NET_RAW (13), effective: what Debian's ping has.
var capNetRaw = []byte{0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}

func getxattr(t *testing.T, path, name string) string {
	t.Helper()
	buf := make([]byte, 256)
	n, err := unix.Lgetxattr(path, name, buf)
	if errors.Is(err, unix.ENODATA) {
		return ""
	}
	if err != nil {
		t.Fatalf("getxattr %s %s: %v", path, name, err)
	}
	return string(buf[:n])
}

func TestExtractWhiteouts(t *testing.T) {
	requireRoot(t)
	root, _ := layerRoot(t)
	b := tarOf(t,
		entry{name: "etc/", typ: tar.TypeDir},
		entry{name: "etc/.wh.passwd"},
		entry{name: "opt/app/", typ: tar.TypeDir},
		entry{name: "opt/app/.wh..wh..opq"},
		entry{name: "opt/app/new", body: "new"},
		entry{name: "x/.wh..wh.plnk"}, // aufs metadata: nothing
	)
	if _, _, err := extract(bytes.NewReader(b), root, "sha256:test"); err != nil {
		t.Fatal(err)
	}
	wh := lstat(t, filepath.Join(root, "etc/passwd"))
	if wh.Mode&unix.S_IFMT != unix.S_IFCHR || wh.Rdev != 0 || wh.Uid != 0 || wh.Gid != 0 {
		t.Errorf("etc/passwd: mode %o rdev %d owner %d:%d, want overlayfs's whiteout, a 0:0 character device of root's",
			wh.Mode, wh.Rdev, wh.Uid, wh.Gid)
	}
	if _, err := os.Lstat(filepath.Join(root, "etc/.wh.passwd")); err == nil {
		t.Error("etc/.wh.passwd: kept as a file")
	}
	if v := getxattr(t, filepath.Join(root, "opt/app"), opaqueXattr); v != "y" {
		t.Errorf("opt/app: %s = %q, want y", opaqueXattr, v)
	}
	if _, err := os.Lstat(filepath.Join(root, "opt/app/.wh..wh..opq")); err == nil {
		t.Error("opt/app/.wh..wh..opq: kept as a file")
	}
	if _, err := os.Lstat(filepath.Join(root, "x/.wh..wh.plnk")); err == nil {
		t.Error("x/.wh..wh.plnk: kept as a file")
	}
}

// TestExtractRefusesEscapes gives the extractor archives that try to write
// outside the layer, and checks that each is refused, naming the entry,
// and that nothing was written outside the layer: not beside it, not on
// the host.
func TestExtractRefusesEscapes(t *testing.T) {
	requireRoot(t)
	var rb [6]byte
	_, _ = rand.Read(rb[:])
	tag := "prison-escape-" + hex.EncodeToString(rb[:])
	hostTmp := "/tmp/" + tag // where "x -> /" would put x/tmp/TAG
	t.Cleanup(func() { os.Remove(hostTmp); os.Remove("/" + tag) })

	var shadow unix.Stat_t
	if err := unix.Stat("/etc/shadow", &shadow); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		entries []entry
		refused string // the entry the error names
		wantErr error
	}{
		{"dotdot", []entry{{name: "../" + tag, body: "x"}}, "../" + tag, errDotDot},
		{"dotdot deep", []entry{{name: "a/b/../../../" + tag, body: "x"}}, "a/b/../../../" + tag, errDotDot},
		{"absolute", []entry{{name: "/" + tag, body: "x"}}, "/" + tag, errAbsolute},
		{"through a symlink to /", []entry{
			{name: "x", typ: tar.TypeSymlink, link: "/"},
			{name: "x/tmp/" + tag, body: "evil"},
		}, "x/tmp/" + tag, errSymlinkDir},
		{"through a relative symlink", []entry{
			{name: "d/", typ: tar.TypeDir},
			{name: "d/up", typ: tar.TypeSymlink, link: "../../.."},
			{name: "d/up/" + tag, body: "evil"},
		}, "d/up/" + tag, errSymlinkDir},
		{"dir through a symlink", []entry{
			{name: "x", typ: tar.TypeSymlink, link: "/tmp"},
			{name: "x/" + tag + "/", typ: tar.TypeDir},
		}, "x/" + tag + "/", errSymlinkDir},
		{"whiteout through a symlink", []entry{
			{name: "x", typ: tar.TypeSymlink, link: "/tmp"},
			{name: "x/.wh." + tag},
		}, "x/.wh." + tag, errSymlinkDir},
		{"hardlink to /etc/shadow", []entry{{name: "shadow", typ: tar.TypeLink, link: "/etc/shadow"}}, "shadow", errAbsolute},
		{"hardlink up to /etc/shadow", []entry{{name: "shadow", typ: tar.TypeLink, link: "../../../../../../etc/shadow"}}, "shadow", errDotDot},
		{"hardlink to a name not in the layer", []entry{{name: "shadow", typ: tar.TypeLink, link: "etc/shadow"}}, "shadow", errLinkTarget},
		{"hardlink through a symlink", []entry{
			{name: "x", typ: tar.TypeSymlink, link: "/"},
			{name: "shadow", typ: tar.TypeLink, link: "x/etc/shadow"},
		}, "shadow", errSymlinkDir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root, sandbox := layerRoot(t)
			_, _, err := extract(bytes.NewReader(tarOf(t, tc.entries...)), root, "sha256:0123456789abcdef")
			var ee *EntryError
			if !errors.As(err, &ee) || ee.Entry != tc.refused || !errors.Is(err, tc.wantErr) {
				t.Fatalf("extract: %v, want an EntryError for %q: %v", err, tc.refused, tc.wantErr)
			}
			if !strings.Contains(err.Error(), "sha256:0123456789ab") || !strings.Contains(err.Error(), tc.refused) {
				t.Errorf("error %q: does not name the layer and the entry", err)
			}
			for _, p := range []string{hostTmp, "/" + tag, filepath.Join(sandbox, tag), filepath.Join(sandbox, "layer", tag)} {
				if _, err := os.Lstat(p); err == nil {
					t.Errorf("%s: written outside the layer", p)
				}
			}
			_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return nil
				}
				var st unix.Stat_t
				if unix.Lstat(p, &st) == nil && st.Dev == shadow.Dev && st.Ino == shadow.Ino {
					t.Errorf("%s: a hard link to the host's /etc/shadow", p)
				}
				return nil
			})
		})
	}
}
