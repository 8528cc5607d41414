package prison

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	os.WriteFile(file, nil, 0o644)
	cases := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"defaults", func(c *Config) {}, ""},
		{"hostname 64 bytes", func(c *Config) { c.Hostname = strings.Repeat("a", 64) }, ""},
		{"hostname 65 bytes", func(c *Config) { c.Hostname = strings.Repeat("a", 65) }, "longer than 64 bytes"},
		{"hostname underscore", func(c *Config) { c.Hostname = "a_b" }, "invalid character"},
		{"hostname leading dash", func(c *Config) { c.Hostname = "-a" }, "may not begin or end"},
		{"hostname empty label", func(c *Config) { c.Hostname = "a..b" }, "empty label"},
		{"hostname dotted", func(c *Config) { c.Hostname = "www.example.com" }, ""},
		{"name with slash", func(c *Config) { c.Name = "a/b" }, `--name "a/b"`},
		{"name too long", func(c *Config) { c.Name = strings.Repeat("n", 65) }, "longer than 64"},
		{"root missing", func(c *Config) { c.Root = "/no/such" }, "no such directory"},
		{"root file", func(c *Config) { c.Root = file }, "not a directory"},
		{"root is /", func(c *Config) { c.Root = "/" }, "host's own root"},
		{"root ok", func(c *Config) { c.Root = dir }, ""},
		{"no command", func(c *Config) { c.Args = nil }, "command: missing"},
		{"env without =", func(c *Config) { c.Env = []string{"X"} }, "want KEY=VALUE"},
		{"env empty key", func(c *Config) { c.Env = []string{"=x"} }, "want KEY=VALUE"},
		{"cwd relative", func(c *Config) { c.Cwd = "x" }, "must be an absolute path"},
		{"user unknown", func(c *Config) { c.User = "mallory" }, "no such user"},
		{"user numeric", func(c *Config) { c.User = "1234:1234" }, ""},
		{"user by name", func(c *Config) { c.User = "www-data" }, ""},
		{"sysvipc bad", func(c *Config) { c.SysVIPC = "x" }, "want new, inherit or disable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Args = []string{"/bin/true"}
			tc.mod(&c)
			checkValidate(t, &c, tc.wantErr, strings.Contains)
		})
	}
}

// checkValidate runs c.Validate and fails the test unless it returns nil
// (wantErr "") or a ParamError whose message match (strings.Contains,
// strings.HasPrefix) finds wantErr in. It returns the error.
func checkValidate(t *testing.T, c *Config, wantErr string, match func(msg, want string) bool) error {
	t.Helper()
	err := c.Validate()
	if wantErr == "" {
		if err != nil {
			t.Fatalf("Validate: %v", err)
		}
		return nil
	}
	var pe *ParamError
	if err == nil || !match(err.Error(), wantErr) || !errors.As(err, &pe) {
		t.Fatalf("Validate: %v, want a ParamError that says %q", err, wantErr)
	}
	return err
}

