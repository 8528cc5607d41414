package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"time"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// jailLink is the name of the jail's interface, whatever the mode.
const jailLink = "eth0"

// vethMTU is the MTU of a veth with no uplink: Ethernet's. TSO/GRO on
// veth make a larger one buy little, and nothing a jail learns about
// path MTUs changes when an uplink is added.
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
	// UplinkSlot numbers the uplink's routing tables (uplinkSlot).
	UplinkSlot int `json:",omitempty"`
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
// policy rules that keep the jail's traffic on the machine (see the
// package documentation). ModeMacvlan creates eth0 on Parent in the
// jail's namespace with the addresses and the Gateway route.
//
// On failure Attach removes what it made on the host.
//
// Preconditions: p is valid; pid is in a network namespace of its own;
// no running jail has the same name, and the previous jail of that name
// has been Detached or Swept. Attach, Detach and Sweep serialise
// themselves on the host-wide lock at LockPath.
func Attach(p *Plan, pid int) (*Attachment, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.EffectiveMode() == ModeHost {
		return &Attachment{Plan: *p}, nil
	}
	// A pidfd names the process race-free and is the cheapest way in:
	// setns(2) accepts it (Linux 5.8), IFLA_NET_NS_PID takes the pid.
	pidfd, err := unix.PidfdOpen(pid, unix.PIDFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("network: open jail process %d: %w", pid, os.NewSyscallError("pidfd_open", err))
	}
	defer unix.Close(pidfd)
	return attachTo(p, target{fd: pidfd, pid: pid})
}

// AttachNS is Attach for a network namespace given by an open fd, before
// any process is in it: a launcher that makes the namespace itself can
// connect it while the jail's init is still starting.
func AttachNS(p *Plan, nsFd int) (*Attachment, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.EffectiveMode() == ModeHost {
		return &Attachment{Plan: *p}, nil
	}
	return attachTo(p, target{fd: nsFd})
}

// A Spare is a veth pair made ahead of its jail, by a launcher that keeps
// a pool of them (prison daemon): the pair's creation is most of a routed
// jail's network cost, about 0.4 ms in the kernel, and loading its source
// filter another 0.3 ms. The jail end is eth0 in the network namespace the
// spare was made in; the host end has a name of the pool's until
// AttachSpare renames it. Both are down and carry nothing until then. A
// spare lives as long as its namespace, like any jail's pair; what it
// holds in the launcher, the map of its filter's addresses, goes with
// AttachSpare or Close.
type Spare struct {
	Name               string // the host end's
	hostIdx, jailIndex int
	// srcs is the map of the filter at the host end's ingress, empty (the
	// filter drops every frame) until AttachSpare writes the jail's
	// addresses into it; nil once AttachSpare or Close released it.
	srcs *ebpf.Map
}

// MakeSpare makes a Spare in the network namespace nsFd, whose host end is
// named name.
func MakeSpare(nsFd int, name string) (*Spare, error) {
	prog, srcs, err := loadSourceFilter(spareAddrs)
	if err != nil {
		return nil, err
	}
	// The filter holds the program once it is attached.
	defer prog.Close()
	host, err := dialRoute()
	if err != nil {
		srcs.Close()
		return nil, fmt.Errorf("network: %w", err)
	}
	defer host.Close()
	hostIdx, jailIdx, err := createVeth(host, name, vethMTU, target{fd: nsFd})
	if err != nil {
		srcs.Close()
		return nil, err
	}
	// What every routed jail's pair gets is done now, off the start path:
	// the links up, without IPv6 link-local addresses, the host end's IPv4
	// gateway and forwarding, and its source filter, which lets nothing
	// through until AttachSpare fills its map. Nothing can pass: the
	// namespace holds no process, and the host has no route to it.
	host.queue(noLinkLocalMsg(hostIdx), "set addr_gen_mode of "+name)
	host.queue(inetForwardingMsg(hostIdx), "enable forwarding on "+name)
	gw := netip.PrefixFrom(netip.AddrFrom4(gateway4), 32)
	host.queue(addrMsg(hostIdx, gw, unix.RT_SCOPE_LINK, 0), "add gateway "+gw.String()+" to "+name)
	host.queue(clsactMsg(hostIdx), "add clsact qdisc to "+name)
	host.queue(sourceFilterMsg(hostIdx, prog), "add source address filter to "+name)
	host.queue(linkUpMsg(hostIdx), "set "+name+" up")
	err = host.flush(nil)
	if err == nil {
		var jail *conn
		if jail, err = openJail(nsFd, nil); err == nil {
			queueJailLinks(jail, jailIdx)
			err = jail.flush(nil)
			jail.Close()
		}
	}
	if err != nil {
		srcs.Close()
		host.queue(delLinkMsg(hostIdx), "delete "+name)
		_ = host.flush(nil)
		return nil, fmt.Errorf("network: %w", err)
	}
	return &Spare{Name: name, hostIdx: hostIdx, jailIndex: jailIdx, srcs: srcs}, nil
}

