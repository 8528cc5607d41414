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
		IPScript: "/repo/bench/ipsetup.sh",
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

	ip := Suite(env)[0].Contender(nameIP)
	if a, b := ShellQuote(ip.Args()), ShellQuote(ip.Args()); a == b {
		t.Errorf("two invocations share a command line: %s", a)
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
