package prison

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"prison/rootfs"
	"prison/seccomp"
)

// Annotations carry what the spec's FreeBSD jail section has no field for,
// all under one prefix and read in one place (netPlan, layout).
const (
	AnnotationRoot    = "prison.root"    // "host": the root is made from the host
	AnnotationNet     = "prison.net"     // none, host, veth, macvlan
	AnnotationGateway = "prison.gateway" // macvlan default gateway
	AnnotationUplink  = "prison.uplink"  // routed jail's way out
	AnnotationDNS     = "prison.dns"     // comma-separated nameservers
	AnnotationSeccomp = "prison.seccomp" // "off": no filter (benchmarks only)

	// The jail's own layer (--image, --ephemeral, --disk; image.go).
	AnnotationImage    = "prison.image"     // the overlay root's read-only layers, as overlay's lowerdir= (top first, ':'-separated)
	AnnotationImageRef = "prison.image.ref" // the store's image they are, as REF@DIGEST
	AnnotationLayer    = "prison.layer"     // the writable layer: LayerDir/NAME (kept), or "tmpfs" (ephemeral)
	AnnotationDisk     = "prison.disk"      // bytes the jail can write: its layer's disk or tmpfs, or its host-derived root's tmpfs
)

// MaxPtys is how many terminals one jail may hold at once.
const MaxPtys = 128

// DefaultPath is the jail's PATH.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Spec lowers a validated Config into the OCI runtime spec that describes
// the jail: FreeBSD's jail parameters in the spec's freebsd.jail section,
// and what they mean on Linux in its linux section. It reads the jail's
// passwd for --user, and the host's /etc and top-level directories for a
// host-derived root.
func (c *Config) Spec() (*specs.Spec, error) {
	params, err := seccomp.ParseAllow(c.Allow)
	if err != nil {
		return nil, &ParamError{Err: err}
	}
	sysv := c.SysVIPC
	if slices.Contains(c.Allow, "sysvipc") || slices.Contains(c.Allow, "allow.sysvipc") {
		sysv = "inherit" // FreeBSD's allow.sysvipc is the host's IPC
	}
	params.SysVIPC = sysv != "disable"
	params.HostIDs = c.UserNS == "host"

	user := &User{Home: "/root"}
	switch {
	case c.user != nil && c.user.spec == c.User:
		user = c.user // resolved by Validate: the jail's files are read once
	case c.User != "":
		if user, err = lookupUser(c.rootForLookup(), c.User); err != nil {
			return nil, &ParamError{Err: err}
		}
	}
	caps := seccomp.Capabilities(params)
	if user.UID != 0 {
		caps = nil // an ordinary user has no capabilities after execve
	}
	env := []string{"PATH=" + DefaultPath, "HOME=" + user.Home, "HOSTNAME=" + c.Hostname}
	if c.Term != "" {
		env = append(env, "TERM="+c.Term)
	}
	env = mergeEnv(env, c.Env)
	cwd := c.Cwd
	if cwd == "" {
		cwd = "/"
	}

	s := &specs.Spec{
		Version:  specs.Version,
		Hostname: c.Hostname,
		Process: &specs.Process{
			Terminal: c.Terminal,
			Args:     c.Args,
			Env:      env,
			Cwd:      cwd,
			User:     specs.User{UID: user.UID, GID: user.GID, AdditionalGids: user.Groups},
			Capabilities: &specs.LinuxCapabilities{
				Bounding:  seccomp.Capabilities(params),
				Effective: caps,
				Permitted: caps,
			},
			NoNewPrivileges: c.NoNewPrivs,
			Rlimits:         defaultRlimits(),
		},
		Annotations: map[string]string{AnnotationNet: c.netMode()},
		Linux: &specs.Linux{
			Namespaces: namespaces(sysv, c.netMode()),
			Devices:    defaultDevices(),
			// runc's default masked paths, plus every /proc file the kernel
			// makes root-only (mode 0400/0500: page, slab and vmalloc maps,
			// tty drivers…), and the keyring users: host root may read
			// them, a jail's root must not (issue 9).
			MaskedPaths: []string{
				"/proc/acpi", "/proc/asound", "/proc/interrupts", "/proc/kcore", "/proc/keys",
				"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
				"/proc/scsi", "/proc/sysrq-trigger", "/proc/kmsg", "/proc/kallsyms",
				"/proc/kpageflags", "/proc/kpagecount", "/proc/kpagecgroup",
				"/proc/slabinfo", "/proc/vmallocinfo", "/proc/pagetypeinfo", "/proc/key-users",
				"/proc/program_cpu", "/proc/tty/driver",
			},
			ReadonlyPaths: []string{"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys"},
		},
		FreeBSD: &specs.FreeBSD{Jail: &specs.FreeBSDJail{
			Host:    specs.FreeBSDShareNew,
			SysVMsg: specs.FreeBSDSharing(sysv),
			SysVSem: specs.FreeBSDSharing(sysv),
			SysVShm: specs.FreeBSDSharing(sysv),
			Allow: &specs.FreeBSDJailAllow{
				SetHostname: params.SetHostname,
				RawSockets:  params.RawSockets,
				Chflags:     params.Chflags,
				SocketAf:    params.SocketAF,
			},
		}},
	}
	if c.Seccomp {
		s.Linux.Seccomp = seccomp.Policy(params)
	} else {
		s.Annotations[AnnotationSeccomp] = "off"
	}
	if c.netMode() != "host" {
		// Ping without CAP_NET_RAW: ICMP datagram sockets for every group,
		// in the jail's own network namespace only.
		s.Linux.Sysctl = map[string]string{"net.ipv4.ping_group_range": "0 2147483647"}
	}
	if err := c.specNetwork(s); err != nil {
		return nil, &ParamError{Err: err}
	}
	if err := c.specUserNS(s); err != nil {
		return nil, &ParamError{Err: err}
	}
	if err := c.specLimits(s); err != nil {
		return nil, &ParamError{Err: err}
	}

	if c.Root == "" && c.Image == "" {
		s.Root = &specs.Root{Path: filepath.Join(StateDir, c.Name, "root")}
		s.Annotations[AnnotationRoot] = "host"
		s.Mounts = rootfs.HostMounts()
	} else {
		s.Root = &specs.Root{Path: c.Root}
	}
	if err := c.specLayer(s); err != nil { // --image, --disk (image.go)
		return nil, &ParamError{Err: err}
	}
	s.Mounts = append(s.Mounts, standardMounts(sysv != "inherit")...)
	s.Root.Readonly = c.ReadOnly
	// The user's mounts last: over the root's own directories, as the user
	// expects, never under a standard mount (checkDest).
	for _, m := range c.Mounts {
		b, err := ParseMount(m)
		if err != nil {
			return nil, &ParamError{Err: err}
		}
		opts := []string{"rbind", "nosuid", "nodev"}
		if b.ReadOnly {
			opts = append(opts, "ro")
		}
		if b.NoIDMap {
			opts = append(opts, "noidmap")
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: b.Dest, Type: "bind", Source: b.Source, Options: opts})
	}
	for _, t := range c.Tmpfs {
		dest, size, err := ParseTmpfs(t)
		if err != nil {
			return nil, &ParamError{Err: err}
		}
		if size == "" {
			size = DefaultTmpfsSize
		}
		opts := []string{"nosuid", "nodev", "mode=1777", "size=" + size}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: dest, Type: "tmpfs", Source: "tmpfs", Options: opts})
	}
	return s, nil
}