// Close releases what a spare that is not attached holds in the launcher,
// its filter's map, which would otherwise wait for the garbage collector
// to be freed. The pair goes with its namespace. Closing twice, or after
// AttachSpare, is harmless.
func (s *Spare) Close() {
	if s != nil && s.srcs != nil {
		s.srcs.Close()
		s.srcs = nil
	}
}

// queueJailLinks sets lo and eth0 up in a jail, eth0 without an IPv6
// link-local address.
func queueJailLinks(jail *conn, eth int) {
	jail.queue(linkUpMsg(loopbackIndex), "set lo up")
	jail.queue(noLinkLocalMsg(eth), "set addr_gen_mode of jail "+jailLink)
	jail.queue(linkUpMsg(eth), "set jail "+jailLink+" up")
}

// AttachSpare is AttachNS with a Spare made in nsFd, which it closes.
// Preconditions: p.Fits().
func AttachSpare(p *Plan, nsFd int, s *Spare) (*Attachment, error) {
	defer s.Close()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !p.Fits() {
		return nil, fmt.Errorf("bug: network: a spare pair for a %s jail with %d addresses", p.EffectiveMode(), len(p.Addrs))
	}
	if s.srcs == nil {
		return nil, errors.New("bug: network: a spare attached twice")
	}
	return attachTo(p, target{fd: nsFd, spare: s})
}

func attachTo(p *Plan, ns target) (*Attachment, error) {
	mode := p.EffectiveMode()
	a := &Attachment{Plan: *p}
	if mode == ModeNone {
		jail, err := openJail(ns.fd, nil)
		if err != nil {
			return nil, err
		}
		defer jail.Close()
		jail.queue(linkUpMsg(loopbackIndex), "set lo up")
		if err := jail.flush(nil); err != nil {
			return nil, fmt.Errorf("network: %w", err)
		}
		return a, nil
	}
	unlock, err := lockHost(p.Uplink != "")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if mode == ModeMacvlan {
		return a, attachMacvlan(p, ns)
	}
	a.HostLink = p.HostLink()
	if err := attachVeth(a, ns); err != nil {
		return nil, err
	}
	return a, nil
}

// loopbackIndex is lo's: the first device of every namespace
// (loopback_net_init).
const loopbackIndex = 1

