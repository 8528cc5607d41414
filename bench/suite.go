package bench

import (
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Env is what the suite's command lines are made of: the binaries, the
// busybox root, the OCI bundle and the state directories prepared by the
// driver. An empty path with a reason in NA makes that tool's contenders
// n/a.
type Env struct {
	// Prison is the prison binary; PrisonNA says why there is none.
	Prison, PrisonNA string
	// Tools maps bwrap, crun, runc, unshare and chroot to absolute paths.
	// A missing entry's reason is in ToolNA.
	Tools  map[string]string
	ToolNA map[string]string
	// Root is the busybox root with /loop in it; Bundle the OCI bundle
	// whose config.json runs /bin/true on Root, read-only, and SleepBundle
	// the same with `/bin/sleep infinity`: the long-lived container of the
	// exec, create and memory sections. LimitsBundle is Bundle with the
	// limits section's limits (WithLimits).
	Root, Bundle, SleepBundle, LimitsBundle string
	// State holds crun's and runc's state directories.
	State string
	// IDPrefix starts every container id, so that leftovers (state,
	// cgroups) can be found and removed.
	IDPrefix string
	// IPScript is bench/ipsetup.sh: prison's --ip network done with ip(8).
	IPScript string
	// CrunStart starts crun; nil means directly (see MountNSRunner).
	CrunStart func(*exec.Cmd) error
	// Socket is the socket of the suite's own prison daemon, which serves
	// the daemon contenders; DaemonNA says why there is none. Daemon, when
	// set, is that daemon: it checks each of their invocations.
	Socket, DaemonNA string
	Daemon           *Daemon

	// MountsStart starts a command in the mounts section's namespace: a
	// private mount namespace with ExtraMounts tmpfs mounts more than the
	// driver's (see NewManyMountsRunner). Nil makes that section n/a, for
	// the reason in MountsNA. MountsCount is the number of mounts a
	// process there sees and HostMounts the driver's own; 0 when unknown.
	MountsStart             func(*exec.Cmd) error
	MountsNA                string
	MountsCount, HostMounts int
	// MountsSocket, MountsDaemonNA and MountsDaemon are Socket, DaemonNA
	// and Daemon for the second daemon, which runs in that namespace and
	// serves that section's daemon rows: a daemon serves only clients of
	// its own mount namespace.
	MountsSocket, MountsDaemonNA string
	MountsDaemon                 *Daemon

	// PrisonOCI is prison by its OCI name, a prison-oci link to Prison,
	// which takes runc's command line: the OCI sections' prison.
	// PrisonOCINA says why there is none.
	PrisonOCI, PrisonOCINA string
	// OCIBundle is Bundle without ambient capabilities (WithoutAmbient),
	// which prison refuses: the OCI section's bundle, for every runtime.
	OCIBundle string
	// OCIDir is the OCI sections' directory: ocicycle, the runtimes'
	// state roots, the containerd's and the podman's directories. Repo is
	// the repository, whose bench/cmd/ocicycle the OCI section builds.
	OCIDir, Repo string

	ids       atomic.Uint64
	mountsIPs atomic.Uint64
	// jails is set once a persistent jail's commands are made: Cleanup
	// then looks for jails left behind.
	jails atomic.Bool
}

// nextID returns a counter value unique within this Env.
func (e *Env) nextID() uint64 { return e.ids.Add(1) }

// nextIP returns an address from 10.254.0.0/16 that no other invocation of
// this run used: a jail's address must be free when it starts, and the
// previous jail's may not be released yet.
func (e *Env) nextIP() string {
	n := e.nextID()
	return fmt.Sprintf("10.254.%d.%d", 1+(n/254)%254, 1+n%254)
}

// nextMountsIP returns the next address of the mounts section's own range,
// 10.254.21.0/24 (nextIP's stay below it in a run of the default rounds),
// going round after 254: by then the first jail's is long released.
func (e *Env) nextMountsIP() string {
	return fmt.Sprintf("10.254.21.%d", 1+(e.mountsIPs.Add(1)-1)%254)
}

// prison returns a contender running prison with the given arguments before
// and after the --net/--ip choice; ip selects a fresh --ip per invocation
// instead of --net none. prison launches the jail itself: PRISON_SOCKET=none
// keeps a daemon on the default socket from serving it (see viaDaemon).
func (e *Env) prison(name string, ip bool, pre []string, cmd ...string) *Contender {
	var addr func() string
	if ip {
		addr = e.nextIP
	}
	return e.prisonAt(name, addr, pre, cmd...)
}

// prisonAt is prison with the addresses from addr; nil means --net none.
func (e *Env) prisonAt(name string, addr func() string, pre []string, cmd ...string) *Contender {
	c := &Contender{Name: name, NA: e.PrisonNA, Env: []string{SocketEnv + "=none"}}
	c.Args = func() []string {
		a := append([]string{e.Prison, "run"}, pre...)
		a = append(a, "--root", e.Root)
		if addr != nil {
			a = append(a, "--ip", addr())
		} else {
			a = append(a, "--net", "none")
		}
		return append(a, cmd...)
	}
	return c
}

// viaDaemon makes c, a prison contender, one that the suite's daemon
// serves: PRISON_SOCKET names its socket, and every measurement is checked
// to have been served (Daemon.Around). Without a daemon it is n/a.
func (e *Env) viaDaemon(c *Contender) *Contender {
	return servedBy(c, e.Socket, e.DaemonNA, e.Daemon)
}

// servedBy makes c a contender that the daemon d, on socket, serves; na
// says why there is no such daemon.
func servedBy(c *Contender, socket, na string, d *Daemon) *Contender {
	c.ViaDaemon = true
	c.Env = []string{SocketEnv + "=" + socket}
	switch {
	case c.NA != "":
	case na != "":
		c.NA = na
	case socket == "":
		c.NA = "no prison daemon"
	}
	if d != nil {
		c.Around = d.Around
	}
	return c
}

// inManyMounts makes c a contender of the mounts section: it starts in
// that section's namespace and, when served is set, is served by the daemon
// there. Without the namespace it is n/a: on the host's own mount table it
// would measure the start-up section again.
func (e *Env) inManyMounts(c *Contender, served bool) *Contender {
	c.ManyMounts = true
	c.Start = e.MountsStart
	if c.NA == "" && e.MountsStart == nil {
		c.NA = cmp.Or(e.MountsNA, "no namespace with many mounts")
	}
	if served {
		servedBy(c, e.MountsSocket, e.MountsDaemonNA, e.MountsDaemon)
	}
	return c
}

// NeedsManyMounts reports whether any contender of sections runs in the
// mounts section's namespace, and whether any of those is served by a
// daemon (the one in that namespace).
func NeedsManyMounts(sections []*Section) (namespace, daemon bool) {
	for _, s := range sections {
		for _, c := range s.Contenders {
			if c.ManyMounts {
				namespace = true
				daemon = daemon || c.ViaDaemon
			}
		}
	}
	return namespace, daemon
}

// prisonModes returns the same prison contender launched both ways: served
// by the daemon, named NAME (daemon), and on its own, NAME (no daemon).
func (e *Env) prisonModes(name string, ip bool, pre []string, cmd ...string) (daemon, direct *Contender) {
	return e.viaDaemon(e.prison(name+daemonSuffix, ip, pre, cmd...)), e.prison(name+directSuffix, ip, pre, cmd...)
}

// NeedsDaemon reports whether any contender of sections is served by the
// suite's daemon (the one in the driver's namespace).
func NeedsDaemon(sections []*Section) bool {
	for _, s := range sections {
		for _, c := range s.Contenders {
			if c.ViaDaemon && !c.ManyMounts {
				return true
			}
		}
	}
	return false
}

// tool returns a contender running the named tool, or an n/a one.
func (e *Env) tool(name, tool string, args func(bin string) []string) *Contender {
	bin := e.Tools[tool]
	c := &Contender{Name: name}
	if bin == "" {
		c.NA = e.ToolNA[tool]
		if c.NA == "" {
			c.NA = tool + " not found"
		}
		return c
	}
	c.Args = func() []string { return args(bin) }
	return c
}

// bwrap runs cmd the way the issue states: every namespace bwrap offers,
// the root read-only, a fresh /proc and a minimal /dev.
func (e *Env) bwrap(name string, cmd ...string) *Contender {
	return e.tool(name, "bwrap", func(bin string) []string {
		return append([]string{bin, "--unshare-all", "--ro-bind", e.Root, "/", "--proc", "/proc", "--dev", "/dev"}, cmd...)
	})
}

// oci runs bundle with crun or runc, each with its own state root and a
// fresh container id. `run` creates, starts, waits for and deletes the
// container, as a jail's one-shot run does.
func (e *Env) oci(name, runtime, bundle string) *Contender {
	c := e.tool(name, runtime, func(bin string) []string {
		id := e.IDPrefix + runtime + "-" + strconv.FormatUint(e.nextID(), 10)
		return []string{bin, "--root", e.State + "/" + runtime, "run", "--bundle", bundle, id}
	})
	if runtime == "crun" {
		c.Start = e.CrunStart
	}
	return c
}

// The limits section's limits: prison's --memory and --pids, and the same
// in LimitsBundle's linux.resources (WithLimits).
const (
	LimitMemory = 256 << 20 // bytes
	LimitPids   = 100
)

// WithoutAmbient empties an OCI spec's ambient capabilities, which prison
// refuses (`runc spec` has three): the capabilities of the container's
// process are then those of its permitted and effective sets, which, for
// its root user, is the same.
func WithoutAmbient(s *specs.Spec) {
	if s.Process != nil && s.Process.Capabilities != nil {
		s.Process.Capabilities.Ambient = nil
	}
}

// limitFlags are prison's flags for the limits section's limits.
func limitFlags() []string {
	return []string{"--memory", strconv.Itoa(LimitMemory>>20) + "M", "--pids", strconv.Itoa(LimitPids)}
}

// WithLimits sets the limits section's limits in an OCI spec, as prison
// lowers its flags: LimitMemory of memory and no swap (memory.swap, which
// counts memory and swap together, equal to the limit), LimitPids
// processes. What the spec had in linux.resources (`runc spec`'s device
// rule) stays.
func WithLimits(s *specs.Spec) {
	if s.Linux == nil {
		s.Linux = &specs.Linux{}
	}
	if s.Linux.Resources == nil {
		s.Linux.Resources = &specs.LinuxResources{}
	}
	mem, pids := int64(LimitMemory), int64(LimitPids)
	s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &mem, Swap: &mem}
	s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &pids}
}

