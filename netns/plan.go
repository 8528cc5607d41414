package netns

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Mode is how a jail is connected to the network.
type Mode string

// The network modes. The zero Mode ("") means the default: ModeVeth when
// the plan has addresses, ModeNone otherwise (see [Plan.EffectiveMode]).
const (
	ModeNone    Mode = "none"    // loopback only (FreeBSD ip4=disable)
	ModeHost    Mode = "host"    // the host's namespace (ip4=inherit)
	ModeVeth    Mode = "veth"    // routed veth pair (ip4.addr)
	ModeMacvlan Mode = "macvlan" // own MAC on Parent's segment (ip4.addr + interface)
)

// Plan is a jail's network: pure and serialisable (JSON), no kernel state.
// Both halves of the network setup (host and jail side) read the same Plan.
type Plan struct {
	Mode Mode
	// Jail is the jail's name. The host end of a veth is named after it
	// (see HostLink).
	Jail string
	// Addrs are the jail's addresses. In veth mode each is installed as a
	// host address (/32, /128) whatever its prefix length: the jail has
	// no on-link neighbours, only its gateway. In macvlan mode the prefix
	// length gives the on-link subnet.
	Addrs []netip.Prefix
	// Parent is the macvlan parent interface.
	Parent string
	// Gateway is the optional default gateway in macvlan mode.
	Gateway netip.Addr
	// Uplink is, in veth mode, the interface through which the jail's
	// traffic may leave the machine. Empty: nothing leaves.
	Uplink string
	// DNS is carried for the writer of the jail's resolv.conf.
	DNS []netip.Addr
}

// EffectiveMode resolves the default (empty) Mode.
func (p *Plan) EffectiveMode() Mode {
	if p.Mode != "" {
		return p.Mode
	}
	if len(p.Addrs) > 0 {
		return ModeVeth
	}
	return ModeNone
}

// hostLinkPrefix starts the name of every host end prison creates.
const hostLinkPrefix = "pr-"

// HostLink returns the name of the host end of the jail's veth: "pr-"
// followed by the jail name when that fits IFNAMSIZ and holds only
// [A-Za-z0-9_.-]; otherwise "pr-", up to three of those characters, "~"
// and 8 hex digits of the name's SHA-256. The "~" keeps the two forms
// from ever colliding. The result depends on the name only, so that a
// later prison process (Sweep, Detach) finds the same link.
func (p *Plan) HostLink() string { return hostLink(p.Jail) }

func hostLink(jail string) string {
	const maxDirect = 15 - len(hostLinkPrefix)
	if jail != "" && len(jail) <= maxDirect && strings.IndexFunc(jail, unsafeIfnameRune) < 0 {
		return hostLinkPrefix + jail
	}
	var short []rune
	for _, r := range jail {
		if len(short) == 3 {
			break
		}
		if !unsafeIfnameRune(r) {
			short = append(short, r)
		}
	}
	sum := sha256.Sum256([]byte(jail))
	return hostLinkPrefix + string(short) + "~" + hex.EncodeToString(sum[:4])
}

// unsafeIfnameRune reports runes kept out of host link names: the kernel
// refuses '/', ':' and spaces (dev_valid_name) and expands '%' (dev_alloc_name);
// the rest would only be awkward in /proc/sys paths and tools.
func unsafeIfnameRune(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	case r == '_', r == '.', r == '-':
		return false
	}
	return true
}

// ParseNet parses the --net flag: "" (the default), "none", "host", "veth"
// or "macvlan:IFACE". It returns the mode and, for macvlan, the parent.
func ParseNet(s string) (Mode, string, error) {
	switch s {
	case "":
		return "", "", nil
	case string(ModeNone), string(ModeHost), string(ModeVeth):
		return Mode(s), "", nil
	}
	if iface, ok := strings.CutPrefix(s, string(ModeMacvlan)+":"); ok {
		if err := checkIfname(iface); err != nil {
			return "", "", fmt.Errorf("--net %q: %w", s, err)
		}
		return ModeMacvlan, iface, nil
	}
	if s == string(ModeMacvlan) {
		return "", "", fmt.Errorf("--net %q: missing interface (want macvlan:IFACE)", s)
	}
	return "", "", fmt.Errorf("--net %q: unknown mode (want none, host, veth or macvlan:IFACE)", s)
}

// checkIfname applies the kernel's dev_valid_name rules.
func checkIfname(name string) error {
	switch {
	case name == "":
		return errors.New("missing interface name")
	case len(name) > 15:
		return errors.New("interface name longer than 15 bytes")
	case name == "." || name == "..", strings.ContainsAny(name, "/: \t\n\v\f\r%"):
		return errors.New("invalid interface name")
	}
	return nil
}

// ParseAddr parses one --ip value: an address ("10.0.0.5", "fd00::5")
// or an address with a prefix length ("10.0.0.5/24", "fd00::5/64").
// A bare address becomes a /32 or /128.
//
// It refuses addresses a jail cannot own: unspecified, loopback,
// multicast, the limited broadcast, 0.0.0.0/8, IPv4-mapped IPv6, and
// link-local addresses (169.254.0.0/16, fe80::/10), because those name a
// link rather than a host and prison uses 169.254.1.1 and fe80::1 as the
// jails' gateway. With a prefix length it also refuses the prefix's
// network address and, for IPv4, its broadcast address (except /31 and
// /32, which have neither, RFC 3021).
func ParseAddr(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			if _, aerr := netip.ParseAddr(s[:strings.IndexByte(s, '/')]); aerr != nil {
				return netip.Prefix{}, fmt.Errorf("--ip %q: not an IP address", s)
			}
			return netip.Prefix{}, fmt.Errorf("--ip %q: invalid prefix length", s)
		}
	} else {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("--ip %q: not an IP address", s)
		}
		if a.Zone() != "" {
			return netip.Prefix{}, fmt.Errorf("--ip %q: zoned address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if err := checkPrefix(p); err != nil {
		return netip.Prefix{}, fmt.Errorf("--ip %q: %w", s, err)
	}
	return p, nil
}

