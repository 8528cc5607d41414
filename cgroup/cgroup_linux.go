// Package cgroup holds a jail's resource limits: one control group per jail,
// on cgroup v2 where the host is unified and on the v1 hierarchies where it
// is not (a hybrid host keeps its controllers there). The file protocol is
// containerd's (github.com/containerd/cgroups/v3); this package chooses the
// hierarchy, names the group, reads the figures prison shows, and turns the
// library's errors into ones that name the limit.
package cgroup

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/containerd/cgroups/v3"
	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// Mountpoint is where the host mounts its cgroup hierarchies.
const Mountpoint = "/sys/fs/cgroup"

// Group is one jail's control group.
type Group struct {
	path string // below each hierarchy's root, e.g. /prison/NAME
	v2   string // the cgroup2 mountpoint; "" on the v1 hierarchies
	v1c  cgroup1.Cgroup
	v2m  *cgroup2.Manager
	// track is the group's twin on a hybrid host's v2 tree, which holds
	// no controller but is where systemd tracks processes: a jail must
	// not be stopped with the login session that created it. Only where
	// systemd runs: joining it costs an RCU grace period (AddRest).
	track *cgroup2.Manager
	// unit is the group's systemd scope; pending its limits until the
	// scope is made with the jail's first process.
	unit    string
	pending *specs.LinuxResources
}

// hybridTree is where a hybrid host mounts its v2 tree.
const hybridTree = Mountpoint + "/unified"

// systemdBooted tells whether systemd is the host's init (sd_booted(3)).
// A variable for the tests of a host where it is not.
var systemdBooted = func() bool {
	fi, err := os.Lstat("/run/systemd/system")
	return err == nil && fi.IsDir()
}

// isCgroup2 tells whether dir is a cgroup v2 mount.
func isCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// Where names a group: its path below the hierarchies' root and, for
// cgroup v2, the mountpoint. It is what a jail's record keeps, so that any
// prison call finds the group again.
type Where struct {
	Path string `json:"path"`
	V2   string `json:"v2,omitempty"`
	// Unit is the transient scope systemd keeps the group as, on a
	// unified host that systemd runs; Path is then systemd's.
	Unit string `json:"unit,omitempty"`
}

// Locate says where a group at path lives on this host: on cgroup v2 when
// v2 is a mountpoint (a test uses the v2 tree beside a hybrid host's v1
// hierarchies), when the host is unified, else on the v1 hierarchies.
func Locate(path, v2 string) (Where, error) {
	if err := CheckPath(path); err != nil {
		return Where{}, err
	}
	if v2 != "" || !unifiedHost() {
		return Where{Path: path, V2: v2}, nil
	}
	if !systemdBooted() {
		return Where{Path: path, V2: Mountpoint}, nil
	}
	// systemd owns the tree of a unified host it runs, and delegates
	// nothing by default: a group of the jail's own is a transient scope,
	// as runc's and containerd's systemd drivers make theirs. A path that
	// names a scope in its slices already (an OCI spec's
	// "slice:prefix:name", a Kubernetes pod's slice) keeps them: the
	// pod's limits are its slice's.
	if systemdPath(path) {
		return Where{Path: path, V2: Mountpoint, Unit: filepath.Base(path)}, nil
	}
	unit := strings.ReplaceAll(strings.Trim(path, "/"), "/", "-") + ".scope"
	return Where{Path: "/" + systemdSlice + "/" + unit, V2: Mountpoint, Unit: unit}, nil
}

// systemdPath tells whether path is a scope below slices, as systemd
// lays them out: /a.slice/a-b.slice/NAME.scope.
func systemdPath(path string) bool {
	elems := strings.Split(strings.Trim(path, "/"), "/")
	last := len(elems) - 1
	if last < 1 || !strings.HasSuffix(elems[last], ".scope") {
		return false
	}
	for i, e := range elems[:last] {
		name := strings.TrimSuffix(e, ".slice")
		if name == e || i > 0 && !strings.HasPrefix(name, strings.TrimSuffix(elems[i-1], ".slice")+"-") {
			return false
		}
	}
	return true
}

// slice is the systemd slice the group's scope is in.
func (g *Group) slice() string { return filepath.Base(filepath.Dir(g.path)) }

// systemdSlice is where the jails' scopes are: containerd's systemd
// driver puts every scope there.
const systemdSlice = "system.slice"