// ipScript runs bench/ipsetup.sh with a fresh link name and address. Its
// sample is its wall time, reported as "total" to sit beside the jails'.
func (e *Env) ipScript(name string) *Contender {
	c := e.tool(name, "ip", func(string) []string {
		n := e.nextID()
		return []string{"/bin/sh", e.IPScript, "pb-" + strconv.FormatUint(n, 10), e.nextIP()}
	})
	if c.NA == "" && e.Tools["nsenter"] == "" {
		c.NA = "nsenter not found"
	}
	c.Measure = func(ctx context.Context, c *Contender) (Sample, error) {
		s, err := WallTime(ctx, c)
		if err != nil {
			return nil, err
		}
		return Sample{{"total", s[0].Value}}, nil
	}
	return c
}

// floor is the kernel's price for the same namespaces without any runtime
// policy: unshare(1) makes the mount, UTS, IPC, network, PID and cgroup
// namespaces that every contender makes, mounts a fresh /proc, and chroot
// execs the command. It skips what the runtimes add on top (pivot_root,
// /dev, capabilities, seccomp, cgroups, the loopback bring-up), so no
// contender can beat it by much; chroot alone, without namespaces, would
// be a floor for process creation only and flatter every runtime's ratio.
func (e *Env) floor(name string, cmd ...string) *Contender {
	c := e.tool(name, "unshare", func(bin string) []string {
		return append([]string{
			bin, "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--fork",
			"--mount-proc=" + e.Root + "/proc", e.Tools["chroot"], e.Root,
		}, cmd...)
	})
	if c.NA == "" && e.Tools["chroot"] == "" {
		c.NA = "chroot not found"
	}
	return c
}

