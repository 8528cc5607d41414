package jailconf

import (
	"slices"
	"sort"
	"testing"
)

// linuxParams are the parameters prison gives a meaning on Linux.
var linuxParams = []string{
	"path", "host.hostname", "ip4.addr", "ip6.addr", "ip4", "ip6", "interface",
	"vnet", "vnet.interface", "mount", "mount.fstab", "mount.devfs", "mount.procfs",
	"allow.set_hostname", "allow.raw_sockets", "allow.chflags", "allow.socket_af",
	"allow.sysvipc", "sysvmsg", "sysvsem", "sysvshm", "persist", "command", "depend",
	"name", "jid", "exec.prestart", "exec.created", "exec.start", "exec.poststart",
	"exec.prestop", "exec.stop", "exec.poststop", "exec.timeout", "exec.jail_user",
	"exec.system_user", "exec.clean", "exec.consolelog",
	"image", "ephemeral", "disk", "userns",
	"memoryuse", "swapuse", "maxproc", "pcpu", "openfiles", "cpu.weight", "io.weight", "io.max", "cgroup",
}

func TestLinuxParams(t *testing.T) {
	var got []string
	for name := range params {
		if s, _ := Lookup(name); s.Linux {
			got = append(got, name)
		}
	}
	want := slices.Clone(linuxParams)
	sort.Strings(got)
	sort.Strings(want)
	if !slices.Equal(got, want) {
		t.Errorf("parameters with a Linux meaning:\n got %q\nwant %q", got, want)
	}
}

func TestLookup(t *testing.T) {
	for _, tt := range []struct {
		name  string
		ok    bool
		kind  Kind
		linux bool
	}{
		{"path", true, KindString, true},
		{"ip4.addr", true, KindList, true},
		{"persist", true, KindBool, true},
		{"vnet", true, KindSys, true},
		{"exec.timeout", true, KindInt, true},
		{"securelevel", true, KindInt, false},
		{"allow.mount", true, KindBool, false},
		{"allow.mount.zfs", true, KindBool, false},
		{"allow.mount.anyfs", true, KindBool, false},
		{"meta.key", true, KindString, false},
		{"linux.osrelease", true, KindString, false},
		{"allow.mount.", false, 0, false},
		{"allow.mount.nozfs", false, 0, false},
		{"allow.mount.no", false, 0, false},
		{"env.nofoo", true, KindString, false},
		{"allow.mount.a.b", false, 0, false},
		{"allow.noraw_sockets", false, 0, false},
		{"host.hostnme", false, 0, false},
		{"linux.other", false, 0, false},
	} {
		s, ok := Lookup(tt.name)
		if ok != tt.ok || s.Kind != tt.kind || s.Linux != tt.linux || ok && s.Name != tt.name {
			t.Errorf("Lookup(%q) = %+v, %v", tt.name, s, ok)
		}
	}
	if s, ok := Lookup("children.cur"); !ok || !s.ReadOnly {
		t.Errorf("children.cur: %+v", s)
	}
	if s, ok := Lookup("exec.start"); !ok || !s.Internal {
		t.Errorf("exec.start: %+v", s)
	}
}

func TestResolveName(t *testing.T) {
	for _, tt := range []struct {
		written, canonical string
		negated, ok        bool
	}{
		{"persist", "persist", false, true},
		{"nopersist", "persist", true, true},
		{"allow.noraw_sockets", "allow.raw_sockets", true, true},
		{"allow.mount.nozfs", "allow.mount.zfs", true, true},
		{"allow.nomount", "allow.mount", true, true},
		{"mount.nodevfs", "mount.devfs", true, true},
		{"exec.noclean", "exec.clean", true, true},
		{"allow.mount.nonozfs", "", false, false},
		{"env.nofoo", "env.nofoo", false, true},
		{"nomount.devfs", "", false, false},
		{"host.nohostname", "", false, false},
		{"no", "", false, false},
		{"allow.no", "", false, false},
	} {
		s, neg, ok := resolveName(tt.written)
		if ok != tt.ok || neg != tt.negated || ok && s.Name != tt.canonical {
			t.Errorf("resolveName(%q) = %q, %v, %v", tt.written, s.Name, neg, ok)
		}
	}
}

func TestSuggest(t *testing.T) {
	for name, want := range map[string]string{
		"host.hostnme":      "host.hostname",
		"exec.strat":        "exec.start",
		"allow.raw_socket":  "allow.raw_sockets",
		"ip4.adr":           "ip4.addr",
		"completely.absent": "",
	} {
		if got := suggest(name); got != want {
			t.Errorf("suggest(%q) = %q, want %q", name, got, want)
		}
	}
}