// unifiedHost tells whether the host is cgroup v2 only.
var unifiedHost = func() bool { return cgroups.Mode() == cgroups.Unified }

// CheckPath checks a group's path: absolute, clean, below the root.
func CheckPath(p string) error {
	if !strings.HasPrefix(p, "/") || filepath.Clean(p) != p || p == "/" {
		return fmt.Errorf("cgroup path %q: want an absolute, clean path below the root", p)
	}
	return nil
}

// New makes the group with the limits r (nil: none) and returns it
// empty: the caller moves the jail's first process in with Add before the
// process runs anything of the jail's. A group left at w by a jail that
// is gone is taken over.
func New(w Where, r *specs.LinuxResources) (*Group, error) {
	if err := CheckPath(w.Path); err != nil {
		return nil, err
	}
	if r == nil {
		r = &specs.LinuxResources{}
	}
	g := &Group{path: w.Path, v2: w.V2, unit: w.Unit}
	r = g.adjust(r)
	if err := g.supports(r); err != nil {
		return nil, err
	}
	// A group that holds processes is someone else's (a spec's
	// cgroupsPath may name any): its limits would become the jail's, and
	// the jail's end would kill its processes (Kill), as runc refuses too.
	if n := len(w.Procs()); n > 0 && w.Unit == "" {
		return nil, fmt.Errorf("cgroup %s: holds %d processes already: a jail's group must be its own", w.Path, n)
	}
	var err error
	switch {
	case g.unit != "":
		// systemd makes the scope with its first process (AddRest).
		g.pending = r
		return g, nil
	case g.v2 != "":
		g.v2m, err = cgroup2.NewManager(g.v2, w.Path, v2Resources(r))
	default:
		// An OCI spec's device rules (containerd's and podman's deny
		// all but the standard devices) need the devices hierarchy,
		// and its pause the freezer: only such a group pays for them.
		g.v1c, err = cgroup1.New(cgroup1.StaticPath(w.Path), r, cgroup1.WithHierarchy(v1For(len(r.Devices) > 0, usesCpuset(r))))
		if err == nil && isCgroup2(hybridTree) && systemdBooted() {
			if g.track, err = cgroup2.NewManager(hybridTree, w.Path, &cgroup2.Resources{}); err != nil {
				_ = g.v1c.Delete()
			}
		}
	}
	if err != nil {
		forgetHierarchies()
		return nil, fmt.Errorf("cgroup %s: %w", w.Path, err)
	}
	return g, nil
}

// v1Used are the v1 hierarchies a jail's group is made in: those whose
// limits and figures prison uses, and, where systemd runs, its own, which
// tracks which unit a process belongs to (a jail must not die with the
// login session that created it). Each more costs a mkdir, a write when a
// process joins and an rmdir, on every jail's path.
var v1Used = []cgroup1.Name{
	cgroup1.Pids, cgroup1.Memory, cgroup1.Cpu, cgroup1.Cpuacct, cgroup1.Blkio, cgroup1.SystemdDbus,
}

// v1Hierarchies are the v1Used hierarchies this host mounts. Reading them
// parses the mount table: a daemon reads it once, and again only after a
// group failed to be made (the host's mounts changed).
func v1Hierarchies() ([]cgroup1.Subsystem, error) {
	used, _, err := v1Mounted()
	return used, err
}

// v1Mounted returns v1Hierarchies, and every v1 hierarchy this host
// mounts, read as v1Hierarchies says.
func v1Mounted() (used, all []cgroup1.Subsystem, err error) {
	hierarchies.Lock()
	defer hierarchies.Unlock()
	if hierarchies.used != nil {
		return hierarchies.used, hierarchies.all, nil
	}
	all, err = cgroup1.Default()
	if err != nil {
		return nil, nil, err
	}
	for _, s := range all {
		if slices.Contains(v1Used, s.Name()) && (s.Name() != cgroup1.SystemdDbus || systemdBooted()) {
			used = append(used, s)
		}
	}
	hierarchies.used, hierarchies.all = used, all
	return used, all, nil
}