// checkPrefix holds the rules of ParseAddr, for Validate to reuse on
// plans that did not come from flags.
func checkPrefix(p netip.Prefix) error {
	a := p.Addr()
	switch {
	case !p.IsValid():
		return errors.New("not an IP address")
	case a.Zone() != "":
		return errors.New("zoned address")
	case a.Is4In6():
		return errors.New("IPv4-mapped IPv6 address (give the IPv4 address)")
	case a.IsUnspecified():
		return errors.New("unspecified address")
	case a.IsLoopback():
		return errors.New("loopback address")
	case a.IsMulticast():
		return errors.New("multicast address")
	case a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return errors.New("broadcast address")
	case a.Is4() && a.As4()[0] == 0:
		return errors.New("address in 0.0.0.0/8 (\"this network\")")
	case a.IsLinkLocalUnicast():
		return errors.New("link-local address")
	}
	bits := p.Bits()
	if bits == a.BitLen() || (a.Is4() && bits == 31) || (a.Is6() && bits == 127) {
		return nil
	}
	if a == p.Masked().Addr() {
		return fmt.Errorf("network address of %s", p.Masked())
	}
	if a.Is4() {
		b := a.As4()
		host := ^uint32(0) >> bits
		if (uint32(b[0])<<24|uint32(b[1])<<16|uint32(b[2])<<8|uint32(b[3]))&host == host {
			return fmt.Errorf("broadcast address of %s", p.Masked())
		}
	}
	return nil
}

// Validate checks the plan without touching the kernel: a known mode,
// valid and distinct addresses, and fields used only by the mode they
// belong to. Errors start with "network: ".
func (p *Plan) Validate() error {
	if err := p.validate(); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

func (p *Plan) validate() error {
	mode := p.EffectiveMode()
	switch mode {
	case ModeNone, ModeHost, ModeVeth, ModeMacvlan:
	default:
		return fmt.Errorf("unknown mode %q", p.Mode)
	}
	seen := make(map[netip.Addr]bool, len(p.Addrs))
	for _, a := range p.Addrs {
		if err := checkPrefix(a); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
		if seen[a.Addr()] {
			return fmt.Errorf("address %s given twice", a.Addr())
		}
		seen[a.Addr()] = true
	}
	if (mode == ModeNone || mode == ModeHost) && len(p.Addrs) > 0 {
		return fmt.Errorf("--net %s: takes no --ip (the jail has %s)", mode,
			map[Mode]string{ModeNone: "loopback only", ModeHost: "the host's addresses"}[mode])
	}
	if mode == ModeMacvlan {
		if err := checkIfname(p.Parent); err != nil {
			return fmt.Errorf("macvlan parent %q: %w", p.Parent, err)
		}
		if len(p.Addrs) == 0 {
			return errors.New("--net macvlan needs at least one --ip")
		}
	} else if p.Parent != "" {
		return fmt.Errorf("parent %q is only for macvlan mode", p.Parent)
	}
	if p.Gateway.IsValid() {
		if mode != ModeMacvlan {
			return fmt.Errorf("gateway %s is only for macvlan mode (veth jails route via the host)", p.Gateway)
		}
		if err := checkPrefix(netip.PrefixFrom(p.Gateway, p.Gateway.BitLen())); err != nil && !p.Gateway.IsLinkLocalUnicast() {
			return fmt.Errorf("gateway %s: %w", p.Gateway, err)
		}
		if !p.hasFamily(p.Gateway.Is4()) {
			return fmt.Errorf("gateway %s: the jail has no address of its family", p.Gateway)
		}
		if seen[p.Gateway] {
			return fmt.Errorf("gateway %s is one of the jail's own addresses", p.Gateway)
		}
	}
	if p.Uplink != "" {
		if mode != ModeVeth {
			return fmt.Errorf("uplink %q is only for veth mode", p.Uplink)
		}
		if err := checkIfname(p.Uplink); err != nil {
			return fmt.Errorf("uplink %q: %w", p.Uplink, err)
		}
		if strings.HasPrefix(p.Uplink, hostLinkPrefix) {
			return fmt.Errorf("uplink %q: a jail's host link cannot be an uplink", p.Uplink)
		}
	}
	if mode == ModeVeth && p.Jail == "" {
		return errors.New("veth mode needs a jail name (for the host link)")
	}
	return nil
}

func (p *Plan) hasFamily(v4 bool) bool {
	for _, a := range p.Addrs {
		if a.Addr().Is4() == v4 {
			return true
		}
	}
	return false
}

// spareAddrs is how many addresses the source filter of a Spare has room
// for.
const spareAddrs = 32

// Fits tells whether a jail of plan p can use a Spare: a routed one
// without an uplink (an uplink sets the pair's MTU to its own), with an
// IPv4 address (a spare's host end has the IPv4 gateway), and with no
// more addresses than the spare's source filter has room for.
func (p *Plan) Fits() bool {
	return p.EffectiveMode() == ModeVeth && p.Uplink == "" && p.hasFamily(true) && len(p.Addrs) <= spareAddrs
}
