package prison

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-spec/specs-go/features"
	"golang.org/x/sys/unix"

	"prison/cgroup"
	"prison/internal/nsinit"
	"prison/rootfs"
)

// The OCI runtime's side of prison (runc's command line, for containerd
// and podman): a container is a jail whose command waits for start
// (Jail.Created), plus a record that outlives the jail until delete, as
// a runc container's state does. The jail's own state goes with the jail,
// like every jail's; the record says what the container was.

// nsTypes are the namespaces a spec may join by path, with their clone
// flags. A user namespace a container cannot share: its ids are its own.
var nsTypes = map[specs.LinuxNamespaceType]uint32{
	specs.NetworkNamespace: unix.CLONE_NEWNET,
	specs.IPCNamespace:     unix.CLONE_NEWIPC,
	specs.UTSNamespace:     unix.CLONE_NEWUTS,
	specs.MountNamespace:   unix.CLONE_NEWNS,
	specs.PIDNamespace:     unix.CLONE_NEWPID,
}

// joinedNamespaces are the spec's namespaces to join by path.
func joinedNamespaces(s *specs.Spec) []rootfs.SetNS {
	var out []rootfs.SetNS
	for _, ns := range s.Linux.Namespaces {
		if ns.Path != "" {
			out = append(out, rootfs.SetNS{Type: nsTypes[ns.Type], Path: ns.Path})
		}
	}
	return out
}

// initJoins are the namespaces the init enters itself: all that the spec
// joins but its PID namespace, which setns(2) would give the init's
// children only. The init is cloned into that one (sharedPIDNS).
func initJoins(s *specs.Spec) []rootfs.SetNS {
	return slices.DeleteFunc(joinedNamespaces(s), func(j rootfs.SetNS) bool { return j.Type == unix.CLONE_NEWPID })
}

// sharedPIDNS is the PID namespace the spec joins (CRI's
// shareProcessNamespace: a pod's containers in its sandbox's), or "".
func sharedPIDNS(s *specs.Spec) string {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.PIDNamespace {
			return ns.Path
		}
	}
	return ""
}

// checkJoins refuses a namespace path prison cannot join.
func checkJoins(s *specs.Spec) error {
	userns := false
	for _, ns := range s.Linux.Namespaces {
		userns = userns || ns.Type == specs.UserNamespace
	}
	for i, ns := range s.Linux.Namespaces {
		if ns.Path == "" {
			continue
		}
		if _, ok := nsTypes[ns.Type]; !ok {
			return fmt.Errorf("spec: linux.namespaces[%d].path %q: joining a %s namespace is not supported", i, ns.Path, ns.Type)
		}
		if userns {
			return fmt.Errorf("spec: linux.namespaces[%d].path %q: joining a namespace from a user namespace of the container's own is not supported", i, ns.Path)
		}
		if !filepath.IsAbs(ns.Path) {
			return fmt.Errorf("spec: linux.namespaces[%d].path %q: not an absolute path", i, ns.Path)
		}
		if ns.Type == specs.MountNamespace && hostMountNS(ns.Path) {
			// The init makes the namespace's mounts private and
			// pivot_roots, which moves every process whose root is
			// the namespace's to the container's root.
			return fmt.Errorf("spec: linux.namespaces[%d].path %q: the host's own mount namespace", i, ns.Path)
		}
	}
	return nil
}

// hostMountNS tells whether the namespace at path is the mount namespace
// of this process or of the host's PID 1.
func hostMountNS(path string) bool {
	var ns unix.Stat_t
	if unix.Stat(path, &ns) != nil {
		return false // setns says what is wrong with it
	}
	for _, own := range []string{"/proc/self/ns/mnt", "/proc/1/ns/mnt"} {
		var st unix.Stat_t
		if unix.Stat(own, &st) == nil && st.Dev == ns.Dev && st.Ino == ns.Ino {
			return true
		}
	}
	return false
}

// LoadBundle reads an OCI bundle's config.json, resolves its relative
// paths against the bundle, and checks it: a field prison cannot honour is
// an error naming it.
func LoadBundle(dir string) (*specs.Spec, error) {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, &ParamError{Err: fmt.Errorf("--bundle %q: %w", dir, err)}
	}
	b, err := os.ReadFile(filepath.Join(abs, "config.json"))
	if err != nil {
		return nil, &ParamError{Err: fmt.Errorf("--bundle %q: %w", dir, err)}
	}
	s, err := ParseConfig(b, abs)
	if err != nil {
		return nil, &ParamError{Err: err}
	}
	return s, nil
}

