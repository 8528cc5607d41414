package prison

import (
	"errors"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/cgroup"
	"prison/internal/nsinit"
)

// DefaultPids is every jail's process limit (FreeBSD's maxproc) when none
// is given: root ignores RLIMIT_NPROC, so only the pids controller stops a
// fork bomb. It counts threads too.
const DefaultPids = 1024

// CgroupParent is where the jails' cgroups are, below each hierarchy's
// root: /prison/NAME.
const CgroupParent = "/prison"

// DefaultTmpfsSize bounds a --tmpfs without a size, as /dev/shm is
// bounded: tmpfs pages are memory, charged to the jail's cgroup, and the
// kernel's own default is half of the host's.
const DefaultTmpfsSize = "64m"

// MinMemory is the least --memory a jail starts with: its init and a shell.
const MinMemory = 6 << 20

// AnnotationCgroupV2 names a cgroup2 mountpoint that holds the jail's
// cgroup although the host keeps its controllers on v1 (a hybrid host):
// how the suite tries cgroup v2 on such a host.
const AnnotationCgroupV2 = "prison.cgroup.v2"

func checkLimits(c *Config) error {
	if _, err := c.resources(); err != nil {
		return err
	}
	if _, err := c.nofile(); err != nil {
		return err
	}
	if c.Cgroup != "" {
		if err := cgroupPathOK(c.Cgroup); err != nil {
			return fmt.Errorf("--cgroup %s: %w", c.Cgroup, err)
		}
	}
	return nil
}

func cgroupPathOK(p string) error {
	if err := cgroup.CheckPath(p); err != nil {
		return errors.New("want an absolute, clean path below the hierarchy's root, such as /prison/web1")
	}
	return nil
}

// parseSize reads a size as rctl and docker take it: 512M, 1G, 1.5g, or
// bytes.
func parseSize(flag, v string) (int64, error) {
	n, err := units.RAMInBytes(v)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%s %s: want a size such as 512M or 2G", flag, v)
	}
	return n, nil
}

// resources lowers the limits into the spec's linux.resources, which the
// launcher's cgroup enforces.
func (c *Config) resources() (*specs.LinuxResources, error) {
	r := &specs.LinuxResources{}
	if c.Memory != "" {
		n, err := parseSize("--memory", c.Memory)
		if err != nil {
			return nil, err
		}
		if n < MinMemory {
			return nil, fmt.Errorf("--memory %s: below the %s a jail needs to start", c.Memory, units.BytesSize(MinMemory))
		}
		// No swap unless --swap says: a jail at its limit is OOM-killed
		// rather than thrashing the host's swap.
		r.Memory = &specs.LinuxMemory{Limit: &n, Swap: &n}
	}
	if c.Swap != "" {
		n, err := parseSize("--swap", c.Swap)
		if err != nil {
			return nil, err
		}
		if r.Memory == nil {
			return nil, fmt.Errorf("--swap %s: needs --memory: swap is counted on top of the memory limit", c.Swap)
		}
		// The spec's swap is memory and swap together.
		total := *r.Memory.Limit + n
		r.Memory.Swap = &total
	}
	switch p := strings.ToLower(c.Pids); p {
	case "unlimited", "max", "none":
	case "":
		n := int64(DefaultPids)
		r.Pids = &specs.LinuxPids{Limit: &n}
	default:
		n, err := strconv.ParseInt(p, 10, 64)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("--pids %s: want a number of processes of at least 1, or unlimited", c.Pids)
		}
		r.Pids = &specs.LinuxPids{Limit: &n}
	}
	if c.CPUs != "" {
		f, err := strconv.ParseFloat(c.CPUs, 64)
		switch {
		case err != nil || math.IsNaN(f) || f < 0.01:
			return nil, fmt.Errorf("--cpus %s: want a number of cores such as 0.5 or 2, at least 0.01", c.CPUs)
		case f > float64(runtime.NumCPU()):
			return nil, fmt.Errorf("--cpus %s: this host has %d", c.CPUs, runtime.NumCPU())
		}
		period := uint64(100000)
		quota := int64(math.Round(f * float64(period)))
		r.CPU = &specs.LinuxCPU{Quota: &quota, Period: &period}
	}
	if c.CPUWeight != "" {
		w, err := strconv.ParseUint(c.CPUWeight, 10, 64)
		if err != nil || w < 1 || w > 10000 {
			return nil, fmt.Errorf("--cpu-weight %s: want 1 to 10000 (100 is a jail's default share)", c.CPUWeight)
		}
		if r.CPU == nil {
			r.CPU = &specs.LinuxCPU{}
		}
		shares := cgroup.WeightToShares(w)
		r.CPU.Shares = &shares
	}
	if c.IOWeight != "" {
		w, err := strconv.ParseUint(c.IOWeight, 10, 16)
		if err != nil || w < 10 || w > 1000 {
			return nil, fmt.Errorf("--io-weight %s: want 10 to 1000 (500 is the default)", c.IOWeight)
		}
		w16 := uint16(w)
		r.BlockIO = &specs.LinuxBlockIO{Weight: &w16}
	}
	for _, m := range c.IOMax {
		if r.BlockIO == nil {
			r.BlockIO = &specs.LinuxBlockIO{}
		}
		if err := parseIOMax(m, r.BlockIO); err != nil {
			return nil, fmt.Errorf("--io-max %s: %w", m, err)
		}
	}
	return r, nil
}

