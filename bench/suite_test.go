package bench

import (
	"strings"
	"testing"
)

// TestSuiteIsConsistent checks the declarative suite: every name a target,
// diff or baseline uses exists, names and ids are unique, and every
// invocation gets a fresh address and container id.
func TestSuiteIsConsistent(t *testing.T) {
	env := &Env{
		Prison: "/bin/prison", Root: "/r", Bundle: "/b", State: "/s", IDPrefix: "pb-",
		Tools: map[string]string{"bwrap": "/bin/bwrap", "crun": "/bin/crun", "runc": "/bin/runc", "unshare": "/bin/unshare", "chroot": "/bin/chroot",
			"ip": "/bin/ip", "nsenter": "/bin/nsenter"},
		IPScript: "/repo/bench/ipsetup.sh", Socket: "/tmp/pb/daemon.sock",
	}
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
			if a := c.Args(); !strings.HasPrefix(a[0], "/") {
				t.Errorf("%s: %s runs %q, want an absolute path", s.ID, c.Name, a[0])
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
			refs = append(refs, tg.Num, tg.Den)
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

	for _, name := range []string{nameIP + directSuffix, nameIP + daemonSuffix} {
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
	env := &Env{Prison: "/bin/prison", Root: "/r", Socket: "/tmp/pb/daemon.sock",
		Tools: map[string]string{"bwrap": "/bin/bwrap", "ip": "/bin/ip", "nsenter": "/bin/nsenter"}}
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
			if c.ViaDaemon {
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
	// Start-up, network, parallelism (4) and phases each have the daemon
	// pair.
	if served != 2+2+4+2 {
		t.Errorf("%d daemon contenders, want 10", served)
	}
}

func TestSuiteWithoutDaemon(t *testing.T) {
	env := &Env{Prison: "/bin/prison", Root: "/r", Socket: "/tmp/pb/daemon.sock", DaemonNA: "prison daemon exited before it listened",
		Tools: map[string]string{"bwrap": "/bin/bwrap", "ip": "/bin/ip", "nsenter": "/bin/nsenter"}}
	for _, s := range Suite(env) {
		for _, c := range s.Contenders {
			switch {
			case c.ViaDaemon && c.NA != env.DaemonNA:
				t.Errorf("%s: %s: NA = %q, want the daemon's failure", s.ID, c.Name, c.NA)
			case !c.ViaDaemon && c.NA == env.DaemonNA:
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
	if !NeedsDaemon(Suite(env)) {
		t.Error("NeedsDaemon(the suite) = false")
	}
	// The daemon's checks wrap its contenders' invocations.
	env.DaemonNA, env.Daemon = "", &Daemon{}
	if c := Suite(env)[0].Contender(nameIP + daemonSuffix); c.Around == nil {
		t.Error("a daemon contender has no Around")
	}
	if c := Suite(env)[0].Contender(nameIP + directSuffix); c.Around != nil {
		t.Error("a contender without the daemon has an Around")
	}
}
