package netns

import (
	"fmt"
	"net/netip"
)

// attachMacvlan is Attach for ModeMacvlan. The link is created directly
// in the jail's namespace; nothing is left on the host, so there is
// nothing to Detach. As with every macvlan, the host itself cannot reach
// the jail through Parent (the parent does not see its macvlans'
// traffic); other machines and macvlan jails on the same parent can.
func attachMacvlan(p *Plan, nsFd int) error {
	host, err := openRtnl()
	if err != nil {
		return fmt.Errorf("network: open netlink: %w", err)
	}
	defer host.Close()
	parent, err := host.LinkByName(p.Parent)
	if err != nil {
		return fmt.Errorf("network: macvlan parent %s: %w", p.Parent, err)
	}
	// eth0 inherits these from "default" when it is created: it sits on a
	// real segment, where router advertisements would give the jail
	// SLAAC addresses it was not given. Written before the link exists,
	// so no advertisement can race them.
	jail, err := openInJail(nsFd, [][2]string{
		{"/proc/sys/net/ipv6/conf/default/accept_ra", "0"},
		{"/proc/sys/net/ipv6/conf/default/autoconf", "0"},
	})
	if err != nil {
		return fmt.Errorf("network: enter jail: %w", err)
	}
	defer jail.Close()
	if err := host.createMacvlan(parent.Attrs().Index, nsFd); err != nil {
		return fmt.Errorf("network: create macvlan on %s: %w", p.Parent, err)
	}
	var gw4, gw6 netip.Addr
	if p.Gateway.Is4() {
		gw4 = p.Gateway
	} else {
		gw6 = p.Gateway
	}
	return setupJailEnd(jail, p, gw4, gw6, false)
}