// v1For are v1Hierarchies, with the devices and freezer hierarchies for
// a group with device rules (an OCI spec's), and the cpuset one for a
// group with a CPU set, where the host mounts them.
func v1For(devices, cpuset bool) func() ([]cgroup1.Subsystem, error) {
	if !devices && !cpuset {
		return v1Hierarchies
	}
	return func() ([]cgroup1.Subsystem, error) {
		used, all, err := v1Mounted()
		if err != nil {
			return nil, err
		}
		for _, s := range all {
			switch n := s.Name(); {
			case devices && (n == cgroup1.Devices || n == cgroup1.Freezer), cpuset && n == cgroup1.Cpuset:
				used = append(slices.Clip(used), s)
			}
		}
		return used, nil
	}
}

// usesCpuset tells whether r sets a CPU or memory node set.
func usesCpuset(r *specs.LinuxResources) bool {
	return r != nil && r.CPU != nil && (r.CPU.Cpus != "" || r.CPU.Mems != "")
}

var hierarchies struct {
	sync.Mutex
	used, all []cgroup1.Subsystem
}

// forgetHierarchies has v1Hierarchies read the mount table again.
func forgetHierarchies() {
	hierarchies.Lock()
	hierarchies.used, hierarchies.all = nil, nil
	hierarchies.Unlock()
}

// Exists tells whether a group at w is there: one that a jail which is
// gone left, or another's.
func Exists(w Where) bool {
	_, err := os.Stat(w.dirs()[0])
	return err == nil
}

// Load finds the group at w, which New made.
func Load(w Where) (*Group, error) {
	if err := CheckPath(w.Path); err != nil {
		return nil, err
	}
	g := &Group{path: w.Path, v2: w.V2, unit: w.Unit}
	var err error
	if g.v2 != "" {
		if _, err = os.Stat(filepath.Join(g.v2, w.Path)); err == nil {
			g.v2m, err = cgroup2.Load(w.Path, cgroup2.WithMountpoint(g.v2))
		}
	} else {
		// A command joining must not escape the group's device rules
		// or CPU set: its hierarchies are those the group is in.
		in := func(n cgroup1.Name) bool {
			_, err := os.Stat(filepath.Join(Mountpoint, string(n), w.Path))
			return err == nil
		}
		g.v1c, err = cgroup1.Load(cgroup1.StaticPath(w.Path), cgroup1.WithHierarchy(v1For(in(cgroup1.Devices), in(cgroup1.Cpuset))))
		if _, serr := os.Stat(filepath.Join(hybridTree, w.Path)); err == nil && serr == nil {
			g.track, err = cgroup2.Load(w.Path, cgroup2.WithMountpoint(hybridTree))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", w.Path, err)
	}
	return g, nil
}

// Where says where g is.
func (g *Group) Where() Where { return Where{Path: g.path, V2: g.v2, Unit: g.unit} }

// TaskFiles opens the tasks file of each v1 hierarchy of the group: a
// single-threaded process that writes "0" to each moves itself into the
// group. That costs the kernel no global lock, where a pid written into
// cgroup.procs (Add) waits for an RCU grace period, several milliseconds
// on a busy machine. None for a group on cgroup v2, whose only cheap way
// in is to be cloned there (CLONE_INTO_CGROUP). The caller closes them.
func (g *Group) TaskFiles() ([]*os.File, error) {
	if g.v1c == nil {
		return nil, nil
	}
	var files []*os.File
	for _, s := range g.v1c.Subsystems() {
		p, ok := s.(interface{ Path(string) string })
		if !ok {
			continue
		}
		f, err := os.OpenFile(filepath.Join(p.Path(g.path), "tasks"), os.O_WRONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			for _, f := range files {
				f.Close()
			}
			return nil, fmt.Errorf("cgroup %s: %w", g.path, err)
		}
		files = append(files, f)
	}
	return files, nil
}

// Dir opens the group's directory for a process to be cloned into
// (clone3's CLONE_INTO_CGROUP): on cgroup v2, the only way in that does
// not wait for an RCU grace period. None on v1, or for a systemd scope
// that systemd has yet to make. The caller closes it.
func (g *Group) Dir() (*os.File, error) {
	if g.v2m == nil {
		return nil, nil
	}
	f, err := os.OpenFile(filepath.Join(g.v2, g.path), os.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.path, err)
	}
	return f, nil
}

// AddRest moves process pid where TaskFiles does not take it: into a v2
// group, or the v1 group's twin on the v2 tree.
func (g *Group) AddRest(pid int) error {
	var err error
	switch {
	case g.unit != "" && g.v2m == nil:
		err = g.startScope(pid)
	case g.v2m != nil:
		err = g.v2m.AddProc(uint64(pid))
	case g.track != nil:
		err = g.track.AddProc(uint64(pid))
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: add process %d: %w", g.path, pid, err)
	}
	return nil
}

