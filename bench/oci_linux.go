package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"prison/internal/mountinfo"
	"prison/internal/ociimage"
	"prison/internal/peerconf"
)

// The OCI sections' Setups: ocicycle and the state roots; a containerd;
// a podman. Each teardown removes what its Setup made and checks that
// nothing of the containers is left (processes, mounts, state, cgroups),
// reporting what was.

// managerTimeout bounds a container manager's commands outside the
// measurements (its start, an image's import, its stop).
const managerTimeout = 60 * time.Second

// ociSetup builds ocicycle from the repository and makes the OCI
// section's state roots and pid file directory. Its teardown deletes
// (--force) any container left in a state root, and says so.
func (e *Env) ociSetup(ctx context.Context) (func() error, error) {
	if e.Repo == "" || e.OCIDir == "" {
		return nil, errors.New("bug: no repository or OCI directory")
	}
	dirs := []string{filepath.Join(e.OCIDir, "pids")}
	for _, rt := range ociRuntimes {
		dirs = append(dirs, e.ociStateRoot(SecOCI, rt))
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, managerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, goTool(), "build", "-o", e.ociCycleBin(), "./bench/cmd/ocicycle")
	cmd.Dir = e.Repo
	if out, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build ocicycle: %w%s", err, tail(string(out)))
	}
	return func() error {
		left, errs := e.removeOCILeftovers(SecOCI)
		errs = append(left, errs...)
		pids, _ := os.ReadDir(filepath.Join(e.OCIDir, "pids"))
		for _, f := range pids {
			errs = append(errs, fmt.Errorf("leftover pid file %s", f.Name()))
		}
		return errors.Join(errs...)
	}, nil
}

