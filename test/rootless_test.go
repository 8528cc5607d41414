package test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// nobody is the user the rootless tests run prison as: an account every
// Debian machine has, with no subordinate ids of its own.
const nobody = 65534

// asNobody runs prison as a user without root, with a clean environment
// (no runtime directory: the store goes to /tmp/prison-65534).
func asNobody(t *testing.T, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prisonBin, args...)
	cmd.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "PRISON_SOCKET=none"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	return runCmd(t, cmd)
}

// rootlessStore is where nobody's jails keep their state; the test removes
// it, and checks that no jail of its own is left in it.
func rootlessStore(t *testing.T) string {
	dir := "/tmp/prison-65534"
	t.Cleanup(func() {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), "t") {
				t.Errorf("leftover: rootless jail state %s", filepath.Join(dir, e.Name()))
			}
		}
		for _, d := range []string{dir, dir + "-addrs", dir + "-jid", dir + "-ids"} {
			os.RemoveAll(d)
		}
	})
	return dir
}

// TestRootless: a user without root runs a jail, root inside and the user
// outside, with its own namespaces and no network; what needs root is
// refused with one line that says so.
func TestRootless(t *testing.T) {
	rootlessStore(t)
	n := jailName(t)
	r := asNobody(t, "run", "--name", n, "/bin/sh", "-c", `
id -u
cat /proc/self/uid_map
grep -c : /proc/net/dev
grep CapEff /proc/self/status
echo written > /dev/stdout
python3 -c 'import socket; s=socket.socket(); s.settimeout(2); s.connect(("10.254.64.1", 80))' 2>&1 | tail -1
`)
	if r.code != 0 {
		t.Fatalf("rootless jail: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 6 {
		t.Fatalf("rootless jail printed:\n%s", r.stdout)
	}
	if lines[0] != "0" {
		t.Errorf("id -u inside: %s, want 0", lines[0])
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != "0" || f[1] != "65534" || f[2] != "1" {
		t.Errorf("uid_map inside: %q, want 0 65534 1: root inside is nobody outside", lines[1])
	}
	if lines[2] != "1" {
		t.Errorf("interfaces inside: %s, want only lo", lines[2])
	}
	if !strings.HasSuffix(lines[3], "800405fb") {
		t.Errorf("capabilities inside: %s, want a jail root's", lines[3])
	}
	if lines[4] != "written" {
		t.Errorf("/dev/stdout: %q", lines[4])
	}
	if !strings.Contains(lines[5], "Network is unreachable") {
		t.Errorf("a connection out: %q, want Network is unreachable", lines[5])
	}

	// A jail with a life of its own, and its verbs; prison exec needs
	// root (the joining process enters namespaces the user cannot).
	p := jailName(t)
	if r := asNobody(t, "create", "--net", "none", p); r.code != 0 {
		t.Fatalf("rootless create: exit %d: %s", r.code, r.stderr)
	}
	if r := asNobody(t, "list"); !strings.Contains(r.stdout, p) || !strings.Contains(r.stdout, "running") {
		t.Errorf("rootless list: %q", r.stdout)
	}
	if r := asNobody(t, "exec", p, "true"); r.code != 125 || !strings.Contains(r.stderr, "must run as root") {
		t.Errorf("rootless exec: exit %d, %q; want 125 and that it needs root", r.code, r.stderr)
	}
	if r := asNobody(t, "delete", p); r.code != 0 {
		t.Errorf("rootless delete: exit %d: %s", r.code, r.stderr)
	}

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--ip", "10.254.64.5"}, "--ip, --net: a jail's network needs root"},
		{[]string{"--memory", "100M"}, "limits need root"},
		{[]string{"--userns", "host"}, "--userns host: needs root"},
	} {
		r := asNobody(t, append(append([]string{"run", "--name", jailName(t)}, c.args...), "true")...)
		if r.code != 125 || !strings.Contains(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("rootless %v: exit %d, stderr %q; want 125 and one line with %q", c.args, r.code, r.stderr, c.want)
		}
	}
}

// TestRootlessRoot: a root directory the user owns is the jail's, and
// what the jail's root writes there is the user's on the host.
func TestRootlessRoot(t *testing.T) {
	rootlessStore(t)
	// t.TempDir's parent is root's alone: the user could not reach it.
	parent, err := os.MkdirTemp("", "prison-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(parent) })
	root := filepath.Join(parent, "root")
	if out, err := exec.Command("cp", "-a", busyboxDir, root).CombinedOutput(); err != nil {
		t.Fatalf("copy busybox root: %v: %s", err, out)
	}
	// The user's own root, under a directory only the user can enter.
	if out, err := exec.Command("chown", "-R", "65534:65534", parent).CombinedOutput(); err != nil {
		t.Fatalf("chown: %v: %s", err, out)
	}
	if err := os.Chmod(parent, 0o700); err != nil {
		t.Fatal(err)
	}
	r := asNobody(t, "run", "--name", jailName(t), "--root", root, "/bin/sh", "-c", "touch /made; ls -ln /made")
	if r.code != 0 {
		t.Fatalf("rootless --root: exit %d\nstderr: %s", r.code, r.stderr)
	}
	if f := strings.Fields(r.stdout); len(f) < 4 || f[2] != "0" || f[3] != "0" {
		t.Errorf("inside: %q, want owned by 0:0", r.stdout)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "made"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Uid != nobody || st.Gid != nobody {
		t.Errorf("on the host: %d:%d, want the user, %d:%d", st.Uid, st.Gid, nobody, nobody)
	}
}

// TestRootlessSubordinateIDs: with subordinate ids in /etc/subuid and
// /etc/subgid and the uidmap package's newuidmap, a rootless jail has
// 65536 ids, and its root can give files to its other users.
func TestRootlessSubordinateIDs(t *testing.T) {
	if _, err := exec.LookPath("newuidmap"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("newuidmap is missing (Debian's uidmap package): make deps installs it")
		}
		t.Skip("newuidmap is missing (Debian's uidmap package)")
	}
	rootlessStore(t)
	for _, f := range []string{"/etc/subuid", "/etc/subgid"} {
		old, err := os.ReadFile(f)
		existed := err == nil
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if existed {
				_ = os.WriteFile(f, old, 0o644)
			} else {
				_ = os.Remove(f)
			}
		})
		entry := append(bytes.Clone(old), []byte("nobody:3000000000:65536\n")...)
		if err := os.WriteFile(f, entry, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	r := asNobody(t, "run", "--name", jailName(t), "/bin/sh", "-c",
		"cat /proc/self/uid_map; touch /tmp/f; chown 1000:1000 /tmp/f && ls -ln /tmp/f")
	if r.code != 0 {
		t.Fatalf("rootless jail with subordinate ids: exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 3 {
		t.Fatalf("printed:\n%s", r.stdout)
	}
	if f := strings.Fields(lines[1]); len(f) != 3 || f[0] != "1" || f[1] != "3000000000" || f[2] != "65535" {
		t.Errorf("uid_map's second line: %q, want 1 3000000000 65535", lines[1])
	}
	if f := strings.Fields(lines[2]); len(f) < 4 || f[2] != "1000" {
		t.Errorf("chown inside: %q, want owned by 1000", lines[2])
	}
}