// NeedsRest tells whether AddRest has anything to do.
func (g *Group) NeedsRest() bool { return g.v2m != nil || g.track != nil || g.unit != "" }

// startScope has systemd make the group's scope with process pid in it,
// then sets the limits systemd has no property for.
func (g *Group) startScope(pid int) error {
	res := v2Resources(g.pending)
	m, err := cgroup2.NewSystemd(g.slice(), g.unit, pid, res)
	if err != nil {
		return fmt.Errorf("systemd scope %s: %w", g.unit, err)
	}
	g.v2m, g.pending = m, nil
	return m.Update(res)
}

// Update changes the group's limits to r, live.
func (g *Group) Update(r *specs.LinuxResources) error {
	r = g.adjust(r)
	if err := g.supports(r); err != nil {
		return err
	}
	if g.v2m == nil && g.v1c == nil {
		g.pending = r // the scope is made with them
		return nil
	}
	var err error
	if g.v2m != nil {
		err = g.v2m.Update(v2Resources(r))
	} else {
		err = g.swapFirst(r)
		if err == nil {
			err = g.v1c.Update(r)
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: %w", g.path, err)
	}
	return nil
}

// swapFirst raises v1's memory+swap limit on its own before an Update
// that raises the memory limit past it: the kernel keeps memsw at least
// as high as the memory limit at every write, and containerd writes the
// memory limit first.
func (g *Group) swapFirst(r *specs.LinuxResources) error {
	m := r.Memory
	if m == nil || m.Swap == nil || m.Limit == nil {
		return nil
	}
	var p interface{ Path(string) string }
	ok := false
	for _, s := range g.v1c.Subsystems() {
		if s.Name() == cgroup1.Memory {
			p, ok = s.(interface{ Path(string) string })
		}
	}
	if !ok {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(p.Path(g.path), "memory.limit_in_bytes"))
	if err != nil {
		return err
	}
	cur, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil || *m.Swap <= cur {
		return err
	}
	return g.v1c.Update(&specs.LinuxResources{Memory: &specs.LinuxMemory{Swap: m.Swap}})
}

// Procs are the processes in the group.
func (g *Group) Procs() ([]int, error) {
	if g.v2m == nil && g.v1c == nil {
		return nil, nil // a scope systemd has not made yet
	}
	var pids []int
	if g.v2m != nil {
		ps, err := g.v2m.Procs(true)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			pids = append(pids, int(p))
		}
		return pids, nil
	}
	ps, err := g.v1c.Processes(cgroup1.Pids, true)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		pids = append(pids, p.Pid)
	}
	return pids, nil
}

// Delete removes the group. Its processes may still be exiting after the
// jail's PID 1 died (a command joining the jail is outside its PID
// namespace): Delete waits for them, up to timeout.
func (g *Group) Delete(timeout time.Duration) error {
	if g.unit != "" {
		return waitFor(timeout, g.path, g.stopScope)
	}
	return Remove(g.Where(), timeout)
}

// waitFor calls try until it succeeds or timeout passes: an exiting
// process leaves its group a moment after its parent reaped it, so the
// first waits are short.
func waitFor(timeout time.Duration, path string, try func() error) error {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		err := try()
		switch {
		case err == nil:
			return nil
		case time.Now().After(deadline):
			return fmt.Errorf("cgroup %s: %w", path, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 20*time.Millisecond)
	}
}

// dirs are the directories a group at w may have: one per hierarchy.
// Co-mounted v1 controllers (cpu,cpuacct) name one directory twice.
func (w Where) dirs() []string {
	if w.V2 != "" {
		return []string{filepath.Join(w.V2, w.Path)}
	}
	ds := make([]string, 0, len(v1Used)+3)
	for _, n := range append(slices.Clip(v1Used), cgroup1.Devices, cgroup1.Freezer, cgroup1.Cpuset) {
		ds = append(ds, filepath.Join(Mountpoint, string(n), w.Path))
	}
	return append(ds, filepath.Join(hybridTree, w.Path)) // its twin, if any
}

