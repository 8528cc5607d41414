package rootfs

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func requireBusybox(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(DefaultBusybox); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s: %v (make deps installs busybox-static), and CI=true", DefaultBusybox, err)
		}
		t.Skipf("%s: %v (apt-get install busybox-static)", DefaultBusybox, err)
	}
}

// TestBusyboxRoot makes a busybox root and checks it as a jail would use
// it: a shell runs in it (chrooted, as root), every applet is busybox,
// and the accounts and directories are there with their modes.
func TestBusyboxRoot(t *testing.T) {
	requireBusybox(t)
	root := filepath.Join(t.TempDir(), "jails", "bb") // jails/: made, 0700
	if err := Busybox(root, ""); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Dir(root))
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("the made parent: %v %v, want mode 0700", fi.Mode(), err)
	}
	for p, want := range map[string]fs.FileMode{
		".": 0o755 | fs.ModeDir, "tmp": 0o777 | fs.ModeDir | fs.ModeSticky, "var/tmp": 0o777 | fs.ModeDir | fs.ModeSticky,
		"root": 0o700 | fs.ModeDir, "proc": 0o555 | fs.ModeDir, "bin/busybox": 0o755, "etc/shadow": 0o600, "etc/passwd": 0o644,
	} {
		fi, err := os.Lstat(filepath.Join(root, p))
		if err != nil || fi.Mode() != want {
			t.Errorf("%s: %v (%v), want %v", p, fi.Mode(), err, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "etc/passwd")); !bytes.HasPrefix(b, []byte("root:x:0:0:")) || !bytes.Contains(b, []byte("\nnobody:x:65534:65534:")) {
		t.Errorf("etc/passwd: %q, want root and nobody", b)
	}

	out, err := exec.Command(DefaultBusybox, "--list-full").Output()
	if err != nil {
		t.Fatal(err)
	}
	var bb syscall.Stat_t
	if err := syscall.Stat(filepath.Join(root, "bin/busybox"), &bb); err != nil {
		t.Fatal(err)
	}
	applets := strings.Fields(string(out))
	if len(applets) < 100 {
		t.Fatalf("busybox --list-full: %d applets", len(applets))
	}
	for _, a := range applets {
		var st syscall.Stat_t
		if err := syscall.Stat(filepath.Join(root, a), &st); err != nil || st.Ino != bb.Ino {
			t.Errorf("%s: %v, want busybox itself", a, err)
		}
	}

	if os.Geteuid() != 0 {
		t.Log("not root: the shell in the root is not tried")
		return
	}
	sh := exec.Command("/bin/sh", "-c", `. /etc/profile; echo "$(id -un) $(wc -l < /etc/passwd) $(awk 'BEGIN{print 6*7}')"`)
	sh.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	sh.Dir = "/"
	sh.Env = []string{}
	got, err := sh.CombinedOutput()
	if err != nil || strings.TrimSpace(string(got)) != "root 2 42" {
		t.Errorf("a shell in the root: %q %v, want \"root 2 42\"", got, err)
	}
}

func TestBusyboxRefuses(t *testing.T) {
	requireBusybox(t)
	full := t.TempDir()
	if err := os.WriteFile(filepath.Join(full, "keep"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Busybox(full, ""); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("Busybox into a directory with a file: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(full, "keep")); err != nil || string(b) != "mine" {
		t.Errorf("the file already there: %q %v", b, err)
	}
	if err := Busybox("/", ""); err == nil {
		t.Error("Busybox /: no error")
	}

	// A parent anyone can enter: /tmp/X, 0755, under / and /tmp.
	open, err := os.MkdirTemp("/tmp", "prison-open-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(open) })
	if err := os.Chmod(open, 0o755); err != nil {
		t.Fatal(err)
	}
	err = Busybox(filepath.Join(open, "root"), "")
	if err == nil || !strings.Contains(err.Error(), "chmod 0700 "+open) {
		t.Errorf("Busybox under a 0755 parent: %v, want a refusal that says chmod 0700 %s", err, open)
	}
	if _, err := os.Lstat(filepath.Join(open, "root")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the refused root was made: %v", err)
	}

	dir := t.TempDir()
	if err := Busybox(filepath.Join(dir, "a"), "/bin/ls"); err == nil || !strings.Contains(err.Error(), "dynamically linked") {
		t.Errorf("Busybox from /bin/ls (dynamic): %v", err)
	}
	if err := Busybox(filepath.Join(dir, "b"), "/nonexistent/busybox"); err == nil || !strings.Contains(err.Error(), "busybox-static") {
		t.Errorf("Busybox from a missing busybox: %v", err)
	}
	if n, _ := readNames(dir); len(n) != 0 {
		t.Errorf("refused roots left %q", n)
	}
}

func TestDebootstrapMissing(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no debootstrap there, installed or not
	dir := filepath.Join(t.TempDir(), "deb")
	err := Debootstrap(context.Background(), dir, "", "", nil, nil)
	if err == nil || !strings.Contains(err.Error(), "apt-get install debootstrap") || strings.Contains(err.Error(), "\n") {
		t.Errorf("Debootstrap without debootstrap: %v, want one line naming the package", err)
	}
	if _, err := os.Lstat(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("%s made for nothing: %v", dir, err)
	}
}