// ParseConfig decodes config.json of the bundle at dir (absolute).
func ParseConfig(b []byte, dir string) (*specs.Spec, error) {
	var s specs.Spec
	// Unknown fields are ignored, as runtime-spec requires (a newer
	// spec's, a runtime's own); a field prison knows and does not
	// implement is an error (unsupported).
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("config.json: %s", strings.TrimPrefix(err.Error(), "json: "))
	}
	switch {
	case s.Version == "":
		return nil, errors.New("config.json: ociVersion is missing")
	case !strings.HasPrefix(s.Version, "1."):
		return nil, fmt.Errorf("config.json: ociVersion %q: want 1.x", s.Version)
	case s.Root == nil || s.Root.Path == "":
		return nil, errors.New("config.json: root.path is missing")
	case s.Process == nil:
		return nil, errors.New("config.json: process is missing")
	case len(s.Process.Args) == 0:
		return nil, errors.New("config.json: process.args is missing")
	case !filepath.IsAbs(s.Process.Cwd):
		return nil, fmt.Errorf("config.json: process.cwd %q: want an absolute path", s.Process.Cwd)
	}
	if s.Linux == nil && (s.FreeBSD == nil || s.FreeBSD.Jail == nil) {
		return nil, errors.New("config.json: linux is missing (and no freebsd.jail section to make it from)")
	}
	if !filepath.IsAbs(s.Root.Path) {
		s.Root.Path = filepath.Join(dir, s.Root.Path)
	}
	root, err := filepath.EvalSymlinks(s.Root.Path)
	if err != nil {
		return nil, fmt.Errorf("config.json: root.path: %w", err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("config.json: root.path %q: not a directory", s.Root.Path)
	}
	if root == "/" {
		return nil, fmt.Errorf("config.json: root.path %q: the host's own root", s.Root.Path)
	}
	s.Root.Path = root
	if s.Linux == nil {
		if err := lowerFreeBSD(&s); err != nil {
			return nil, err
		}
	}
	for i := range s.Mounts {
		m := &s.Mounts[i]
		if m.Destination == "" {
			return nil, fmt.Errorf("config.json: mounts[%d].destination is missing", i)
		}
		// runtime-spec 1.1: a relative destination is below the root.
		if !filepath.IsAbs(m.Destination) {
			m.Destination = "/" + m.Destination
		}
		if isBind(*m) && m.Source != "" && !filepath.IsAbs(m.Source) {
			m.Source = filepath.Join(dir, m.Source)
		}
	}
	p, err := cgroupsPathOf(s.Linux.CgroupsPath)
	if err != nil {
		return nil, fmt.Errorf("config.json: linux.cgroupsPath %q: %w", s.Linux.CgroupsPath, err)
	}
	s.Linux.CgroupsPath = p
	if err := checkJoins(&s); err != nil {
		return nil, errors.New(strings.Replace(err.Error(), "spec:", "config.json:", 1))
	}
	if err := validateSpec(&s, false); err != nil {
		return nil, errors.New(strings.Replace(err.Error(), "spec:", "config.json:", 1))
	}
	return &s, nil
}