// Mounted is where the group at w is in each hierarchy: its directory, by
// the name of the hierarchy's own directory under Mountpoint ("" for
// cgroup v2, a single tree), and the hierarchies' other names there (cpu
// for cpu,cpuacct), as links. r: the group's resources, which choose its
// hierarchies (New).
func (w Where) Mounted(r *specs.LinuxResources) (dirs, links map[string]string, err error) {
	if w.V2 != "" {
		return map[string]string{"": filepath.Join(w.V2, w.Path)}, nil, nil
	}
	subs, err := v1For(r != nil && len(r.Devices) > 0, usesCpuset(r))()
	if err != nil {
		return nil, nil, err
	}
	dirs, links = map[string]string{}, map[string]string{}
	for _, s := range subs {
		p, ok := s.(interface{ Path(string) string })
		if !ok {
			continue
		}
		d := p.Path(w.Path)
		dirs[filepath.Base(strings.TrimSuffix(d, w.Path))] = d
	}
	ents, err := os.ReadDir(Mountpoint)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range ents {
		if e.Type()&os.ModeSymlink == 0 {
			continue
		}
		if t, err := os.Readlink(filepath.Join(Mountpoint, e.Name())); err == nil {
			if _, ok := dirs[t]; ok {
				links[e.Name()] = t
			}
		}
	}
	return dirs, links, nil
}

// stopScope stops the group's scope, which systemd then removes once its
// last process is gone.
func (g *Group) stopScope() error {
	if _, err := os.Stat(filepath.Join(g.v2, g.path)); errors.Is(err, os.ErrNotExist) {
		return nil
	}
	m, err := cgroup2.LoadSystemd(g.slice(), g.unit)
	if err == nil {
		err = m.DeleteSystemd()
	}
	if err != nil && !strings.Contains(err.Error(), "not loaded") {
		return fmt.Errorf("systemd scope %s: %w", g.unit, err)
	}
	return errors.New("systemd is removing the scope") // checked again
}

// Remove removes the group at w if it is there: what a jail that is gone
// left behind, or a Group's own. It removes the directories themselves,
// which the kernel refuses while a process is in one (EBUSY): containerd's
// Delete reads every hierarchy's process list first, ten times the
// cost, on the path of every jail's end.
func Remove(w Where, timeout time.Duration) error {
	if w.Unit != "" {
		return (&Group{path: w.Path, v2: w.V2, unit: w.Unit}).Delete(timeout)
	}
	return waitFor(timeout, w.Path, func() error {
		var busy []string
		for _, d := range w.dirs() {
			switch err := unix.Rmdir(d); {
			case err == nil || errors.Is(err, unix.ENOENT):
			case errors.Is(err, unix.EBUSY):
				busy = append(busy, filepath.Base(strings.TrimSuffix(d, w.Path)))
			default:
				return &os.PathError{Op: "rmdir", Path: d, Err: err}
			}
		}
		if len(busy) > 0 {
			return fmt.Errorf("still holds processes on %s", strings.Join(busy, ", "))
		}
		return nil
	})
}

// UnsupportedError is a limit this host cannot enforce.
type UnsupportedError struct {
	Resource string // the spec's name, e.g. linux.resources.blockIO.weight
	Why      string
}

func (e *UnsupportedError) Error() string {
	return e.Resource + ": " + e.Why
}