// Section ids, for -only.
const (
	SecStartup  = "startup"
	SecMounts   = "mounts"
	SecNetwork  = "network"
	SecSeccomp  = "seccomp"
	SecParallel = "parallel"
	SecPhases   = "phases"
	SecExec     = "exec"
	SecCreate   = "create"
	SecMemory   = "memory"
	SecLimits   = "limits"
)

// Contender names that targets and the chart refer to. prison's rows come
// in both launch modes: the name plus daemonSuffix or directSuffix.
const (
	nameNone  = "prison --net none"
	nameIP    = "prison --ip"
	nameBwrap = "bwrap --unshare-all"
	nameCrun  = "crun run"
	nameRunc  = "runc run"
	nameFloor = "unshare + chroot (floor)"
	nameIPSh  = "the same network with ip(8)"

	daemonSuffix = " (daemon)"
	directSuffix = " (no daemon)"

	// The start-up, mounts and limits sections name the user namespace
	// mode of their prison rows: the default (--userns auto, a user namespace of
	// the jail's own) as nameIPU and nameNoneU, --userns host (none) as
	// nameIPH and nameNoneH.
	nameNoneU = nameNone + " (userns)"
	nameIPU   = nameIP + " (userns)"
	nameNoneH = nameNone + " --userns host"
	nameIPH   = nameIP + " --userns host"

	nameExec     = "prison exec"
	nameExecD    = "prison exec (daemon)"
	nameCrunExec = "crun exec"
	nameRuncExec = "runc exec"

	nameCreate     = "prison create + delete"
	nameCrunCreate = "crun create + start + delete"
	nameRuncCreate = "runc create + start + delete"

	nameIdle      = "prison create (persistent jail)"
	nameCrunIdle  = "crun create + start (sleep infinity)"
	nameBwrapIdle = "bwrap --unshare-all (sleep infinity)"
)

// UserNSEnv is prison's environment variable for --userns's default
// (prison.UserNSEnv), spelled out like SocketEnv. The driver clears it,
// so that the rows without --userns run prison's default, as named.
const UserNSEnv = "PRISON_USERNS"

// UserNSMax bounds the user namespace's cost: a jail's start with its own
// user namespace over the same start with --userns host.
const UserNSMax = 1.15

// IdleUnits is how many jails or containers the memory section keeps up at
// once.
const IdleUnits = 100

// ParallelJails is the batch size of the parallelism section.
const ParallelJails = 50

// ExtraMounts is how many tmpfs mounts the mounts section's namespace has
// more than the driver's: with the 20 or so of a plain host, as many as a
// container host has.
const ExtraMounts = 300

// inModes returns a target once per launch mode, daemon first (the
// configuration for hosts that start many jails): mk gets the mode's name
// suffix and the words that say it in a label.
func inModes(mk func(suffix, how string) Target) []Target {
	return []Target{mk(daemonSuffix, "via daemon"), mk(directSuffix, "without daemon")}
}

