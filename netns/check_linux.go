package netns

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// CheckHost fails when one of the plan's addresses is held by an
// interface of the caller's (the host's) namespace, or when the macvlan
// parent or the uplink does not exist. Conflicts between jails are the
// caller's to check (its state store knows all jails).
func CheckHost(p *Plan) error {
	mode := p.EffectiveMode()
	if mode == ModeHost || mode == ModeNone {
		return nil
	}
	h, err := openRtnl()
	if err != nil {
		return fmt.Errorf("network: open netlink: %w", err)
	}
	defer h.Close()
	for _, c := range []struct{ flag, name string }{{"--net macvlan:", p.Parent}, {"--uplink ", p.Uplink}} {
		if c.name == "" {
			continue
		}
		_, err := h.LinkByName(c.name)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return fmt.Errorf("%s%s: no such interface", c.flag, c.name)
		}
		if err != nil {
			return fmt.Errorf("network: look up %s: %w", c.name, err)
		}
	}
	addrs, err := retryDump(func() ([]netlink.Addr, error) { return h.AddrList(nil, netlink.FAMILY_ALL) })
	if err != nil {
		return fmt.Errorf("network: list host addresses: %w", err)
	}
	held := make(map[netip.Addr]int, len(addrs))
	for _, a := range addrs {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			held[ip.Unmap()] = a.LinkIndex
		}
	}
	for _, pfx := range p.Addrs {
		idx, ok := held[pfx.Addr()]
		if !ok {
			continue
		}
		name := fmt.Sprintf("#%d", idx)
		if l, err := h.LinkByIndex(idx); err == nil {
			name = l.Attrs().Name
		}
		return fmt.Errorf("--ip %s: already held by host interface %s", pfx.Addr(), name)
	}
	return nil
}