// removeOCILeftovers deletes, with --force, every container that a
// runtime has in its state root of section sec, and returns an error for
// each (none may be left) and for each delete that failed. crun runs
// where the driver starts it.
func (e *Env) removeOCILeftovers(sec string) (left, errs []error) {
	for _, rt := range ociRuntimes {
		bin, na := e.ociRuntime(rt)
		root := e.ociStateRoot(sec, rt)
		if na != "" {
			continue
		}
		if _, err := os.Stat(root); err != nil {
			continue
		}
		start := (*exec.Cmd).Start
		if rt == nameOCICrun && e.CrunStart != nil {
			start = e.CrunStart
		}
		for _, id := range ociStateIDs(root) {
			left = append(left, fmt.Errorf("%s: leftover container %s", rt, id))
			// A containerd namespace's directory is a state root of
			// its own.
			r, name := root, id
			if ns, base, ok := strings.Cut(id, "/"); ok {
				r, name = filepath.Join(root, ns), base
			}
			if _, err := runOutput(context.Background(), start, bin, "--root", r, "delete", "--force", name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return left, errs
}

// ociStateIDs returns the containers in a runtime's state root, and in
// its subdirectories named as a containerd namespace would be: the
// entries that are directories, ID or NAMESPACE/ID.
func ociStateIDs(root string) []string {
	var ids []string
	ents, _ := os.ReadDir(root)
	for _, d := range ents {
		if !d.IsDir() {
			continue
		}
		sub, _ := os.ReadDir(filepath.Join(root, d.Name()))
		nested := false
		for _, s := range sub {
			if s.IsDir() {
				nested = true
				ids = append(ids, d.Name()+"/"+s.Name())
			}
		}
		if !nested && len(sub) > 0 {
			ids = append(ids, d.Name())
		}
	}
	return ids
}

// newManagerNS makes the private mount namespace a container manager and
// what it starts run in (see MountNSRunner): /run an empty tmpfs, so that
// whatever they keep there (containerd's shim sockets, the runtimes'
// default state directories) stays off the host's and goes with the
// namespace; /sys/fs/cgroup/unified covered by an empty tmpfs on a hybrid
// host, which crun refuses otherwise; and, when varlib is set, /var/lib an
// overlay whose upper layer (and work directory) is in varlib.
func newManagerNS(varlib string) (*MountNSRunner, error) {
	var upper, work string
	if varlib != "" {
		upper, work = filepath.Join(varlib, "upper"), filepath.Join(varlib, "work")
		for _, d := range []string{upper, work} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				return nil, err
			}
		}
	}
	return NewMountNSRunner(unix.MS_PRIVATE, func() error {
		if err := unix.Mount("prison-bench", "/run", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, "mode=0755"); err != nil {
			return fmt.Errorf("mount a tmpfs on /run: %w", err)
		}
		if HybridCgroupV2Controllers() {
			if err := unix.Mount("prison-bench", "/sys/fs/cgroup/unified", "tmpfs", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, "mode=0755"); err != nil {
				return fmt.Errorf("cover /sys/fs/cgroup/unified: %w", err)
			}
		}
		if varlib != "" {
			opts := "lowerdir=/var/lib,upperdir=" + upper + ",workdir=" + work
			if err := unix.Mount("prison-bench", "/var/lib", "overlay", 0, opts); err != nil {
				return fmt.Errorf("mount an overlay on /var/lib: %w", err)
			}
		}
		return nil
	})
}

// nsProcesses lists the processes whose mount namespace is ns (a
// /proc/PID/ns/mnt link's text), with their command names.
func nsProcesses(ns string) []proc {
	var out []proc
	ents, _ := os.ReadDir("/proc")
	for _, d := range ents {
		pid, err := strconv.Atoi(d.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		if l, err := os.Readlink("/proc/" + d.Name() + "/ns/mnt"); err != nil || l != ns {
			continue
		}
		if p, ok := readProc(pid); ok && !p.dead() {
			out = append(out, p)
		}
	}
	return out
}

// drainNS waits up to timeout for every process of the namespace ns to
// end, then kills those left (SIGKILL) and returns an error naming them.
func drainNS(ns string, timeout time.Duration) error {
	var left []proc
	for deadline := time.Now().Add(timeout); ; time.Sleep(20 * time.Millisecond) {
		if left = nsProcesses(ns); len(left) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			break
		}
	}
	var names []string
	for _, p := range left {
		names = append(names, fmt.Sprintf("%d (%s)", p.pid, p.comm))
		_ = unix.Kill(p.pid, unix.SIGKILL)
	}
	return fmt.Errorf("processes left in the namespace after %v: %s", timeout, strings.Join(names, ", "))
}

// mountsIn returns the mount points at or under dir in the mount table
// mi (a /proc/…/mountinfo), but those of keep.
func mountsIn(mi []byte, dir string, keep ...string) []string {
	return slices.DeleteFunc(mountinfo.Under(mi, dir), func(mp string) bool { return slices.Contains(keep, mp) })
}

// cgroupLeftovers returns, for the cgroup named parent (a path from each
// hierarchy's root), the child groups on any hierarchy but those named
// in keep, and removes parent on every hierarchy, children first. What
// cannot be removed is an error.
func cgroupLeftovers(parent string, keep ...string) []error {
	var errs []error
	tops, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", parent))
	if st, err := os.Stat(filepath.Join("/sys/fs/cgroup", parent)); err == nil && st.IsDir() {
		tops = append(tops, filepath.Join("/sys/fs/cgroup", parent))
	}
	for _, top := range tops {
		var dirs []string
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		for _, d := range dirs[1:] {
			if rel, _ := filepath.Rel(top, d); !slices.Contains(keep, rel) && filepath.Dir(rel) == "." {
				errs = append(errs, fmt.Errorf("leftover cgroup %s", d))
			}
		}
		for _, d := range slices.Backward(dirs) {
			gone := func() bool { return unix.Rmdir(d) == nil || errors.Is(unix.Access(d, unix.F_OK), unix.ENOENT) }
			// A group empties as its last process finishes exiting.
			for deadline := time.Now().Add(5 * time.Second); !gone() && time.Now().Before(deadline); {
				time.Sleep(20 * time.Millisecond)
			}
			if !gone() {
				errs = append(errs, fmt.Errorf("cannot remove cgroup %s", d))
			}
		}
	}
	return errs
}

// managerCmd is a container manager's command outside the measurements,
// started with start, with a timeout; it returns its stdout, or an error
// with its stderr.
func managerCmd(ctx context.Context, start func(*exec.Cmd) error, env []string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), managerTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 5 * time.Second
	if start == nil {
		start = (*exec.Cmd).Start
	}
	err := start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w%s", filepath.Base(args[0]), verbOf(args), err, tail(stderr.String()))
	}
	return stdout.String(), nil
}

// verbOf returns the verb of a manager's command line, for messages: the
// first argument after the global options (each taken to have a value
// unless written --name=value), and the next one unless an option (ctr's
// verbs are two words).
func verbOf(args []string) string {
	for i := 1; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			if !strings.Contains(args[i], "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				i++
			}
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			return args[i] + " " + args[i+1]
		}
		return args[i]
	}
	return ""
}

