package bench

import (
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"sync/atomic"
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
	// whose config.json runs /bin/true on Root, read-only.
	Root, Bundle string
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

	ids atomic.Uint64
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

// prison returns a contender running prison with the given arguments before
// and after the --net/--ip choice; ip selects a fresh --ip per invocation
// instead of --net none. prison launches the jail itself: PRISON_SOCKET=none
// keeps a daemon on the default socket from serving it (see viaDaemon).
func (e *Env) prison(name string, ip bool, pre []string, cmd ...string) *Contender {
	c := &Contender{Name: name, NA: e.PrisonNA, Env: []string{SocketEnv + "=none"}}
	c.Args = func() []string {
		a := append([]string{e.Prison, "run"}, pre...)
		a = append(a, "--root", e.Root)
		if ip {
			a = append(a, "--ip", e.nextIP())
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
	c.ViaDaemon = true
	c.Env = []string{SocketEnv + "=" + e.Socket}
	switch {
	case c.NA != "":
	case e.DaemonNA != "":
		c.NA = e.DaemonNA
	case e.Socket == "":
		c.NA = "no prison daemon"
	}
	if e.Daemon != nil {
		c.Around = e.Daemon.Around
	}
	return c
}

// prisonModes returns the same prison contender launched both ways: served
// by the daemon, named NAME (daemon), and on its own, NAME (no daemon).
func (e *Env) prisonModes(name string, ip bool, pre []string, cmd ...string) (daemon, direct *Contender) {
	return e.viaDaemon(e.prison(name+daemonSuffix, ip, pre, cmd...)), e.prison(name+directSuffix, ip, pre, cmd...)
}

// NeedsDaemon reports whether any contender of sections is served by the
// daemon.
func NeedsDaemon(sections []*Section) bool {
	for _, s := range sections {
		for _, c := range s.Contenders {
			if c.ViaDaemon {
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

// oci runs the bundle with crun or runc, each with its own state root and a
// fresh container id. `run` creates, starts, waits for and deletes the
// container, as a jail's one-shot run does.
func (e *Env) oci(name, runtime string) *Contender {
	c := e.tool(name, runtime, func(bin string) []string {
		id := e.IDPrefix + runtime + "-" + strconv.FormatUint(e.nextID(), 10)
		return []string{bin, "--root", e.State + "/" + runtime, "run", "--bundle", e.Bundle, id}
	})
	if runtime == "crun" {
		c.Start = e.CrunStart
	}
	return c
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
		return append([]string{bin, "--mount", "--uts", "--ipc", "--net", "--pid", "--cgroup", "--fork",
			"--mount-proc=" + e.Root + "/proc", e.Tools["chroot"], e.Root}, cmd...)
	})
	if c.NA == "" && e.Tools["chroot"] == "" {
		c.NA = "chroot not found"
	}
	return c
}

// Section ids, for -only.
const (
	SecStartup  = "startup"
	SecNetwork  = "network"
	SecSeccomp  = "seccomp"
	SecParallel = "parallel"
	SecPhases   = "phases"
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
)

// ParallelJails is the batch size of the parallelism section.
const ParallelJails = 50

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
	noneD, none := e.prisonModes(nameNone, false, nil, "/bin/true")
	ipD, ip := e.prisonModes(nameIP, true, nil, "/bin/true")
	stampNoneD, stampNone := e.prisonModes(nameNone, false, nil, "/loop", "stamp")
	stampIPD, stampIP := e.prisonModes(nameIP, true, nil, "/loop", "stamp")
	timeNoneD, timeNone := e.prisonModes("--net none", false, timing, "/bin/true")
	timeIPD, timeIP := e.prisonModes("--ip", true, timing, "/bin/true")

	return []*Section{{
		ID:    SecStartup,
		Title: "Start-up: /bin/true in a jail",
		About: "Wall time from fork to reap of one jail running /bin/true on the busybox root, " +
			"as seen by the benchmark driver (Go os/exec, output to memory).",
		Unit: "ms", Rounds: 200, Warmup: 3,
		Measure:  WallTime,
		Baseline: nameBwrap,
		Contenders: []*Contender{
			noneD, ipD, none, ip,
			e.bwrap(nameBwrap, "/bin/true"),
			e.oci(nameCrun, "crun"),
			e.oci(nameRunc, "runc"),
			e.floor(nameFloor, "/bin/true"),
		},
		Targets: slices.Concat(
			inModes(func(sfx, how string) Target {
				return Target{Label: "start-up, prison --ip " + how + " (seccomp, caps) vs bwrap --unshare-all", Num: nameIP + sfx, Den: nameBwrap, Max: 1.0}
			}),
			inModes(func(sfx, how string) Target {
				return Target{Label: "start-up, prison --ip " + how + " (seccomp, caps) vs crun run", Num: nameIP + sfx, Den: nameCrun, Max: 0.5}
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
			"The floor makes the same namespaces and mounts /proc, but no /dev, no pivot_root, " +
				"no capabilities or seccomp and no cgroup: what is left of any runtime once its policy is gone. " +
				"chroot alone, without namespaces, would measure process creation only.",
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
				return Target{Label: "--ip's cost over --net none " + how + ", as a share of the same setup done with ip(8)",
					Num: nameIP + sfx, Den: nameNone + sfx, Base: nameIPSh, Metric: "total", Max: 1.0}
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
				return Target{Label: "50 parallel vs sequential, prison --net none " + how,
					Num: nameNone + sfx + " ×50 parallel", Den: nameNone + sfx + " ×50 sequential", Max: 0.55}
			}),
			inModes(func(sfx, how string) Target {
				return Target{Label: "50 parallel vs sequential, prison --ip " + how,
					Num: nameIP + sfx + " ×50 parallel", Den: nameIP + sfx + " ×50 sequential", Max: 0.55}
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
	}}
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
