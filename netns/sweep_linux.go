package netns

import (
	"errors"
	"fmt"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Sweep removes what jails whose launcher died (SIGKILL) left on the
// host: rules of host links that no longer exist, proxy entries for
// addresses no jail routes any more, and prison's uplink tables, rules
// and forwarding switches once no jail uses that uplink. It needs no list
// of live jails: a jail's host link exists exactly as long as its
// network namespace.
//
// It takes the host-wide lock at LockPath, as Attach and Detach do.
func Sweep() error {
	unlock, err := lockHost(true)
	if err != nil {
		return err
	}
	defer unlock()
	h, err := openRtnl()
	if err != nil {
		return fmt.Errorf("network: open netlink: %w", err)
	}
	defer h.Close()
	links, err := retryDump(h.LinkList)
	if err != nil {
		return fmt.Errorf("network: list links: %w", err)
	}
	exists := make(map[string]bool, len(links))
	for _, l := range links {
		exists[l.Attrs().Name] = true
	}
	var rules []netlink.Rule
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rs, err := retryDump(func() ([]netlink.Rule, error) { return h.RuleList(fam) })
		if err != nil {
			return fmt.Errorf("network: list rules: %w", err)
		}
		for _, r := range rs {
			if r.Protocol == Protocol {
				rules = append(rules, r)
			}
		}
	}
	var errs []error
	del := func(r netlink.Rule) {
		if err := ignore(h.RuleDel(&r), unix.ENOENT); err != nil {
			errs = append(errs, fmt.Errorf("network: delete rule %s: %w", r, err))
		}
	}

	// Jail rules of dead host links go; what survives tells which uplink
	// tables are still in use.
	usedOut := map[int]bool{}
	var uplinkRules []netlink.Rule
	for _, r := range rules {
		switch r.Priority {
		case PriorityJail, PriorityJailUplink, PriorityJailEnd:
			if !exists[r.IifName] {
				del(r)
				continue
			}
			if r.Priority == PriorityJailUplink {
				usedOut[r.Table-tableUplinkOut] = true
			}
		case PriorityUplinkIn, PriorityUplinkGuard:
			uplinkRules = append(uplinkRules, r)
		}
	}
	// An uplink's slot is recorded by its in rule; its ifindex is where its
	// proxy entries are.
	slotOf := map[string]int{}
	indexOf := map[int]int{}
	for _, r := range uplinkRules {
		if slot, ok := uplinkTableSlot(r.Table); ok && r.Priority == PriorityUplinkIn {
			slotOf[r.IifName] = slot
			if l, err := h.LinkByName(r.IifName); err == nil {
				indexOf[slot] = l.Attrs().Index
			}
		}
	}
	released := map[int]bool{}
	for _, r := range uplinkRules {
		slot, inUse := slotOf[r.IifName]
		_, err := h.LinkByName(r.IifName)
		if err == nil && inUse && usedOut[slot] {
			continue
		}
		if err == nil {
			if inUse {
				released[slot] = true
			}
			if r.Priority == PriorityUplinkGuard {
				// Forwarding off before the guard goes (fail closed).
				var failed bool
				for _, path := range uplinkSwitches(r.IifName, r.Family == unix.AF_INET) {
					if err := writeSysctl(path, "0"); err != nil {
						errs = append(errs, fmt.Errorf("network: uplink %s: disable forwarding: %w", r.IifName, err))
						failed = true
					}
				}
				if failed {
					continue
				}
			}
		}
		del(r)
	}

	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: Protocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
	})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("network: list routes: %w", err))...)
	}
	routed := map[proxy]bool{}
	for _, r := range routes {
		stale := false
		switch {
		case r.Table >= tableUplinkOut && r.Table < tableUplinkOut+uplinkSlots:
			stale = !usedOut[r.Table-tableUplinkOut]
		case r.Table >= tableUplinkIn && r.Table < tableUplinkIn+uplinkSlots:
			slot := r.Table - tableUplinkIn
			_, inUse := indexOf[slot]
			stale = released[slot] || !inUse
			if dst, ok := netip.AddrFromSlice(r.Dst.IP); ok && !stale {
				routed[proxy{ifindex: indexOf[slot], addr: dst.Unmap()}] = true
			}
		}
		if stale {
			if err := ignore(h.RouteDel(&r), unix.ESRCH, unix.ENOENT); err != nil {
				errs = append(errs, fmt.Errorf("network: delete route %s: %w", r, err))
			}
		}
	}

	// A proxy entry is live while its uplink's in table routes its
	// address to a jail; that route died with the jail's host link.
	proxies, err := h.listProxies()
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("network: list proxy entries: %w", err))...)
	}
	for _, p := range proxies {
		if p.protocol != Protocol || routed[proxy{ifindex: p.ifindex, addr: p.addr}] {
			continue
		}
		if err := ignore(h.setProxy(false, p), unix.ENOENT, unix.ENODEV); err != nil {
			errs = append(errs, fmt.Errorf("network: delete proxy %s: %w", p.addr, err))
		}
	}
	return errors.Join(errs...)
}