// ctrSetup starts the containerd section's containerd, in a namespace of
// its own (newManagerNS), and imports the image into the suite's
// namespace. Its teardown removes what ctr left (an error), stops
// containerd with SIGTERM, waits for its shims, and checks that no
// mount, state or cgroup of a container is left. On failure nothing of
// it is left running.
func (e *Env) ctrSetup(ctx context.Context) (teardown func() error, err error) {
	dir, sock, ns := e.ctrDir(), e.ctrSocket(), e.ctrNamespace()
	if len(sock) > maxSocketPath {
		return nil, fmt.Errorf("socket path %s is longer than %d bytes", sock, maxSocketPath)
	}
	for _, d := range []string{dir, filepath.Join(dir, "fifo")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	for _, rt := range ociRuntimes {
		if err := os.MkdirAll(e.ociStateRoot(SecCtr, rt), 0o700); err != nil {
			return nil, err
		}
	}
	cfg := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(cfg, []byte(peerconf.Containerd(dir, sock, "")), 0o600); err != nil {
		return nil, err
	}
	archive, _, err := ociimage.Write(e.Root, dir, ImageRef, []string{"/bin/true"})
	if err != nil {
		return nil, err
	}
	r, err := newManagerNS("")
	if err != nil {
		return nil, err
	}
	nsID, err := r.MountNS()
	if err != nil {
		r.Close()
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "containerd.log"), os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		r.Close()
		return nil, err
	}
	cmd := exec.Command(e.Tools["containerd"], "--config", cfg, "--log-level", "warn")
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that a ^C at the terminal reaches it only
	// through the teardown; SIGTERM when the runner's thread ends first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	err = r.Start(cmd)
	logf.Close()
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	ctr := func(args ...string) (string, error) {
		return managerCmd(ctx, nil, nil, append([]string{e.Tools["ctr"], "--address", sock, "--namespace", ns}, args...)...)
	}
	teardown = func() error {
		var errs []error
		select {
		case <-exited:
			errs = append(errs, fmt.Errorf("containerd exited during the run: %v%s", cmd.ProcessState, logTail(dir)))
		default:
			for _, kind := range []string{"tasks", "containers"} {
				out, err := ctr(kind, "ls", "-q")
				if err != nil {
					errs = append(errs, err)
					continue
				}
				for _, id := range strings.Fields(out) {
					errs = append(errs, fmt.Errorf("leftover containerd %s %s", strings.TrimSuffix(kind, "s"), id))
					if kind == "tasks" {
						_, _ = ctr("tasks", "kill", "--signal", "SIGKILL", id)
						_, err = ctr("tasks", "delete", "--force", id)
					} else {
						_, err = ctr("containers", "delete", id)
					}
					if err != nil {
						errs = append(errs, err)
					}
				}
			}
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(managerTimeout):
				errs = append(errs, errors.New("containerd did not exit on SIGTERM: killed"))
				_ = cmd.Process.Kill()
				<-exited
			}
		}
		// The shims end a moment after their last container's delete.
		if err := drainNS(nsID, 20*time.Second); err != nil {
			errs = append(errs, err)
		}
		if mi, err := os.ReadFile(r.Proc("mountinfo")); err == nil {
			for _, m := range mountsIn(mi, dir) {
				errs = append(errs, fmt.Errorf("leftover mount %s", m))
			}
		}
		r.Close()
		left, rerrs := e.removeOCILeftovers(SecCtr)
		errs = append(append(errs, left...), rerrs...)
		if left, _ := os.ReadDir(filepath.Join(dir, "fifo")); len(left) > 0 {
			errs = append(errs, fmt.Errorf("leftover FIFO directories %d", len(left)))
		}
		errs = append(errs, cgroupLeftovers(ns)...)
		return errors.Join(errs...)
	}
	fail := func(err error) (func() error, error) {
		return nil, errors.Join(err, teardown())
	}
	// Serving once ctr reaches it.
	for deadline := time.Now().Add(managerTimeout); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return fail(fmt.Errorf("containerd exited before it served: %v%s", cmd.ProcessState, logTail(dir)))
		default:
		}
		if _, err := managerCmd(ctx, nil, nil, e.Tools["ctr"], "--address", sock, "version"); err == nil {
			break
		} else if time.Now().After(deadline) {
			return fail(fmt.Errorf("containerd does not serve on %s: %w%s", sock, err, logTail(dir)))
		}
	}
	if _, err := ctr("images", "import", archive); err != nil {
		return fail(err)
	}
	return teardown, nil
}

