package seccomp

import (
	"fmt"
	"io"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Format writes s as text for people: the default action, the architectures,
// then one line per rule, `ACTION  names  [if conditions]`, in the section's
// order. Errnos are shown by name, arguments by their name in the syscall's
// prototype and, where prison knows them, values by their C constant.
func Format(w io.Writer, s *specs.LinuxSeccomp) error {
	if s == nil {
		_, err := fmt.Fprintln(w, "no seccomp filter: every call allowed")
		return err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%-13s %s\n", "default", actionText(s.DefaultAction, s.DefaultErrnoRet)+"  (every call not listed below)")
	arches := make([]string, 0, len(s.Architectures))
	for _, a := range s.Architectures {
		arches = append(arches, strings.ToLower(strings.TrimPrefix(string(a), "SCMP_ARCH_")))
	}
	if len(arches) == 0 {
		arches = append(arches, "native")
	}
	fmt.Fprintf(&b, "%-13s %s  (calls from other ABIs: ENOSYS)\n", "arch", strings.Join(arches, " "))
	for _, f := range s.Flags {
		fmt.Fprintf(&b, "%-13s %s\n", "flag", f)
	}
	b.WriteString("# on one argument, == tests come before \"any other value\"; ints are compared as the kernel reads them, (int) = low 32 bits\n")
	for _, r := range s.Syscalls {
		line := fmt.Sprintf("%-13s %s", actionText(r.Action, r.ErrnoRet), strings.Join(r.Names, " "))
		if len(r.Args) > 0 {
			line += "  if " + conditionText(r)
		} else if why := deniedWhy(r.Names); why != "" {
			line += "  # " + why
		}
		b.WriteString(line + "\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func actionText(a specs.LinuxSeccompAction, errnoRet *uint) string {
	switch a {
	case specs.ActErrno:
		e := uint(errEPERM)
		if errnoRet != nil {
			e = *errnoRet
		}
		if n, ok := errnoNames[e]; ok {
			return n
		}
		return fmt.Sprintf("ERRNO(%d)", e)
	case specs.ActNotify:
		return "NOTIFY"
	}
	return strings.TrimPrefix(string(a), "SCMP_ACT_")
}

var errnoNames = map[uint]string{
	1: "EPERM", 2: "ENOENT", 13: "EACCES", 22: "EINVAL", 38: "ENOSYS",
	93: "EPROTONOSUPPORT", 94: "ESOCKTNOSUPPORT", 95: "EOPNOTSUPP", 97: "EAFNOSUPPORT",
}

func deniedWhy(names []string) string {
	for _, g := range denied {
		if slices.Equal(g.names, names) {
			return g.why
		}
	}
	return ""
}

// conditionText renders a rule's conditions with runc's reading: AND,
// or OR when an argument repeats.
func conditionText(r specs.LinuxSyscall) string {
	seen := map[uint]bool{}
	join := " && "
	netlink := false
	for _, a := range r.Args {
		if seen[a.Index] {
			join = " || "
		}
		seen[a.Index] = true
		if a.Index == 0 && isFamilyCall(r.Names) && a.Op == specs.OpMaskedEqual && a.ValueTwo == afNetlink {
			netlink = true
		}
	}
	parts := make([]string, 0, len(r.Args))
	for _, a := range r.Args {
		parts = append(parts, argText(r.Names, a, netlink))
	}
	return strings.Join(parts, join)
}

func isFamilyCall(names []string) bool {
	return len(names) > 0 && (names[0] == "socket" || names[0] == "socketpair")
}

// argNames are the parameter names of the calls prison's policy checks.
var argNames = map[string][]string{
	"socket":      {"family", "type", "protocol"},
	"socketpair":  {"family", "type", "protocol", "sv"},
	"ioctl":       {"fd", "request", "arg"},
	"clone":       {"flags", "stack", "parent_tid", "child_tid", "tls"},
	"unshare":     {"flags"},
	"personality": {"persona"},
	"mknod":       {"path", "mode", "dev"},
	"mknodat":     {"dirfd", "path", "mode", "dev"},
}

var valueNames = map[string]map[uint64]string{
	"family":  {afUnix: "AF_UNIX", afInet: "AF_INET", afInet6: "AF_INET6", afNetlink: "AF_NETLINK", 17: "AF_PACKET", afXDP: "AF_XDP"},
	"type":    {1: "SOCK_STREAM", 2: "SOCK_DGRAM", sockRaw: "SOCK_RAW", 5: "SOCK_SEQPACKET", sockPacket: "SOCK_PACKET"},
	"request": {tiocsti: "TIOCSTI", tioclinux: "TIOCLINUX"},
	"mode":    {sIFCHR: "S_IFCHR", sIFBLK: "S_IFBLK"},
	"persona": {perLinux: "PER_LINUX", perQuery: "0xffffffff (query)"},
}

var maskNames = map[string]map[uint64]string{
	"type":  {sockTypeMask: "SOCK_TYPE_MASK"},
	"mode":  {sIFMT: "S_IFMT"},
	"flags": {cloneNewMask: "CLONE_NEW*", unshareNewMask: "(CLONE_NEW*|CLONE_NEWTIME)"},
}

func argText(names []string, a specs.LinuxSeccompArg, netlink bool) string {
	name := fmt.Sprintf("arg%d", a.Index)
	if len(names) > 0 {
		if n := argNames[names[0]]; int(a.Index) < len(n) {
			name = n[a.Index]
		}
	}
	value := func(v uint64) string {
		if name == "protocol" && netlink && v == netlinkRoute {
			return "NETLINK_ROUTE"
		}
		if s, ok := valueNames[name][v]; ok {
			return s
		}
		if v < 10 {
			return fmt.Sprint(v)
		}
		return fmt.Sprintf("%#x", v)
	}
	switch a.Op {
	case specs.OpGreaterEqual:
		if a.Value == 0 {
			return name + " is any other value"
		}
		return name + " >= " + value(a.Value)
	case specs.OpMaskedEqual:
		if a.Value == lower32 {
			return "(int)" + name + " == " + value(a.ValueTwo)
		}
		mask, ok := maskNames[name][a.Value]
		if !ok {
			mask = fmt.Sprintf("%#x", a.Value)
		}
		return name + "&" + mask + " == " + value(a.ValueTwo)
	case specs.OpEqualTo:
		return name + " == " + value(a.Value)
	case specs.OpNotEqual:
		return name + " != " + value(a.Value)
	case specs.OpLessThan:
		return name + " < " + value(a.Value)
	case specs.OpLessEqual:
		return name + " <= " + value(a.Value)
	case specs.OpGreaterThan:
		return name + " > " + value(a.Value)
	}
	return fmt.Sprintf("%s %s %#x %#x", name, a.Op, a.Value, a.ValueTwo)
}
