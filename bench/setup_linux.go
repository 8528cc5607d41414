package bench

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/mountinfo"
)

// Packages maps each tool the benchmarks run to the Debian package that
// ships it. busybox is not run directly: scripts/busybox-root.sh copies it.
var Packages = map[string]string{
	"bwrap":     "bubblewrap",
	"crun":      "crun",
	"runc":      "runc",
	"hyperfine": "hyperfine",
	"busybox":   "busybox-static",
	"unshare":   "util-linux",
	"chroot":    "coreutils",
	"ip":        "iproute2",
	"nsenter":   "util-linux",
}

// EnsureTools finds the tools of Packages and installs the packages of the
// missing ones with apt-get (as root, once; with one `apt-get update` retry
// when the package lists are stale). It returns the absolute path of every
// tool found and, for each one still missing, why. apt-get's output goes to
// log.
func EnsureTools(log io.Writer) (paths, na map[string]string) {
	find := func() []string {
		paths = map[string]string{}
		var missing []string
		for tool := range Packages {
			if p, err := exec.LookPath(tool); err == nil {
				paths[tool] = p
			} else {
				missing = append(missing, tool)
			}
		}
		slices.Sort(missing)
		return missing
	}
	missing := find()
	if len(missing) == 0 {
		return paths, findClients(paths, nil)
	}
	var pkgs []string
	for _, t := range missing {
		pkgs = append(pkgs, Packages[t])
	}
	slices.Sort(pkgs)
	pkgs = slices.Compact(pkgs)
	apt := func(args ...string) error {
		fmt.Fprintf(log, "benchjail: apt-get %s\n", strings.Join(args, " "))
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		cmd.Stdout, cmd.Stderr = log, log
		return cmd.Run()
	}
	var err error
	if os.Geteuid() != 0 {
		err = errors.New("not root")
	} else if err = apt(append([]string{"install", "-y"}, pkgs...)...); err != nil {
		if err = apt("update"); err == nil {
			err = apt(append([]string{"install", "-y"}, pkgs...)...)
		}
	}
	na = map[string]string{}
	for _, t := range find() {
		na[t] = fmt.Sprintf("%s not found (apt-get install -y %s: %v)", t, Packages[t], err)
		if err == nil {
			na[t] = fmt.Sprintf("%s not found after apt-get install -y %s", t, Packages[t])
		}
	}
	return paths, findClients(paths, na)
}

// findClients adds the tools of ClientTools to paths, or their reasons to
// na: they are looked up, never installed.
func findClients(paths, na map[string]string) map[string]string {
	if na == nil {
		na = map[string]string{}
	}
	for tool, pkg := range ClientTools {
		if p, err := exec.LookPath(tool); err == nil {
			paths[tool] = p
			continue
		}
		na[tool] = fmt.Sprintf("%s not found (make deps installs it: apt-get install --no-install-recommends %s)", tool, pkg)
	}
	return na
}

// BuildRoot makes dir a busybox root with scripts/busybox-root.sh (from the
// repository at repo) and puts the loop program, built static, at /loop.
func BuildRoot(repo, dir string) error {
	cmd := exec.Command("sh", filepath.Join(repo, "scripts", "busybox-root.sh"), dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("busybox-root.sh %s: %w%s", dir, err, tail(string(out)))
	}
	cmd = exec.Command(goTool(), "build", "-trimpath", "-o", filepath.Join(dir, "loop"), "./bench/loop")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("build loop program: %w%s", err, tail(string(out)))
	}
	return nil
}

// BuildPrison builds ./cmd/prison of repo into out.
func BuildPrison(repo, out string) error {
	cmd := exec.Command(goTool(), "build", "-o", out, "./cmd/prison")
	cmd.Dir = repo
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build -o %s ./cmd/prison: %w%s", out, err, tail(string(b)))
	}
	return nil
}

// goTool returns the go command: the one on PATH (the Makefile puts its
// $(GO) there), else the one where the README installs Go.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return "/usr/local/go/bin/go"
}

// WriteBundle writes an OCI bundle in dir whose config.json runs args
// (/bin/true, or /bin/sleep infinity) on root. It starts from `RUNTIME
// spec` (runtime is crun or runc: the default spec both document) and
// changes only what the comparison needs: no terminal, the command, the
// busybox root, read-only; then edits, in order (WithLimits for the
// limits section's bundle).
func WriteBundle(runtime, dir, root string, args []string, edits ...func(*specs.Spec)) error {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return err
	}
	cfg := filepath.Join(dir, "config.json")
	if err := os.Remove(cfg); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	cmd := exec.Command(runtime, "spec")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("%s spec: %w%s", runtime, err, tail(string(out)))
	}
	b, err := os.ReadFile(cfg)
	if err != nil {
		return err
	}
	var spec specs.Spec
	if err := json.Unmarshal(b, &spec); err != nil {
		return fmt.Errorf("parse %s: %w", cfg, err)
	}
	if spec.Process == nil {
		return fmt.Errorf("%s spec: no process in %s", runtime, cfg)
	}
	spec.Process.Terminal = false
	spec.Process.Args = args
	spec.Root = &specs.Root{Path: root, Readonly: true}
	for _, edit := range edits {
		edit(&spec)
	}
	b, err = json.MarshalIndent(&spec, "", "\t")
	if err != nil {
		return err
	}
	return os.WriteFile(cfg, append(b, '\n'), 0o600)
}