// Suite returns the report's sections, in report order. Adding a contender
// or a section is adding a value here.
func Suite(e *Env) []*Section {
	seccompOff := []string{"--seccomp=off"}
	timing := []string{"--timing"}
	hostNS := []string{"--userns", "host"}
	noneD, none := e.prisonModes(nameNoneU, false, nil, "/bin/true")
	ipD, ip := e.prisonModes(nameIPU, true, nil, "/bin/true")
	noneHD, noneH := e.prisonModes(nameNoneH, false, hostNS, "/bin/true")
	ipHD, ipH := e.prisonModes(nameIPH, true, hostNS, "/bin/true")
	limNoneD, limNone := e.prisonModes(nameNoneU, false, limitFlags(), "/bin/true")
	limIPD, limIP := e.prisonModes(nameIPU, true, limitFlags(), "/bin/true")
	stampNoneD, stampNone := e.prisonModes(nameNone, false, nil, "/loop", "stamp")
	stampIPD, stampIP := e.prisonModes(nameIP, true, nil, "/loop", "stamp")
	timeNoneD, timeNone := e.prisonModes("--net none", false, timing, "/bin/true")
	timeIPD, timeIP := e.prisonModes("--ip", true, timing, "/bin/true")
	idle := &UnitProcesses{}

	return append([]*Section{{
		ID:    SecStartup,
		Title: "Start-up: /bin/true in a jail",
		About: "Wall time from fork to reap of one jail running /bin/true on the busybox root, " +
			"as seen by the benchmark driver (Go os/exec, output to memory). prison runs in both user " +
			"namespace modes: (userns) rows with the default, a user namespace of the jail's own " +
			"(--userns auto), and --userns host rows without one, as prison ran before it had them.",
		Unit: "ms", Rounds: 200, Warmup: 3,
		Measure:  WallTime,
		Baseline: nameBwrap,
		Contenders: []*Contender{
			noneD, ipD, none, ip,
			noneHD, ipHD, noneH, ipH,
			e.bwrap(nameBwrap, "/bin/true"),
			e.oci(nameCrun, "crun", e.Bundle),
			e.oci(nameRunc, "runc", e.Bundle),
			e.floor(nameFloor, "/bin/true"),
		},
		Targets: slices.Concat(
			inModes(func(sfx, how string) Target {
				return Target{Label: "start-up, prison --ip (userns) " + how + " (seccomp, caps) vs bwrap --unshare-all", Num: nameIPU + sfx, Den: nameBwrap, Max: 1.0}
			}),
			inModes(func(sfx, how string) Target {
				return Target{Label: "start-up, prison --ip (userns) " + how + " (seccomp, caps) vs crun run", Num: nameIPU + sfx, Den: nameCrun, Max: 0.5}
			}),
			inModes(func(sfx, how string) Target {
				return Target{Label: "user namespace's cost: prison --ip " + how + ", userns over --userns host", Num: nameIPU + sfx, Den: nameIPH + sfx, Max: UserNSMax}
			}),
		),
		Notes: []string{
			"The (daemon) rows are served by the suite's resident prison daemon (see Method): the timed " +
				"process is prison run's C client, which forks the jail's init while the warm daemon does the " +
				"rest. The (no daemon) rows launch the jail themselves, one Go process per jail.",
			"What each contender does besides running /bin/true: prison makes its namespaces, pivot_roots, " +
				"mounts /proc and a minimal /dev, drops capabilities and installs its default seccomp filter " +
				"(--ip adds a veth pair with the address and routes). bwrap --unshare-all, run as root, also makes " +
				"a user namespace (0 mapped to 0) and sets no_new_privs, but keeps every capability and installs " +
				"no filter. crun and runc run `runc spec`'s default config: pid, network, IPC, UTS and mount " +
				"namespaces, three capabilities, masked /proc paths, a cgroup, no seccomp profile.",
			"The (userns) rows are prison's default, --userns auto (no flag; the driver clears " + UserNSEnv +
				" from its own environment and so from its daemon's). On top of a --userns host start, each " +
				"jail gets a range of 65536 host ids claimed from the state store; the init's clone makes " +
				"CLONE_NEWUSER with every other namespace, so the user namespace owns them all; the process " +
				"that cloned it (prison run's C client for the (daemon) rows, the launcher otherwise) writes " +
				"the init's uid_map and gid_map (jail ids 0–65535 to that range) while the init waits, before " +
				"it execs; and the launcher hands the init one idmapped detached clone of the host tree the " +
				"jail's root comes from (open_tree(2) of --root's directory, recursive, then mount_setattr(2) " +
				"with MOUNT_ATTR_IDMAP), which the init binds as its root: one per jail. The --userns host " +
				"rows (`prison run --userns host`) make no user namespace, write no maps and bind --root " +
				"directly: root in the jail is the host's root with fewer capabilities.",
			fmt.Sprintf("The bwrap targets compare the (userns) rows, since bwrap makes a user namespace too: "+
				"--unshare-all includes --unshare-user-try, which bwrap turns into --unshare-user when the "+
				"kernel has user namespaces, as root as well (checked here with bwrap 0.8: /proc/self/ns/user "+
				"differs from the host's and uid_map reads `0 0 1`). Its namespace maps one id to itself, so it "+
				"needs no idmapped mount and no id range: prison's userns rows do more for the same namespace. "+
				"The user namespace's cost is the (userns) row over its --userns host twin, in the same rounds. "+
				"The issue bounds only the start against bwrap; this ratio gets %.2f×, so that it has a verdict: "+
				"CLONE_NEWUSER, two map writes and one idmapped clone are a few system calls each, and should not "+
				"take a seventh of a start that already costs several milliseconds, while a tighter bound would "+
				"flip with the noise of a 2-core machine (the p10–p90 bands above span a third of a median or more). "+
				"A ratio above it points at something the user namespace made slow, not at the namespace itself.", UserNSMax),
			"The floor makes the same namespaces and mounts /proc, but no /dev, no pivot_root, " +
				"no capabilities or seccomp and no cgroup: what is left of any runtime once its policy is gone. " +
				"chroot alone, without namespaces, would measure process creation only.",
		},
	}, {
		ID:    SecMounts,
		Title: "Mounts: start-up on a host with many mounts",
		About: fmt.Sprintf("Start-up as above (/bin/true on the busybox root, fork to reap), with every "+
			"contender started from one private mount namespace that the suite made once, before the "+
			"measurements, with %d tmpfs mounts more than the host's: a container host has hundreds of "+
			"mounts. The (daemon) rows are served by a second prison daemon, which runs in that namespace "+
			"on a socket of its own (a daemon serves only clients of its own mount namespace) and is "+
			"checked and stopped as the first.", ExtraMounts),
		Unit: "ms", Rounds: 200, Warmup: 3,
		Measure:  WallTime,
		Baseline: nameBwrap,
		Contenders: []*Contender{
			e.inManyMounts(e.prisonAt(nameNoneU+daemonSuffix, nil, nil, "/bin/true"), true),
			e.inManyMounts(e.prisonAt(nameIPU+daemonSuffix, e.nextMountsIP, nil, "/bin/true"), true),
			e.inManyMounts(e.prisonAt(nameNoneU+directSuffix, nil, nil, "/bin/true"), false),
			e.inManyMounts(e.bwrap(nameBwrap, "/bin/true"), false),
		},
		Remarks: func(res *Result, all []*Result) []string {
			return mountsRemarks(res, all, e.MountsCount, e.HostMounts)
		},
		Notes: []string{
			mountsNote(e.MountsCount, e.HostMounts),
			"bwrap reads the whole of /proc/self/mountinfo, a line per mount, for each of its bind mounts " +
				"(bubblewrap's bind-mount.c: get_mountflags for the flags of the mount it remounts, " +
				"get_submounts for the mounts under it); bwrap 0.8 opens it 9 times in a start of this " +
				"command line (strace), so its start-up grows with the host's mount table. prison reads no " +
				"mount table: its init copies the tree with its new mount namespace, makes it private, binds " +
				"the root, pivot_roots and detaches the old root. What the kernel does per mount (copying the " +
				"tree, changing its propagation, tearing it down when the jail exits) every contender pays " +
				"alike, bwrap too: it is why prison's rows here are a little slower than in the start-up " +
				"section.",
		},
	}, {
		ID:    SecLimits,
		Title: fmt.Sprintf("Limits: start-up with --memory %dM --pids %d", LimitMemory>>20, LimitPids),
		About: fmt.Sprintf("Start-up as above (wall time from fork to reap of one jail running /bin/true on "+
			"the busybox root), every jail and container with limits: prison run --memory %dM --pids %d "+
			"(%d MiB of memory, no swap, %d processes), and crun run and runc run of the start-up section's "+
			"bundle with the same limits added to its linux.resources (memory.limit and memory.swap %d MiB, "+
			"pids.limit %d). bwrap, which makes no cgroup and sets no limit, is there for reference.",
			LimitMemory>>20, LimitPids, LimitMemory>>20, LimitPids, LimitMemory>>20, LimitPids),
		Unit: "ms", Rounds: 200, Warmup: 3,
		Measure:  WallTime,
		Baseline: nameCrun,
		Contenders: []*Contender{
			limNoneD, limIPD, limNone, limIP,
			e.bwrap(nameBwrap, "/bin/true"),
			e.oci(nameCrun, "crun", e.LimitsBundle),
			e.oci(nameRunc, "runc", e.LimitsBundle),
		},
		Targets: inModes(func(sfx, how string) Target {
			return Target{Label: "start-up with limits, prison --ip (userns) " + how + " vs crun run with the same limits", Num: nameIPU + sfx, Den: nameCrun, Max: 0.5}
		}),
		Notes: []string{
			"crun and runc use their default cgroupfs driver (no systemd): each container gets a cgroup of " +
				"its own, named by its id, in every v1 hierarchy (cpuset and devices too; crun at each one's " +
				"root, runc under the driver's own cgroup), with the limits written and the container's process " +
				"moved in before it runs anything of the container's; `run` removes the cgroup once the " +
				"container has exited.",
			"prison makes a cgroup per jail (/prison/NAME) on the v1 hierarchies it uses: pids, memory, cpu, " +
				"cpuacct, blkio, freezer and systemd's (name=systemd). It is made, with the limits, while the " +
				"jail's init starts, and the init is moved in before it runs anything of the jail's. Without " +
				"--pids a jail gets --pids 1024, so the start-up section's prison rows have a cgroup too; " +
				"here the memory limit is written as well.",
			"On cgroup v1, moving a process into a cgroup (a write to cgroup.procs) takes the kernel's " +
				"cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period unless another move " +
				"has just done so (rcu_sync): milliseconds, more on a busy machine. prison, crun and runc each " +
				"pay it once per jail or container, on the first hierarchy their process joins (the others " +
				"follow within the same grace); prison's --timing counts it in its cgroup phase. bwrap pays " +
				"nothing of it.",
		},
	}, {
		ID:    SecNetwork,
		Title: "Network: --ip over --net none",
		About: "The jail runs `/loop stamp`, which prints CLOCK_MONOTONIC as its first act. " +
			"start = fork → stamp, exit = stamp → reap, total = both. The last columns are the differences " +
			"of the medians, with the p10–p90 band of the per-round differences (every variant runs in every " +
			"round), for each launch mode.",
		Unit: "ms", Rounds: 200, Warmup: 3,
		Measure: StartExit,
		Contenders: []*Contender{
			stampNoneD, stampIPD, stampNone, stampIP,
			e.ipScript(nameIPSh),
		},
		Diffs: []Diff{
			{Label: "--ip − --net none" + daemonSuffix, A: nameNone + daemonSuffix, B: nameIP + daemonSuffix},
			{Label: "--ip − --net none" + directSuffix, A: nameNone + directSuffix, B: nameIP + directSuffix},
		},
		Targets: slices.Concat(
			inModes(func(sfx, how string) Target {
				return Target{Label: "--ip over --net none (start + exit), " + how, Num: nameIP + sfx, Den: nameNone + sfx, Metric: "total", Diff: true, Max: 0.6}
			}),
			inModes(func(sfx, how string) Target {
				return Target{
					Label: "--ip's cost over --net none " + how + ", as a share of the same setup done with ip(8)",
					Num:   nameIP + sfx, Den: nameNone + sfx, Base: nameIPSh, Metric: "total", Max: 1.0,
				}
			}),
		),
		Notes: []string{"The same network with ip(8) is bench/ipsetup.sh: a network namespace from " +
			"unshare(1) gets the veth pair, addresses, routes and rules prison sets, with ip(8) and " +
			"nsenter(1), and loses them again. Its row is its whole wall time, in the total column."},
	}, {
		ID:    SecSeccomp,
		Title: "Seccomp: a syscall loop with and without the filter",
		About: "The static loop program makes one system call N times inside a jail and prints ns/op " +
			"(its own clock; the jail's start-up is not in the number). The default policy allows getppid " +
			"outright; it allows personality(0xffffffff) (a query) and socket(AF_UNIX, …) only after " +
			"checking their arguments. --seccomp=off is prison's hidden switch that skips the filter and " +
			"nothing else. socket+close does a socket's real work each time, so the filter's share of it is " +
			"small; personality is the strict test of an argument check. The jails launch without the daemon: " +
			"the loop's cost does not depend on who launched it.",
		// Each run takes ~0.2 s: short enough for many rounds, which beat
		// long runs on a machine whose neighbours come and go.
		Unit: "ns/op", Rounds: 30, Warmup: 1,
		Measure:    NsPerOp,
		Contenders: seccompPairs(e, seccompOff, [][2]string{{"getppid", "1000000"}, {"personality", "1000000"}, {"socket", "100000"}}),
		Targets: []Target{
			{Label: "seccomp, allowed outright (getppid)", Num: "getppid, default filter", Den: "getppid, --seccomp=off", Max: 1.03},
			{Label: "seccomp, checked by argument (personality)", Num: "personality, default filter", Den: "personality, --seccomp=off", Max: 1.2},
			{Label: "seccomp, checked by argument (socket+close)", Num: "socket, default filter", Den: "socket, --seccomp=off", Max: 1.2},
		},
	}, {
		ID:    SecParallel,
		Title: fmt.Sprintf("Parallelism: %d jails at once vs one after another", ParallelJails),
		About: fmt.Sprintf("Wall time of a batch of %d jails running /bin/true: all started at once "+
			"(one goroutine each) or one after another. On 2 cores the ideal ratio is 0.5.", ParallelJails),
		Unit: "ms", Rounds: 10, Warmup: 1,
		Measure: Batch(ParallelJails, false),
		Contenders: slices.Concat(parallelPairs(e, nameNone, false), parallelPairs(e, nameIP, true), []*Contender{
			parallel(e.bwrap(nameBwrap+" ×50 parallel", "/bin/true")),
			e.bwrap(nameBwrap+" ×50 sequential", "/bin/true"),
		}),
		Targets: slices.Concat(
			inModes(func(sfx, how string) Target {
				return Target{
					Label: "50 parallel vs sequential, prison --net none " + how,
					Num:   nameNone + sfx + " ×50 parallel", Den: nameNone + sfx + " ×50 sequential", Max: 0.55,
				}
			}),
			inModes(func(sfx, how string) Target {
				return Target{
					Label: "50 parallel vs sequential, prison --ip " + how,
					Num:   nameIP + sfx + " ×50 parallel", Den: nameIP + sfx + " ×50 sequential", Max: 0.55,
				}
			}),
		),
		Notes: []string{"bwrap's pair shows what this machine allows; it has no target. " +
			"Through the daemon, the 50 clients of a parallel batch are served by one daemon at once."},
	}, {
		ID:    SecPhases,
		Title: "Where the time goes: prison's start path by phase",
		About: "`prison run --timing` prints one `prison-timing: {…}` line on stderr with each phase " +
			"in µs; the table gives each phase's median (p10–p90) over the rounds, in prison's order, " +
			"after the driver's own wall time.",
		Unit: "µs", Rounds: 200, Warmup: 3,
		Measure:    PrisonTiming,
		Contenders: []*Contender{timeNoneD, timeIPD, timeNone, timeIP},
		Notes: []string{"Through the daemon, the phases are the daemon's, and launcher_start runs from the " +
			"start of prison run's C client to the daemon's start of the jail: the request's way to the " +
			"warm daemon. Without it, launcher_start is the Go launcher's own start-up, from its exec."},
	}, {
		ID:    SecExec,
		Title: "Exec: /bin/true in a running jail",
		About: "Wall time from fork to reap of one `prison exec` running /bin/true in a persistent jail " +
			"(prison create --net none on the busybox root), against `crun exec` and `runc exec` in a " +
			"running container of the same root whose process is `/bin/sleep infinity` (the start-up " +
			"section's bundle with that command). Each jail or container is made once, before the " +
			"section's first invocation, and removed after its last.",
		Unit: "ms", Rounds: 100, Warmup: 3,
		Measure:  WallTime,
		Baseline: nameCrunExec,
		Contenders: []*Contender{
			e.viaDaemon(e.execIn(nameExecD, "prison", e.prisonUnit)),
			e.execIn(nameExec, "prison", e.prisonUnit),
			e.execIn(nameCrunExec, "crun", e.ociUnit),
			e.execIn(nameRuncExec, "runc", e.ociUnit),
		},
		Targets: []Target{
			{Label: "exec, prison exec (daemon) vs crun exec", Num: nameExecD, Den: nameCrunExec, Max: 0.5},
			{Label: "exec, prison exec (no daemon) vs crun exec", Num: nameExec, Den: nameCrunExec, Max: 0.5},
		},
		Notes: []string{"What the command gets: prison exec enters the jail's namespaces, root, capability " +
			"bounding set, limits and seccomp filter (prison's default policy), with no terminal (-T). " +
			"crun exec and runc exec enter the container's namespaces and cgroup, with the spec's " +
			"capabilities, no seccomp profile (`runc spec` has none) and no terminal."},
	}, {
		ID:    SecCreate,
		Title: "Create and delete: a persistent jail vs a container",
		About: "Each invocation brings up one jail or container under a fresh name and removes it again: " +
			"`prison create --net none` then `prison delete -t 0` (no grace period: SIGKILL); `crun create`, " +
			"`crun start` (the container runs `/bin/sleep infinity`), then `crun delete -f` (SIGKILL); runc " +
			"likewise. Each step's wall time is from fork to reap of its command; total is their sum.",
		Unit: "ms", Rounds: 50, Warmup: 2,
		Measure:  UpDown,
		Baseline: nameCrunCreate,
		Contenders: []*Contender{
			e.unit(nameCreate, "prison", e.prisonUnit),
			e.unit(nameCrunCreate, "crun", e.ociUnit),
			e.unit(nameRuncCreate, "runc", e.ociUnit),
		},
		Notes: []string{"prison create returns once the jail's PID 1 (prison-init) is up and no prison process " +
			"is left; crun and runc create leave the container's process waiting on its exec FIFO, and start " +
			"lets it exec. The jail has the namespaces of prison run --net none (a network namespace with " +
			"its loopback, no veth); the container has `runc spec`'s (a network namespace too) and a cgroup."},
	}, {
		ID:    SecMemory,
		Title: fmt.Sprintf("Idle memory: %d persistent jails vs %d containers", IdleUnits, IdleUnits),
		About: fmt.Sprintf("Each invocation brings up %d idle jails or containers of one runtime, one after "+
			"another, reads their memory once all are up and idle, and removes them all. The values are "+
			"per jail or container, in KiB: the sums over each one's host processes (the process the "+
			"runtime leaves and its descendants) of Pss and of private memory (Private_Clean + "+
			"Private_Dirty) from /proc/PID/smaps_rollup, of their page tables (VmPTE) and kernel stacks "+
			"(%d KiB a thread), and the growth of the host's unreclaimable kernel memory over the batch "+
			"(SUnreclaim + KernelStack + PageTables + SecPageTables + Percpu of /proc/meminfo, read when it "+
			"has settled, before and after), divided by %d.", IdleUnits, kernelStackKiB, IdleUnits),
		Unit: "KiB", Rounds: 3, Warmup: 0,
		Measure:  IdleMemory(IdleUnits, idle),
		Baseline: nameCrunIdle,
		Contenders: []*Contender{
			e.unit(nameIdle, "prison", e.prisonUnit),
			e.unit(nameCrunIdle, "crun", e.ociUnit),
			e.unit(nameBwrapIdle, "bwrap", e.bwrapUnit),
		},
		Targets: []Target{{Label: "idle memory per persistent jail (Pss, host side included)", Num: nameIdle, Metric: keyPss, Max: 256}},
		Remarks: func(*Result, []*Result) []string {
			if r := idle.Remark([]string{nameIdle, nameCrunIdle, nameBwrapIdle}); r != "" {
				return []string{r}
			}
			return nil
		},
		Notes: []string{
			"What is counted for each: prison, the jail's PID 1 (prison-init, the host pid that `prison list " +
				"--json` gives) and its descendants (none while the jail is idle); there is no other host-side " +
				"process. crun, the container's process (`crun state`'s pid, `/bin/sleep infinity`, busybox) and " +
				"its descendants: after `crun start` crun itself exits and there is no shim. bwrap, its own " +
				"process, its child (PID 1 of the sandbox, which reaps) and `/bin/sleep infinity` under it. " +
				"For all three, also any process that appeared during the batch, stayed, is outside those trees " +
				"and names one of the batch's units on its command line (a conmon-like shim); the remark above " +
				"says whether there was one.",
			fmt.Sprintf("Pss splits each shared page among the processes that map it, so the %d copies of a "+
				"binary's text cost each 1/%d of it, and pages shared with the rest of the host (bwrap's libc) "+
				"cost little; a lone jail or container carries the whole of the text it touches. Private counts "+
				"only the pages no other process maps.", IdleUnits, IdleUnits),
			"The kernel Δ includes the page tables and stacks of the row above and, besides, the namespaces, " +
				"mounts and cgroups; it is system-wide, so it also takes in whatever else the host did during the " +
				"batch. prison's jail and crun's container each have a network namespace; bwrap --unshare-all " +
				"makes one too, and a user namespace.",
			"A bwrap sandbox is removed by killing bwrap (SIGKILL), whose sandbox ends with it; it runs with " +
				"--die-with-parent here, so that none outlives the driver.",
		},
	}}, e.ociSections()...)
}

