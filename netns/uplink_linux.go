package netns

import (
	"fmt"
	"net/netip"
	"slices"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// setupUplink lets the jail of a reach the outside through its uplink:
//
//   - out: "iif pr-x lookup <out table>" between the jails' table and the
//     jail's unreachable rule; the out table holds the main table's
//     routes through the uplink;
//   - in: the uplink answers ARP/NDP for the jail's addresses (proxy
//     entries) and forwards to them ("iif UPLINK lookup <in table>").
//
// Both directions need forwarding on the input device. If prison turns
// it on for the uplink, it first adds "iif UPLINK blackhole" after the in
// table, so the host still forwards nothing else that arrives there.
func setupUplink(a *Attachment) error {
	up, idx := a.Plan.Uplink, a.UplinkIndex
	h, err := openRtnl()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer h.Close()
	c, err := dialRoute()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer c.Close()
	out, in := tableUplinkOut+a.UplinkSlot, tableUplinkIn+a.UplinkSlot
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_MAIN, LinkIndex: idx},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
	})
	if err != nil {
		return fmt.Errorf("network: list routes via %s: %w", up, err)
	}
	for _, r := range routes {
		if r.Protocol == Protocol || len(r.MultiPath) > 0 {
			continue
		}
		cp := &netlink.Route{
			LinkIndex: idx, Dst: r.Dst, Gw: r.Gw, Src: r.Src, Scope: r.Scope, Type: r.Type,
			Priority: r.Priority, Flags: r.Flags, Family: r.Family, Table: out, Protocol: Protocol,
		}
		if cp.Dst == nil {
			cp.Dst = ipNet(netip.PrefixFrom(unspecified(r.Family == unix.AF_INET), 0))
		}
		if err := h.RouteReplace(cp); err != nil {
			return fmt.Errorf("network: copy route %s to table %d: %w", r, out, err)
		}
	}
	for _, v := range []bool{true, false} {
		r := rule{v4: v, iif: up, prio: PriorityUplinkIn, table: in}
		c.queue(r.msg(true), "add rule "+r.String(), unix.EEXIST)
	}
	if err := c.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	v4, v6 := a.Plan.hasFamily(true), a.Plan.hasFamily(false)
	if v4 {
		// IPv4 proxy entries are answered only when the uplink forwards
		// (arp_process: IN_DEV_FORWARD), and after proxy_delay (up to
		// 0.8 s, random) unless that is 0.
		if err := enableForwarding(c, up, true, "/proc/sys/net/ipv4/conf/"+up+"/forwarding"); err != nil {
			return err
		}
		if err := writeSysctl("/proc/sys/net/ipv4/neigh/"+up+"/proxy_delay", "0"); err != nil {
			return fmt.Errorf("network: uplink %s: %w", up, err)
		}
	}
	if v6 {
		all, err := readSysctl("/proc/sys/net/ipv6/conf/all/forwarding")
		if err != nil {
			return fmt.Errorf("network: uplink %s: %w", up, err)
		}
		if all == "0" {
			// Proxy NDP needs the per-device forwarding switch
			// (ndisc_recv_ns checks idev->cnf.forwarding; force_forwarding
			// alone does not do it on 6.18); the forwarding itself needs
			// force_forwarding (ip6_forward). A device that forwards
			// ignores router advertisements unless accept_ra is 2, which
			// would drop the host's own RA-learned routes on the uplink.
			conf := "/proc/sys/net/ipv6/conf/" + up + "/"
			if ra, err := readSysctl(conf + "accept_ra"); err == nil && ra == "1" {
				if err := writeSysctl(conf+"accept_ra", "2"); err != nil {
					return fmt.Errorf("network: uplink %s: %w", up, err)
				}
			}
			if err := enableForwarding(c, up, false, conf+"forwarding", conf+"force_forwarding"); err != nil {
				return err
			}
		}
		for _, kv := range [][2]string{{"conf/" + up + "/proxy_ndp", "1"}, {"neigh/" + up + "/proxy_delay", "0"}} {
			if err := writeSysctl("/proc/sys/net/ipv6/"+kv[0], kv[1]); err != nil {
				return fmt.Errorf("network: uplink %s: %w", up, err)
			}
		}
	}
	for _, pfx := range a.Plan.Addrs {
		c.queue(proxyMsg(true, proxy{ifindex: idx, addr: pfx.Addr()}), "add proxy "+pfx.Addr().String()+" on "+up)
	}
	if err := c.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	return nil
}