// logTail returns the end of the containerd log in dir, formatted by
// tail.
func logTail(dir string) string {
	b, _ := os.ReadFile(filepath.Join(dir, "containerd.log"))
	return tail(string(b))
}

// podman returns the podman section's podman, made by its setup.
func (e *Env) podman() *podmanFixture { return &podmanFixture{e: e} }

// podmanDefaults are where podman keeps its state when not told
// otherwise: the suite's podman must not make any of them on the host.
var podmanDefaults = []string{
	"/var/lib/containers", "/run/containers", "/run/libpod", "/etc/containers/networks", "/dev/shm/libpod_lock",
}

// setup makes the podman: its directory and configuration, its namespace
// (newManagerNS, with /var/lib's overlay), and the image, loaded. The
// teardown removes what podman left (an error), waits for conmon and the
// cleanup processes, checks that no container's state, mount or cgroup is
// left and that podman made none of its default directories on the host,
// and ends the namespace.
func (p *podmanFixture) setup(ctx context.Context) (teardown func() error, err error) {
	e := p.e
	dir := e.podmanDir()
	for _, d := range []string{"net", "home/.config", "scratch", "imagetmp", "tmp"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	var names []string
	for _, rt := range ociRuntimes {
		if bin, na := e.ociRuntime(rt); na == "" {
			names = append(names, filepath.Base(bin))
		}
	}
	for name, data := range (peerconf.Podman{Dir: dir, Runtimes: names}).Files() {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			return nil, err
		}
	}
	var absent []string
	for _, d := range podmanDefaults {
		if _, err := os.Lstat(d); errors.Is(err, fs.ErrNotExist) {
			absent = append(absent, d)
		}
	}
	_, archive, err := ociimage.Write(e.Root, dir, ImageRef, []string{"/bin/true"})
	if err != nil {
		return nil, err
	}
	r, err := newManagerNS(filepath.Join(dir, "varlib"))
	if err != nil {
		return nil, err
	}
	nsID, err := r.MountNS()
	if err != nil {
		r.Close()
		return nil, err
	}
	p.startFn = r.Start
	podman := func(args ...string) (string, error) {
		return managerCmd(ctx, r.Start, e.podmanEnv(), append([]string{e.Tools["podman"]}, args...)...)
	}
	teardown = func() error {
		var errs []error
		out, err := podman("ps", "--all", "--quiet")
		if err != nil {
			errs = append(errs, err)
		}
		for _, id := range strings.Fields(out) {
			errs = append(errs, fmt.Errorf("leftover podman container %s", id))
			if _, err := podman("rm", "--force", "--time", "0", id); err != nil {
				errs = append(errs, err)
			}
		}
		// conmon, and the `podman container cleanup` it runs at a
		// container's end, end soon after.
		if err := drainNS(nsID, 20*time.Second); err != nil {
			errs = append(errs, err)
		}
		// The runtimes' default state directories, in the namespace's /run.
		for _, d := range []string{"crun", "runc", "prison"} {
			for _, id := range ociStateIDs(r.Proc("root/run/" + d)) {
				errs = append(errs, fmt.Errorf("leftover state of container %s in /run/%s", id, d))
			}
		}
		// The storage's own mount (containers/storage makes its overlay
		// directory a mount of its own) may stay: it goes with the
		// namespace. A container's may not.
		if mi, err := os.ReadFile(r.Proc("mountinfo")); err == nil {
			for _, m := range mountsIn(mi, dir, filepath.Join(dir, "graph", "overlay")) {
				errs = append(errs, fmt.Errorf("leftover mount %s", m))
			}
		}
		p.startFn = nil
		r.Close()
		for _, d := range absent {
			if _, err := os.Lstat(d); err == nil {
				errs = append(errs, fmt.Errorf("podman made %s on the host", d))
			}
		}
		// podman keeps conmon's group below the parent; a container's
		// own is the runtime's to remove.
		errs = append(errs, cgroupLeftovers(e.podmanCgroupParent(), "conmon")...)
		return errors.Join(errs...)
	}
	out, err := podman("load", "--input", archive)
	if err != nil {
		return nil, errors.Join(err, teardown())
	}
	if !strings.Contains(out, ImageRef) {
		return nil, errors.Join(fmt.Errorf("podman load: no %s in %q", ImageRef, out), teardown())
	}
	return teardown, nil
}
