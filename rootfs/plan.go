package rootfs

import (
	"fmt"
	"os"
	"path"
	"slices"
	"sort"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Op is one step of a root's assembly, executed in order by the jail's init
// (internal/nsinit) inside the jail's mount namespace, before pivot_root.
// Relative paths are below the jail's root and are resolved there without
// following symlinks out of it; absolute paths are the host's.
type Op interface {
	fmt.Stringer
	op()
}

// Mount is one mount(2) call.
type Mount struct {
	Source, Target, FSType, Data string
	Flags                        uintptr
}

// Root names the directory that later relative paths resolve in.
type Root struct{ Path string }

// Mkdir creates a directory if it is missing; an existing directory is fine.
type Mkdir struct {
	Path string
	Mode uint32
}

// Mknod creates a device node.
type Mknod struct {
	Path string
	Mode uint32 // file type and permission bits
	Dev  uint64
}

// Symlink creates Path pointing to Target.
type Symlink struct{ Target, Path string }

// WriteFile creates Path with Data (Truncate: overwrites an existing file,
// which is how sysctls under /proc/sys are written).
type WriteFile struct {
	Path     string
	Mode     uint32
	Data     []byte
	Truncate bool
}

// Touch creates an empty file to bind-mount a file on, if it is missing.
type Touch struct{ Path string }

// Pty opens the pty master at Path (a ptmx of the jail's own devpts) and its
// slave, which becomes the command's terminal.
type Pty struct{ Path string }

// Pivot makes the root the jail's / and detaches the host's.
type Pivot struct{}

// JoinNet enters the jail's network namespace, which the launcher makes
// while the init starts and sends over the sync socket. It comes before
// the sysctls: those under /proc/sys/net are the namespace's own.
type JoinNet struct{}

// SetNS enters the namespace at the host's Path (Type is its CLONE_NEW*
// flag): an OCI spec's namespace to join. It comes first, before the
// jail's own namespaces are touched.
type SetNS struct {
	Type uint32
	Path string
}

func (SetNS) op()     {}
func (Mount) op()     {}
func (Root) op()      {}
func (Mkdir) op()     {}
func (Mknod) op()     {}
func (Symlink) op()   {}
func (WriteFile) op() {}
func (Pty) op()       {}
func (Touch) op()     {}
func (Pivot) op()     {}
func (JoinNet) op()   {}

func (m Mount) String() string {
	switch {
	case m.Flags&unix.MS_REMOUNT != 0:
		return fmt.Sprintf("remount %s (%s)", show(m.Target), FlagString(m.Flags))
	case m.Flags&unix.MS_BIND != 0:
		return fmt.Sprintf("bind %s on %s", show(m.Source), show(m.Target))
	case m.Flags&(unix.MS_PRIVATE|unix.MS_SLAVE|unix.MS_SHARED) != 0:
		return fmt.Sprintf("make %s %s", show(m.Target), FlagString(m.Flags))
	}
	return fmt.Sprintf("mount %s on %s", m.FSType, show(m.Target))
}
func (r Root) String() string      { return "open root " + r.Path }
func (m Mkdir) String() string     { return "mkdir " + show(m.Path) }
func (m Mknod) String() string     { return "mknod " + show(m.Path) }
func (s Symlink) String() string   { return "symlink " + show(s.Path) }
func (w WriteFile) String() string { return "write " + show(w.Path) }
func (p Pty) String() string       { return "open pty " + show(p.Path) }
func (t Touch) String() string     { return "create " + show(t.Path) }
func (Pivot) String() string       { return "pivot_root" }
func (JoinNet) String() string     { return "join the network namespace" }
func (s SetNS) String() string     { return "join the namespace " + s.Path }

// show prints a jail-relative path as the jail will see it.
func show(p string) string {
	if p == "" || strings.HasPrefix(p, "/") {
		return p
	}
	return "/" + p
}

// FlagString names mount flags symbolically, for error messages.
func FlagString(f uintptr) string {
	names := []struct {
		bit  uintptr
		name string
	}{
		{unix.MS_RDONLY, "ro"},
		{unix.MS_NOSUID, "nosuid"},
		{unix.MS_NODEV, "nodev"},
		{unix.MS_NOEXEC, "noexec"},
		{unix.MS_REMOUNT, "remount"},
		{unix.MS_BIND, "bind"},
		{unix.MS_REC, "rec"},
		{unix.MS_PRIVATE, "private"},
		{unix.MS_SLAVE, "slave"},
		{unix.MS_SHARED, "shared"},
	}
	var out []string
	for _, n := range names {
		if f&n.bit != 0 {
			out = append(out, n.name)
		}
	}
	return strings.Join(out, ",")
}

// A Layout says which root a jail gets.
type Layout struct {
	// Path is the root directory. For a host-derived root it is an empty
	// directory on the host that the jail mounts a tmpfs on.
	Path string
	// HostDerived builds the root from the host on the fly (DESIGN.md, Files).
	HostDerived bool
	// Mounts are the spec's mounts, in order.
	Mounts []specs.Mount
	// Devices are the device nodes made in /dev.
	Devices []specs.LinuxDevice
	// MaskedPaths and ReadonlyPaths are the spec's (absolute jail paths).
	MaskedPaths, ReadonlyPaths []string
	// Files are written into a host-derived root (its own small /etc).
	Files []WriteFile
	// Sysctls are written before /proc/sys turns read-only; they apply to
	// the jail's own namespaces (net.*, kernel.shm*…).
	Sysctl map[string]string
	// Pty asks for a terminal from the jail's devpts.
	Pty bool
	// JoinNet: the launcher makes the jail's network namespace and sends
	// it; the init enters it (see JoinNet).
	JoinNet bool
	// Join are namespaces to enter by path before anything else (SetNS).
	Join []SetNS
	// Cgroup is what a spec's cgroup mount shows: the jail's own group.
	Cgroup CgroupView
	// Propagation is the root's mount propagation once pivoted (OCI's
	// rootfsPropagation, as a flag; 0: private, as every mount of the
	// jail's). It is the jail's own: every mount the jail has was made
	// private first, so a shared one is shared with the jail's mounts
	// only, never the host's.
	Propagation uintptr
	// Readonly mounts the root read-only once it is assembled; the mounts
	// on it keep their own modes.
	Readonly bool

	// The jail's own layer (--image, --disk; overlay.go).
	// Overlay, when set, makes the root an overlay of read-only layers
	// and a writable layer of the jail's own.
	Overlay *Overlay
	// Size bounds a host-derived root's tmpfs, in bytes; 0 is DefaultSize.
	Size int64

	// IDMap: the jail has a user namespace of its own, and its init
	// gets the host's trees as detached mounts (userns.go). Stage is the
	// directory they are attached in: every user can traverse it, and it
	// has a directory for each (StageDirs).
	IDMap bool
	Stage string
	// BindDevices binds the host's device nodes rather than making
	// them: in a user namespace, which IDMap implies, mknod fails.
	BindDevices bool
}

// Plan turns a layout into the ops the init executes. It only reads the
// host (to tell directories from files among bind sources and /proc paths).
func Plan(l Layout) ([]Op, error) {
	if !path.IsAbs(l.Path) {
		return nil, fmt.Errorf("rootfs: root %q is not absolute", l.Path)
	}
	// Propagation first: nothing this jail mounts may reach the host, and
	// the host's later mounts need not reach the jail (Cloneflags does not
	// make / private; STYLE.md 2.6).
	var ops []Op
	for _, j := range l.Join {
		ops = append(ops, j)
	}
	ops = append(ops, Mount{Target: "/", Flags: unix.MS_REC | unix.MS_PRIVATE})
	// root is where the root is assembled: the host's directory, or the
	// stage's for a jail that cannot reach that (userns.go).
	root := l.Path
	var st *stager
	if l.IDMap {
		if !path.IsAbs(l.Stage) {
			return nil, fmt.Errorf("rootfs: stage %q is not absolute", l.Stage)
		}
		root = path.Join(l.Stage, StageRoot)
		st = &stager{dir: l.Stage}
	}
	switch {
	case l.HostDerived:
		ops = append(ops, Mount{
			Source: "tmpfs", Target: root, FSType: "tmpfs",
			Flags: unix.MS_NOSUID | unix.MS_NODEV, Data: "mode=0755,size=" + sizeOf(l.Size),
		})
	case l.Overlay != nil:
		oops, err := planOverlay(root, l.Overlay, st)
		if err != nil {
			return nil, err
		}
		ops = append(ops, oops...)
	case l.IDMap:
		// The jail's own files, with the owners they have on disk.
		ops = append(ops, Attach{Source: l.Path, Target: root, Recursive: true, IDMap: true})
	default:
		// pivot_root needs a mount point; a bind onto itself makes one.
		ops = append(ops, Mount{Source: l.Path, Target: l.Path, Flags: unix.MS_BIND | unix.MS_REC})
	}
	ops = append(ops, Root{Path: root})
	if l.HostDerived {
		ops = append(ops, skeleton()...)
	}
	for _, m := range l.Mounts {
		if m.Type == "cgroup" || m.Type == "cgroup2" {
			ops = append(ops, planCgroup(m, l.Cgroup)...)
			continue
		}
		mops, err := planMount(m, st)
		if err != nil {
			return nil, err
		}
		ops = append(ops, mops...)
		// The mount's own propagation, after it is made (its default:
		// private, as all the jail's).
		for _, o := range m.Options {
			if f := Propagations[o]; f&(unix.MS_SHARED|unix.MS_SLAVE|unix.MS_UNBINDABLE) != 0 {
				ops = append(ops, Mount{Target: rel(m.Destination), Flags: f})
			}
		}
		if m.Destination == "/dev" {
			ops = append(ops, devices(l.Devices, l.IDMap || l.BindDevices)...)
		}
	}
	for _, f := range l.Files {
		ops = append(ops, f)
	}
	if l.JoinNet {
		ops = append(ops, JoinNet{})
	}
	keys := make([]string, 0, len(l.Sysctl))
	for k := range l.Sysctl {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		ops = append(ops, WriteFile{
			Path: "proc/sys/" + strings.ReplaceAll(k, ".", "/"),
			Data: []byte(l.Sysctl[k]), Truncate: true,
		})
	}
	var masked []string
	for _, p := range l.MaskedPaths {
		// Below a directory masked already: gone from the jail's view.
		if slices.ContainsFunc(masked, func(d string) bool { return strings.HasPrefix(path.Clean(p)+"/", d+"/") }) {
			continue
		}
		fi := statIn(l.Path, p)
		if fi != nil && fi.IsDir() {
			masked = append(masked, path.Clean(p))
		}
		ops = append(ops, mask(p, fi)...)
	}
	for _, p := range l.ReadonlyPaths {
		if statIn(l.Path, p) == nil {
			continue // what the host's kernel or the root lacks, the jail lacks too
		}
		rel := rel(p)
		ops = append(ops,
			Mount{Source: rel, Target: rel, Flags: unix.MS_BIND | unix.MS_REC},
			Mount{Target: rel, Flags: unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY |
				unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC})
	}
	if l.Readonly {
		// A remount of the bind (or of the host-derived root's tmpfs) sets
		// its flags anew: those it had are given again.
		f := uintptr(unix.MS_REMOUNT | unix.MS_BIND | unix.MS_RDONLY)
		if l.HostDerived {
			f |= unix.MS_NOSUID | unix.MS_NODEV
		}
		if l.Overlay != nil {
			f |= unix.MS_NODEV // planOverlay's MOUNT_ATTR_NODEV
		}
		ops = append(ops, Mount{Target: root, Flags: f})
	}
	if l.Pty {
		ops = append(ops, Pty{Path: "dev/pts/ptmx"})
	}
	ops = append(ops, Pivot{})
	if l.Propagation != 0 {
		ops = append(ops, Mount{Target: "/", Flags: unix.MS_REC | l.Propagation})
	}
	return ops, nil
}

// Propagations are OCI's propagation names as mount flags.
var Propagations = map[string]uintptr{
	"private": unix.MS_PRIVATE, "rprivate": unix.MS_PRIVATE | unix.MS_REC,
	"slave": unix.MS_SLAVE, "rslave": unix.MS_SLAVE | unix.MS_REC,
	"shared": unix.MS_SHARED, "rshared": unix.MS_SHARED | unix.MS_REC,
	"unbindable": unix.MS_UNBINDABLE, "runbindable": unix.MS_UNBINDABLE | unix.MS_REC,
}

// CgroupView is the jail's cgroup as a mount of type cgroup shows it: the
// jail's own group of each hierarchy, never the host's tree above it
// (which a cgroup mount without a cgroup namespace would show, and this
// one need not have).
type CgroupView struct {
	// Dirs are the group's directories: each bound at DEST/Name, or at
	// DEST itself when Name is empty (cgroup v2).
	Dirs []CgroupDir
	// Links are the hierarchies' other names (cpu -> cpu,cpuacct).
	Links []Symlink
}

// CgroupDir is one hierarchy's directory of the jail's group.
type CgroupDir struct{ Name, Source string }

// planCgroup mounts the view at m's destination: on cgroup v1, a tmpfs
// with a directory per hierarchy, as runc lays it out. Always read-only,
// whatever m's options: a jail's root may write files root owns, and its
// own group's limits are among them.
func planCgroup(m specs.Mount, v CgroupView) []Op {
	ro := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	target := rel(m.Destination)
	ops := mkdirAll(target, 0o755)
	bind := func(src, dst string) []Op {
		return []Op{
			Mount{Source: src, Target: dst, Flags: unix.MS_BIND},
			Mount{Target: dst, Flags: unix.MS_REMOUNT | unix.MS_BIND | ro | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC},
		}
	}
	if len(v.Dirs) == 1 && v.Dirs[0].Name == "" {
		return append(ops, bind(v.Dirs[0].Source, target)...)
	}
	tmpfs := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	ops = append(ops, Mount{Source: "tmpfs", Target: target, FSType: "tmpfs", Flags: tmpfs, Data: "mode=755,size=64k"})
	for _, d := range v.Dirs {
		dst := path.Join(target, d.Name)
		ops = append(ops, Mkdir{Path: dst, Mode: 0o755})
		ops = append(ops, bind(d.Source, dst)...)
	}
	for _, l := range v.Links {
		ops = append(ops, Symlink{Target: l.Target, Path: path.Join(target, l.Path)})
	}
	return append(ops, Mount{Target: target, Flags: unix.MS_REMOUNT | tmpfs | unix.MS_RDONLY})
}

func rel(p string) string { return strings.TrimPrefix(path.Clean("/"+p), "/") }

// mkdirAll makes every directory of a jail path, parents first.
func mkdirAll(p string, mode uint32) []Op {
	var ops []Op
	parts := strings.Split(rel(p), "/")
	for i := range parts {
		if parts[i] == "" {
			continue
		}
		ops = append(ops, Mkdir{Path: strings.Join(parts[:i+1], "/"), Mode: mode})
	}
	return ops
}

// skeleton is the host-derived root's own tree; its /usr, library and
// binary directories come from the spec's mounts.
func skeleton() []Op {
	ops := []Op{
		Mkdir{Path: "etc", Mode: 0o755},
		Mkdir{Path: "tmp", Mode: 0o1777},
		Mkdir{Path: "root", Mode: 0o700},
		Mkdir{Path: "home", Mode: 0o755},
		Mkdir{Path: "run", Mode: 0o755},
		Mkdir{Path: "var", Mode: 0o755},
		Mkdir{Path: "var/tmp", Mode: 0o1777},
		Mkdir{Path: "var/log", Mode: 0o755},
		Mkdir{Path: "var/lib", Mode: 0o755},
		Mkdir{Path: "var/cache", Mode: 0o755},
	}
	// Merged-/usr hosts have /bin -> usr/bin: the jail gets the same links.
	for _, d := range hostTopDirs {
		if t, err := os.Readlink("/" + d); err == nil {
			ops = append(ops, Symlink{Target: t, Path: d})
		}
	}
	return ops
}

// hostTopDirs are the top-level directories of a host-derived root that come
// from the host (as links, or as read-only binds in HostMounts).
var hostTopDirs = []string{"usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"}

// hostEtc are the host's /etc entries a host-derived root shows read-only:
// what programs need to run (linker cache, alternatives, name service
// switch, PAM for su, terminfo, certificates), never shadow, gshadow or
// anything with secrets. What the host keeps from others inside them
// (ssl/private, security/opasswd) is hidden (hidden.go).
var hostEtc = []string{
	"alternatives", "bash.bashrc", "ca-certificates", "debian_version", "environment",
	"gai.conf", "host.conf", "inputrc", "ld.so.cache", "ld.so.conf", "ld.so.conf.d",
	"localtime", "login.defs", "mime.types", "networks", "nsswitch.conf", "os-release",
	"pam.conf", "pam.d", "profile", "profile.d", "protocols", "rpc", "security",
	"services", "shells", "skel", "ssl", "terminfo", "timezone",
}

// capabilityPrograms are the host programs known to carry file
// capabilities that a jail's root does not have.
var capabilityPrograms = []string{
	"/usr/bin/ping", "/usr/bin/ping4", "/usr/bin/ping6", "/usr/bin/arping",
	"/usr/bin/clockdiff", "/usr/bin/mtr-packet", "/usr/sbin/arping",
}

// HostMounts returns the read-only binds that give a host-derived root the
// host's programs and libraries, and the masks that hide what the host
// keeps from other users in them (hidden.go).
func HostMounts() []specs.Mount {
	var ms []specs.Mount
	var trees []string
	ro := []string{"rbind", "ro", "nodev"}
	for _, d := range hostTopDirs {
		var st unix.Stat_t
		if unix.Lstat("/"+d, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFDIR && !hostOnly(st.Mode) {
			ms = append(ms, specs.Mount{Destination: "/" + d, Type: "bind", Source: "/" + d, Options: ro})
			trees = append(trees, "/"+d)
		}
	}
	hidden := hiddenInTrees(trees)
	// Programs with file capabilities (Debian's ping has cap_net_raw=ep)
	// cannot be executed at all where the bounding set lacks those
	// capabilities: execve fails with EPERM ("insufficient to execute
	// correctly", security/commoncap.c). On a nosuid mount the kernel
	// ignores file capabilities, and ping falls back to the ICMP datagram
	// sockets a jail has. /usr itself keeps suid, for su.
	for _, p := range capabilityPrograms {
		if n, err := unix.Lgetxattr(p, "security.capability", nil); err == nil && n > 0 {
			ms = append(ms, specs.Mount{
				Destination: p, Type: "bind", Source: p,
				Options: []string{"bind", "ro", "nosuid", "nodev"},
			})
		}
	}
	var etcDirs []string
	var etcStats []unix.Stat_t
	for _, e := range hostEtc {
		p := "/etc/" + e
		// Stat follows links: one such as os-release -> ../usr/lib/os-release
		// resolves inside the jail as on the host, and a dangling one is
		// left out.
		var st unix.Stat_t
		if unix.Stat(p, &st) != nil || hostOnly(st.Mode) || slices.Contains(secretDirs, p) {
			continue
		}
		ms = append(ms, specs.Mount{
			Destination: p, Type: "bind", Source: p,
			Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"},
		})
		if st.Mode&unix.S_IFMT == unix.S_IFDIR {
			etcDirs, etcStats = append(etcDirs, p), append(etcStats, st)
		}
	}
	// Both lists are the caches' own: never appended to.
	ms = append(ms, maskMounts(hidden)...)
	return append(ms, maskMounts(hiddenInEtc(etcDirs, etcStats))...)
}

var mountFlags = map[string]uintptr{
	"ro": unix.MS_RDONLY, "nosuid": unix.MS_NOSUID, "nodev": unix.MS_NODEV,
	"noexec": unix.MS_NOEXEC, "bind": unix.MS_BIND, "rbind": unix.MS_BIND | unix.MS_REC,
	// With a user namespace, binds show the host's owners, idmapped
	// (userns.go), as OCI's idmap asks, unless noidmap says otherwise.
	"idmap": 0, "noidmap": 0,
	"relatime": unix.MS_RELATIME, "noatime": unix.MS_NOATIME, "strictatime": unix.MS_STRICTATIME,
	"nosymfollow": unix.MS_NOSYMFOLLOW, "sync": unix.MS_SYNCHRONOUS, "dirsync": unix.MS_DIRSYNC,
	"rw": 0, "suid": 0, "dev": 0, "exec": 0,
	// Propagation: set after the mount (Plan), never with it.
	"private": 0, "rprivate": 0, "slave": 0, "rslave": 0, "unbindable": 0, "runbindable": 0,
	"shared": 0, "rshared": 0,
	// crun's tmpfs that starts with a copy of what it covers (podman's
	// --read-only /run, /tmp and /var/tmp): prison's starts empty.
	"tmpcopyup": 0, "notmpcopyup": 0,
}

// MountOptionNames are the mount options that are flags (the others go to
// the filesystem as its data).
func MountOptionNames() map[string]uintptr { return mountFlags }

// ParseOptions splits OCI mount options into flags and filesystem data.
func ParseOptions(opts []string) (flags uintptr, data string) {
	var d []string
	for _, o := range opts {
		if f, ok := mountFlags[o]; ok {
			flags |= f
			continue
		}
		d = append(d, o)
	}
	return flags, strings.Join(d, ",")
}

// planMount plans one of the spec's mounts; st, when not nil, stages the
// host's trees for a jail with a user namespace of its own.
func planMount(m specs.Mount, st *stager) ([]Op, error) {
	if !path.IsAbs(m.Destination) {
		return nil, fmt.Errorf("rootfs: mount destination %q is not absolute", m.Destination)
	}
	flags, data := ParseOptions(m.Options)
	target := rel(m.Destination)
	if m.Type == "bind" || flags&unix.MS_BIND != 0 {
		flags |= unix.MS_BIND
		// One call for what is not a link: the default root binds dozens.
		fi, err := os.Lstat(m.Source)
		link := err == nil && fi.Mode()&os.ModeSymlink != 0
		if link {
			fi, err = os.Stat(m.Source)
		}
		if err != nil {
			return nil, fmt.Errorf("rootfs: bind source: %w", err)
		}
		if st != nil {
			return st.planBindIDMap(m.Source, target, flags, slices.Contains(m.Options, "noidmap"), fi, link)
		}
		var ops []Op
		if fi.IsDir() {
			ops = mkdirAll(target, 0o755)
		} else {
			ops = append(mkdirAll(path.Dir(target), 0o755), Touch{Path: target})
		}
		ops = append(ops, Mount{Source: m.Source, Target: target, Flags: flags &^ readOnlyish})
		// A bind ignores every flag but MS_REC; the restrictions need a
		// remount of the new mount.
		if extra := flags & readOnlyish; extra != 0 {
			ops = append(ops, Mount{Target: target, Flags: unix.MS_REMOUNT | unix.MS_BIND | extra})
		}
		return ops, nil
	}
	return append(mkdirAll(target, 0o755),
		Mount{Source: m.Source, Target: target, FSType: m.Type, Flags: flags, Data: data}), nil
}

const readOnlyish = unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC |
	unix.MS_NOSYMFOLLOW | unix.MS_RELATIME | unix.MS_NOATIME | unix.MS_STRICTATIME

// statIn says what p is in a jail whose root is the host's directory
// root: under /proc and /sys, the kernel's, which the host shows alike;
// elsewhere, what the root has there, not followed if a link (the op
// itself resolves in the jail). nil: nothing there.
func statIn(root, p string) os.FileInfo {
	var fi os.FileInfo
	var err error
	if c := path.Clean("/" + p); c == "/proc" || c == "/sys" || strings.HasPrefix(c, "/proc/") || strings.HasPrefix(c, "/sys/") {
		fi, err = os.Stat(c)
	} else {
		fi, err = os.Lstat(path.Join(root, c))
	}
	if err != nil {
		return nil
	}
	return fi
}

// mask hides a path, fi what it is: an empty read-only tmpfs over a
// directory, /dev/null over a file (runc's MaskedPaths).
func mask(p string, fi os.FileInfo) []Op {
	if fi == nil {
		return nil
	}
	if fi.IsDir() {
		return []Op{Mount{
			Source: "tmpfs", Target: rel(p), FSType: "tmpfs",
			Flags: unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC,
		}}
	}
	return []Op{Mount{Source: "/dev/null", Target: rel(p), Flags: unix.MS_BIND}}
}

// devices makes the spec's device nodes and the links every /dev has. A
// jail with a user namespace of its own cannot make device nodes: it
// gets the host's, bound (as runc does).
func devices(devs []specs.LinuxDevice, bind bool) []Op {
	var ops []Op
	for _, d := range devs {
		if bind {
			ops = append(ops, Touch{Path: rel(d.Path)},
				Mount{Source: d.Path, Target: rel(d.Path), Flags: unix.MS_BIND})
			continue
		}
		mode := uint32(0o666)
		if d.FileMode != nil {
			mode = uint32(*d.FileMode) & 0o7777
		}
		switch d.Type {
		case "c", "u":
			mode |= unix.S_IFCHR
		case "b":
			mode |= unix.S_IFBLK
		case "p":
			mode |= unix.S_IFIFO
		}
		ops = append(ops, Mknod{Path: rel(d.Path), Mode: mode, Dev: unix.Mkdev(uint32(d.Major), uint32(d.Minor))})
	}
	return append(ops,
		Symlink{Target: "pts/ptmx", Path: "dev/ptmx"},
		Symlink{Target: "/proc/self/fd", Path: "dev/fd"},
		Symlink{Target: "/proc/self/fd/0", Path: "dev/stdin"},
		Symlink{Target: "/proc/self/fd/1", Path: "dev/stdout"},
		Symlink{Target: "/proc/self/fd/2", Path: "dev/stderr"},
		Symlink{Target: "/proc/kcore", Path: "dev/core"},
	)
}
