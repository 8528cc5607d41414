package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"strconv"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// jailLink is the name of the jail's interface, whatever the mode.
const jailLink = "eth0"

// vethMTU is the MTU of a veth with no uplink: Ethernet's, so that
// nothing a jail learns about path MTUs changes when an uplink is added.
// TSO/GRO on veth make a larger one buy little.
const vethMTU = 1500

// staleLinkWait bounds how long Attach waits for the host end of a dead
// jail of the same name to disappear with its namespace.
const staleLinkWait = 2 * time.Second

// Attachment is what Attach did on the host. It holds no kernel handles
// and is serialisable, so that a launcher may store it and Detach it
// from another process.
type Attachment struct {
	Plan Plan
	// HostLink is the host end's name (veth mode).
	HostLink string `json:",omitempty"`
	// UplinkIndex is the ifindex of Plan.Uplink when it was attached.
	UplinkIndex int `json:",omitempty"`
}

// Attach connects the network namespace of process pid (a jail's init,
// waiting for its command) as p describes. It runs on the host side,
// after the init exists in a fresh network namespace and before the
// jail's command runs.
//
// ModeHost does nothing. ModeNone sets lo up. ModeVeth creates the pair
// with its jail end already named eth0 in the jail's namespace, gives it
// the addresses and a default route via 169.254.1.1 / fe80::1 (held by
// the host end), routes the addresses to the host end and installs the
// policy rule that keeps the jail's traffic on the machine (see the
// package documentation). ModeMacvlan creates eth0 on Parent in the
// jail's namespace with the addresses and the Gateway route.
//
// Preconditions: p is valid; pid is in a network namespace of its own;
// no running jail has the same name (its host end would be in the way)
// and the previous jail of that name has been Detached or Swept;
// Attach, Detach and Sweep do not run concurrently for the same uplink
// (callers hold the host-wide lock they check address conflicts under).
func Attach(p *Plan, pid int) (*Attachment, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	mode := p.EffectiveMode()
	a := &Attachment{Plan: *p}
	if mode == ModeHost {
		return a, nil
	}
	nsFd, err := openNetns(pid)
	if err != nil {
		return nil, fmt.Errorf("network: %w", err)
	}
	defer unix.Close(nsFd)

	switch mode {
	case ModeNone:
		jail, err := openInJail(nsFd, nil)
		if err != nil {
			return nil, fmt.Errorf("network: enter jail: %w", err)
		}
		defer jail.Close()
		if err := jail.LinkSetUp(loopback); err != nil {
			return nil, fmt.Errorf("network: set lo up: %w", err)
		}
		return a, nil
	case ModeMacvlan:
		return a, attachMacvlan(p, nsFd)
	}
	a.HostLink = p.HostLink()
	if err := attachVeth(a, nsFd); err != nil {
		return nil, err
	}
	return a, nil
}

// loopback is lo: always ifindex 1, the first device of every namespace
// (loopback_net_init).
var loopback = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}

// openNetns opens pid's network namespace and refuses the caller's own:
// configuring "the jail" there would reconfigure the host.
func openNetns(pid int) (int, error) {
	path := "/proc/" + strconv.Itoa(pid) + "/ns/net"
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, fmt.Errorf("open jail namespace: %w", &net.OpError{Op: "open", Net: path, Err: err})
	}
	var jst, own unix.Stat_t
	if err := unix.Fstat(fd, &jst); err == nil {
		err = unix.Stat("/proc/thread-self/ns/net", &own)
		if err == nil && jst.Dev == own.Dev && jst.Ino == own.Ino {
			unix.Close(fd)
			return -1, fmt.Errorf("process %d shares the host's network namespace", pid)
		}
	}
	return fd, nil
}

