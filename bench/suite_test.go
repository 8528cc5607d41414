package bench

import (
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// TestSuiteIsConsistent checks the declarative suite: every name a target,
// diff or baseline uses exists, names and ids are unique, and every
// invocation gets a fresh address and container id.
func TestSuiteIsConsistent(t *testing.T) {
	env := &Env{
		Prison: "/bin/prison", Root: "/r", Bundle: "/b", SleepBundle: "/sb", LimitsBundle: "/lb", State: "/s", IDPrefix: "pb-",
		Tools: map[string]string{
			"bwrap": "/bin/bwrap", "crun": "/bin/crun", "runc": "/bin/runc", "unshare": "/bin/unshare", "chroot": "/bin/chroot",
			"ip": "/bin/ip", "nsenter": "/bin/nsenter",
		},
		IPScript: "/repo/bench/ipsetup.sh", Socket: "/tmp/pb/daemon.sock",
		MountsStart: (*exec.Cmd).Start, MountsSocket: "/tmp/pb/mounts-daemon.sock",
	}
	ociEnv(env)
	ids := map[string]bool{}
	for _, s := range Suite(env) {
		if ids[s.ID] {
			t.Errorf("duplicate section id %q", s.ID)
		}
		ids[s.ID] = true
		names := map[string]bool{}
		for _, c := range s.Contenders {
			if names[c.Name] {
				t.Errorf("%s: duplicate contender %q", s.ID, c.Name)
			}
			names[c.Name] = true
			if c.NA != "" {
				t.Errorf("%s: %s is n/a with every tool present: %s", s.ID, c.Name, c.NA)
			}
			lines := c.commandLines()
			if len(lines) == 0 {
				t.Errorf("%s: %s has no command line", s.ID, c.Name)
			}
			for _, a := range lines {
				if !strings.HasPrefix(a[len(c.Env)], "/") {
					t.Errorf("%s: %s runs %q, want an absolute path", s.ID, c.Name, a[len(c.Env)])
				}
			}
		}
		if s.Measure == nil {
			t.Errorf("%s: no Measure", s.ID)
		}
		var refs []string
		if s.Baseline != "" {
			refs = append(refs, s.Baseline)
		}
		for _, tg := range s.Targets {
			refs = append(refs, tg.Num)
			if tg.Den != "" {
				refs = append(refs, tg.Den)
			}
			if tg.Base != "" {
				refs = append(refs, tg.Base)
			}
		}
		for _, d := range s.Diffs {
			refs = append(refs, d.A, d.B)
		}
		for _, r := range refs {
			if !names[r] {
				t.Errorf("%s: refers to unknown contender %q", s.ID, r)
			}
		}
	}

	for _, name := range []string{nameIPU + directSuffix, nameIPU + daemonSuffix, nameIPH + directSuffix, nameIPH + daemonSuffix} {
		ip := Suite(env)[0].Contender(name)
		if a, b := ShellQuote(ip.Args()), ShellQuote(ip.Args()); a == b {
			t.Errorf("two invocations share a command line: %s", a)
		}
	}
	crun := Suite(env)[0].Contender(nameCrun)
	if a, b := ShellQuote(crun.Args()), ShellQuote(crun.Args()); a == b {
		t.Errorf("two crun invocations share a container id: %s", a)
	}
}

func TestSuiteMissingTools(t *testing.T) {
	env := &Env{PrisonNA: "no binary", Tools: map[string]string{}, ToolNA: map[string]string{"crun": "crun not found"}}
	for _, s := range Suite(env) {
		for _, c := range s.Contenders {
			if c.NA == "" {
				t.Errorf("%s: %s is not n/a without its binary", s.ID, c.Name)
			}
		}
	}
}

func TestNextIP(t *testing.T) {
	env := &Env{}
	seen := map[string]bool{}
	for range 254 * 254 {
		ip := env.nextIP()
		if seen[ip] {
			t.Fatalf("address %s handed out twice", ip)
		}
		if !strings.HasPrefix(ip, "10.254.") || strings.HasSuffix(ip, ".0") || strings.HasSuffix(ip, ".255") {
			t.Fatalf("bad address %s", ip)
		}
		seen[ip] = true
	}
}

// TestSuiteLaunchModes checks that every prison contender says explicitly
// whether a daemon serves it, that the daemon ones name the suite's
// socket, and that every target on daemon rows has its twin on the rows
// without a daemon.
func TestSuiteLaunchModes(t *testing.T) {
	env := &Env{
		Prison: "/bin/prison", Root: "/r", Socket: "/tmp/pb/daemon.sock",
		MountsStart: (*exec.Cmd).Start, MountsSocket: "/tmp/pb/mounts-daemon.sock",
		Tools: map[string]string{"bwrap": "/bin/bwrap", "ip": "/bin/ip", "nsenter": "/bin/nsenter"},
	}
	served := 0
	for _, s := range Suite(env) {
		for _, c := range s.Contenders {
			if a := c.Args; a == nil || a()[0] != env.Prison {
				if len(c.Env) != 0 || c.ViaDaemon {
					t.Errorf("%s: %s is not prison but has %q", s.ID, c.Name, c.Env)
				}
				continue
			}
			want := SocketEnv + "=none"
			switch {
			case c.ViaDaemon && c.ManyMounts:
				want = SocketEnv + "=" + env.MountsSocket
				served++
			case c.ViaDaemon:
				want = SocketEnv + "=" + env.Socket
				served++
			}
			if c.ViaDaemon != strings.Contains(c.Name, daemonSuffix) {
				t.Errorf("%s: %s: served by the daemon %v, but named otherwise", s.ID, c.Name, c.ViaDaemon)
			}
			if len(c.Env) != 1 || c.Env[0] != want {
				t.Errorf("%s: %s has environment %q, want [%s]", s.ID, c.Name, c.Env, want)
			}
		}
		for _, tg := range s.Targets {
			if !strings.Contains(tg.Label, "via daemon") {
				continue
			}
			twin := Target{
				Label:  strings.Replace(tg.Label, "via daemon", "without daemon", 1),
				Num:    strings.Replace(tg.Num, daemonSuffix, directSuffix, 1),
				Den:    strings.Replace(tg.Den, daemonSuffix, directSuffix, 1),
				Metric: tg.Metric, Diff: tg.Diff, Base: tg.Base, Max: tg.Max,
			}
			if tg.Num == twin.Num {
				t.Errorf("%s: target %q is not on a daemon row", s.ID, tg.Label)
			}
			found := false
			for _, o := range s.Targets {
				found = found || o == twin
			}
			if !found {
				t.Errorf("%s: target %q has no twin %+v", s.ID, tg.Label, twin)
			}
		}
	}
	// Start-up (in both user namespace modes: 4), mounts, limits,
	// network, parallelism (4) and phases each have the daemon pair; exec
	// has one row through the daemon.
	if served != 4+2+2+2+4+2+1 {
		t.Errorf("%d daemon contenders, want 17", served)
	}
}

func TestSuiteWithoutDaemon(t *testing.T) {
	env := &Env{
		Prison: "/bin/prison", Root: "/r", Socket: "/tmp/pb/daemon.sock", DaemonNA: "prison daemon exited before it listened",
		MountsStart: (*exec.Cmd).Start, MountsSocket: "/tmp/pb/mounts-daemon.sock", MountsDaemonNA: "prison daemon self-test: refused",
		Tools: map[string]string{"bwrap": "/bin/bwrap", "ip": "/bin/ip", "nsenter": "/bin/nsenter"},
	}
	for _, s := range Suite(env) {
		for _, c := range s.Contenders {
			want := env.DaemonNA
			if c.ManyMounts {
				want = env.MountsDaemonNA
			}
			switch {
			case c.ViaDaemon && c.NA != want:
				t.Errorf("%s: %s: NA = %q, want its daemon's failure %q", s.ID, c.Name, c.NA, want)
			case !c.ViaDaemon && (c.NA == env.DaemonNA || c.NA == env.MountsDaemonNA):
				t.Errorf("%s: %s is n/a for want of a daemon it does not use", s.ID, c.Name)
			}
		}
	}
	// Without a daemon to run, the driver starts none.
	var seccomp []*Section
	for _, s := range Suite(env) {
		if s.ID == SecSeccomp {
			seccomp = append(seccomp, s)
		}
	}
	if NeedsDaemon(seccomp) {
		t.Error("NeedsDaemon(seccomp) = true")
	}
	if ns, d := NeedsManyMounts(seccomp); ns || d {
		t.Errorf("NeedsManyMounts(seccomp) = %v, %v", ns, d)
	}
	if !NeedsDaemon(Suite(env)) {
		t.Error("NeedsDaemon(the suite) = false")
	}
	// The daemon's checks wrap its contenders' invocations.
	env.DaemonNA, env.Daemon = "", &Daemon{}
	if c := Suite(env)[0].Contender(nameIPU + daemonSuffix); c.Around == nil {
		t.Error("a daemon contender has no Around")
	}
	if c := Suite(env)[0].Contender(nameIPU + directSuffix); c.Around != nil {
		t.Error("a contender without the daemon has an Around")
	}
}

// TestStartupUserNS checks the start-up section's two user namespace
// modes: the (userns) rows run prison's default (no --userns), their
// --userns host twins the same command line with the flag, both launch
// modes of each, and the targets put bwrap and crun against the (userns)
// rows and the (userns) rows against their twins.
func TestStartupUserNS(t *testing.T) {
	var started []string
	s := Suite(mountsEnv(&started))[0]
	var names []string
	for _, c := range s.Contenders {
		names = append(names, c.Name)
	}
	want := []string{
		"prison --net none (userns) (daemon)", "prison --ip (userns) (daemon)",
		"prison --net none (userns) (no daemon)", "prison --ip (userns) (no daemon)",
		"prison --net none --userns host (daemon)", "prison --ip --userns host (daemon)",
		"prison --net none --userns host (no daemon)", "prison --ip --userns host (no daemon)",
		nameBwrap, nameCrun, nameRunc, nameFloor,
	}
	if got := strings.Join(names, "|"); got != strings.Join(want, "|") {
		t.Errorf("start-up rows:\n%s\nwant\n%s", got, strings.Join(want, "|"))
	}
	addr := func(a string) string {
		if i := strings.Index(a, " --ip "); i >= 0 {
			return a[:i]
		}
		return a
	}
	for _, pair := range [][2]string{{nameNoneU, nameNoneH}, {nameIPU, nameIPH}} {
		for _, sfx := range []string{daemonSuffix, directSuffix} {
			u, h := s.Contender(pair[0]+sfx), s.Contender(pair[1]+sfx)
			ua, ha := ShellQuote(u.Args()), ShellQuote(h.Args())
			if strings.Contains(ua, "--userns") {
				t.Errorf("%s: %s: want prison's default, no --userns", u.Name, ua)
			}
			if got := strings.Replace(addr(ha), "/bin/prison run --userns host ", "/bin/prison run ", 1); got != addr(ua) {
				t.Errorf("%s: %s, want %s with --userns host", h.Name, ha, ua)
			}
			if u.ViaDaemon != h.ViaDaemon || strings.Join(u.Env, " ") != strings.Join(h.Env, " ") {
				t.Errorf("%s and %s launch differently: %q, %q", u.Name, h.Name, u.Env, h.Env)
			}
		}
	}
	var targets []string
	for _, tg := range s.Targets {
		targets = append(targets, fmt.Sprintf("%s / %s ≤ %.2f", tg.Num, tg.Den, tg.Max))
	}
	wantT := []string{
		"prison --ip (userns) (daemon) / bwrap --unshare-all ≤ 1.00",
		"prison --ip (userns) (no daemon) / bwrap --unshare-all ≤ 1.00",
		"prison --ip (userns) (daemon) / crun run ≤ 0.50",
		"prison --ip (userns) (no daemon) / crun run ≤ 0.50",
		"prison --ip (userns) (daemon) / prison --ip --userns host (daemon) ≤ 1.15",
		"prison --ip (userns) (no daemon) / prison --ip --userns host (no daemon) ≤ 1.15",
	}
	if got := strings.Join(targets, "\n"); got != strings.Join(wantT, "\n") {
		t.Errorf("start-up targets:\n%s\nwant\n%s", got, strings.Join(wantT, "\n"))
	}
	if !strings.Contains(s.Targets[4].Label, "user namespace's cost: prison --ip via daemon, userns over --userns host") {
		t.Errorf("user namespace target: %q", s.Targets[4].Label)
	}
}

// mountsEnv returns an Env with every tool, both daemons' sockets and a
// mounts namespace whose Start records the commands it is given.
func mountsEnv(started *[]string) *Env {
	return &Env{
		Prison: "/bin/prison", Root: "/r", Bundle: "/b", LimitsBundle: "/lb", State: "/s", IDPrefix: "pb-",
		Tools: map[string]string{
			"bwrap": "/bin/bwrap", "crun": "/bin/crun", "runc": "/bin/runc", "unshare": "/bin/unshare",
			"chroot": "/bin/chroot", "ip": "/bin/ip", "nsenter": "/bin/nsenter",
		},
		Socket: "/tmp/pb/daemon.sock", MountsSocket: "/tmp/pb/mounts-daemon.sock",
		MountsStart: func(cmd *exec.Cmd) error {
			*started = append(*started, ShellQuote(cmd.Args))
			return nil
		},
		MountsCount: 320, HostMounts: 20,
	}
}

// TestMountsSection checks the mounts section's wiring: after start-up,
// the start-up section's command lines for its four rows (addresses aside),
// all started in the namespace, the daemon rows on the second daemon's
// socket, bwrap as the baseline and no target.
func TestMountsSection(t *testing.T) {
	var started []string
	env := mountsEnv(&started)
	suite := Suite(env)
	var ids []string
	for _, s := range suite {
		ids = append(ids, s.ID)
	}
	if got := strings.Join(ids, ","); got != "startup,mounts,limits,network,seccomp,parallel,phases,exec,create,memory,oci,ctr,podman" {
		t.Errorf("sections = %s", got)
	}
	startup, s := suite[0], suite[1]
	if s.ID != SecMounts || s.Baseline != nameBwrap || len(s.Targets) != 0 || s.Measure == nil || s.Rounds != startup.Rounds {
		t.Errorf("mounts section: id %q, baseline %q, %d targets, rounds %d", s.ID, s.Baseline, len(s.Targets), s.Rounds)
	}
	want := []string{nameNoneU + daemonSuffix, nameIPU + daemonSuffix, nameNoneU + directSuffix, nameBwrap}
	if len(s.Contenders) != len(want) {
		t.Fatalf("%d contenders, want %d", len(s.Contenders), len(want))
	}
	for i, c := range s.Contenders {
		if c.Name != want[i] {
			t.Errorf("contender %d = %q, want %q", i, c.Name, want[i])
		}
		if !c.ManyMounts || c.Start == nil || c.NA != "" {
			t.Errorf("%s: ManyMounts %v, Start set %v, NA %q", c.Name, c.ManyMounts, c.Start != nil, c.NA)
			continue
		}
		started = nil
		if err := c.Start(exec.Command("/bin/x")); err != nil || len(started) != 1 {
			t.Errorf("%s: Start does not start in the namespace: %v, %q", c.Name, err, started)
		}
		twin := startup.Contender(c.Name)
		got, orig := ShellQuote(c.Args()), ShellQuote(twin.Args())
		if c.Name == nameIPU+daemonSuffix {
			if !strings.Contains(got, " --ip 10.254.21.") {
				t.Errorf("%s: %s: want an address in 10.254.21.0/24", c.Name, got)
			}
			if again := ShellQuote(c.Args()); again == got {
				t.Errorf("%s: two invocations share the address: %s", c.Name, got)
			}
			cut := func(s string) string { return s[:strings.Index(s, " --ip ")] }
			got, orig = cut(got), cut(orig)
		}
		if got != orig {
			t.Errorf("%s: command line %s, start-up's %s", c.Name, got, orig)
		}
		if c.ViaDaemon != strings.HasSuffix(c.Name, daemonSuffix) {
			t.Errorf("%s: ViaDaemon = %v", c.Name, c.ViaDaemon)
		}
		if c.ViaDaemon && (len(c.Env) != 1 || c.Env[0] != SocketEnv+"="+env.MountsSocket) {
			t.Errorf("%s: environment %q, want the second daemon's socket", c.Name, c.Env)
		}
	}

	// The first daemon never serves the namespace's rows; the second one
	// checks its own.
	env = mountsEnv(&started)
	env.Daemon = &Daemon{}
	for _, c := range Suite(env)[1].Contenders {
		if c.Around != nil {
			t.Errorf("%s is checked by the first daemon", c.Name)
		}
	}
	env.MountsDaemon = &Daemon{}
	for _, c := range Suite(env)[1].Contenders {
		if (c.Around != nil) != c.ViaDaemon {
			t.Errorf("%s: Around set %v, ViaDaemon %v", c.Name, c.Around != nil, c.ViaDaemon)
		}
	}

	// Without the namespace every row is n/a, with its reason: on the
	// host's mount table they would measure the start-up section again.
	env = mountsEnv(&started)
	env.MountsStart, env.MountsNA = nil, "namespace with many mounts: operation not permitted"
	for _, c := range Suite(env)[1].Contenders {
		if c.NA != env.MountsNA {
			t.Errorf("%s: NA = %q without the namespace", c.Name, c.NA)
		}
	}
}

// TestNeedsManyMounts checks what the driver sets up for a choice of
// sections: the namespace and its daemon for the mounts section only, and
// the first daemon not for it.
func TestNeedsManyMounts(t *testing.T) {
	var started []string
	suite := Suite(mountsEnv(&started))
	only := func(id string) []*Section {
		for _, s := range suite {
			if s.ID == id {
				return []*Section{s}
			}
		}
		t.Fatalf("no section %s", id)
		return nil
	}
	if ns, d := NeedsManyMounts(only(SecMounts)); !ns || !d {
		t.Errorf("NeedsManyMounts(mounts) = %v, %v", ns, d)
	}
	if NeedsDaemon(only(SecMounts)) {
		t.Error("NeedsDaemon(mounts) = true: the first daemon would start for nothing")
	}
	if ns, d := NeedsManyMounts(only(SecStartup)); ns || d {
		t.Errorf("NeedsManyMounts(startup) = %v, %v", ns, d)
	}
	if ns, d := NeedsManyMounts(suite); !ns || !d {
		t.Errorf("NeedsManyMounts(the suite) = %v, %v", ns, d)
	}
}

func TestNextMountsIP(t *testing.T) {
	env := &Env{}
	seen := map[string]bool{}
	for i := range 254 {
		ip := env.nextMountsIP()
		if want := fmt.Sprintf("10.254.21.%d", i+1); ip != want {
			t.Fatalf("address %d = %s, want %s", i, ip, want)
		}
		seen[ip] = true
	}
	if ip := env.nextMountsIP(); ip != "10.254.21.1" {
		t.Errorf("after 254 addresses: %s, want 10.254.21.1 again", ip)
	}
	// The other sections' addresses stay out of it in a run of the default
	// rounds (some 4,500 of them).
	for range 5000 {
		if ip := env.nextIP(); seen[ip] {
			t.Fatalf("nextIP handed out %s, the mounts section's", ip)
		}
	}
}

// fakeMountsResults returns made-up start-up and mounts results: bwrap
// slows down with the mounts, prison does not.
func fakeMountsResults(env *Env) (startup, mounts *Result) {
	walls := map[string][2]float64{ // start-up, mounts
		nameNoneU + daemonSuffix: {3.5, 3.4}, nameIPU + daemonSuffix: {4, 3.9},
		nameNoneU + directSuffix: {6, 6.3}, nameIPU + directSuffix: {7, 7}, nameBwrap: {4, 6.8},
		nameNoneH + daemonSuffix: {3.2, 0}, nameIPH + daemonSuffix: {3.6, 0},
		nameNoneH + directSuffix: {5.5, 0}, nameIPH + directSuffix: {6.4, 0},
		nameCrun: {15, 15}, nameRunc: {27, 27}, nameFloor: {3.3, 3.3},
	}
	suite := Suite(env)
	for i, s := range suite[:2] {
		res := &Result{Section: s, Rounds: 1}
		for _, c := range s.Contenders {
			res.Series = append(res.Series, &Series{Contender: c, Samples: []Sample{{{"wall", walls[c.Name][i]}}}})
		}
		if i == 0 {
			startup = res
		} else {
			mounts = res
		}
	}
	return startup, mounts
}

func TestMountsNotes(t *testing.T) {
	var started []string
	env := mountsEnv(&started)
	startup, mounts := fakeMountsResults(env)
	md := (&Report{Results: []*Result{startup, mounts}}).Markdown()
	for _, want := range []string{
		"## Mounts: start-up on a host with many mounts",
		"| " + nameBwrap + " | 6.80 | 6.80 | 6.80 | 1.00× | 1 |",
		"| " + nameNoneU + daemonSuffix + " | 3.40 | 3.40 | 3.40 | 0.50× | 1 |",
		"The namespace holds 320 mounts (the lines of /proc/PID/mountinfo of a process in it; the driver's own namespace has 20): " +
			"a copy of the driver's mounts, made private, and 300 empty tmpfs mounts",
		"With 320 mounts, against bwrap --unshare-all: prison --net none (userns) (daemon) 0.50×, prison --ip (userns) (daemon) 0.57×, " +
			"prison --net none (userns) (no daemon) 0.93× (on the driver's own 20 mounts, in the start-up section: 0.88×, 1.00×, 1.50×).",
		"Each row's median here against its start-up twin's: bwrap --unshare-all 1.70× (6.80 against 4.00 ms), " +
			"prison --net none (userns) (daemon) 0.97× (3.40 against 3.50 ms)",
		"get_mountflags",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q; got:\n%s", want, md)
		}
	}
	// Rendered alone (-only mounts), the section gives its own ratios only.
	alone := mounts.Markdown()
	if !strings.Contains(alone, "prison --net none (userns) (no daemon) 0.93×.") || strings.Contains(alone, "in the start-up section:") || strings.Contains(alone, "start-up twin") {
		t.Errorf("mounts section alone:\n%s", alone)
	}
	// No target of its own.
	if got := (&Report{Results: []*Result{mounts}}).TargetsTable(); got != "No section with targets was run.\n" {
		t.Errorf("TargetsTable = %q", got)
	}
	// Uncounted, the note says so instead of a number.
	if n := mountsNote(0, 0); !strings.HasPrefix(n, "The namespace's mounts could not be counted: ") {
		t.Errorf("mountsNote(0, 0) = %q", n)
	}
}