// supports checks the limits r asks for against what the group's
// hierarchy offers, so that a limit the host cannot enforce is an error
// naming it rather than a write failing on a missing file, or silence.
func (g *Group) supports(r *specs.LinuxResources) error {
	if r == nil {
		return nil
	}
	type need struct {
		set                     bool
		resource, v1file, v2ctl string
		// bfq: on v2, containerd writes io.bfq.weight, which only the
		// BFQ scheduler provides.
		bfq bool
	}
	var needs []need
	if m := r.Memory; m != nil {
		needs = append(needs,
			need{set: m.Limit != nil, resource: "memory.limit", v1file: "memory/memory.limit_in_bytes", v2ctl: "memory"},
			need{set: m.Swap != nil, resource: "memory.swap", v1file: "memory/memory.memsw.limit_in_bytes", v2ctl: "memory"})
	}
	if c := r.CPU; c != nil {
		needs = append(needs,
			need{set: c.Shares != nil, resource: "cpu.shares", v1file: "cpu/cpu.shares", v2ctl: "cpu"},
			need{set: c.Quota != nil, resource: "cpu.quota", v1file: "cpu/cpu.cfs_quota_us", v2ctl: "cpu"},
			need{set: c.Cpus != "" || c.Mems != "", resource: "cpu.cpus", v1file: "cpuset/cpuset.cpus", v2ctl: "cpuset"})
	}
	if p := r.Pids; p != nil {
		needs = append(needs, need{set: p.Limit != nil, resource: "pids.limit", v1file: "pids/cgroup.procs", v2ctl: "pids"})
	}
	if b := r.BlockIO; b != nil {
		throttle := len(b.ThrottleReadBpsDevice)+len(b.ThrottleWriteBpsDevice)+
			len(b.ThrottleReadIOPSDevice)+len(b.ThrottleWriteIOPSDevice) > 0
		needs = append(needs,
			need{set: b.Weight != nil, resource: "blockIO.weight", v1file: "blkio/blkio.weight", v2ctl: "io", bfq: true},
			need{set: throttle, resource: "blockIO.throttle", v1file: "blkio/blkio.throttle.read_bps_device", v2ctl: "io"})
	}
	needs = slices.DeleteFunc(needs, func(n need) bool { return !n.set })
	var ctls []string
	if g.v2 != "" && len(needs) > 0 {
		b, err := os.ReadFile(filepath.Join(g.v2, "cgroup.controllers"))
		if err != nil {
			return fmt.Errorf("cgroup v2 at %s: %w", g.v2, err)
		}
		ctls = strings.Fields(string(b))
	}
	for _, n := range needs {
		res := "linux.resources." + n.resource
		if g.v2 != "" {
			switch {
			case !slices.Contains(ctls, n.v2ctl):
				return &UnsupportedError{res, fmt.Sprintf("the %s controller is not available in cgroup v2 at %s", n.v2ctl, g.v2)}
			case n.bfq && !bfq():
				return &UnsupportedError{res, "the host's block devices have no BFQ scheduler, which I/O weights need"}
			}
			continue
		}
		// The root group's files: a controller's own limit files
		// (pids.max) exist in child groups only.
		if _, err := os.Stat(filepath.Join(Mountpoint, n.v1file)); err != nil {
			why := "this host's cgroup v1 has no " + filepath.Base(n.v1file)
			if filepath.Base(n.v1file) == "cgroup.procs" {
				why = "this host has no " + filepath.Dir(n.v1file) + " controller on cgroup v1"
			}
			switch n.resource {
			case "memory.swap":
				why += " (swap accounting is off: boot with swapaccount=1)"
			case "blockIO.weight":
				why += " (I/O weights need the BFQ scheduler)"
			}
			return &UnsupportedError{res, why}
		}
	}
	return nil
}

// adjust drops from r what the host need not enforce: no swap beyond the
// memory is what a host without swap accounting gives when it has no
// swap, and the best it can do otherwise. r itself stays as it is.
func (g *Group) adjust(r *specs.LinuxResources) *specs.LinuxResources {
	m := r.Memory
	if m == nil || m.Swap == nil || m.Limit == nil || *m.Swap != *m.Limit || g.swapAccounted() {
		return r
	}
	c, mc := *r, *m
	mc.Swap = nil
	c.Memory = &mc
	return &c
}

// swapAccounted tells whether the group's hierarchy limits swap.
func (g *Group) swapAccounted() bool {
	if g.v2 != "" {
		_, err := os.Stat(filepath.Join(g.v2, "cgroup.controllers"))
		return err == nil // swap.max comes with the memory controller
	}
	_, err := os.Stat(filepath.Join(Mountpoint, "memory/memory.memsw.limit_in_bytes"))
	return err == nil
}

// bfq tells whether a block device of the host can use the BFQ scheduler.
func bfq() bool {
	ms, _ := filepath.Glob("/sys/block/*/queue/scheduler")
	for _, m := range ms {
		if b, err := os.ReadFile(m); err == nil && strings.Contains(string(b), "bfq") {
			return true
		}
	}
	return false
}

// v2Resources is the spec's resources in cgroup v2's terms. The CPU weight
// is prison's own conversion (WeightToShares), not containerd's, so that
// --cpu-weight N is N on v2.
func v2Resources(r *specs.LinuxResources) *cgroup2.Resources {
	res := cgroup2.ToResources(r)
	if c := r.CPU; c != nil && c.Shares != nil && res.CPU != nil {
		w := SharesToWeight(*c.Shares)
		res.CPU.Weight = &w
	}
	return res
}