// lowerFreeBSD makes the linux side of a config.json written for a
// FreeBSD jail: the jail its freebsd.jail section describes, as prison
// run's flags would make it (Config.Spec), with the bundle's process,
// root and hostname. FreeBSD's own model shares the host's ids.
func lowerFreeBSD(s *specs.Spec) error {
	j := s.FreeBSD.Jail
	c := DefaultConfig()
	c.Root, c.Hostname, c.Args, c.Cwd = s.Root.Path, s.Hostname, s.Process.Args, s.Process.Cwd
	c.Env = s.Process.Env
	c.UserNS = "host"
	c.IPs = append(append([]string{}, j.Ip4Addr...), j.Ip6Addr...)
	c.Net = map[bool]string{true: "", false: "host"}[j.Vnet != "inherit" && j.Ip4 != "inherit"]
	if j.SysVMsg != "" {
		c.SysVIPC = string(j.SysVMsg)
	}
	if a := j.Allow; a != nil {
		for _, p := range []struct {
			on   bool
			name string
		}{{a.SetHostname, "set_hostname"}, {a.RawSockets, "raw_sockets"}, {a.Chflags, "chflags"}, {a.SocketAf, "socket_af"}} {
			if p.on {
				c.Allow = append(c.Allow, p.name)
			}
		}
	}
	c.User = fmt.Sprintf("%d:%d", s.Process.User.UID, s.Process.User.GID)
	c.Terminal = s.Process.Terminal
	c.user = &User{UID: s.Process.User.UID, GID: s.Process.User.GID, Groups: s.Process.User.AdditionalGids, Home: "/root", spec: c.User}
	l, err := c.Spec()
	if err != nil {
		return fmt.Errorf("config.json: freebsd.jail: %w", err)
	}
	var mounts []specs.Mount
	for _, m := range s.Mounts {
		switch m.Type {
		case "nullfs":
			m.Type = "bind"
			m.Options = append(m.Options, "rbind")
		case "tmpfs":
		default:
			continue // devfs, procfs, fdescfs: every jail has its own
		}
		mounts = append(mounts, m)
	}
	s.Linux, s.Mounts = l.Linux, append(l.Mounts, mounts...)
	p := l.Process
	p.Args, p.Cwd, p.Terminal = s.Process.Args, s.Process.Cwd, s.Process.Terminal
	p.Env = mergeEnv(l.Process.Env, s.Process.Env)
	if s.Process.Rlimits != nil {
		p.Rlimits = s.Process.Rlimits
	}
	s.Process = p
	for k, v := range l.Annotations {
		if s.Annotations == nil {
			s.Annotations = map[string]string{}
		}
		if _, ok := s.Annotations[k]; !ok {
			s.Annotations[k] = v
		}
	}
	s.FreeBSD = l.FreeBSD
	s.Linux.CgroupsPath = "" // the container's id names it (NewContainer)
	return nil
}

func isBind(m specs.Mount) bool {
	if m.Type == "bind" {
		return true
	}
	for _, o := range m.Options {
		if o == "bind" || o == "rbind" {
			return true
		}
	}
	return false
}

// cgroupsPathOf turns a spec's cgroupsPath into a path below the
// hierarchies' root: "/a/b" as it is, "a/b" below the root too, and
// systemd's "slice:prefix:name" as systemd would place it
// (/a.slice/a-b.slice/prefix-name.scope), since prison drives the
// cgroup files itself.
func cgroupsPathOf(p string) (string, error) {
	if p == "" {
		return "", nil
	}
	parts := strings.Split(p, ":")
	switch len(parts) {
	case 1:
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		return filepath.Clean(p), nil
	case 3:
	default:
		return "", errors.New("want /PATH or systemd's SLICE:PREFIX:NAME")
	}
	slice, prefix, name := parts[0], parts[1], parts[2]
	if slice == "" {
		slice = "system.slice"
	}
	if !strings.HasSuffix(slice, ".slice") || strings.Contains(slice, "/") || name == "" || strings.Contains(name+prefix, "/") {
		return "", errors.New("want systemd's SLICE:PREFIX:NAME, with SLICE ending in .slice")
	}
	var dirs []string
	if slice != "-.slice" {
		words := strings.Split(strings.TrimSuffix(slice, ".slice"), "-")
		for i := range words {
			if words[i] == "" {
				return "", fmt.Errorf("slice %q: an empty word between dashes", slice)
			}
			dirs = append(dirs, strings.Join(words[:i+1], "-")+".slice")
		}
	}
	unit := name
	if !strings.HasSuffix(name, ".slice") {
		if prefix != "" {
			unit = prefix + "-" + name
		}
		unit += ".scope"
	}
	return "/" + strings.Join(append(dirs, unit), "/"), nil
}

