package test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// The secrets tests check what root inside a jail can read of the host, or
// plant for the host's other users (issue 9).

// plantSecret writes a root-only file with a recognisable content in a host
// directory that the default root binds, if that directory exists, and
// returns its path and content.
func plantSecret(t *testing.T, dir string) (string, string) {
	t.Helper()
	if _, err := os.Stat(dir); err != nil {
		return "", ""
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	secret := "content-" + hex.EncodeToString(b[:])
	p := filepath.Join(dir, "prison-test-"+hex.EncodeToString(b[4:])+".key")
	if err := os.WriteFile(p, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(p) })
	return p, secret
}

// TestSecretsDefaultRoot walks the whole default root from inside with the
// host's find, and fails for every entry that is the host's own (same
// device and inode as the host's path) but that the host keeps from other
// users. Masks are the jail's own entries, so they pass.
func TestSecretsDefaultRoot(t *testing.T) {
	key, keySecret := plantSecret(t, "/etc/ssl/private")
	sec, secSecret := plantSecret(t, "/etc/security")
	if key == "" && sec == "" {
		t.Log("the host has neither /etc/ssl/private nor /etc/security: only the walk runs")
	}
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "/usr/bin/find", "/", "-path", "/proc", "-prune", "-o",
		"-path", "/dev", "-prune", "-o", "-path", "/sys", "-prune", "-o", "-printf", `%D %i %p\n`)
	var seen, bad int
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, " ", 3)
		if len(f) != 3 {
			t.Fatalf("find printed %q", l)
		}
		dev, _ := strconv.ParseUint(f[0], 10, 64)
		ino, _ := strconv.ParseUint(f[1], 10, 64)
		var st unix.Stat_t
		if unix.Lstat(f[2], &st) != nil || st.Dev != dev || st.Ino != ino {
			continue // the jail's own: its tmpfs, its /etc files, masks
		}
		seen++
		mode := st.Mode
		hidden := mode&unix.S_IFMT != unix.S_IFLNK && (mode&unix.S_IFMT == unix.S_IFDIR && mode&0o005 != 0o005 ||
			mode&unix.S_IFMT != unix.S_IFDIR && mode&0o004 == 0)
		if hidden {
			if bad++; bad <= 20 {
				t.Errorf("%s: shown to the jail, but the host's mode is %o", f[2], mode&0o7777)
			}
		}
	}
	if bad > 20 {
		t.Errorf("... %d such entries in all", bad)
	}
	if seen < 1000 {
		t.Errorf("the walk saw only %d host entries: did find run over the binds?", seen)
	}
	for _, s := range []struct{ path, secret string }{{key, keySecret}, {sec, secSecret}} {
		if s.path == "" {
			continue
		}
		got := mustRun(t, "run", "--name", n, "/bin/sh", "-c", "cat "+s.path+" 2>&1; true")
		if strings.Contains(got, s.secret) {
			t.Errorf("root inside reads the host's root-only %s:\n%s", s.path, got)
		}
	}
	if key != "" {
		// The key directory is hidden whole: not even the names show.
		if got := mustRun(t, "run", "--name", n, "ls", "-A", "/etc/ssl/private"); got != "" {
			t.Errorf("root inside lists the host's /etc/ssl/private:\n%s", got)
		}
	}
	if _, err := os.Stat("/etc/security/opasswd"); err == nil {
		got := mustRun(t, "run", "--name", n, "/bin/sh", "-c", "wc -c < /etc/security/opasswd")
		if strings.TrimSpace(got) != "0" {
			t.Errorf("/etc/security/opasswd inside: %q bytes, want 0 (masked)", got)
		}
	}
}

// openRoot returns a probe root whose path every host user may traverse.
func openRoot(t testing.TB) string {
	t.Helper()
	root := probeRoot(t)
	// t.TempDir's top directory is the one that is 0700.
	for d := filepath.Dir(root); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for d := filepath.Dir(root); d != "/"; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by others: cannot make a traversable root", d)
		}
	}
	return root
}