// WeightToShares turns a cgroup v2 CPU weight (1-10000, 100 the default)
// into cgroup v1 shares (2-262144, 1024 the default), which is what the
// OCI spec stores; SharesToWeight is its inverse.
func WeightToShares(w uint64) uint64 {
	return clamp(uint64(math.Round(float64(w)*1024/100)), 2, 262144)
}

// SharesToWeight turns v1 CPU shares into a v2 weight (WeightToShares).
func SharesToWeight(s uint64) uint64 {
	return clamp(uint64(math.Round(float64(s)*100/1024)), 1, 10000)
}

func clamp(v, lo, hi uint64) uint64 { return min(max(v, lo), hi) }

// Stats are a group's figures as prison stats shows them.
type Stats struct {
	CPU         time.Duration `json:"cpuTime"`            // CPU time used, user and system
	Memory      uint64        `json:"memory"`             // bytes in use now
	MemoryPeak  uint64        `json:"memoryPeak"`         // the most bytes in use
	MemoryLimit uint64        `json:"memoryLimit"`        // 0: none
	Pids        uint64        `json:"pids"`               // tasks (processes and threads)
	PidsLimit   uint64        `json:"pidsLimit"`          // 0: none
	IORead      uint64        `json:"ioReadBytes"`        // from block devices
	IOWrite     uint64        `json:"ioWriteBytes"`       // to block devices
	OOMKills    uint64        `json:"oomKills,omitempty"` // processes the OOM killer killed (v2)
}

// noLimit is how large a limit must be to mean none: v1 reports "max" as
// the largest page-aligned int64.
const noLimit = math.MaxInt64 &^ 4095

// Stats reads the group's figures.
func (g *Group) Stats() (*Stats, error) {
	switch {
	case g.v2m != nil:
		return g.stats2()
	case g.v1c == nil:
		return nil, fmt.Errorf("cgroup %s: %w", g.path, os.ErrNotExist)
	}
	m, err := g.v1c.Stat(cgroup1.IgnoreNotExist)
	if err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.path, err)
	}
	var s Stats
	if c := m.GetCPU(); c != nil && c.GetUsage() != nil {
		s.CPU = time.Duration(c.GetUsage().GetTotal())
	}
	if mem := m.GetMemory(); mem != nil && mem.GetUsage() != nil {
		u := mem.GetUsage()
		s.Memory, s.MemoryPeak = u.GetUsage(), u.GetMax()
		if u.GetLimit() < noLimit {
			s.MemoryLimit = u.GetLimit()
		}
	}
	if p := m.GetPids(); p != nil {
		s.Pids, s.PidsLimit = p.GetCurrent(), p.GetLimit()
	}
	if b := m.GetBlkio(); b != nil {
		for _, e := range b.GetIoServiceBytesRecursive() {
			switch e.GetOp() {
			case "Read":
				s.IORead += e.GetValue()
			case "Write":
				s.IOWrite += e.GetValue()
			}
		}
	}
	return &s, nil
}

// stats2 reads a v2 group's figures from its files: containerd's Stat
// fails on the first controller missing from the group, and a group on a
// tree without controllers still counts CPU time.
func (g *Group) stats2() (*Stats, error) {
	dir := filepath.Join(g.v2, g.path)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("cgroup %s: %w", g.path, err)
	}
	var s Stats
	kv := func(file string) map[string]uint64 {
		out := map[string]uint64{}
		b, _ := os.ReadFile(filepath.Join(dir, file))
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, " "); ok {
				if n, err := strconv.ParseUint(v, 10, 64); err == nil {
					out[k] = n
				}
			}
		}
		return out
	}
	one := func(file string) uint64 {
		b, _ := os.ReadFile(filepath.Join(dir, file))
		n, _ := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64) // "max": 0, none
		return n
	}
	s.CPU = time.Duration(kv("cpu.stat")["usage_usec"]) * time.Microsecond
	s.Memory, s.MemoryPeak, s.MemoryLimit = one("memory.current"), one("memory.peak"), one("memory.max")
	s.Pids, s.PidsLimit = one("pids.current"), one("pids.max")
	s.OOMKills = kv("memory.events")["oom_kill"]
	b, _ := os.ReadFile(filepath.Join(dir, "io.stat"))
	for _, l := range strings.Split(string(b), "\n") {
		for _, f := range strings.Fields(l) {
			k, v, _ := strings.Cut(f, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				s.IORead += n
			case "wbytes":
				s.IOWrite += n
			}
		}
	}
	return &s, nil
}