// Container is what prison keeps of a container from create to delete.
type Container struct {
	ID          string            `json:"id"`
	Bundle      string            `json:"bundle"`
	Created     time.Time         `json:"created"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Hooks       *specs.Hooks      `json:"hooks,omitempty"`
	// InitPID and InitStart name the container's process, the jail's
	// PID 1, for good (see State).
	InitPID   int    `json:"pid"`
	InitStart uint64 `json:"initStart"`
}

// ociDir holds the containers' records, in the store: a name no jail can
// take (checkName refuses a leading dot), which the store's sweep skips.
const ociDir = ".oci"

func containerFile(id string) string { return filepath.Join(StateDir, ociDir, id+".json") }

// FindContainer reads the record of container id.
func FindContainer(id string) (*Container, error) {
	if err := checkName(&Config{Name: id}); err != nil || id == "" {
		return nil, &ParamError{Err: fmt.Errorf("container id %q: not a valid id", id)}
	}
	b, err := os.ReadFile(containerFile(id))
	if errors.Is(err, os.ErrNotExist) {
		return nil, &NoContainerError{ID: id}
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	var c Container
	if err := json.Unmarshal(b, &c); err != nil {
		return nil, fmt.Errorf("state: %s: %w", containerFile(id), err)
	}
	return &c, nil
}

// NoContainerError is returned for an id that names no container. Its
// text is runc's, which containerd's shim looks for.
type NoContainerError struct{ ID string }

func (e *NoContainerError) Error() string { return fmt.Sprintf("container %q does not exist", e.ID) }

// Containers returns every container's record, by id.
func Containers() ([]*Container, error) {
	ents, err := os.ReadDir(filepath.Join(StateDir, ociDir))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("state: %w", err)
	}
	var out []*Container
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		if c, err := FindContainer(id); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

// Container statuses (runtime-spec's, and runc's paused).
const (
	StatusCreated = "created"
	StatusRunning = "running"
	StatusStopped = "stopped"
	StatusPaused  = "paused"
)

// jail returns the container's jail while it runs, or nil once its
// process is gone.
func (c *Container) jail() *Running {
	s, err := readState(c.ID)
	if err != nil || s.InitPID != c.InitPID || s.InitStart != c.InitStart || !alive(c.ID) {
		return nil
	}
	r, err := pin(s)
	if err != nil {
		return nil
	}
	return r
}

// Status is the container's runtime-spec status.
func (c *Container) Status() string {
	r := c.jail()
	if r == nil {
		return StatusStopped
	}
	defer r.Close()
	switch {
	case r.Waiting:
		return StatusCreated
	case r.frozen():
		return StatusPaused
	}
	return StatusRunning
}

// State is the runtime-spec state of the container.
func (c *Container) State() specs.State { return c.stateAs(c.Status()) }

// stateAs is the container's state as of status (a hook's view of it).
func (c *Container) stateAs(status string) specs.State {
	st := specs.State{
		Version: specs.Version, ID: c.ID, Status: specs.ContainerState(status),
		Bundle: c.Bundle, Annotations: c.Annotations,
	}
	if status != StatusStopped {
		st.Pid = c.InitPID
	}
	return st
}

// NewContainer checks that container id can be made from the bundle's
// spec, and returns it, to be recorded once its jail is started
// (Record). The jail is named id and starts with spec: prison create
// --bundle sets Jail.Created, so that its command waits for
// StartContainer; a container run in the foreground starts at once.
func NewContainer(id, bundle string, s *specs.Spec) (*Container, error) {
	if err := checkName(&Config{Name: id}); err != nil || id == "" {
		return nil, &ParamError{Err: fmt.Errorf("container id %q: not a valid id (letters, digits, _ and, not first, - and .)", id)}
	}
	if _, err := FindContainer(id); err == nil {
		return nil, &ParamError{Err: fmt.Errorf("container %q: exists already", id)}
	}
	abs, err := filepath.Abs(bundle)
	if err != nil {
		return nil, &ParamError{Err: fmt.Errorf("--bundle %q: %w", bundle, err)}
	}
	if s.Linux.CgroupsPath == "" {
		s.Linux.CgroupsPath = "/prison/" + id
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	if len(s.Linux.Resources.Devices) == 0 {
		// As runc: no device but the default ones (which
		// withDefaultDeviceRules allows), whatever a capability
		// lets the container make; the rules bring the freezer that
		// pause needs on cgroup v1 too.
		s.Linux.Resources.Devices = []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}}
	}
	return &Container{ID: id, Bundle: abs, Created: time.Now().UTC(), Annotations: s.Annotations, Hooks: s.Hooks}, nil
}

// Record writes the record of the container whose jail j now runs (or
// waits to), and runs its createRuntime hooks. On failure the jail is
// ended.
func (c *Container) Record(j *Jail) error {
	if j.recorded != nil {
		// Written while the command runs (Start); Wait reads it again.
		err := <-j.recorded
		j.recorded <- err
		if err != nil {
			c.kill()
			return err
		}
	}
	c.InitPID, c.InitStart = j.state.InitPID, j.state.InitStart
	err := c.runHooksAs(StatusCreated, "createRuntime", c.hooks(func(h *specs.Hooks) []specs.Hook { return h.CreateRuntime }))
	if err == nil {
		err = c.write(true)
	}
	if err != nil {
		c.kill()
	}
	return err
}

// Pid is the host pid of the jail's init, once started: a container's
// process, a joining command's holder.
func (j *Jail) Pid() int { return j.initPID }

// write records c; a new record must not replace one (two creates of one
// id at once: the jail's claim lets only one start, but a stopped
// container's record outlives its jail).
func (c *Container) write(fresh bool) error {
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	f := containerFile(c.ID)
	tmp := fmt.Sprintf("%s.tmp-%d", f, os.Getpid())
	if err := os.MkdirAll(filepath.Dir(f), 0o700); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	defer os.Remove(tmp)
	if fresh {
		err := os.Link(tmp, f)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state: %w", err)
		}
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return &ParamError{Err: fmt.Errorf("container %q: exists already", c.ID)}
			}
			return fmt.Errorf("state: %w", err)
		}
		return nil
	}
	return os.Rename(tmp, f)
}

// kill ends the container's jail, whatever its status, and waits for
// its host side to go.
func (c *Container) kill() {
	if r := c.jail(); r != nil {
		_ = r.remove()
		r.Close()
	}
}

// StartContainer runs the command of container id, which waits in its
// jail since CreateContainer: the launcher's end of the init's sync
// socket is taken from the init and GO sent on it, as the launcher would
// have.
func StartContainer(id string) error {
	c, err := FindContainer(id)
	if err != nil {
		return err
	}
	r := c.jail()
	if r == nil {
		return fmt.Errorf("container %q: cannot start: it is %s", id, StatusStopped)
	}
	defer r.Close()
	if !r.Waiting {
		return fmt.Errorf("container %q: cannot start: it is %s, not %s", id, c.Status(), StatusCreated)
	}
	fd, err := unix.PidfdGetfd(r.pidfd, r.ParkFD, 0)
	if err != nil {
		return fmt.Errorf("container %q: take its start socket: %w", id, err)
	}
	sock := os.NewFile(uintptr(fd), "sync")
	defer sock.Close()
	// Recorded as started before GO: of two starts at once, the second
	// finds the socket gone, or the record says so.
	s := r.State
	s.Waiting, s.ParkFD = false, 0
	if err := s.record(nil, nil); err != nil {
		return err
	}
	prestart := c.hooks(func(h *specs.Hooks) []specs.Hook { return h.Prestart }) //nolint:staticcheck // deprecated, and still what clients give
	if err := c.runHooksAs(StatusCreated, "prestart", prestart); err != nil {
		// The container is stopped and deleted (runtime-spec's
		// lifecycle, step 9): its poststop hooks run.
		r.Close()
		_ = DeleteContainer(id, true)
		return err
	}
	if err := unix.Send(fd, nsinit.GoMessage(), 0); err != nil {
		return fmt.Errorf("container %q: start: %w", id, err)
	}
	j := &Jail{Name: id, sock: sock}
	msg, err := j.recv()
	switch {
	case err != nil:
		return fmt.Errorf("container %q: start: %w", id, err)
	case msg.Type != nsinit.MsgStarted:
		s, _ := c.spec()
		return j.initError(msg, &nsinit.Plan{Args: s.Process.Args, Cwd: s.Process.Cwd})
	}
	if msg.FD >= 0 {
		unix.Close(msg.FD)
	}
	// The socket ends when the command's execve closes it, unless the
	// command's side failed first.
	switch msg, err = j.recv(); {
	case errors.Is(err, errInitGone):
	case err != nil:
		return fmt.Errorf("container %q: start: %w", id, err)
	default:
		s, _ := c.spec()
		return j.initError(msg, &nsinit.Plan{Args: s.Process.Args, Cwd: s.Process.Cwd})
	}
	// poststart: failures are warnings in runtime-spec; they are errors
	// here only in the hooks' own output.
	_ = c.runHooksAs(StatusRunning, "poststart", c.hooks(func(h *specs.Hooks) []specs.Hook { return h.Poststart }))
	return nil
}

// KillContainer sends sig to the container's process (its command, which
// the jail's init forwards it to), or with all to every process of it.
// A container not yet started has no command to take a signal: any signal
// ends it.
func KillContainer(id string, sig syscall.Signal, all bool) error {
	c, err := FindContainer(id)
	if err != nil {
		return err
	}
	r := c.jail()
	if r == nil {
		// runc's words, which containerd's shim takes for "already gone".
		return fmt.Errorf("container %q: container not running", id)
	}
	defer r.Close()
	switch {
	case sig == 0:
		return nil
	case r.Waiting:
		return unix.PidfdSendSignal(r.pidfd, unix.SIGKILL, nil, 0)
	case all:
		return r.Kill(sig)
	}
	return unix.PidfdSendSignal(r.pidfd, sig, nil, 0)
}

// DeleteContainer removes container id and everything its jail had on
// the host. A running container is refused unless force, which kills it;
// one that was created and not started is killed, as runc does.
func DeleteContainer(id string, force bool) error {
	c, err := FindContainer(id)
	if err != nil {
		return err
	}
	if r := c.jail(); r != nil {
		status := c.Status()
		if status != StatusCreated && !force {
			r.Close()
			return fmt.Errorf("container %q: cannot delete it while it is %s (delete --force kills it)", id, status)
		}
		if r.frozen() {
			_ = r.thaw() // a frozen process does not die of SIGKILL until thawed
		}
		err := r.remove()
		r.Close()
		if err != nil {
			return err
		}
	} else if err := Sweep(); err != nil {
		return err
	}
	if err := os.Remove(containerFile(id)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("state: %w", err)
	}
	// Empty, the records' directory goes too: a runtime root that a
	// client such as containerd made is left as it found it. A create
	// meanwhile makes it again (write).
	_ = os.Remove(filepath.Join(StateDir, ociDir))
	// poststop: after the container is gone; a failure is a warning,
	// which the caller prints (the delete itself succeeded).
	if err := c.runHooksAs(StatusStopped, "poststop", c.hooks(func(h *specs.Hooks) []specs.Hook { return h.Poststop })); err != nil {
		return &HookWarning{Err: err}
	}
	return nil
}

// HookWarning is a hook's failure that runtime-spec makes a warning: the
// operation it followed succeeded.
type HookWarning struct{ Err error }

func (w *HookWarning) Error() string { return "warning: " + w.Err.Error() }
func (w *HookWarning) Unwrap() error { return w.Err }

// spec is the spec the container's jail runs (its process, for messages).
func (c *Container) spec() (*specs.Spec, error) {
	s, err := readSpec(c.ID)
	if err != nil || s.Process == nil {
		return &specs.Spec{Process: &specs.Process{Args: []string{"the command"}}}, err
	}
	return s, nil
}

func (c *Container) hooks(f func(*specs.Hooks) []specs.Hook) []specs.Hook { return hooksOf(c.Hooks, f) }

func hooksOf(h *specs.Hooks, f func(*specs.Hooks) []specs.Hook) []specs.Hook {
	if h == nil {
		return nil
	}
	return f(h)
}

// runHooksAs runs the spec's hooks of one kind, in order, on the host, each
// with the container's state on its stdin, as of status (runtime-spec,
// config.md#posix-platform-hooks).
func (c *Container) runHooksAs(status, kind string, hooks []specs.Hook) error {
	if len(hooks) == 0 {
		return nil
	}
	st, err := json.Marshal(c.stateAs(status))
	if err != nil {
		return err
	}
	var errs []error
	for i, h := range hooks {
		args := h.Args
		if len(args) == 0 {
			args = []string{h.Path}
		}
		cmd := &exec.Cmd{Path: h.Path, Args: args, Env: h.Env, Stdin: bytes.NewReader(st), Dir: c.Bundle}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if h.Timeout != nil && *h.Timeout > 0 {
			timer := time.AfterFunc(time.Duration(*h.Timeout)*time.Second, func() {
				if cmd.Process != nil {
					_ = cmd.Process.Kill()
				}
			})
			defer timer.Stop()
		}
		if err := cmd.Run(); err != nil {
			err = fmt.Errorf("hooks.%s[%d] %s: %w: %s", kind, i, h.Path, err, strings.TrimSpace(out.String()))
			if status == StatusCreated {
				return err // the lifecycle stops there
			}
			// poststart, poststop: a warning, and the next hooks run.
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// group loads the jail's cgroup.
func (r *Running) group() (*cgroup.Group, error) {
	if r.Cgroup == nil {
		return nil, fmt.Errorf("%s: no cgroup: %s", r.Name, noCgroup())
	}
	return cgroup.Load(*r.Cgroup)
}

func (r *Running) frozen() bool {
	g, err := r.group()
	return err == nil && g.Frozen()
}

func (r *Running) thaw() error {
	g, err := r.group()
	if err != nil {
		return err
	}
	return g.Thaw()
}

// PauseContainer freezes every process of container id (its cgroup's
// freezer); ResumeContainer thaws them.
func PauseContainer(id string) error { return freezeContainer(id, true) }

// ResumeContainer thaws a paused container.
func ResumeContainer(id string) error { return freezeContainer(id, false) }

func freezeContainer(id string, freeze bool) error {
	c, err := FindContainer(id)
	if err != nil {
		return err
	}
	r := c.jail()
	if r == nil {
		return fmt.Errorf("container %q: not running", id)
	}
	defer r.Close()
	switch st := c.Status(); {
	case freeze && st != StatusRunning:
		return fmt.Errorf("container %q: cannot pause it while it is %s", id, st)
	case !freeze && st != StatusPaused:
		return fmt.Errorf("container %q: cannot resume it: it is %s, not %s", id, st, StatusPaused)
	}
	g, err := r.group()
	if err != nil {
		return err
	}
	if freeze {
		return g.Freeze()
	}
	return g.Thaw()
}

// ContainerJail returns the running jail of container id, for the verbs
// that a jail and a container share (ps, update, events, exec).
func ContainerJail(id string) (*Running, error) {
	c, err := FindContainer(id)
	if err != nil {
		return nil, err
	}
	r := c.jail()
	if r == nil {
		return nil, fmt.Errorf("container %q: not running", id)
	}
	return r, nil
}

// Features is what this runtime implements, as runtime-spec's features
// document says it (runc features).
func Features() *features.Features {
	yes, no := true, false
	var caps []string
	for n := range capNumbers {
		caps = append(caps, "CAP_"+n)
	}
	slices.Sort(caps)
	var opts []string
	for o := range rootfs.MountOptionNames() {
		opts = append(opts, o)
	}
	slices.Sort(opts)
	return &features.Features{
		OCIVersionMin: "1.0.0",
		OCIVersionMax: specs.Version,
		Hooks:         []string{"prestart", "createRuntime", "poststart", "poststop"},
		MountOptions:  opts,
		Linux: &features.Linux{
			Namespaces:   []string{"cgroup", "ipc", "mount", "network", "pid", "user", "uts"},
			Capabilities: caps,
			Cgroup:       &features.Cgroup{V1: &yes, V2: &yes, Systemd: &no, SystemdUser: &no, Rdma: &no},
			Seccomp: &features.Seccomp{
				Enabled: &yes,
				Actions: []string{
					"SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
					"SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_TRACE", "SCMP_ACT_TRAP",
				},
				Operators: []string{
					"SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
					"SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE",
				},
				Archs: []string{"SCMP_ARCH_X86", "SCMP_ARCH_X86_64", "SCMP_ARCH_X32"},
			},
			Apparmor:        &features.Apparmor{Enabled: &no},
			Selinux:         &features.Selinux{Enabled: &no},
			IntelRdt:        &features.IntelRdt{Enabled: &no},
			MountExtensions: &features.MountExtensions{IDMap: &features.IDMap{Enabled: &yes}},
			NetDevices:      &features.NetDevices{Enabled: &no},
		},
		Annotations: map[string]string{"org.opencontainers.runc.checkpoint.enabled": "false"},
	}
}

// BundleSpec is the spec of a bundle whose root is its rootfs directory:
// the jail prison run --root rootfs would run args in, with the host's ids
// (FreeBSD's model: the bundle's files keep their owners).
func BundleSpec(args []string) (*specs.Spec, error) {
	c := DefaultConfig()
	c.Name, c.Hostname, c.Root, c.Args, c.UserNS = "bundle", "prison", "rootfs", args, "host"
	c.Terminal = true
	c.user = &User{Home: "/root"}
	s, err := c.Spec()
	if err != nil {
		return nil, err
	}
	s.Linux.CgroupsPath = ""
	return s, nil
}