// openJail opens a conn inside the jail's network namespace (nsFd: a
// pidfd or a namespace fd), after writing the given /proc/sys files
// there. It refuses the caller's own namespace: "configuring the jail"
// there would reconfigure the host.
func openJail(nsFd int, sysctls [][2]string) (*conn, error) {
	var c *conn
	err := inNamespace(nsFd, func() (err error) {
		for _, kv := range sysctls {
			if err := writeSysctl(kv[0], kv[1]); err != nil {
				return err
			}
		}
		c, err = dialRoute()
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("network: enter jail: %w", err)
	}
	return c, nil
}

// inNamespace runs fn on a thread of its own moved into the network
// namespace of nsFd (a namespace fd or a pidfd), then moves the thread
// back and releases it. Only when the way back fails is the thread kept
// locked, so that the runtime discards it. Relying on that alone is not
// enough: a locked goroutine that exits on the main thread wedges it
// (runtime.mexit: "the main thread can't exit"), which would hold the
// jail's namespace alive for the launcher's lifetime.
func inNamespace(nsFd int, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			ch <- err
			return
		}
		defer unix.Close(own)
		var st, jst unix.Stat_t
		if err := unix.Setns(nsFd, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			ch <- os.NewSyscallError("setns", err)
			return
		}
		err = unix.Fstat(own, &st)
		if err == nil {
			err = unix.Stat("/proc/thread-self/ns/net", &jst)
		}
		if err == nil && st.Dev == jst.Dev && st.Ino == jst.Ino {
			err = errors.New("the jail process shares the host's network namespace")
		}
		if err == nil {
			err = fn()
		}
		if unix.Setns(own, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		ch <- err
	}()
	return <-ch
}

// attachVeth is Attach for ModeVeth: three round trips to the kernel in
// the common case (create the pair; configure the host end; configure
// the jail end), the last two overlapping.
func attachVeth(a *Attachment, ns target) (err error) {
	p := &a.Plan
	host, err := dialRoute()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer host.Close()

	// A fresh pair's source check is loaded (verified and compiled) while
	// the host creates the link; a spare's is attached already.
	progCh := make(chan sourceProg, 1)
	if ns.spare == nil {
		go func() {
			prog, err := newSourceFilter(p.Addrs)
			progCh <- sourceProg{prog, err}
		}()
	} else {
		progCh <- sourceProg{}
	}
	progTaken := false
	defer func() {
		if !progTaken {
			if sp := <-progCh; sp.prog != nil {
				sp.prog.Close()
			}
		}
	}()

	// The jail's socket is opened while the host creates the link.
	jailCh := make(chan jailConn, 1)
	go func() {
		c, err := openJail(ns.fd, nil)
		jailCh <- jailConn{c, err}
	}()
	jail := jailConn{}
	jailOpen := false
	defer func() {
		if !jailOpen {
			jail = <-jailCh
		}
		if jail.c != nil {
			jail.c.Close()
		}
	}()

	mtu := vethMTU
	if p.Uplink != "" {
		up, err := net.InterfaceByName(p.Uplink)
		if err != nil {
			return fmt.Errorf("network: uplink %s: %w", p.Uplink, err)
		}
		mtu, a.UplinkIndex = up.MTU, up.Index
		if a.UplinkSlot, err = uplinkSlot(p.Uplink, up.Index); err != nil {
			return err
		}
	}

	var hostIdx, peerIdx int
	if ns.spare != nil {
		hostIdx, peerIdx, err = ns.spare.hostIdx, ns.spare.jailIndex, ns.spare.rename(host, a.HostLink, true)
	} else {
		hostIdx, peerIdx, err = createVeth(host, a.HostLink, mtu, ns)
	}
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			// Only on failure: a synchronous delete waits for an RCU
			// grace period.
			_ = a.detach()
			host.queue(delLinkMsg(hostIdx), "delete "+a.HostLink)
			_ = host.flush(nil)
		}
	}()

	hostErr := make(chan error, 1)
	preset := ns.spare != nil
	progTaken = true
	go func() {
		sp := <-progCh
		if sp.err != nil {
			hostErr <- sp.err
			return
		}
		if preset {
			// Before the jail is reachable, as the fresh pair's filter
			// is attached in the same batch as its routes.
			if err := allowSources(ns.spare.srcs, p.Addrs); err != nil {
				hostErr <- err
				return
			}
		} else {
			// The filter holds the program once it is attached.
			defer sp.prog.Close()
		}
		hostErr <- setupHostEnd(host, a, hostIdx, sp.prog, preset)
	}()
	jail, jailOpen = <-jailCh, true
	if jail.err != nil {
		<-hostErr
		return jail.err
	}
	jerr := setupJailEnd(jail.c, p, peerIdx, netip.AddrFrom4(gateway4), netip.AddrFrom16(gateway6), true, preset)
	if err := <-hostErr; err != nil {
		return err
	}
	if jerr != nil {
		return jerr
	}
	if a.UplinkIndex != 0 {
		return setupUplink(a)
	}
	return nil
}