// openInJail opens netlink sockets inside the namespace nsFd, after
// writing the given /proc/sys files there. The sockets stay in the
// jail's namespace and are usable from any thread.
func openInJail(nsFd int, sysctls [][2]string) (*rtnl, error) {
	var r *rtnl
	err := inNamespace(nsFd, func() (err error) {
		for _, kv := range sysctls {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		r, err = openRtnl()
		return err
	})
	return r, err
}

// inNamespace runs fn on a thread of its own moved into the network
// namespace nsFd, then moves the thread back and releases it. Only when
// the way back fails is the thread kept locked, so that the runtime
// discards it. Relying on that alone is not enough: a locked goroutine
// that exits on the main thread wedges it (runtime.mexit: "the main
// thread can't exit"), which would hold the jail's namespace alive for
// the launcher's lifetime.
func inNamespace(nsFd int, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("open own namespace: %w", err)
			return
		}
		defer unix.Close(own)
		if err := unix.Setns(nsFd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- fmt.Errorf("setns: %w", err)
			return
		}
		err = fn()
		if unix.Setns(own, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// attachVeth is Attach for ModeVeth. On failure it removes what it made
// on the host; the jail end dies with the jail's namespace.
func attachVeth(a *Attachment, nsFd int) (err error) {
	p := &a.Plan
	host, err := openRtnl()
	if err != nil {
		return fmt.Errorf("network: open netlink: %w", err)
	}
	defer host.Close()

	// The jail's sockets are opened while the host creates the link.
	type jailResult struct {
		r   *rtnl
		err error
	}
	jailCh := make(chan jailResult, 1)
	go func() {
		r, err := openInJail(nsFd, nil)
		jailCh <- jailResult{r, err}
	}()
	defer func() {
		if jr := <-jailCh; jr.r != nil {
			jr.r.Close()
		}
	}()

	mtu := vethMTU
	var uplink netlink.Link
	if p.Uplink != "" {
		if uplink, err = host.LinkByName(p.Uplink); err != nil {
			return fmt.Errorf("network: uplink %s: %w", p.Uplink, err)
		}
		mtu = uplink.Attrs().MTU
		a.UplinkIndex = uplink.Attrs().Index
	}

	err = host.createVeth(a.HostLink, mtu, nsFd)
	if errors.Is(err, unix.EEXIST) {
		// The host end of a jail of that name that just died: its
		// namespace is still being torn down.
		if err = host.waitLinkGone(a.HostLink, staleLinkWait); err == nil {
			err = host.createVeth(a.HostLink, mtu, nsFd)
		}
	}
	if err != nil {
		return fmt.Errorf("network: create veth %s: %w", a.HostLink, err)
	}
	defer func() {
		if err != nil {
			_ = a.Detach()
			_ = host.LinkDel(&netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: a.HostLink}})
		}
	}()
	hl, err := host.LinkByName(a.HostLink)
	if err != nil {
		return fmt.Errorf("network: look up %s: %w", a.HostLink, err)
	}
	if err := setupHostEnd(host, a, hl.Attrs().Index); err != nil {
		return err
	}

	jr := <-jailCh
	jailCh <- jr // for the deferred Close
	if jr.err != nil {
		return fmt.Errorf("network: enter jail: %w", jr.err)
	}
	return setupJailEnd(jr.r, p, netip.AddrFrom4(gateway4), netip.AddrFrom16(gateway6), true)
}

// setupJailEnd configures lo and eth0 inside the jail. gw4 and gw6 are
// the default gateways (invalid: none); onlink4 says the IPv4 gateway is
// outside every prefix of eth0, as 169.254.1.1 is for /32 addresses.
func setupJailEnd(jail *rtnl, p *Plan, gw4, gw6 netip.Addr, hostPrefixes bool) error {
	if err := jail.LinkSetUp(loopback); err != nil {
		return fmt.Errorf("network: set lo up: %w", err)
	}
	eth, err := jail.LinkByName(jailLink)
	if err != nil {
		return fmt.Errorf("network: look up jail %s: %w", jailLink, err)
	}
	if eth.Attrs().Flags&net.FlagUp == 0 {
		if err := jail.LinkSetUp(eth); err != nil {
			return fmt.Errorf("network: set jail %s up: %w", jailLink, err)
		}
	}
	for _, pfx := range p.Addrs {
		if hostPrefixes {
			pfx = netip.PrefixFrom(pfx.Addr(), pfx.Addr().BitLen())
		}
		addr := &netlink.Addr{IPNet: ipNet(pfx)}
		if pfx.Addr().Is6() {
			// No DAD: the address would stay tentative (unusable for
			// bind) for a second or more after the command starts.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := jail.AddrAdd(eth, addr); err != nil {
			return fmt.Errorf("network: add address %s to jail %s: %w", pfx, jailLink, err)
		}
	}
	for _, gw := range []netip.Addr{gw4, gw6} {
		if !gw.IsValid() || !p.hasFamily(gw.Is4()) {
			continue
		}
		r := &netlink.Route{LinkIndex: eth.Attrs().Index, Dst: defaultNet(gw.Is4()), Gw: gw.AsSlice()}
		if gw.Is4() && !onLink(p, gw, hostPrefixes) {
			// The gateway is in no prefix of eth0: without ONLINK
			// fib_check_nh refuses it (ENETUNREACH).
			r.Flags = int(netlink.FLAG_ONLINK)
		}
		if err := jail.RouteAdd(r); err != nil {
			return fmt.Errorf("network: add default route via %s in jail: %w", gw, err)
		}
	}
	return nil
}

func onLink(p *Plan, gw netip.Addr, hostPrefixes bool) bool {
	if hostPrefixes {
		return false
	}
	for _, pfx := range p.Addrs {
		if pfx.Masked().Contains(gw) {
			return true
		}
	}
	return false
}

