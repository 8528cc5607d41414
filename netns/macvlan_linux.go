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
	var mac net.HardwareAddr
	jail.queue(getLinkMsg(jailLink), "look up jail "+jailLink)
	err = jail.flush(func(h unix.NlMsghdr, data []byte) {
		if h.Type == unix.RTM_NEWLINK {
			eth, _ = linkInfo(data)
			mac = linkAddr(data)
		}
	})
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	if len(mac) != 6 {
		return fmt.Errorf("network: jail %s has no Ethernet address", jailLink)
	}
	// Before eth0 goes up: from then on, every frame it sends passes the
	// check.
	if err := setSourceRules(ns.fd, p.Addrs, mac); err != nil {
		return err
	}
	// No link-local address: the jail holds exactly its addresses, and
	// the source check need not know one the kernel derived.
	jail.queue(noLinkLocalMsg(eth), "set addr_gen_mode of jail "+jailLink)
	var gw4, gw6 netip.Addr
	if p.Gateway.Is4() {
		gw4 = p.Gateway
	} else {
		gw6 = p.Gateway
	}
	return setupJailEnd(jail, p, eth, gw4, gw6, false, false)
}