// enableForwarding turns the sysctls at paths on when the first is off;
// the guard rule goes in first, so that at no moment the host forwards
// for others. The guard's existence is also the record that prison
// turned them on, which Sweep reads to turn them off again
// (uplinkSwitches).
func enableForwarding(c *conn, up string, v4 bool, paths ...string) error {
	cur, err := readSysctl(paths[0])
	if err != nil {
		return fmt.Errorf("network: uplink %s: %w", up, err)
	}
	if cur != "0" {
		return nil
	}
	guard := rule{v4: v4, iif: up, prio: PriorityUplinkGuard, action: unix.FR_ACT_BLACKHOLE}
	c.queue(guard.msg(true), "add rule "+guard.String(), unix.EEXIST)
	if err := c.flush(nil); err != nil {
		return fmt.Errorf("network: %w", err)
	}
	for _, p := range paths {
		if err := writeSysctl(p, "1"); err != nil {
			return fmt.Errorf("network: uplink %s: enable forwarding: %w", up, err)
		}
	}
	return nil
}

// uplinkSwitches are the sysctls enableForwarding turned on for up.
func uplinkSwitches(up string, v4 bool) []string {
	if v4 {
		return []string{"/proc/sys/net/ipv4/conf/" + up + "/forwarding"}
	}
	conf := "/proc/sys/net/ipv6/conf/" + up + "/"
	return []string{conf + "force_forwarding", conf + "forwarding"}
}

// uplinkSlot numbers the routing tables of uplink up (ifindex idx). An
// uplink in use keeps the slot its "iif UPLINK lookup <in table>" rule
// records; a new one takes its ifindex when that is free and fits, or the
// lowest free slot: ifindexes grow with every link a host ever made, a
// veth per jail included, and soon pass what a table id can hold.
// Preconditions: the host lock is held exclusive (uplinks take it so).
func uplinkSlot(up string, idx int) (int, error) {
	h, err := openRtnl()
	if err != nil {
		return 0, fmt.Errorf("network: %w", err)
	}
	defer h.Close()
	// Each uplink rule is added for both families: IPv4's list is all.
	rules, err := retryDump(func() ([]netlink.Rule, error) { return h.RuleList(unix.AF_INET) })
	if err != nil {
		return 0, fmt.Errorf("network: list rules: %w", err)
	}
	var used []int
	for _, r := range rules {
		slot, ok := uplinkTableSlot(r.Table)
		if r.Protocol != Protocol || !ok {
			continue
		}
		if r.Priority == PriorityUplinkIn && r.IifName == up {
			return slot, nil
		}
		used = append(used, slot)
	}
	// A slot whose tables still hold routes (not swept yet) is not free:
	// its out table would send a jail where another uplink goes.
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: Protocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return 0, fmt.Errorf("network: list routes: %w", err)
	}
	for _, r := range routes {
		if slot, ok := uplinkTableSlot(r.Table); ok {
			used = append(used, slot)
		}
	}
	if idx > 0 && idx < uplinkSlots && !slices.Contains(used, idx) {
		return idx, nil
	}
	for slot := 1; slot < uplinkSlots; slot++ {
		if !slices.Contains(used, slot) {
			return slot, nil
		}
	}
	return 0, fmt.Errorf("network: uplink %s: no free routing table slot", up)
}

// uplinkTableSlot returns the slot of one of the uplinks' tables.
func uplinkTableSlot(table int) (int, bool) {
	for _, base := range []int{tableUplinkOut, tableUplinkIn} {
		if table >= base && table < base+uplinkSlots {
			return table - base, true
		}
	}
	return 0, false
}
