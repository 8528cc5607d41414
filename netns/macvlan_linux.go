package netns

import (
	"fmt"
	"net"
	"net/netip"

	"golang.org/x/sys/unix"
)

// attachMacvlan is Attach for ModeMacvlan. The link is created directly
// in the jail's namespace; nothing is left on the host, so there is
// nothing to Detach. As with every macvlan, the host itself cannot reach
// the jail through Parent (a parent does not see its macvlans'
// traffic); other machines and macvlan jails on the same parent can.
func attachMacvlan(p *Plan, ns target) error {
	parent, err := net.InterfaceByName(p.Parent)
	if err != nil {
		return fmt.Errorf("network: macvlan parent %s: %w", p.Parent, err)
	}
	// eth0 inherits these from "default" when it is created: it sits on a
	// real segment, where router advertisements would give the jail
	// SLAAC addresses it was not given. Written before the link exists,
	// so that no advertisement can race them.
	jail, err := openJail(ns.fd, [][2]string{
		{"/proc/sys/net/ipv6/conf/default/accept_ra", "0"},
		{"/proc/sys/net/ipv6/conf/default/autoconf", "0"},
	})
	if err != nil {
		return err
	}
	defer jail.Close()
	host, err := dialRoute()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer host.Close()
	host.queue(macvlanMsg(parent.Index, ns), "create macvlan on "+p.Parent)
	if err := host.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	// No echo from the host's socket for a link born in another
	// namespace: ask inside.
	var eth int
	jail.queue(getLinkMsg(jailLink), "look up jail "+jailLink)
	err = jail.flush(func(h unix.NlMsghdr, data []byte) {
		if h.Type == unix.RTM_NEWLINK {
			eth, _ = linkInfo(data)
		}
	})
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	var gw4, gw6 netip.Addr
	if p.Gateway.Is4() {
		gw4 = p.Gateway
	} else {
		gw6 = p.Gateway
	}
	return setupJailEnd(jail, p, eth, gw4, gw6, false, false)
}