// TestValidateRootPrivate: a --root that other users can reach is refused,
// naming the directory to close, unless SharedRoot accepts it.
func TestValidateRootPrivate(t *testing.T) {
	base := t.TempDir()
	// t.TempDir's own parent is 0700, which would make every root private.
	if err := os.Chmod(filepath.Dir(base), 0o755); err != nil {
		t.Fatal(err)
	}
	for p := filepath.Dir(base); p != "/"; p = filepath.Dir(p) {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm()&0o001 == 0 {
			t.Skipf("%s is not searchable by others: every root below it is private", p)
		}
	}
	top := filepath.Join(base, "shared")
	private, shared := filepath.Join(base, "private", "root"), filepath.Join(top, "root")
	for _, d := range []string{private, shared} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(filepath.Dir(private), 0o700); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name       string
		root       string
		sharedRoot bool
		wantErr    string
	}{
		{"under a 0700 directory", private, false, ""},
		{"traversable", shared, false, `--root "` + shared + `": other users can reach it through ` +
			top + ` (-rwxr-xr-x`},
		{"traversable, accepted", shared, true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Args, c.Root, c.SharedRoot = []string{"/bin/true"}, tc.root, tc.sharedRoot
			err := checkValidate(t, &c, tc.wantErr, strings.HasPrefix)
			if err == nil {
				return
			}
			for _, w := range []string{"chmod 0700 " + top, "--shared-root"} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestDefaultsFilled(t *testing.T) {
	c := DefaultConfig()
	c.Args = []string{"sh"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if c.Name == "" || c.Hostname != c.Name {
		t.Errorf("name %q hostname %q: want a generated name used as hostname", c.Name, c.Hostname)
	}
}

func TestLookupUserDefaultRoot(t *testing.T) {
	cases := []struct {
		spec     string
		uid, gid uint32
		home     string
	}{
		{"root", 0, 0, "/root"},
		{"0", 0, 0, "/root"},
		{"nobody", 65534, 65534, "/nonexistent"},
		{"www-data:users", 33, 100, "/var/www"},
		{"4242", 4242, 4242, "/"},
		{"4242:0", 4242, 0, "/"},
	}
	for _, c := range cases {
		u, err := lookupUser("", c.spec)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		if u.UID != c.uid || u.GID != c.gid || u.Home != c.home {
			t.Errorf("%s: got %d:%d %s, want %d:%d %s", c.spec, u.UID, u.GID, u.Home, c.uid, c.gid, c.home)
		}
	}
}

func TestLookupUserStaysInRoot(t *testing.T) {
	// A jail's /etc/passwd that links to the host's must not be read.
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.Symlink("/etc/passwd", filepath.Join(root, "etc/passwd"))
	if _, err := lookupUser(root, "daemon"); err == nil {
		// RESOLVE_IN_ROOT reads <root>/etc/passwd, which does not exist.
		t.Errorf("looked up a user through a link to the host's passwd")
	}
}

func TestMergeEnv(t *testing.T) {
	got := mergeEnv([]string{"PATH=/bin", "HOME=/root"}, []string{"PATH=/x", "A=b"})
	want := "HOME=/root PATH=/x A=b"
	if strings.Join(got, " ") != want {
		t.Errorf("got %v, want %s", got, want)
	}
}

func TestCapMask(t *testing.T) {
	m, err := capMask([]string{"CAP_CHOWN", "CAP_NET_RAW", "cap_kill"})
	if err != nil || m != 1<<0|1<<13|1<<5 {
		t.Errorf("capMask = %b, %v", m, err)
	}
	if _, err := capMask([]string{"CAP_NOPE"}); err == nil {
		t.Errorf("unknown capability accepted")
	}
}

func TestClaim(t *testing.T) {
	old := StateDir
	StateDir = t.TempDir()
	t.Cleanup(func() { StateDir = old })
	st, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// A jail whose launcher was killed between its mkdir and its state,
	// and one killed while it ran: neither holds its directory.
	os.Mkdir(filepath.Join(StateDir, claimPrefix+"half"), 0o700)
	os.Mkdir(filepath.Join(StateDir, "half"), 0o700)
	s := &State{Name: "half"}
	if err := st.claim(s); err != nil {
		t.Fatalf("claim over a dead claim: %v", err)
	}
	if !alive("half") {
		t.Fatalf("a claimed jail is not alive")
	}
	if err := st.claim(&State{Name: "half"}); err == nil {
		t.Fatalf("a second claim of a live name succeeded")
	}
	if _, err := os.Stat(filepath.Join(StateDir, claimPrefix+"half")); err == nil {
		t.Errorf("the temporary claim directory is left")
	}
	if err := s.remove(); err != nil {
		t.Fatal(err)
	}
	if alive("half") {
		t.Errorf("a removed jail is alive")
	}
	ents, _ := os.ReadDir(StateDir)
	if len(ents) != 0 {
		t.Errorf("left in the store: %v", ents)
	}
}
