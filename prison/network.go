package prison

import (
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/netns"
)

// specNetwork records the network flags in the spec: addresses in the
// FreeBSD jail section (ip4.addr, ip6.addr, interface), the rest as
// annotations.
func (c *Config) specNetwork(s *specs.Spec) error {
	mode, parent, err := netns.ParseNet(c.Net)
	if err != nil {
		return err
	}
	if mode == "" {
		mode = netns.ModeNone
		if len(c.IPs) > 0 {
			mode = netns.ModeVeth
		}
	}
	j := s.FreeBSD.Jail
	for _, a := range c.IPs {
		p, err := netns.ParseAddr(a)
		if err != nil {
			return err
		}
		if p.Addr().Is4() {
			j.Ip4Addr = append(j.Ip4Addr, p.String())
		} else {
			j.Ip6Addr = append(j.Ip6Addr, p.String())
		}
	}
	switch {
	case mode == netns.ModeHost && len(c.IPs) > 0:
		return fmt.Errorf("--ip: a jail with --net host has the host's addresses")
	case mode == netns.ModeNone && len(c.IPs) > 0:
		return fmt.Errorf("--ip: a jail with --net none has loopback only")
	case mode == netns.ModeMacvlan && len(c.IPs) == 0:
		return fmt.Errorf("--net macvlan:%s: needs at least one --ip", parent)
	case c.Gateway != "" && mode != netns.ModeMacvlan:
		return fmt.Errorf("--gateway: only with --net macvlan:IFACE (a routed jail's gateway is the host)")
	case c.Uplink != "" && mode != netns.ModeVeth:
		return fmt.Errorf("--uplink: only for a routed jail (--ip without --net)")
	}
	if c.Gateway != "" {
		if _, err := netip.ParseAddr(c.Gateway); err != nil {
			return fmt.Errorf("--gateway %q: not an IP address", c.Gateway)
		}
		s.Annotations[AnnotationGateway] = c.Gateway
	}
	for _, d := range c.DNS {
		if _, err := netip.ParseAddr(d); err != nil {
			return fmt.Errorf("--dns %q: not an IP address", d)
		}
	}
	if len(c.DNS) > 0 {
		s.Annotations[AnnotationDNS] = strings.Join(c.DNS, ",")
	}
	if c.Uplink != "" {
		s.Annotations[AnnotationUplink] = c.Uplink
	}
	s.Annotations[AnnotationNet] = string(mode)
	j.Interface = parent
	j.Vnet = specs.FreeBSDShareNew
	j.Ip4, j.Ip6 = sharing(j.Ip4Addr), sharing(j.Ip6Addr)
	if mode == netns.ModeHost {
		j.Vnet, j.Ip4, j.Ip6 = specs.FreeBSDShareInherit, specs.FreeBSDShareInherit, specs.FreeBSDShareInherit
	}
	return nil
}

// sharing is FreeBSD's ip4/ip6 parameter: new with addresses, disable
// without.
func sharing(addrs []string) specs.FreeBSDSharing {
	if len(addrs) > 0 {
		return specs.FreeBSDShareNew
	}
	return specs.FreeBSDShareDisable
}

// netPlan is the jail's network as the netns package takes it.
type netPlan struct{ netns.Plan }

// netPlanOf reads the network out of a spec (any front end's).
func netPlanOf(name string, s *specs.Spec) (*netPlan, error) {
	p := &netPlan{netns.Plan{Jail: name, Mode: netns.Mode(s.Annotations[AnnotationNet])}}
	if j := s.FreeBSD; j != nil && j.Jail != nil {
		for _, a := range append(append([]string{}, j.Jail.Ip4Addr...), j.Jail.Ip6Addr...) {
			pfx, err := netns.ParseAddr(a)
			if err != nil {
				return nil, err
			}
			p.Addrs = append(p.Addrs, pfx)
		}
		p.Parent = j.Jail.Interface
	}
	if p.Mode == "" && !hasNetNamespace(s) {
		p.Mode = netns.ModeHost
	}
	p.Uplink = s.Annotations[AnnotationUplink]
	if g := s.Annotations[AnnotationGateway]; g != "" {
		gw, err := netip.ParseAddr(g)
		if err != nil {
			return nil, fmt.Errorf("--gateway %q: not an IP address", g)
		}
		p.Gateway = gw
	}
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return p, nil
}

// hasNetNamespace tells whether the jail gets a network namespace of its
// own; one it joins by path is another's.
func hasNetNamespace(s *specs.Spec) bool {
	for _, ns := range s.Linux.Namespaces {
		if ns.Type == specs.NetworkNamespace && ns.Path == "" {
			return true
		}
	}
	return false
}

// stateFields are the addresses and host link recorded in the jail's state,
// which the next jail's conflict check reads.
func (np *netPlan) stateFields() ([]string, string) {
	var addrs []string
	for _, a := range np.Addrs {
		addrs = append(addrs, a.Addr().String())
	}
	link := ""
	if np.EffectiveMode() == netns.ModeVeth {
		link = np.HostLink()
	}
	return addrs, link
}

// checkHost fails when a host interface holds one of the plan's addresses,
// or the macvlan parent or uplink is missing. It needs no lock: jails never
// put their addresses on the host's interfaces.
func (np *netPlan) checkHost() error {
	if len(np.Addrs) == 0 && np.Parent == "" && np.Uplink == "" {
		return nil
	}
	if err := netns.CheckHost(&np.Plan); err != nil {
		return &ParamError{Err: err}
	}
	return nil
}

// touchesHost tells whether the jail's network puts anything on the host.
func (np *netPlan) touchesHost() bool {
	m := np.EffectiveMode()
	return m == netns.ModeVeth || m == netns.ModeMacvlan
}

// newNetNS makes a network namespace and returns an fd for it. The work is
// done on a thread of its own, which goes back to the host's namespace
// after: namespaces are per thread, and Go's threads are shared by every
// goroutine (STYLE.md, R2).
func newNetNS() (int, error) {
	type result struct {
		fd  int
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := netNSHere()
		ch <- result{fd, err}
	}()
	r := <-ch
	return r.fd, r.err
}

// netNSHere makes a network namespace on the calling goroutine's thread,
// which the caller locked, and unlocks it once it is back in the host's
// namespace. A thread that cannot go back stays locked, and the runtime
// discards it with its goroutine.
func netNSHere() (int, error) {
	host, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("network: %w", err)
	}
	defer unix.Close(host)
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return -1, fmt.Errorf("network: new namespace: %w", os.NewSyscallError("unshare", err))
	}
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if unix.Setns(host, unix.CLONE_NEWNET) == nil {
		runtime.UnlockOSThread()
	}
	if err != nil {
		return -1, fmt.Errorf("network: %w", err)
	}
	return fd, nil
}

// sweepNetwork removes host network entries of jails that are gone.
func sweepNetwork([]*State) error {
	if Rootless() {
		return nil // a jail without root has no network on the host
	}
	return netns.Sweep()
}

// SplitList reads a comma-separated list (jail(8)'s lists: ip4.addr,
// depend; --dns), blanks dropped.
func SplitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}