// TestPersistentSections checks the wiring of the exec, create and memory
// sections: the exec rows enter the unit their Setup makes, crun runs
// where the driver starts it, the units' commands are the ones the notes
// describe, and the memory target bounds prison's own Pss.
func TestPersistentSections(t *testing.T) {
	var started []string
	env := mountsEnv(&started)
	env.SleepBundle = "/sb"
	env.CrunStart = func(cmd *exec.Cmd) error {
		started = append(started, ShellQuote(cmd.Args))
		return nil
	}
	byID := map[string]*Section{}
	for _, s := range Suite(env) {
		byID[s.ID] = s
	}

	ex := byID[SecExec]
	for _, c := range ex.Contenders {
		if c.Setup == nil || c.Unit != nil || c.NA != "" {
			t.Errorf("exec: %s: Setup %v, Unit %v, NA %q", c.Name, c.Setup != nil, c.Unit != nil, c.NA)
		}
		a := c.Args()
		if id := a[len(a)-2]; !strings.HasPrefix(id, env.IDPrefix) || ShellQuote(c.Args()) != ShellQuote(a) {
			t.Errorf("exec: %s: %s: want one fixed id with the run's prefix", c.Name, ShellQuote(a))
		}
	}
	if a := ShellQuote(ex.Contender(nameExec).Args()); !strings.HasPrefix(a, "/bin/prison exec -T pb-prison-") {
		t.Errorf("prison exec: %s", a)
	}
	started = nil
	if err := ex.Contender(nameCrunExec).Start(exec.Command("/bin/crun")); err != nil || len(started) != 1 {
		t.Errorf("crun exec does not start through CrunStart: %v, %q", err, started)
	}
	if ex.Contender(nameRuncExec).Start != nil {
		t.Error("runc exec starts through CrunStart")
	}

	wantCmds := map[string][]string{
		nameCreate: {"/bin/prison create --root /r --net none pb-prison-N", "/bin/prison delete -t 0 pb-prison-N"},
		nameCrunCreate: {
			"/bin/crun --root /s/crun create --bundle /sb pb-crun-N", "/bin/crun --root /s/crun start pb-crun-N",
			"/bin/crun --root /s/crun delete -f pb-crun-N",
		},
		nameBwrapIdle: {"/bin/bwrap --unshare-all --die-with-parent --ro-bind /r / --proc /proc --dev /dev /bin/sleep infinity"},
	}
	num := func(s string) string {
		f := strings.Fields(s)
		for i, w := range f {
			if j := strings.LastIndexByte(w, '-'); strings.HasPrefix(w, "pb-") && j > 0 {
				f[i] = w[:j+1] + "N"
			}
		}
		return strings.Join(f, " ")
	}
	for _, s := range []*Section{byID[SecCreate], byID[SecMemory]} {
		for _, c := range s.Contenders {
			if c.Unit == nil || c.Args != nil {
				t.Errorf("%s: %s: Unit %v, Args %v", s.ID, c.Name, c.Unit != nil, c.Args != nil)
				continue
			}
			want, ok := wantCmds[c.Name]
			if !ok {
				continue
			}
			var got []string
			for _, l := range c.commandLines() {
				got = append(got, num(ShellQuote(l)))
			}
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("%s: %s:\n%s\nwant\n%s", s.ID, c.Name, strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		}
	}
	if u := byID[SecCreate].Contender(nameCrunCreate).Unit; u.Start == nil || u.Idle != "sleep" {
		t.Errorf("crun unit: Start set %v, Idle %q", u.Start != nil, u.Idle)
	}
	if u := byID[SecMemory].Contender(nameIdle).Unit; u.Idle != "prison-init" || u.Foreground {
		t.Errorf("prison unit: Idle %q, Foreground %v", u.Idle, u.Foreground)
	}
	if u := byID[SecMemory].Contender(nameBwrapIdle).Unit; !u.Foreground || u.PIDs != nil {
		t.Errorf("bwrap unit: Foreground %v, PIDs set %v", u.Foreground, u.PIDs != nil)
	}
	tg := byID[SecMemory].Targets
	if len(tg) != 1 || tg[0].Num != nameIdle || tg[0].Den != "" || tg[0].Metric != keyPss || tg[0].Max != 256 {
		t.Errorf("memory targets: %+v", tg)
	}
	// Cleanup looks for jails once a prison unit's commands were made.
	if !env.jails.Load() {
		t.Error("prison units made, but Cleanup would not look for jails")
	}
	if fresh := mountsEnv(&started); fresh.jails.Load() {
		t.Error("a fresh Env already looks for jails")
	}
}

// TestLimitsSection checks the limits section's wiring: the start-up
// section's prison command lines with --memory 256M --pids 100 before the
// root, crun and runc on the bundle with the limits (crun started where
// the driver starts it), bwrap's start-up row, the start-up section's
// rounds, and the target on prison --ip in each launch mode against
// crun run.
func TestLimitsSection(t *testing.T) {
	var started []string
	env := mountsEnv(&started)
	env.CrunStart = func(cmd *exec.Cmd) error {
		started = append(started, ShellQuote(cmd.Args))
		return nil
	}
	byID := map[string]*Section{}
	for _, s := range Suite(env) {
		byID[s.ID] = s
	}
	startup, s := byID[SecStartup], byID[SecLimits]
	if s == nil {
		t.Fatal("no limits section")
	}
	if s.Title != "Limits: start-up with --memory 256M --pids 100" || s.Baseline != nameCrun ||
		s.Rounds != startup.Rounds || s.Warmup != startup.Warmup || s.Measure == nil {
		t.Errorf("limits section: title %q, baseline %q, rounds %d+%d", s.Title, s.Baseline, s.Warmup, s.Rounds)
	}
	want := []string{
		nameNoneU + daemonSuffix, nameIPU + daemonSuffix, nameNoneU + directSuffix, nameIPU + directSuffix,
		nameBwrap, nameCrun, nameRunc,
	}
	if len(s.Contenders) != len(want) {
		t.Fatalf("%d contenders, want %d", len(s.Contenders), len(want))
	}
	// Addresses and container ids aside, each line is its start-up twin's
	// with the limits.
	strip := func(line string) string {
		f := strings.Fields(line)
		for i, w := range f {
			switch {
			case i > 0 && f[i-1] == "--ip":
				f[i] = "ADDR"
			case strings.HasPrefix(w, env.IDPrefix):
				f[i] = "ID"
			}
		}
		return strings.Join(f, " ")
	}
	limited := map[string]string{
		"/bin/prison run": "/bin/prison run --memory 256M --pids 100",
		"--bundle /b ":    "--bundle /lb ",
	}
	for i, c := range s.Contenders {
		if c.Name != want[i] {
			t.Errorf("contender %d = %q, want %q", i, c.Name, want[i])
			continue
		}
		if c.NA != "" || c.ManyMounts {
			t.Errorf("%s: NA %q, ManyMounts %v", c.Name, c.NA, c.ManyMounts)
		}
		got, orig := strip(ShellQuote(c.Args())), strip(ShellQuote(startup.Contender(c.Name).Args()))
		for from, to := range limited {
			orig = strings.Replace(orig, from, to, 1)
		}
		if got != orig {
			t.Errorf("%s: command line %s, want %s", c.Name, got, orig)
		}
		if c.ViaDaemon != strings.HasSuffix(c.Name, daemonSuffix) {
			t.Errorf("%s: ViaDaemon = %v", c.Name, c.ViaDaemon)
		}
	}
	started = nil
	if err := s.Contender(nameCrun).Start(exec.Command("/bin/crun")); err != nil || len(started) != 1 {
		t.Errorf("crun run does not start through CrunStart: %v, %q", err, started)
	}
	if s.Contender(nameRunc).Start != nil {
		t.Error("runc run starts through CrunStart")
	}
	wantTargets := []Target{
		{Label: "start-up with limits, prison --ip (userns) via daemon vs crun run with the same limits", Num: nameIPU + daemonSuffix, Den: nameCrun, Max: 0.5},
		{Label: "start-up with limits, prison --ip (userns) without daemon vs crun run with the same limits", Num: nameIPU + directSuffix, Den: nameCrun, Max: 0.5},
	}
	if len(s.Targets) != len(wantTargets) {
		t.Fatalf("targets: %+v", s.Targets)
	}
	for i, tg := range s.Targets {
		if tg != wantTargets[i] {
			t.Errorf("target %d = %+v, want %+v", i, tg, wantTargets[i])
		}
	}
}

// TestWithLimits checks the limits bundle's resources: the section's
// memory limit with no swap and its process limit, on a spec with
// resources (runc spec's device rule stays) and on one without.
func TestWithLimits(t *testing.T) {
	deny := specs.LinuxDeviceCgroup{Allow: false, Access: "rwm"}
	for _, s := range []*specs.Spec{
		{Linux: &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{deny}}}},
		{},
	} {
		WithLimits(s)
		r := s.Linux.Resources
		if r.Memory == nil || r.Memory.Limit == nil || *r.Memory.Limit != 256<<20 || r.Memory.Swap == nil || *r.Memory.Swap != 256<<20 {
			t.Errorf("memory: %+v", r.Memory)
		}
		if r.Pids == nil || r.Pids.Limit == nil || *r.Pids.Limit != 100 {
			t.Errorf("pids: %+v", r.Pids)
		}
		if r.CPU != nil || r.BlockIO != nil {
			t.Errorf("limits beyond memory and pids: %+v", r)
		}
	}
	s := &specs.Spec{Linux: &specs.Linux{Resources: &specs.LinuxResources{Devices: []specs.LinuxDeviceCgroup{deny}}}}
	WithLimits(s)
	if d := s.Linux.Resources.Devices; len(d) != 1 || d[0].Access != "rwm" || d[0].Allow {
		t.Errorf("devices: %+v", d)
	}
}