// parseIOMax reads DEV:rbps=N,wbps=N,riops=N,wiops=N into b: bytes may be
// written as sizes (10M).
func parseIOMax(s string, b *specs.LinuxBlockIO) error {
	dev, rates, ok := strings.Cut(s, ":")
	if !ok || rates == "" {
		return errors.New("want DEV:rbps=N,wbps=N,riops=N,wiops=N")
	}
	var st unix.Stat_t
	if err := unix.Stat(dev, &st); err != nil {
		return fmt.Errorf("%s: %w", dev, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return fmt.Errorf("%s: not a block device", dev)
	}
	major, minor := int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	for _, kv := range strings.Split(rates, ",") {
		k, v, _ := strings.Cut(kv, "=")
		var n int64
		var err error
		if strings.HasSuffix(k, "bps") {
			n, err = units.RAMInBytes(v)
		} else {
			n, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil || n <= 0 {
			return fmt.Errorf("%s: want a positive rate", kv)
		}
		t := specs.LinuxThrottleDevice{Rate: uint64(n)}
		t.Major, t.Minor = major, minor
		switch k {
		case "rbps":
			b.ThrottleReadBpsDevice = append(b.ThrottleReadBpsDevice, t)
		case "wbps":
			b.ThrottleWriteBpsDevice = append(b.ThrottleWriteBpsDevice, t)
		case "riops":
			b.ThrottleReadIOPSDevice = append(b.ThrottleReadIOPSDevice, t)
		case "wiops":
			b.ThrottleWriteIOPSDevice = append(b.ThrottleWriteIOPSDevice, t)
		default:
			return fmt.Errorf("%s: unknown key %q (rbps, wbps, riops, wiops)", kv, k)
		}
	}
	return nil
}

// nofile is --nofile as an rlimit, or nil.
func (c *Config) nofile() (*specs.POSIXRlimit, error) {
	if c.NoFile == "" {
		return nil, nil
	}
	n, err := strconv.ParseUint(c.NoFile, 10, 64)
	if err != nil || n < 8 {
		return nil, fmt.Errorf("--nofile %s: want a number of open files of at least 8", c.NoFile)
	}
	var cur unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &cur); err == nil && n > cur.Max {
		return nil, fmt.Errorf("--nofile %s: above prison's own hard limit of %d (raising that needs CAP_SYS_RESOURCE)", c.NoFile, cur.Max)
	}
	return &specs.POSIXRlimit{Type: "RLIMIT_NOFILE", Soft: n, Hard: n}, nil
}

// specLimits puts the limits into s.
func (c *Config) specLimits(s *specs.Spec) error {
	r, err := c.resources()
	if err != nil {
		return err
	}
	s.Linux.Resources = r
	s.Linux.CgroupsPath = c.Cgroup
	if s.Linux.CgroupsPath == "" {
		s.Linux.CgroupsPath = CgroupParent + "/" + c.Name
	}
	if c.CgroupV2 != "" {
		s.Annotations[AnnotationCgroupV2] = c.CgroupV2
	}
	rl, err := c.nofile()
	if err != nil {
		return err
	}
	if rl != nil {
		s.Process.Rlimits = append(s.Process.Rlimits, *rl)
	}
	return nil
}

// cgroupOf says where the jail of spec s has its cgroup.
func cgroupOf(s *specs.Spec) (cgroup.Where, error) {
	p := s.Linux.CgroupsPath
	if p == "" {
		return cgroup.Where{}, errors.New("spec: linux.cgroupsPath is missing")
	}
	if err := cgroupPathOK(p); err != nil {
		return cgroup.Where{}, fmt.Errorf("spec: linux.cgroupsPath %q: %w", p, err)
	}
	return cgroup.Locate(p, s.Annotations[AnnotationCgroupV2])
}

// noCgroup says why a running jail has no cgroup.
func noCgroup() string {
	if Rootless() {
		return "started without root, which has no cgroups"
	}
	return "started without a cgroup (by an older prison; restart it)"
}

// cgroupGrace is how long removing a jail's cgroup waits for its last
// processes to exit: a command joining the jail runs under a helper
// outside its PID namespace, which outlives the jail's PID 1 by a moment.
const cgroupGrace = 2 * time.Second

// newCgroup makes the jail's cgroup with its limits. A cgroup that still
// holds processes belongs to something else (a --cgroup path given twice):
// joining it would share its limits and tear it down.
func newCgroup(w cgroup.Where, r *specs.LinuxResources) (*cgroup.Group, error) {
	existed := cgroup.Exists(w)
	g, err := cgroup.New(w, r)
	var ue *cgroup.UnsupportedError
	switch {
	case errors.As(err, &ue):
		return nil, &ParamError{Err: limitError(ue)}
	case err != nil:
		return nil, err
	}
	if existed {
		if procs, err := g.Procs(); err == nil && len(procs) > 0 {
			return nil, &ParamError{Err: fmt.Errorf("linux.cgroupsPath %s: in use by %d processes outside this jail", w.Path, len(procs))}
		}
	}
	return g, nil
}

// enterCgroup has the jail's init join the jail's cgroup before it runs
// anything of the jail's, so that every process of the jail is charged to
// the jail, and none of prison's (launcher, daemon, client). On v1 the
// init moves itself (cgroup.TaskFiles): the launcher sends it the files,
// without waiting for its pid; on v2 it was cloned into the group
// (cgroup.Group.Dir). The files were opened beside the init's start.
func (j *Jail) enterCgroup() error {
	if err := j.awaitCgroup(); err != nil {
		return err
	}
	files := j.cgroupFiles
	j.cgroupFiles = nil
	defer closeAll(files...)
	cloned := j.cgroupDir != nil // into the group, with clone3 (Dir)
	closeAll(j.cgroupDir)
	j.cgroupDir = nil
	if len(files) > nsinit.MaxCgroupFiles {
		return fmt.Errorf("cgroup: %d hierarchies, at most %d", len(files), nsinit.MaxCgroupFiles)
	}
	if j.cgroup.NeedsRest() && !cloned {
		if err := j.awaitInit(); err != nil {
			return err
		}
		if err := j.cgroup.AddRest(j.initPID); err != nil {
			return err
		}
	}
	fds := make([]int, len(files))
	for i, f := range files {
		fds[i] = int(f.Fd())
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	// A failed send means the init is gone: its report says why.
	_ = unix.Sendmsg(j.syncFD(), nsinit.CgroupMessage(), oob, nil, 0)
	return nil
}

// awaitCgroup waits for the cgroup that Start makes beside the init's
// start, once; later calls return the same result.
func (j *Jail) awaitCgroup() error {
	if j.cgroupMade != nil {
		m := <-j.cgroupMade
		j.cgroup, j.cgroupFiles, j.cgroupDir, j.cgroupErr = m.g, m.files, m.dir, m.err
		j.cgroupMade = nil
	}
	return j.cgroupErr
}

// madeCgroup is what the making of a jail's cgroup beside its start
// hands over: the group, and the files for its init to join it by.
type madeCgroup struct {
	g     *cgroup.Group
	files []*os.File
	dir   *os.File
	err   error
}

// limitFlags are the flags behind the spec's resources, for errors.
var limitFlags = map[string]string{
	"memory.limit": "--memory", "memory.swap": "--swap", "pids.limit": "--pids",
	"cpu.quota": "--cpus", "cpu.shares": "--cpu-weight", "blockIO.weight": "--io-weight",
	"blockIO.throttle": "--io-max",
}

// limitError names a limit the host cannot enforce by its flag, which a
// jail.conf parameter's error then renames (cmd/prison), and its spec
// field.
func limitError(e *cgroup.UnsupportedError) error {
	res := strings.TrimPrefix(e.Resource, "linux.resources.")
	if f, ok := limitFlags[res]; ok {
		return fmt.Errorf("%s (%s): %s", f, e.Resource, e.Why)
	}
	return fmt.Errorf("spec: %w", e)
}

// SetLimits changes the limits of a running jail to those c gives (the
// others stay), live, and records them in the jail's spec, which a
// restart then runs with: rctl -a, jail -m.
func (r *Running) SetLimits(c *Config) error {
	st, spec, err := r.limitsSpec()
	if err != nil {
		return err
	}
	defer st.Close()
	if c.NoFile != "" {
		return &ParamError{Err: fmt.Errorf("--nofile %s: cannot change while the jail runs (restart it with the new value)", c.NoFile)}
	}
	merged := limitsOf(spec.Linux.Resources)
	for _, f := range []struct{ to, from *string }{
		{&merged.Memory, &c.Memory},
		{&merged.Swap, &c.Swap},
		{&merged.Pids, &c.Pids},
		{&merged.CPUs, &c.CPUs},
		{&merged.CPUWeight, &c.CPUWeight},
		{&merged.IOWeight, &c.IOWeight},
	} {
		if *f.from != "" {
			*f.to = *f.from
		}
	}
	if len(c.IOMax) > 0 {
		merged.IOMax = c.IOMax
	}
	res, err := merged.resources()
	if err != nil {
		return &ParamError{Err: err}
	}
	return r.applyResources(spec, res)
}

// limitsSpec locks the store, under which a change of limits and its
// record go together, and reads the jail's spec, whose limits change.
// The caller closes the store.
func (r *Running) limitsSpec() (*store, *specs.Spec, error) {
	st, err := openStore()
	if err != nil {
		return nil, nil, err
	}
	spec, err := readSpec(r.Name)
	if err == nil && (r.Cgroup == nil || spec.Linux == nil) {
		err = &ParamError{Err: fmt.Errorf("%s: %s: it has no limits to set", r.Name, noCgroup())}
	}
	if err != nil {
		st.Close()
		return nil, nil, err
	}
	return st, spec, nil
}

// applyResources sets the jail's cgroup to res and records it in its
// spec. Preconditions: the store is locked.
func (r *Running) applyResources(spec *specs.Spec, res *specs.LinuxResources) error {
	g, err := cgroup.Load(*r.Cgroup)
	if err != nil {
		return err
	}
	if err := g.Update(res); err != nil {
		var ue *cgroup.UnsupportedError
		if errors.As(err, &ue) {
			return &ParamError{Err: limitError(ue)}
		}
		return err
	}
	spec.Linux.Resources = res
	return r.writeJSON(specFile, spec)
}

// Update changes the limits of a running jail to those res sets (OCI
// update): each limit res names replaces the jail's, the others stay.
func (r *Running) Update(res *specs.LinuxResources) error {
	st, spec, err := r.limitsSpec()
	if err != nil {
		return err
	}
	defer st.Close()
	merged := &specs.LinuxResources{}
	if cur := spec.Linux.Resources; cur != nil {
		*merged = *cur
	}
	if res.Memory != nil {
		merged.Memory = res.Memory
	}
	if res.CPU != nil {
		merged.CPU = res.CPU
	}
	if res.Pids != nil {
		merged.Pids = res.Pids
	}
	if res.BlockIO != nil {
		merged.BlockIO = res.BlockIO
	}
	if res.HugepageLimits != nil || res.Network != nil || len(res.Unified) > 0 || len(res.Rdma) > 0 || len(res.Devices) > 0 {
		return &ParamError{Err: errors.New("--resources: only memory, cpu, pids and blockIO can change while the container runs")}
	}
	return r.applyResources(spec, merged)
}

// limitsOf is the inverse of resources: the limits r holds, as flags
// give them.
func limitsOf(r *specs.LinuxResources) *Config {
	c := &Config{Pids: "unlimited"}
	if r == nil {
		return c
	}
	if m := r.Memory; m != nil && m.Limit != nil {
		c.Memory = strconv.FormatInt(*m.Limit, 10)
		if m.Swap != nil && *m.Swap > *m.Limit {
			c.Swap = strconv.FormatInt(*m.Swap-*m.Limit, 10)
		}
	}
	if p := r.Pids; p != nil && p.Limit != nil && *p.Limit > 0 {
		c.Pids = strconv.FormatInt(*p.Limit, 10)
	}
	if cpu := r.CPU; cpu != nil {
		if cpu.Quota != nil && cpu.Period != nil && *cpu.Quota > 0 {
			c.CPUs = strconv.FormatFloat(float64(*cpu.Quota)/float64(*cpu.Period), 'f', -1, 64)
		}
		if cpu.Shares != nil {
			c.CPUWeight = strconv.FormatUint(cgroup.SharesToWeight(*cpu.Shares), 10)
		}
	}
	if b := r.BlockIO; b != nil {
		if b.Weight != nil {
			c.IOWeight = strconv.FormatUint(uint64(*b.Weight), 10)
		}
		for _, t := range []struct {
			key string
			ds  []specs.LinuxThrottleDevice
		}{
			{"rbps", b.ThrottleReadBpsDevice},
			{"wbps", b.ThrottleWriteBpsDevice},
			{"riops", b.ThrottleReadIOPSDevice},
			{"wiops", b.ThrottleWriteIOPSDevice},
		} {
			for _, d := range t.ds {
				// The kernel's name for the device, which needs no path.
				c.IOMax = append(c.IOMax, fmt.Sprintf("/dev/block/%d:%d:%s=%d", d.Major, d.Minor, t.key, d.Rate))
			}
		}
	}
	return c
}

// Stats are a running jail's figures, as prison stats shows them.
type Stats struct {
	Name string `json:"name"`
	JID  int    `json:"jid"`
	cgroup.Stats
	// NetRx and NetTx are the bytes the jail's interfaces received and
	// sent; -1 where the jail shares the host's network.
	NetRx int64 `json:"netRxBytes"`
	NetTx int64 `json:"netTxBytes"`
}

// Stats reads the jail's figures: its cgroup's, and its network
// namespace's interfaces.
func (r *Running) Stats() (*Stats, error) {
	if r.Cgroup == nil {
		return nil, &ParamError{Err: fmt.Errorf("%s: %s: no figures to show", r.Name, noCgroup())}
	}
	g, err := cgroup.Load(*r.Cgroup)
	if err != nil {
		return nil, err
	}
	cs, err := g.Stats()
	if err != nil {
		return nil, err
	}
	s := &Stats{Name: r.Name, JID: r.JID, Stats: *cs, NetRx: -1, NetTx: -1}
	if r.ownNet() {
		s.NetRx, s.NetTx = netBytes(r.InitPID)
		if !r.Alive() {
			return nil, &NoJailError{Name: r.Name}
		}
	}
	return s, nil
}

// ownNet tells whether the jail has its own network namespace.
func (r *Running) ownNet() bool {
	mine, err1 := os.Readlink("/proc/self/ns/net")
	its, err2 := os.Readlink("/proc/" + strconv.Itoa(r.InitPID) + "/ns/net")
	return err1 == nil && err2 == nil && mine != its
}

// netBytes sums the bytes of every interface but loopback in the network
// namespace of process pid: /proc/PID/net/dev is that namespace's.
func netBytes(pid int) (rx, tx int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/net/dev")
	if err != nil {
		return -1, -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		name, rest, ok := strings.Cut(l, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) < 9 {
			continue
		}
		r, _ := strconv.ParseInt(f[0], 10, 64)
		t, _ := strconv.ParseInt(f[8], 10, 64)
		rx, tx = rx+r, tx+t
	}
	return rx, tx
}

// limitParams adds the jail's limits to p under their parameters' names,
// in bytes and counts as rctl -u shows them.
func limitParams(s *specs.Spec, p map[string]string) {
	if s.Linux == nil {
		return
	}
	c := limitsOf(s.Linux.Resources)
	for k, v := range map[string]string{
		"memoryuse": c.Memory, "swapuse": c.Swap, "maxproc": c.Pids,
		"cpu.weight": c.CPUWeight, "io.weight": c.IOWeight, "cgroup": s.Linux.CgroupsPath,
	} {
		if v != "" {
			p[k] = v
		}
	}
	if c.CPUs != "" {
		if f, err := strconv.ParseFloat(c.CPUs, 64); err == nil {
			p["pcpu"] = strconv.FormatFloat(f*100, 'f', -1, 64)
		}
	}
	if len(c.IOMax) > 0 {
		p["io.max"] = strings.Join(c.IOMax, ",")
	}
	if s.Process != nil {
		for _, rl := range s.Process.Rlimits {
			if rl.Type == "RLIMIT_NOFILE" {
				p["openfiles"] = strconv.FormatUint(rl.Hard, 10)
			}
		}
	}
}

func closeAll(files ...*os.File) {
	for _, f := range files {
		if f != nil {
			f.Close()
		}
	}
}