// TestSecretsRootTraversable: a --root that other users can reach is
// refused with one line and 125, leaving nothing; --shared-root accepts it.
func TestSecretsRootTraversable(t *testing.T) {
	root := openRoot(t)
	n := jailName(t)
	r := prison(t, nil, "run", "--name", n, "--root", root, "/probe", "id")
	want := `prison: --root "` + root + `": other users can reach it through ` + filepath.Dir(root) + " ("
	if r.code != 125 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 ||
		!strings.Contains(r.stderr, "--shared-root") {
		t.Errorf("traversable --root: exit %d, stderr %q; want 125 and one line starting %q naming --shared-root",
			r.code, r.stderr, want)
	}
	if got := jailLine(t, "run", "--name", n, "--root", root, "--shared-root", "/probe", "id"); got != "uid=0 euid=0 gid=0 egid=0" {
		t.Errorf("--shared-root: %q", got)
	}
}

// TestSecretsSetuidPlanted is the attack the check stops: root inside makes
// a setuid-root copy of a program in its root. Under a directory only root
// may enter, no other host user reaches it; with --shared-root on a
// traversable root, one does, and runs it as root.
func TestSecretsSetuidPlanted(t *testing.T) {
	for _, c := range []struct {
		name  string
		root  func(t testing.TB) string
		flags []string
	}{
		{"private", probeRoot, nil},
		{"shared", openRoot, []string{"--shared-root"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			root := c.root(t)
			args := append(append([]string{"run", "--name", jailName(t), "--root", root}, c.flags...),
				"/bin/sh", "-c", "cp /probe /planted && chown 0:0 /planted && chmod 4755 /planted")
			mustRun(t, args...)
			cmd := exec.Command(filepath.Join(root, "planted"), "id")
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
			out, err := cmd.Output()
			if c.name == "private" {
				if !errors.Is(err, os.ErrPermission) {
					t.Errorf("nobody on the host runs the planted program: %v %q, want EACCES", err, out)
				}
				return
			}
			// What --shared-root gives up.
			if err != nil || strings.TrimSpace(string(out)) != "uid=65534 euid=0 gid=65534 egid=65534" {
				t.Errorf("nobody on the host runs the planted program: %v %q, want euid=0", err, out)
			}
		})
	}
}

// maskedProc are the /proc files a jail's root must not read (prison/spec.go
// MaskedPaths).
var maskedProc = []string{
	"/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup", "/proc/slabinfo",
	"/proc/vmallocinfo", "/proc/pagetypeinfo", "/proc/key-users", "/proc/timer_list",
	"/proc/kmsg", "/proc/keys", "/proc/kallsyms", "/proc/tty/driver",
}

// TestSecretsProcMasked: each masked /proc file reads empty inside (or is
// refused), while the host reads at least one of them.
func TestSecretsProcMasked(t *testing.T) {
	var hostReads []string
	for _, p := range maskedProc {
		if p == "/proc/kmsg" {
			continue // reading it consumes the host's log
		}
		f, err := os.Open(p)
		if err != nil {
			continue
		}
		n, _ := f.Read(make([]byte, 64))
		f.Close()
		if n > 0 {
			hostReads = append(hostReads, p)
		}
	}
	if len(hostReads) == 0 {
		t.Errorf("the host reads none of %v: the test proves nothing", maskedProc)
	}
	n := jailName(t)
	got := jailLine(t, append([]string{"run", "--name", n, "--root", sharedProbeRoot(t), "/probe", "read"}, maskedProc...)...)
	for _, r := range strings.Fields(got) {
		p, v, _ := strings.Cut(r, "=")
		switch v {
		case "0", "dir:0", "EACCES", "EPERM", "ENOENT":
		default:
			t.Errorf("%s inside: %s, want nothing", p, v)
		}
	}
	if strings.Count(got, "=") != len(maskedProc) {
		t.Errorf("probe read: %q", got)
	}
	// The host-derived root masks them too.
	var b bytes.Buffer
	for _, p := range hostReads {
		b.WriteString("wc -c < " + p + ";")
	}
	out := mustRun(t, "run", "--name", n, "/bin/sh", "-c", b.String())
	for _, l := range strings.Fields(out) {
		if l != "0" {
			t.Errorf("default root: a masked /proc file has %s bytes (%v)", l, hostReads)
		}
	}
}