// mountsNote says what the mounts section's namespace holds: count mounts,
// the driver's host of them and ExtraMounts; 0 means not counted.
func mountsNote(count, host int) string {
	held := "The namespace's mounts could not be counted"
	if count > 0 {
		held = fmt.Sprintf("The namespace holds %d mounts (the lines of /proc/PID/mountinfo of a process in it", count)
		if host > 0 {
			held += fmt.Sprintf("; the driver's own namespace has %d", host)
		}
		held += ")"
	}
	return held + fmt.Sprintf(": a copy of the driver's mounts, made private, and %d empty tmpfs mounts on "+
		"directories in the suite's temporary directory. Private propagation keeps them from the host's "+
		"namespace, and they end with the namespace, at the end of the run.", ExtraMounts)
}

// mountsRemarks states the mounts section's ratios: each prison row's to
// bwrap, there and in the start-up section when all has it, and each row's
// median against its start-up twin's.
func mountsRemarks(res *Result, all []*Result, count, host int) []string {
	rows := []string{nameNoneU + daemonSuffix, nameIPU + daemonSuffix, nameNoneU + directSuffix}
	var startup *Result
	for _, r := range all {
		if r.Section.ID == SecStartup {
			startup = r
		}
	}
	mounts := "many mounts"
	if count > 0 {
		mounts = fmt.Sprintf("%d mounts", count)
	}
	var here, there []string
	for _, name := range rows {
		v, ok := res.Ratio(name, nameBwrap)
		if !ok {
			continue
		}
		here = append(here, fmt.Sprintf("%s %.2f×", name, v))
		if startup == nil {
			continue
		}
		if w, ok := startup.Ratio(name, nameBwrap); ok {
			there = append(there, fmt.Sprintf("%.2f×", w))
		} else {
			there = append(there, "n/a")
		}
	}
	var out []string
	if len(here) > 0 {
		s := fmt.Sprintf("With %s, against %s: %s", mounts, nameBwrap, strings.Join(here, ", "))
		if startup != nil {
			own := "the driver's own mounts"
			if host > 0 {
				own = fmt.Sprintf("the driver's own %d mounts", host)
			}
			s += fmt.Sprintf(" (on %s, in the start-up section: %s)", own, strings.Join(there, ", "))
		}
		out = append(out, s+".")
	}
	if startup == nil {
		return out
	}
	var slower []string
	for _, name := range append([]string{nameBwrap}, rows...) {
		a, b := res.Get(name), startup.Get(name)
		if a == nil || b == nil || a.Contender.NA != "" || b.Contender.NA != "" || len(a.Values("")) == 0 || len(b.Values("")) == 0 {
			continue
		}
		ma, mb := a.Summary("").Median, b.Summary("").Median
		slower = append(slower, fmt.Sprintf("%s %.2f× (%s against %s %s)", name, ma/mb, num(ma), num(mb), res.Section.Unit))
	}
	if len(slower) > 0 {
		out = append(out, "Each row's median here against its start-up twin's: "+strings.Join(slower, ", ")+
			". The two sections run one after the other, not in alternating rounds, so this comparison "+
			"carries the machine's drift between them.")
	}
	return out
}