// ociEnv adds to env what the OCI sections need: prison-oci, the bundle,
// the directory, and containerd's and podman's tools.
func ociEnv(env *Env) *Env {
	env.PrisonOCI, env.OCIBundle, env.OCIDir, env.Repo = "/bin/prison-oci", "/ob", "/tmp/pb/oci", "/repo"
	for _, t := range []string{"containerd", "ctr", "containerd-shim-runc-v2", "podman", "conmon"} {
		env.Tools[t] = "/bin/" + t
	}
	return env
}

// TestOCISections checks the OCI sections' wiring: each compares
// prison-oci, crun and runc with crun as the baseline and its target;
// each has a Setup; the direct section runs ocicycle on the OCI bundle
// (crun where the driver starts it), the containerd section ctr run --rm
// against the suite's socket and namespace, the podman section podman run
// in the podman's namespace with its configuration, each invocation a
// fresh container id where the command names one.
func TestOCISections(t *testing.T) {
	var started []string
	env := ociEnv(mountsEnv(&started))
	env.CrunStart = func(cmd *exec.Cmd) error {
		started = append(started, ShellQuote(cmd.Args))
		return nil
	}
	byID := map[string]*Section{}
	for _, s := range Suite(env) {
		byID[s.ID] = s
	}
	num := func(a []string) string {
		s := ShellQuote(a)
		for _, rt := range []string{"prison-oci", "crun", "runc"} {
			for _, kind := range []string{"oci", "ctr"} {
				p := "pb-" + kind + "-" + rt + "-"
				for i := strings.Index(s, p); i >= 0; i = strings.Index(s, p) {
					j := i + len(p)
					for j < len(s) && s[j] >= '0' && s[j] <= '9' {
						j++
					}
					s = s[:i] + "ID" + s[j:]
				}
			}
		}
		return s
	}
	want := map[string]map[string]string{
		SecOCI: {
			nameOCIPrison: "/tmp/pb/oci/ocicycle -runtime /bin/prison-oci -root /tmp/pb/oci/oci-state/prison-oci -bundle /ob -pid-file /tmp/pb/oci/pids/ID.pid ID",
			nameOCICrun:   "/tmp/pb/oci/ocicycle -runtime /bin/crun -root /tmp/pb/oci/oci-state/crun -bundle /ob -pid-file /tmp/pb/oci/pids/ID.pid ID",
		},
		SecCtr: {
			nameOCIRunc: "/bin/ctr --address /tmp/pb/oci/containerd/c.sock --namespace pb-ctr run --rm --runc-binary /bin/runc " +
				"--runc-root /tmp/pb/oci/ctr-state/runc --fifo-dir /tmp/pb/oci/containerd/fifo " + ImageRef + " ID /bin/true",
		},
		SecPodman: {
			nameOCIPrison: "/bin/podman --runtime /bin/prison-oci run --rm --network none --cgroup-parent /pb-podman " + ImageRef + " /bin/true",
		},
	}
	for _, id := range []string{SecOCI, SecCtr, SecPodman} {
		s := byID[id]
		if s == nil {
			t.Fatalf("no section %s", id)
		}
		var names []string
		for _, c := range s.Contenders {
			names = append(names, c.Name)
			if c.NA != "" || c.Args == nil {
				t.Errorf("%s: %s: NA %q", id, c.Name, c.NA)
				continue
			}
			a, b := c.Args(), c.Args()
			if id != SecPodman && ShellQuote(a) == ShellQuote(b) {
				t.Errorf("%s: %s: two invocations share a container id: %s", id, c.Name, ShellQuote(a))
			}
			if w, ok := want[id][c.Name]; ok && num(a) != w {
				t.Errorf("%s: %s:\n%s\nwant\n%s", id, c.Name, num(a), w)
			}
		}
		if strings.Join(names, " ") != "prison-oci crun runc" || s.Baseline != nameOCICrun || s.Setup == nil {
			t.Errorf("%s: contenders %q, baseline %q, Setup set %v", id, names, s.Baseline, s.Setup != nil)
		}
		if len(s.Targets) != 1 || s.Targets[0].Num != nameOCIPrison || s.Targets[0].Den != nameOCICrun || s.Targets[0].Max != OCIMax[id] {
			t.Errorf("%s: targets %+v", id, s.Targets)
		}
	}
	if byID[SecOCI].Measure == nil || byID[SecOCI].Contender(nameOCIRunc).Start != nil {
		t.Error("oci: no measure, or runc starts through CrunStart")
	}
	started = nil
	if err := byID[SecOCI].Contender(nameOCICrun).Start(exec.Command("/bin/true")); err != nil || len(started) != 1 {
		t.Errorf("oci: crun does not start through CrunStart: %v, %q", err, started)
	}
	for _, c := range byID[SecCtr].Contenders {
		if c.Start != nil || len(c.Env) != 0 {
			t.Errorf("ctr: %s: a client of the suite's containerd, but has Start or %q", c.Name, c.Env)
		}
	}
	for _, c := range byID[SecPodman].Contenders {
		if !slices.Contains(c.Env, "CONTAINERS_CONF=/tmp/pb/oci/podman/containers.conf") || c.Start == nil {
			t.Errorf("podman: %s: environment %q, Start set %v", c.Name, c.Env, c.Start != nil)
			continue
		}
		// Before its Setup there is no namespace to start it in.
		if err := c.Start(exec.Command("/bin/true")); err == nil {
			t.Errorf("podman: %s started before the section's Setup", c.Name)
		}
	}
}
