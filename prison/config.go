package prison

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Config is a jail described with jail(8)'s parameters, as the command line
// and jail.conf give them. Spec turns it into the one configuration model,
// an OCI runtime spec.
type Config struct {
	Name     string   // name; generated when empty
	Hostname string   // host.hostname; the name when empty
	Root     string   // path; empty for a root made from the host
	Args     []string // the command and its arguments
	Env      []string // KEY=VALUE, added to the clean environment
	Cwd      string   // absolute directory inside the jail; / when empty
	User     string   // UID[:GID] or a user name from the jail's passwd
	Terminal bool     // the command gets a pty of the jail's own devpts
	Term     string   // TERM inside

	Allow      []string // allow.* parameters, FreeBSD names without the prefix
	SysVIPC    string   // new (default), inherit or disable
	NoNewPrivs bool     // set no_new_privs: setuid programs lose their power
	Seccomp    bool     // install the seccomp policy (only benchmarks turn it off)

	Net     string   // network mode: "", none, host, veth, macvlan:IFACE
	IPs     []string // ip4.addr and ip6.addr, as ADDR or ADDR/PREFIX
	Gateway string   // default gateway for macvlan
	Uplink  string   // interface that a routed jail may reach the outside through
	DNS     []string // nameservers for the jail's resolv.conf
}

// DefaultConfig returns a Config with prison's defaults for the fields a
// zero value would get wrong.
func DefaultConfig() Config {
	return Config{SysVIPC: "new", Seccomp: true}
}

// check is one validation rule; Validate runs them all and reports the first
// failure, so that each bad input gets exactly one line.
type check func(c *Config) error

var checks = []check{
	checkName,
	checkHostname,
	checkRoot,
	checkArgs,
	checkEnv,
	checkCwd,
	checkUser,
	checkSysVIPC,
}

// Validate reports the first problem with c: the error names the parameter
// and the value. It fills in defaults (name, hostname) and makes Root
// absolute.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = generateName()
	}
	if c.Hostname == "" {
		c.Hostname = c.Name
	}
	if c.SysVIPC == "" {
		c.SysVIPC = "new"
	}
	for _, f := range checks {
		if err := f(c); err != nil {
			return &ParamError{Err: err}
		}
	}
	return nil
}

// ParamError is bad input: the user can fix it by changing a parameter.
type ParamError struct{ Err error }

func (e *ParamError) Error() string { return e.Err.Error() }
func (e *ParamError) Unwrap() error { return e.Err }

func generateName() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return "j" + hex.EncodeToString(b[:])
}

// maxName keeps a name usable in paths and, shortened, in interface names.
const maxName = 64

func checkName(c *Config) error {
	n := c.Name
	if len(n) > maxName {
		return fmt.Errorf("--name %q: longer than %d bytes", n, maxName)
	}
	for i, r := range n {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			r == '_' || (i > 0 && (r == '-' || r == '.'))
		if !ok {
			return fmt.Errorf("--name %q: only letters, digits, _ and (not first) - and . are allowed", n)
		}
	}
	return nil
}

// checkHostname applies RFC 1123 (what sethostname users expect) within the
// kernel's 64-byte limit.
func checkHostname(c *Config) error {
	h := c.Hostname
	if len(h) > 64 {
		return fmt.Errorf("--host %q: longer than 64 bytes", h)
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" {
			return fmt.Errorf("--host %q: empty label", h)
		}
		if label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("--host %q: a label may not begin or end with '-'", h)
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("--host %q: invalid character %q (letters, digits, '-' and '.' only)", h, r)
			}
		}
	}
	return nil
}

func checkRoot(c *Config) error {
	if c.Root == "" {
		return nil
	}
	abs, err := filepath.Abs(c.Root)
	if err != nil {
		return fmt.Errorf("--root %q: %w", c.Root, err)
	}
	fi, err := os.Stat(abs)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("--root %q: no such directory", c.Root)
	case err != nil:
		return fmt.Errorf("--root %q: %w", c.Root, errors.Unwrap(err))
	case !fi.IsDir():
		return fmt.Errorf("--root %q: not a directory", c.Root)
	case abs == "/":
		return fmt.Errorf("--root %q: the host's own root cannot be a jail's root", c.Root)
	}
	c.Root = abs
	return nil
}

func checkArgs(c *Config) error {
	if len(c.Args) == 0 || c.Args[0] == "" {
		return errors.New("command: missing (usage: prison run [options] [--] COMMAND [ARG...])")
	}
	return nil
}

func checkEnv(c *Config) error {
	for _, e := range c.Env {
		k, _, ok := strings.Cut(e, "=")
		if !ok || k == "" || strings.ContainsRune(k, 0) {
			return fmt.Errorf("--env %q: want KEY=VALUE", e)
		}
	}
	return nil
}

func checkCwd(c *Config) error {
	if c.Cwd != "" && !filepath.IsAbs(c.Cwd) {
		return fmt.Errorf("--cwd %q: must be an absolute path inside the jail", c.Cwd)
	}
	return nil
}

func checkUser(c *Config) error {
	if c.User == "" {
		return nil
	}
	_, err := lookupUser(c.rootForLookup(), c.User)
	return err
}

func checkSysVIPC(c *Config) error {
	switch c.SysVIPC {
	case "new", "inherit", "disable":
		return nil
	}
	return fmt.Errorf("--sysvipc %q: want new, inherit or disable", c.SysVIPC)
}

// rootForLookup is where the jail's /etc/passwd lives: the --root, or ""
// for the host-derived root, whose passwd prison writes itself.
func (c *Config) rootForLookup() string { return c.Root }