func (c *Config) netMode() string {
	switch {
	case c.Net == "" && len(c.IPs) == 0:
		return "none"
	case c.Net == "":
		return "veth"
	}
	mode, _, _ := strings.Cut(c.Net, ":")
	return mode
}

// mergeEnv adds extra to env; a key in extra replaces the same key in env.
func mergeEnv(env, extra []string) []string {
	out := slices.Clone(env)
	for _, e := range extra {
		k, _, _ := strings.Cut(e, "=")
		out = slices.DeleteFunc(out, func(o string) bool { return strings.HasPrefix(o, k+"=") })
		out = append(out, e)
	}
	return out
}

func namespaces(sysv, net string) []specs.LinuxNamespace {
	ns := []specs.LinuxNamespace{
		{Type: specs.PIDNamespace},
		{Type: specs.MountNamespace},
		{Type: specs.UTSNamespace},
		{Type: specs.CgroupNamespace},
	}
	if sysv != "inherit" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.IPCNamespace})
	}
	if net != "host" {
		ns = append(ns, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	return ns
}

func defaultDevices() []specs.LinuxDevice {
	mode := func(m os.FileMode) *os.FileMode { return &m }
	dev := func(path string, major, minor int64) specs.LinuxDevice {
		return specs.LinuxDevice{Path: path, Type: "c", Major: major, Minor: minor, FileMode: mode(0o666)}
	}
	return []specs.LinuxDevice{
		dev("/dev/null", 1, 3), dev("/dev/zero", 1, 5), dev("/dev/full", 1, 7),
		dev("/dev/random", 1, 8), dev("/dev/urandom", 1, 9), dev("/dev/tty", 5, 0),
	}
}

// standardMounts are every jail's kernel filesystems. No /sys: a jail has
// no business with the host's devices and kernel objects.
func standardMounts(ownIPC bool) []specs.Mount {
	ms := []specs.Mount{
		{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
		{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
		// Ptys are a host-wide table: every devpts but the host's shares
		// kernel.pty.max - kernel.pty.reserve (3072 by default), and a
		// jail that took them all would leave other jails without a
		// terminal. max bounds each jail's share.
		{
			Destination: "/dev/pts", Type: "devpts", Source: "devpts",
			Options: []string{
				"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5",
				"max=" + strconv.Itoa(MaxPtys),
			},
		},
		{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
	}
	if ownIPC {
		// POSIX message queues belong to the IPC namespace.
		ms = append(ms, specs.Mount{
			Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue",
			Options: []string{"nosuid", "noexec", "nodev"},
		})
	}
	return ms
}

// ValidateSpec checks what the launcher relies on in a spec from any front
// end (flags, jail.conf, a bundle).
func ValidateSpec(s *specs.Spec) error { return validateSpec(s, false) }

// validateSpec is ValidateSpec for a jail that may run without a command
// when it persists.
func validateSpec(s *specs.Spec, persist bool) error {
	switch {
	case s.Root == nil || s.Root.Path == "":
		return fmt.Errorf("spec: root.path is missing")
	case s.Process == nil:
		return fmt.Errorf("spec: process is missing")
	case len(s.Process.Args) == 0 && !persist:
		return fmt.Errorf("spec: process.args is missing")
	case s.Linux == nil:
		return fmt.Errorf("spec: linux section is missing")
	}
	return unsupported(s)
}

// selinuxOn tells whether the host enforces SELinux labels.
func selinuxOn() bool {
	_, err := os.Stat("/sys/fs/selinux/enforce")
	return err == nil
}

// unsupported fails closed: a spec field that prison does not implement
// is an error naming it, never dropped, since a user who sets it relies on
// it (a namespace to join, a hook, a limit).
func unsupported(s *specs.Spec) error {
	l := s.Linux
	mountNS := false
	for i, ns := range l.Namespaces {
		if ns.Type == specs.TimeNamespace {
			return fmt.Errorf("spec: linux.namespaces[%d]: a %s namespace is not supported yet", i, ns.Type)
		}
		mountNS = mountNS || ns.Type == specs.MountNamespace
	}
	if !mountNS {
		// The root's assembly and pivot_root would be the host's own.
		return errors.New("spec: linux.namespaces: a jail needs a mount namespace (its own, or one to join by path)")
	}
	if err := checkJoins(s); err != nil {
		return err
	}
	if _, err := usernsOf(s); err != nil {
		return err
	}
	if _, ok := rootfs.Propagations[l.RootfsPropagation]; !ok && l.RootfsPropagation != "" {
		return fmt.Errorf("spec: linux.rootfsPropagation %q: not a propagation", l.RootfsPropagation)
	}
	p := s.Process
	checks := []struct {
		set  bool
		what string
	}{
		// Run in the container's namespaces, which prison's hooks are not.
		{s.Hooks != nil && len(s.Hooks.CreateContainer) > 0, "hooks.createContainer"},
		{s.Hooks != nil && len(s.Hooks.StartContainer) > 0, "hooks.startContainer"},
		{l.Resources != nil && len(l.Resources.Unified) > 0, "linux.resources.unified"},
		{l.Resources != nil && l.Resources.Network != nil, "linux.resources.network"},
		{l.Resources != nil && len(l.Resources.Rdma) > 0, "linux.resources.rdma"},
		// SELinux labels mean nothing where SELinux is off, as runc
		// and crun take them there.
		{l.MountLabel != "" && selinuxOn(), "linux.mountLabel"},
		{l.IntelRdt != nil, "linux.intelRdt"},
		{l.Personality != nil, "linux.personality"},
		{l.TimeOffsets != nil, "linux.timeOffsets"},
		{l.NetDevices != nil, "linux.netDevices"},
		{p.ApparmorProfile != "", "process.apparmorProfile"},
		{p.SelinuxLabel != "" && selinuxOn(), "process.selinuxLabel"},
		{p.Scheduler != nil, "process.scheduler"},
		{p.IOPriority != nil, "process.ioPriority"},
		{p.ExecCPUAffinity != nil, "process.execCPUAffinity"},
		{p.ConsoleSize != nil, "process.consoleSize"},
		{p.User.Username != "", "process.user.username"},
	}
	for _, c := range checks {
		if c.set {
			return fmt.Errorf("spec: %s: not supported by prison", c.what)
		}
	}
	return nil
}