type sourceProg struct {
	prog *ebpf.Program
	err  error
}

type jailConn struct {
	c   *conn
	err error
}

// createVeth creates the pair and returns the host end's and the jail
// end's ifindex.
func createVeth(host *conn, name string, mtu int, ns target) (hostIdx, peerIdx int, err error) {
	echo := func(h unix.NlMsghdr, data []byte) {
		if h.Type == unix.RTM_NEWLINK {
			hostIdx, peerIdx = linkInfo(data)
		}
	}
	what := "create veth " + name
	host.queue(vethMsg(name, mtu, ns), what)
	err = host.flush(echo)
	if errors.Is(err, unix.EEXIST) {
		// The host end of a jail of that name that just died: its
		// namespace is still being torn down (cleanup_net runs from a
		// workqueue).
		if err = waitLinkGone(name, staleLinkWait); err == nil {
			host.queue(vethMsg(name, mtu, ns), what)
			err = host.flush(echo)
		}
	}
	if err != nil {
		return 0, 0, fmt.Errorf("network: %w", err)
	}
	if hostIdx == 0 || peerIdx == 0 {
		// No echo (before Linux 6.3): ask.
		host.queue(getLinkMsg(name), "look up "+name)
		if err := host.flush(echo); err != nil || hostIdx == 0 || peerIdx == 0 {
			if err == nil {
				err = errors.New("no such link")
			}
			return 0, 0, fmt.Errorf("network: look up %s: %w", name, err)
		}
	}
	return hostIdx, peerIdx, nil
}

// NameSpare gives a spare's host end the host link name of a jail of plan p
// at once, before the jail's name and addresses are claimed, so that the
// rename (a wait for an RCU grace period, under rtnl) is off the jail's
// path. A name still taken, by a jail of that name that is not gone yet,
// is left for AttachSpare, which waits for it. Until AttachSpare, the pair
// carries nothing: no address, no route, no process in its namespace.
func NameSpare(p *Plan, s *Spare) {
	host, err := dialRoute()
	if err != nil {
		return
	}
	defer host.Close()
	_ = s.rename(host, p.HostLink(), false)
}

// rename gives the spare's host end name, unless it has it already; with
// wait, a name still taken by a jail of that name that just died (as in
// createVeth) is waited for.
func (s *Spare) rename(host *conn, name string, wait bool) error {
	if s.Name == name {
		return nil
	}
	what := "rename " + s.Name + " to " + name
	host.queue(renameMsg(s.hostIdx, name), what)
	err := host.flush(nil)
	if wait && errors.Is(err, unix.EEXIST) {
		if err = waitLinkGone(name, staleLinkWait); err == nil {
			host.queue(renameMsg(s.hostIdx, name), what)
			err = host.flush(nil)
		}
	}
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	s.Name = name
	return nil
}