// setupHostEnd gives the host end its gateway addresses and forwarding,
// and installs the routes and rules of the jail.
func setupHostEnd(host *rtnl, a *Attachment, idx int) error {
	p := &a.Plan
	v4, v6 := p.hasFamily(true), p.hasFamily(false)
	link := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: a.HostLink}}
	// Forwarding only on the host end: for IPv4 the kernel checks the
	// input device (ip_route_input_slow: IN_DEV_FORWARD(in_dev)); for
	// IPv6 conf.all.forwarding is the only switch before Linux 6.17,
	// which added the per-device force_forwarding that ip6_forward
	// honours for the input device.
	if v4 {
		if err := writeSysctl("/proc/sys/net/ipv4/conf/"+a.HostLink+"/forwarding", "1"); err != nil {
			return fmt.Errorf("network: enable forwarding on %s: %w", a.HostLink, err)
		}
		gw := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(netip.AddrFrom4(gateway4), 32)), Scope: int(netlink.SCOPE_LINK)}
		if err := host.AddrAdd(link, gw); err != nil {
			return fmt.Errorf("network: add gateway %s to %s: %w", gw.IPNet, a.HostLink, err)
		}
	}
	if v6 {
		if err := writeSysctl("/proc/sys/net/ipv6/conf/"+a.HostLink+"/force_forwarding", "1"); err != nil {
			return fmt.Errorf("network: enable IPv6 forwarding on %s (needs Linux 6.17 force_forwarding): %w", a.HostLink, err)
		}
		gw := &netlink.Addr{IPNet: ipNet(netip.PrefixFrom(netip.AddrFrom16(gateway6), 64)), Flags: unix.IFA_F_NODAD}
		if err := host.AddrAdd(link, gw); err != nil {
			return fmt.Errorf("network: add gateway %s to %s: %w", gw.IPNet, a.HostLink, err)
		}
	}
	for _, pfx := range p.Addrs {
		dst := ipNet(netip.PrefixFrom(pfx.Addr(), pfx.Addr().BitLen()))
		tables := []int{unix.RT_TABLE_MAIN, TableJails}
		if a.UplinkIndex != 0 {
			tables = append(tables, tableUplinkIn+a.UplinkIndex)
		}
		for _, t := range tables {
			r := &netlink.Route{LinkIndex: idx, Dst: dst, Scope: netlink.SCOPE_LINK, Table: t, Protocol: Protocol}
			if err := host.RouteAdd(r); err != nil {
				return fmt.Errorf("network: add route %s dev %s table %d: %w", dst, a.HostLink, t, err)
			}
		}
	}
	for _, v := range []bool{true, false} {
		// Both families, whatever the jail's addresses: the rules are the
		// guarantee that nothing from the jail leaves, so they never
		// depend on what the jail could send.
		for _, r := range jailRules(a, v) {
			if err := addRule(host, r); err != nil {
				return err
			}
		}
	}
	if a.UplinkIndex != 0 {
		return setupUplink(host, a)
	}
	return nil
}

// jailRules are the policy rules of a veth jail for one family, in the
// order they are consulted.
func jailRules(a *Attachment, v4 bool) []*netlink.Rule {
	rules := []*netlink.Rule{jailRule(a.HostLink, v4, PriorityJail, TableJails)}
	if a.UplinkIndex != 0 {
		rules = append(rules, jailRule(a.HostLink, v4, PriorityJailUplink, tableUplinkOut+a.UplinkIndex))
	}
	end := jailRule(a.HostLink, v4, PriorityJailEnd, 0)
	end.Type = unix.FR_ACT_UNREACHABLE
	return append(rules, end)
}

func jailRule(iif string, v4 bool, prio, table int) *netlink.Rule {
	r := netlink.NewRule()
	r.Family = family(v4)
	r.Priority = prio
	r.IifName = iif
	r.Table = table
	r.Protocol = Protocol
	return r
}

func addRule(h *rtnl, r *netlink.Rule) error {
	// EEXIST: left by a jail of the same name that died without Detach;
	// it is exactly the rule wanted.
	if err := ignore(h.addRule(r), unix.EEXIST); err != nil {
		return fmt.Errorf("network: add rule %s: %w", r, err)
	}
	return nil
}

// Detach removes what the kernel does not remove when the jail's
// namespace dies: the policy rules and the proxy entries. Routes via the
// host end and the veth itself go with the namespace; Detach does not
// delete the veth, which would wait for an RCU grace period (~30 ms).
// Detaching twice is harmless.
func (a *Attachment) Detach() error {
	if a == nil || a.Plan.EffectiveMode() != ModeVeth {
		return nil
	}
	h, err := openRtnl()
	if err != nil {
		return fmt.Errorf("network: open netlink: %w", err)
	}
	defer h.Close()
	var errs []error
	for _, v := range []bool{true, false} {
		for _, r := range jailRules(a, v) {
			if err := ignore(h.RuleDel(r), unix.ENOENT); err != nil {
				errs = append(errs, fmt.Errorf("network: delete rule %s: %w", r, err))
			}
		}
	}
	if a.UplinkIndex != 0 {
		for _, pfx := range a.Plan.Addrs {
			p := proxy{ifindex: a.UplinkIndex, addr: pfx.Addr()}
			if err := ignore(h.setProxy(false, p), unix.ENOENT, unix.ENODEV); err != nil {
				errs = append(errs, fmt.Errorf("network: delete proxy %s on %s: %w", p.addr, a.Plan.Uplink, err))
			}
		}
	}
	return errors.Join(errs...)
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func defaultNet(v4 bool) *net.IPNet {
	if v4 {
		return &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}
	}
	return &net.IPNet{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)}
}

func family(v4 bool) int {
	if v4 {
		return unix.AF_INET
	}
	return unix.AF_INET6
}