// HybridCgroupV2Controllers reports whether this machine mounts cgroup v1
// controllers and a cgroup v2 hierarchy at /sys/fs/cgroup/unified that has
// controllers of its own. crun (1.8) refuses to run there ("cgroups in
// hybrid mode not supported, drop all controllers from cgroupv2"), whatever
// --cgroup-manager says.
func HybridCgroupV2Controllers() bool {
	var st unix.Statfs_t
	if err := unix.Statfs("/sys/fs/cgroup/unified", &st); err != nil || st.Type != unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	b, err := os.ReadFile("/sys/fs/cgroup/unified/cgroup.controllers")
	return err == nil && len(bytes.TrimSpace(b)) > 0
}

// Cleanup removes what crun, runc and the jails may have left behind in an
// interrupted or failed run: persistent prison jails named with
// env.IDPrefix, containers still listed in the state directories under
// env.State, cgroup directories named with env.IDPrefix, and mounts under
// dir. It returns every problem it met but never stops early.
//
// Preconditions: env.CrunStart, when set, still works.
func Cleanup(env *Env, dir string) error {
	var errs []error
	if env.jails.Load() {
		errs = removeJails(env.Prison, env.IDPrefix)
	}
	for _, rt := range []string{"crun", "runc"} {
		bin, state := env.Tools[rt], filepath.Join(env.State, rt)
		if bin == "" {
			continue
		}
		if _, err := os.Stat(state); err != nil {
			continue
		}
		// crun must see the cgroups it made, so it runs where it ran.
		start := (*exec.Cmd).Start
		if rt == "crun" && env.CrunStart != nil {
			start = env.CrunStart
		}
		run := func(args ...string) (string, error) {
			var out bytes.Buffer
			cmd := exec.Command(bin, append([]string{"--root", state}, args...)...)
			cmd.Stdout, cmd.Stderr = &out, &out
			err := start(cmd)
			if err == nil {
				err = cmd.Wait()
			}
			return out.String(), err
		}
		out, err := run("list", "-q")
		if err != nil {
			errs = append(errs, fmt.Errorf("%s list: %w%s", rt, err, tail(out)))
			continue
		}
		for _, id := range strings.Fields(out) {
			if out, err := run("delete", "-f", id); err != nil {
				errs = append(errs, fmt.Errorf("%s delete %s: %w%s", rt, id, err, tail(out)))
			}
		}
	}
	// The OCI sections' teardowns do the same; this is for a run that
	// ended before them.
	if env.OCIDir != "" {
		for _, sec := range []string{SecOCI, SecCtr} {
			_, rerrs := env.removeOCILeftovers(sec)
			errs = append(errs, rerrs...)
		}
	}
	errs = append(errs, removeCgroups(env.IDPrefix)...)
	errs = append(errs, unmountUnder(dir)...)
	return errors.Join(errs...)
}

// removeJails deletes, without a grace period, the jails of prison whose
// names start with prefix; none without a binary or a prefix (an empty one
// would take every jail of the host).
func removeJails(prison, prefix string) []error {
	if prison == "" || prefix == "" {
		return nil
	}
	out, err := exec.Command(prison, "list", "--json").Output()
	if err != nil {
		return []error{fmt.Errorf("prison list: %w", err)}
	}
	jails, err := parsePrisonList(out)
	if err != nil {
		return []error{err}
	}
	var names []string
	for name := range jails {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	if len(names) == 0 {
		return nil
	}
	slices.Sort(names)
	if out, err := exec.Command(prison, append([]string{"delete", "-t", "0"}, names...)...).CombinedOutput(); err != nil {
		return []error{fmt.Errorf("prison delete %s: %w%s", strings.Join(names, " "), err, tail(string(out)))}
	}
	return nil
}

// removeCgroups removes the cgroup directories whose name starts with
// prefix, at any controller and up to a few levels deep (runc nests them
// under the caller's own cgroup on some controllers).
func removeCgroups(prefix string) []error {
	const maxDepth = 4
	var found []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), prefix) {
			found = append(found, p)
			return fs.SkipDir
		}
		if strings.Count(strings.TrimPrefix(p, "/sys/fs/cgroup"), "/") >= maxDepth {
			return fs.SkipDir
		}
		return nil
	})
	var errs []error
	for _, p := range found {
		// Children first: rmdir works only on an empty cgroup.
		var dirs []string
		_ = filepath.WalkDir(p, func(q string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, q)
			}
			return nil
		})
		for _, q := range slices.Backward(dirs) {
			if err := unix.Rmdir(q); err != nil && !errors.Is(err, unix.ENOENT) {
				errs = append(errs, &os.PathError{Op: "rmdir", Path: q, Err: err})
			}
		}
	}
	return errs
}

// unmountUnder detaches every mount at or below dir, deepest first.
func unmountUnder(dir string) []error {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return []error{err}
	}
	targets := mountinfo.Under(b, dir)
	slices.SortFunc(targets, func(a, b string) int { return len(b) - len(a) })
	var errs []error
	for _, t := range targets {
		if err := unix.Unmount(t, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
			errs = append(errs, &os.PathError{Op: "umount", Path: t, Err: err})
		}
	}
	return errs
}