// setupJailEnd configures lo and eth0 inside the jail in one batch.
// gw4 and gw6 are the default gateways (invalid: none). hostPrefixes
// installs every address as /32 (/128), as veth mode does.
// preset: the links are up already (MakeSpare).
func setupJailEnd(jail *conn, p *Plan, eth int, gw4, gw6 netip.Addr, hostPrefixes, preset bool) error {
	switch {
	case preset:
	case hostPrefixes:
		queueJailLinks(jail, eth)
	default:
		jail.queue(linkUpMsg(loopbackIndex), "set lo up")
		jail.queue(linkUpMsg(eth), "set jail "+jailLink+" up")
	}
	for _, pfx := range p.Addrs {
		if hostPrefixes {
			pfx = netip.PrefixFrom(pfx.Addr(), pfx.Addr().BitLen())
		}
		var flags uint32
		if pfx.Addr().Is6() {
			// No DAD: the address would stay tentative (unusable for
			// bind) for a second or more after the command starts.
			flags = unix.IFA_F_NODAD
		}
		jail.queue(addrMsg(eth, pfx, unix.RT_SCOPE_UNIVERSE, flags), "add address "+pfx.String()+" to jail "+jailLink)
	}
	for _, gw := range []netip.Addr{gw4, gw6} {
		if !gw.IsValid() || !p.hasFamily(gw.Is4()) {
			continue
		}
		r := route{dst: netip.PrefixFrom(unspecified(gw.Is4()), 0), oif: eth, gw: gw}
		// A gateway in no prefix of eth0 (169.254.1.1 for /32
		// addresses) needs ONLINK, or fib_check_nh refuses it.
		r.onlink = gw.Is4() && !onLink(p, gw, hostPrefixes)
		jail.queue(routeMsg(r), "add default route via "+gw.String()+" in jail")
	}
	if err := jail.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
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
// and installs the routes and rules of the jail, in one batch.
//
// Forwarding is turned on for the host end only: for IPv4 the kernel
// checks the input device (ip_route_input_slow: IN_DEV_FORWARD); for
// IPv6, conf.all.forwarding was the only switch until Linux 6.17 added
// the per-device force_forwarding, which ip6_forward checks on the
// input device.
// The source check (prog) is attached at the host end's ingress, in the
// same batch as everything else and before the link is up, so the jail
// is never reachable without it.
// preset: MakeSpare did the host end's part that every jail's is, the
// source filter included (prog is nil).
func setupHostEnd(host *conn, a *Attachment, idx int, prog *ebpf.Program, preset bool) error {
	p := &a.Plan
	v4, v6 := p.hasFamily(true), p.hasFamily(false)
	if !preset {
		host.queue(noLinkLocalMsg(idx), "set addr_gen_mode of "+a.HostLink)
		host.queue(clsactMsg(idx), "add clsact qdisc to "+a.HostLink)
		host.queue(sourceFilterMsg(idx, prog), "add source address filter to "+a.HostLink)
		host.queue(linkUpMsg(idx), "set "+a.HostLink+" up")
	}
	if v6 {
		// Not settable through netlink (inet6_set_link_af takes only the
		// token and addr_gen_mode).
		if err := writeSysctl("/proc/sys/net/ipv6/conf/"+a.HostLink+"/force_forwarding", "1"); err != nil {
			return fmt.Errorf("network: enable IPv6 forwarding on %s (needs Linux 6.17): %w", a.HostLink, err)
		}
		gw := netip.PrefixFrom(netip.AddrFrom16(gateway6), 64)
		host.queue(addrMsg(idx, gw, unix.RT_SCOPE_LINK, unix.IFA_F_NODAD), "add gateway "+gw.String()+" to "+a.HostLink)
	}
	if v4 && !preset {
		host.queue(inetForwardingMsg(idx), "enable forwarding on "+a.HostLink)
		// Scope link: never picked as the source of traffic that leaves
		// through another interface (inet_select_addr).
		gw := netip.PrefixFrom(netip.AddrFrom4(gateway4), 32)
		host.queue(addrMsg(idx, gw, unix.RT_SCOPE_LINK, 0), "add gateway "+gw.String()+" to "+a.HostLink)
	}
	tables := []int{unix.RT_TABLE_MAIN, TableJails}
	if a.UplinkIndex != 0 {
		tables = append(tables, tableUplinkIn+a.UplinkSlot)
	}
	for _, pfx := range p.Addrs {
		dst := netip.PrefixFrom(pfx.Addr(), pfx.Addr().BitLen())
		for _, t := range tables {
			// The address was just claimed, so a route of prison's to it
			// is stale: the previous jail's host link is still dying with
			// its namespace, and takes its routes only then.
			host.queue(delStaleRouteMsg(dst, t), fmt.Sprintf("delete stale route %s table %d", dst, t),
				unix.ESRCH, unix.ENOENT)
			host.queue(routeMsg(route{dst: dst, oif: idx, table: t, scope: unix.RT_SCOPE_LINK, proto: Protocol}),
				fmt.Sprintf("add route %s dev %s table %d", dst, a.HostLink, t))
		}
	}
	for _, v := range []bool{true, false} {
		// Both families, whatever the jail's addresses: the rules are the
		// guarantee that nothing from the jail leaves, so they never
		// depend on what the jail could send.
		// A jail of this name that died without Detach, whose host link
		// outlived the Sweep that followed, may have left an uplink rule:
		// it would hand this jail a way out it did not ask for.
		host.queue(ruleMsg(false, family(v), a.HostLink, PriorityJailUplink, 0, 0),
			"delete stale uplink rule of "+a.HostLink, unix.ENOENT)
		for _, r := range jailRules(a, v) {
			// EEXIST: left by a jail of that name that died without
			// Detach; it is exactly the rule wanted.
			host.queue(r.msg(true), "add rule "+r.String(), unix.EEXIST)
		}
	}
	if err := host.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// rule is one of prison's policy rules.
type rule struct {
	v4     bool
	iif    string
	prio   int
	table  int
	action uint8 // FR_ACT_*; 0 means lookup table
}

func (r rule) msg(add bool) *nl.NetlinkRequest {
	return ruleMsg(add, family(r.v4), r.iif, r.prio, r.table, r.action)
}

func (r rule) String() string {
	act := fmt.Sprintf("lookup %d", r.table)
	switch r.action {
	case unix.FR_ACT_UNREACHABLE:
		act = "unreachable"
	case unix.FR_ACT_BLACKHOLE:
		act = "blackhole"
	}
	fam := "ipv4"
	if !r.v4 {
		fam = "ipv6"
	}
	return fmt.Sprintf("%s %d: iif %s %s", fam, r.prio, r.iif, act)
}

// jailRules are the policy rules of a veth jail for one family, in the
// order they are consulted.
func jailRules(a *Attachment, v4 bool) []rule {
	rules := []rule{{v4: v4, iif: a.HostLink, prio: PriorityJail, table: TableJails}}
	if a.UplinkIndex != 0 {
		rules = append(rules, rule{v4: v4, iif: a.HostLink, prio: PriorityJailUplink, table: tableUplinkOut + a.UplinkSlot})
	}
	return append(rules, rule{v4: v4, iif: a.HostLink, prio: PriorityJailEnd, action: unix.FR_ACT_UNREACHABLE})
}

// Detach removes what the kernel does not remove when the jail's
// namespace dies: the policy rules and the proxy entries, in one batch.
// Routes via the host end and the veth itself go with the namespace;
// Detach does not delete the veth, which would wait for an RCU grace
// period. Detaching twice is harmless.
func (a *Attachment) Detach() error {
	if a == nil || a.Plan.EffectiveMode() != ModeVeth {
		return nil
	}
	unlock, err := lockHost(a.Plan.Uplink != "")
	if err != nil {
		return err
	}
	defer unlock()
	return a.detach()
}

// detach is Detach. Preconditions: the host lock is held.
func (a *Attachment) detach() error {
	c, err := dialRoute()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer c.Close()
	for _, v := range []bool{true, false} {
		for _, r := range jailRules(a, v) {
			c.queue(r.msg(false), "delete rule "+r.String(), unix.ENOENT)
		}
	}
	if a.UplinkIndex != 0 {
		for _, pfx := range a.Plan.Addrs {
			c.queue(proxyMsg(false, proxy{ifindex: a.UplinkIndex, addr: pfx.Addr()}),
				"delete proxy "+pfx.Addr().String()+" on "+a.Plan.Uplink, unix.ENOENT, unix.ENODEV)
		}
	}
	if err := c.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

func ipNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

func unspecified(v4 bool) netip.Addr {
	if v4 {
		return netip.IPv4Unspecified()
	}
	return netip.IPv6Unspecified()
}

func family(v4 bool) int {
	if v4 {
		return unix.AF_INET
	}
	return unix.AF_INET6
}

// waitLinkGone waits until no link named name exists.
func waitLinkGone(name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := netlink.LinkByName(name)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("host link %s still exists after %v (is a jail of that name running?)", name, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