// parallelPairs returns prison's batch contenders of one network choice in
// both launch modes: ×50 parallel and ×50 sequential, daemon first.
func parallelPairs(e *Env, name string, ip bool) []*Contender {
	var cs []*Contender
	for _, sfx := range []string{daemonSuffix, directSuffix} {
		mk := func(batch string) *Contender {
			c := e.prison(name+sfx+" ×50 "+batch, ip, nil, "/bin/true")
			if sfx == daemonSuffix {
				c = e.viaDaemon(c)
			}
			return c
		}
		cs = append(cs, parallel(mk("parallel")), mk("sequential"))
	}
	return cs
}

// seccompPairs returns, for each loop mode and count, the loop in a jail
// with the default filter and with off.
func seccompPairs(e *Env, off []string, modes [][2]string) []*Contender {
	var cs []*Contender
	for _, m := range modes {
		cs = append(cs,
			e.prison(m[0]+", default filter", false, nil, "/loop", m[0], m[1]),
			e.prison(m[0]+", --seccomp=off", false, off, "/loop", m[0], m[1]))
	}
	return cs
}

// parallel makes c start its batch of ParallelJails invocations at once
// instead of one after another.
func parallel(c *Contender) *Contender {
	c.Measure = Batch(ParallelJails, true)
	return c
}
