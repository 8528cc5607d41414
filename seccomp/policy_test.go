package seccomp

import (
	"bytes"
	"slices"
	"sort"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// rulesFor returns the rules naming call, rendered one per line as Format
// renders them, so that tests read like `prison seccomp`.
func rulesFor(t *testing.T, s *specs.LinuxSeccomp, call string) []string {
	t.Helper()
	var out []string
	for _, r := range s.Syscalls {
		if !slices.Contains(r.Names, call) {
			continue
		}
		line := actionText(r.Action, r.ErrnoRet)
		if len(r.Args) > 0 {
			line += " if " + conditionText(r)
		}
		out = append(out, line)
	}
	return out
}

func TestPolicyRules(t *testing.T) {
	for _, tc := range []struct {
		name   string
		params Params
		call   string
		want   []string
	}{
		{"mount refused", Params{}, "mount", []string{"EPERM"}},
		{"io_uring refused", Params{}, "io_uring_setup", []string{"EPERM"}},
		{"mount API refused", Params{}, "fsopen", []string{"EPERM"}},
		{"clone3 falls back", Params{}, "clone3", []string{"ENOSYS"}},
		{"setns refused", Params{}, "setns", []string{"EPERM"}},
		{"kill allowed", Params{}, "kill", []string{"ALLOW"}},
		{"ptrace allowed", Params{}, "ptrace", []string{"ALLOW"}},
		{"chroot allowed", Params{}, "chroot", []string{"ALLOW"}},
		{"hostname refused", Params{}, "sethostname", []string{"EPERM"}},
		{"hostname served", Params{SetHostname: true}, "setdomainname", []string{"NOTIFY"}},
		{"inotify allowed in a user namespace", Params{}, "inotify_init1", []string{"ALLOW"}},
		{"inotify served with host ids", Params{HostIDs: true}, "inotify_init1", []string{"NOTIFY"}},
		{"legacy inotify served with host ids", Params{HostIDs: true}, "inotify_init", []string{"NOTIFY"}},
		{"watches stay the caller's with host ids", Params{HostIDs: true}, "inotify_add_watch", []string{"ALLOW"}},
		{"sysvipc disabled", Params{}, "shmget", []string{"ENOSYS"}},
		{"sysvipc allowed", Params{SysVIPC: true}, "semtimedop", []string{"ALLOW"}},
		{"clone without namespaces", Params{}, "clone", []string{
			"ALLOW if flags&CLONE_NEW* == 0",
			"EPERM if flags is any other value",
		}},
		{"unshare also refuses CLONE_NEWTIME", Params{}, "unshare", []string{
			"ALLOW if flags&(CLONE_NEW*|CLONE_NEWTIME) == 0",
			"EPERM if flags is any other value",
		}},
		{"personality", Params{}, "personality", []string{
			"ALLOW if (int)persona == PER_LINUX",
			"ALLOW if (int)persona == 0xffffffff (query)",
			"EPERM if persona is any other value",
		}},
		{"mknodat devices", Params{}, "mknodat", []string{
			"EPERM if mode&S_IFMT == S_IFCHR",
			"EPERM if mode&S_IFMT == S_IFBLK",
			"ALLOW if mode is any other value",
		}},
		{"ioctl terminal injection", Params{}, "ioctl", []string{
			"EPERM if (int)request == TIOCSTI",
			"EPERM if (int)request == TIOCLINUX",
			"ALLOW if request is any other value",
		}},
		{"socket families", Params{}, "socket", []string{
			"ALLOW if (int)family == AF_UNIX",
			"EPERM if (int)family == AF_INET && type&SOCK_TYPE_MASK == SOCK_RAW",
			"EAFNOSUPPORT if (int)family == AF_INET && type&SOCK_TYPE_MASK == SOCK_PACKET",
			"ALLOW if (int)family == AF_INET && type is any other value",
			"EPERM if (int)family == AF_INET6 && type&SOCK_TYPE_MASK == SOCK_RAW",
			"EAFNOSUPPORT if (int)family == AF_INET6 && type&SOCK_TYPE_MASK == SOCK_PACKET",
			"ALLOW if (int)family == AF_INET6 && type is any other value",
			"ALLOW if (int)family == AF_NETLINK && (int)protocol == NETLINK_ROUTE",
			"EAFNOSUPPORT if (int)family == AF_NETLINK && protocol is any other value",
			"EAFNOSUPPORT if family is any other value",
		}},
		{"raw sockets keep SOCK_PACKET out", Params{RawSockets: true}, "socket", []string{
			"ALLOW if (int)family == AF_UNIX",
			"EAFNOSUPPORT if (int)family == AF_INET && type&SOCK_TYPE_MASK == SOCK_PACKET",
			"ALLOW if (int)family == AF_INET && type is any other value",
			"EAFNOSUPPORT if (int)family == AF_INET6 && type&SOCK_TYPE_MASK == SOCK_PACKET",
			"ALLOW if (int)family == AF_INET6 && type is any other value",
			"ALLOW if (int)family == AF_NETLINK && (int)protocol == NETLINK_ROUTE",
			"EAFNOSUPPORT if (int)family == AF_NETLINK && protocol is any other value",
			"EAFNOSUPPORT if family is any other value",
		}},
		{"socket_af keeps raw IP refused", Params{SocketAF: true}, "socket", []string{
			"EAFNOSUPPORT if (int)family == AF_XDP",
			"EPERM if (int)family == AF_INET && type&SOCK_TYPE_MASK == SOCK_RAW",
			"ALLOW if (int)family == AF_INET && type is any other value",
			"EPERM if (int)family == AF_INET6 && type&SOCK_TYPE_MASK == SOCK_RAW",
			"ALLOW if (int)family == AF_INET6 && type is any other value",
			"ALLOW if family is any other value",
		}},
		{"socket_af and raw_sockets: all but AF_XDP", Params{SocketAF: true, RawSockets: true}, "socket", []string{
			"EAFNOSUPPORT if (int)family == AF_XDP",
			"ALLOW if family is any other value",
		}},
		{"socketpair", Params{}, "socketpair", []string{
			"ALLOW if (int)family == AF_UNIX",
			"EAFNOSUPPORT if family is any other value",
		}},
		{"socketpair with socket_af", Params{SocketAF: true}, "socketpair", []string{"ALLOW"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rulesFor(t, Policy(tc.params), tc.call)
			if !slices.Equal(got, tc.want) {
				t.Errorf("%s:\n got %q\nwant %q", tc.call, got, tc.want)
			}
		})
	}
}

func TestPolicyShape(t *testing.T) {
	s := Policy(Params{})
	if s.DefaultAction != specs.ActErrno || s.DefaultErrnoRet == nil || *s.DefaultErrnoRet != errENOSYS {
		t.Errorf("default = %s %v, want ERRNO(ENOSYS)", s.DefaultAction, s.DefaultErrnoRet)
	}
	if len(s.Architectures) > 1 {
		t.Errorf("architectures = %v, want the native one only", s.Architectures)
	}
	seen := map[string]specs.LinuxSeccompAction{}
	for _, r := range s.Syscalls {
		switch r.Action {
		case specs.ActAllow, specs.ActErrno, specs.ActNotify:
		default:
			t.Errorf("%v: action %s; denials must be errnos", r.Names, r.Action)
		}
		if len(r.Args) > 0 {
			continue
		}
		for _, n := range r.Names {
			if prev, ok := seen[n]; ok {
				t.Errorf("%s named twice without arguments (%s, %s)", n, prev, r.Action)
			}
			seen[n] = r.Action
		}
	}
	// Anything allowed outright must not also be refused.
	for _, g := range denied {
		for _, n := range g.names {
			if slices.Contains(allowed, n) {
				t.Errorf("%s is both allowed and refused", n)
			}
		}
	}
	for _, n := range []string{"socket", "socketpair", "ioctl", "clone", "unshare", "personality", "mknod", "mknodat", "sethostname", "msgget"} {
		if slices.Contains(allowed, n) {
			t.Errorf("%s allowed outright; it needs its own rules", n)
		}
	}
}

// Policy is data: two calls must give equal, independent sections.
func TestPolicyIsPure(t *testing.T) {
	a, b := Policy(Params{}), Policy(Params{})
	for i := range a.Syscalls {
		a.Syscalls[i].Names[0] = "mutated"
	}
	for i := range b.Syscalls {
		if b.Syscalls[i].Names[0] == "mutated" {
			t.Fatalf("Policy shares rule %d between calls", i)
		}
	}
}

func TestCapabilities(t *testing.T) {
	base := []string{
		"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER",
		"CAP_FSETID", "CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP",
		"CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYS_CHROOT",
	}
	for _, tc := range []struct {
		name string
		p    Params
		add  []string
	}{
		{"strict", Params{}, nil},
		{"raw_sockets", Params{RawSockets: true}, []string{"CAP_NET_RAW"}},
		{"chflags", Params{Chflags: true}, []string{"CAP_LINUX_IMMUTABLE"}},
		{
			"both",
			Params{RawSockets: true, Chflags: true, SocketAF: true, SetHostname: true, SysVIPC: true},
			[]string{"CAP_NET_RAW", "CAP_LINUX_IMMUTABLE"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := append(append([]string(nil), base...), tc.add...)
			sort.Strings(want)
			got := Capabilities(tc.p)
			if !slices.Equal(got, want) {
				t.Errorf("Capabilities(%+v) = %v, want %v", tc.p, got, want)
			}
			for _, never := range []string{
				"CAP_SYS_ADMIN", "CAP_SYS_MODULE", "CAP_SYS_RAWIO", "CAP_SYS_TIME",
				"CAP_SYS_BOOT", "CAP_NET_ADMIN", "CAP_SYS_NICE", "CAP_SYS_RESOURCE", "CAP_SYS_PTRACE",
				"CAP_MKNOD", "CAP_SYSLOG", "CAP_BPF", "CAP_PERFMON", "CAP_AUDIT_CONTROL", "CAP_MAC_ADMIN",
			} {
				if slices.Contains(got, never) {
					t.Errorf("root keeps %s", never)
				}
			}
		})
	}
	got := Capabilities(Params{})
	got[0] = "mutated"
	if Capabilities(Params{})[0] == "mutated" {
		t.Error("Capabilities shares memory between calls")
	}
}

func TestParseAllow(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    Params
		wantErr string
	}{
		{nil, Params{}, ""},
		{[]string{"raw_sockets"}, Params{RawSockets: true}, ""},
		{[]string{"allow.set_hostname", "socket_af"}, Params{SetHostname: true, SocketAF: true}, ""},
		{[]string{"chflags", "allow.sysvipc"}, Params{Chflags: true, SysVIPC: true}, ""},
		{[]string{"raw_sockets", "raw_sockets"}, Params{RawSockets: true}, ""},
		{[]string{"mount"}, Params{}, `--allow: unknown parameter "mount" (known: raw_sockets, set_hostname, socket_af, chflags, sysvipc)`},
		{[]string{"allow.Raw_Sockets"}, Params{}, `unknown parameter "allow.Raw_Sockets"`},
	} {
		got, err := ParseAllow(tc.in)
		switch {
		case tc.wantErr != "":
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("ParseAllow(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
		case err != nil:
			t.Errorf("ParseAllow(%q): %v", tc.in, err)
		case got != tc.want:
			t.Errorf("ParseAllow(%q) = %+v, want %+v", tc.in, got, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	var b bytes.Buffer
	if err := Format(&b, Policy(Params{SetHostname: true})); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	for _, want := range []string{
		"default       ENOSYS  (every call not listed below)",
		"EPERM         mount umount2 pivot_root fsopen fsconfig fsmount fspick move_mount open_tree open_tree_attr mount_setattr  # filesystems belong to the host: mounts, the new mount API, pivot_root",
		"NOTIFY        sethostname setdomainname",
		"ENOSYS        clone3",
		"EAFNOSUPPORT  socket  if family is any other value",
		"EPERM         ioctl  if (int)request == TIOCSTI",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("Format lacks line %q", want)
		}
	}
	if !strings.HasPrefix(lines[1], "arch ") {
		t.Errorf("second line %q, want the architectures", lines[1])
	}
	// One line per rule, after the header.
	if n := len(lines) - 3; n != len(Policy(Params{SetHostname: true}).Syscalls) {
		t.Errorf("%d rule lines for %d rules", n, len(Policy(Params{SetHostname: true}).Syscalls))
	}
	b.Reset()
	if err := Format(&b, &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Syscalls: []specs.LinuxSyscall{{
			Names: []string{"getpriority"}, Action: specs.ActErrno,
			Args: []specs.LinuxSeccompArg{{Index: 0, Value: 7, Op: specs.OpEqualTo}, {Index: 0, Value: 9, Op: specs.OpNotEqual}},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "EPERM         getpriority  if arg0 == 7 || arg0 != 9") {
		t.Errorf("foreign section rendered as\n%s", b.String())
	}
}

// TestPolicyHostIDs: with the host's ids (--userns host) the inotify
// calls are notified, and nothing else changes; the compiled program says
// so, which is how the launcher knows that the jail's init can answer its
// listener alone.
func TestPolicyHostIDs(t *testing.T) {
	for _, p := range []Params{{}, {SetHostname: true}, {SocketAF: true, RawSockets: true, SysVIPC: true}} {
		host := p
		host.HostIDs = true
		a, b := Policy(p), Policy(host)
		var diff []string
		for _, r := range b.Syscalls {
			if r.Action == specs.ActNotify {
				diff = append(diff, r.Names...)
			}
		}
		for _, r := range a.Syscalls {
			if r.Action == specs.ActNotify {
				diff = slices.DeleteFunc(diff, func(n string) bool { return slices.Contains(r.Names, n) })
			}
		}
		if !slices.Equal(diff, []string{"inotify_init", "inotify_init1"}) {
			t.Errorf("%+v: notified beyond the user namespace policy: %v, want the inotify calls", p, diff)
		}
		for _, name := range []string{"inotify_init", "inotify_init1"} {
			if got := rulesFor(t, b, name); len(got) != 1 || got[0] != "NOTIFY" {
				t.Errorf("%+v with host ids: %s %v, want one NOTIFY rule", p, name, got)
			}
		}
	}
}
