package prison

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"prison/rootfs"
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
	SharedRoot bool     // accept a Root other host users can reach (checkPrivate)
	Persist    bool     // persist: the jail may have no command (prison create)
	Mounts     []string // SRC:DST[:ro|rw], host directories bound into the jail
	Tmpfs      []string // DST[:SIZE], a fresh tmpfs in the jail
	ReadOnly   bool     // the root is mounted read-only
	user       *User    // User, as Validate resolved it
	Seccomp    bool     // install the seccomp policy (only benchmarks turn it off)
	UserNS     string   // userns: auto ("" too), host, or a RANGE of host ids (userns_linux.go)

	// The jail's own layer (issue 11; image.go, layer_linux.go).
	Image         string     // image: a base directory, or an image of the store; the root is an overlay on it
	Ephemeral     bool       // ephemeral: the image's writable layer lives in memory and goes with the jail
	Disk          string     // disk: SIZE that the jail can write (its layer's, or its host-derived root's)
	image         *imageRoot // Image, as Validate resolved it
	disk          int64      // Disk in bytes, or a kept layer's disk size
	generatedName bool       // Validate made the name up: a layer under it could never be found again

	// Limits, with rctl's meanings (limits.go): each "" when not set.
	Memory    string   // memoryuse: SIZE, e.g. 512M
	Swap      string   // swapuse: SIZE of swap on top of Memory
	Pids      string   // maxproc: N, or unlimited; DefaultPids when ""
	CPUs      string   // pcpu, in cores: 0.5 is half of one
	CPUWeight string   // 1-10000, cgroup v2's weight (100 the default)
	IOWeight  string   // 10-1000, the OCI spec's blockIO weight
	IOMax     []string // DEV:rbps=N,wbps=N,riops=N,wiops=N
	NoFile    string   // openfiles: RLIMIT_NOFILE
	Cgroup    string   // the jail's cgroup path; /prison/NAME when ""
	CgroupV2  string   // a cgroup2 mountpoint to use on a v1 host (tests)

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
	checkImage, // image.go; before checkArgs, checkEnv, checkCwd and checkUser: an image gives them defaults
	checkDisk,
	checkArgs,
	checkEnv,
	checkCwd,
	checkUser,
	checkSysVIPC,
	checkMounts,
	checkLimits,
	checkUserNS,
}

// Validate reports the first problem with c: the error names the parameter
// and the value. It fills in defaults (name, hostname) and makes Root
// absolute.
func (c *Config) Validate() error {
	if c.Name == "" {
		c.Name = generateName()
		c.generatedName = true
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
			if (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') && r != '-' {
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
	if !c.SharedRoot {
		if err := checkPrivate(abs); err != nil {
			return fmt.Errorf("--root %q: %w", c.Root, err)
		}
	}
	c.Root = abs
	return nil
}

// checkPrivate refuses a root that users other than root can reach. The
// jail's root owns every file of its root: it can make a setuid-root copy
// of a shell there, and whoever reaches the directory on the host runs it
// as the host's root. FreeBSD keeps jail roots under a directory only root
// can enter for this reason; so must prison (rootfs.Private says when a
// root is private). Bind mounts of the root elsewhere are the admin's to
// judge.
func checkPrivate(dir string) error {
	real, ok, err := rootfs.Private(dir)
	if err != nil || ok {
		return err
	}
	// The parent is what to close: the root itself may stay 0755, as a
	// root's / is.
	parent := filepath.Dir(real)
	var st unix.Stat_t
	if err := unix.Stat(parent, &st); err != nil {
		return &os.PathError{Op: "stat", Path: parent, Err: err}
	}
	how := fmt.Sprintf("chmod 0700 %s", parent)
	if !rootfs.TrustedUID(st.Uid) {
		how = "move it into a directory of root's that only root may enter (mode 0700)"
	}
	return fmt.Errorf("other users can reach it through %s (%s, uid %d, gid %d), "+
		"and would run as root any setuid program that the jail's root plants there; %s, "+
		"or pass --shared-root to accept that", parent, os.FileMode(st.Mode&0o7777).String(), st.Uid, st.Gid, how)
}

func checkArgs(c *Config) error {
	if c.Persist && len(c.Args) == 0 {
		return nil
	}
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
	u, err := lookupUser(c.rootForLookup(), c.User)
	c.user = u
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
func (c *Config) rootForLookup() string {
	if c.image != nil {
		return c.imageLookupRoot() // image.go
	}
	return c.Root
}

// BindMount is one --mount: a host directory or file bound into the jail,
// never with its setuid bits or device nodes working.
type BindMount struct {
	Source, Dest string
	ReadOnly     bool
	NoIDMap      bool // attached as it is in a jail's user namespace (rootfs/userns.go)
}

// ParseMount reads SRC:DST[:OPTIONS], OPTIONS a comma-separated list of
// ro, rw and noidmap.
func ParseMount(m string) (BindMount, error) {
	parts := strings.Split(m, ":")
	var b BindMount
	bad := fmt.Errorf("--mount %q: want SRC:DST or SRC:DST:OPTIONS, with options ro, rw and noidmap", m)
	switch len(parts) {
	case 2:
	case 3:
		for _, o := range strings.Split(parts[2], ",") {
			switch o {
			case "ro", "rw":
				b.ReadOnly = o == "ro"
			case "noidmap":
				b.NoIDMap = true
			default:
				return b, bad
			}
		}
	default:
		return b, bad
	}
	b.Source, b.Dest = parts[0], parts[1]
	if !filepath.IsAbs(b.Source) {
		return b, fmt.Errorf("--mount %q: the source must be an absolute path on the host", m)
	}
	if _, err := os.Stat(b.Source); err != nil {
		return b, fmt.Errorf("--mount %q: source: %w", m, unwrapPath(err))
	}
	return b, checkDest("--mount", m, b.Dest)
}

// ParseTmpfs reads DST[:SIZE]; SIZE as tmpfs takes it (64m, 1g, 10%).
func ParseTmpfs(t string) (dest, size string, err error) {
	dest, size, _ = strings.Cut(t, ":")
	if size != "" {
		n := strings.TrimRight(size, "kKmMgG%")
		if len(size)-len(n) > 1 || n == "" || strings.Trim(n, "0123456789") != "" {
			return "", "", fmt.Errorf("--tmpfs %q: size %q: want a number with k, m, g or %% (64m)", t, size)
		}
	}
	return dest, size, checkDest("--tmpfs", t, dest)
}

// checkDest refuses destinations that would hide what the jail's safety
// rests on: its /proc (masked paths), /dev and /sys.
func checkDest(flag, arg, dest string) error {
	if !filepath.IsAbs(dest) {
		return fmt.Errorf("%s %q: the destination must be an absolute path inside the jail", flag, arg)
	}
	d := filepath.Clean(dest)
	for _, p := range []string{"/", "/proc", "/dev", "/sys"} {
		if d == p || (p != "/" && strings.HasPrefix(d, p+"/")) {
			return fmt.Errorf("%s %q: cannot mount on %s", flag, arg, d)
		}
	}
	return nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func checkMounts(c *Config) error {
	for _, m := range c.Mounts {
		if _, err := ParseMount(m); err != nil {
			return err
		}
	}
	for _, t := range c.Tmpfs {
		if _, _, err := ParseTmpfs(t); err != nil {
			return err
		}
	}
	return nil
}
