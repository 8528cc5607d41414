package netns

import "errors"

// ErrNotSupported is returned on platforms without network namespaces.
var ErrNotSupported = errors.New("network namespaces not supported on this platform")

// The kernel objects prison owns carry these marks, so that Sweep finds
// them after a launcher was killed and so that `ip rule`, `ip route show
// table all` and `ip neigh show proxy` tell them apart from the admin's.
const (
	// Protocol is the rtnetlink protocol (RTPROT_*) of every route, rule
	// and proxy neighbour entry prison adds. 112 ('p') is unassigned in
	// iproute2's rt_protos.
	Protocol = 112

	// TableJails is prison's routing table: a /32 (/128) route to every
	// jail address via its host link. Packets arriving from a jail are
	// routed by it, then by its uplink's table if it has one, then
	// refused; the main table never sees them.
	TableJails = 0x70720000

	// tableUplinkOut+slot holds the routes copied from the main table
	// that leave through the uplink with that slot (uplinkSlot): the way
	// out for jails that have that uplink.
	tableUplinkOut = 0x70740000
	// tableUplinkIn+slot holds the routes to the jails of that uplink: the
	// only destinations forwarded for packets arriving on it.
	tableUplinkIn = 0x70760000
	// uplinkSlots bounds the slots: the two ranges must not meet.
	uplinkSlots = 1 << 16

	// PriorityJail is "iif pr-x lookup TableJails", for every veth jail.
	// Below 32766 (main) and apart from the ranges of the usual suspects
	// (0 local, 1000 l3mdev, 5210-5270 tailscale, 32764-32765 wg-quick).
	PriorityJail = 1740
	// PriorityJailUplink is "iif pr-x lookup <uplink out table>", for a
	// jail with an uplink.
	PriorityJailUplink = 1741
	// PriorityJailEnd is "iif pr-x unreachable", for every veth jail:
	// what the tables above do not route is refused (ICMP net
	// unreachable, ENETUNREACH in the jail), never looked up in main.
	PriorityJailEnd = 1742
	// PriorityUplinkIn is "iif UPLINK lookup <uplink in table>".
	PriorityUplinkIn = 1743
	// PriorityUplinkGuard is "iif UPLINK blackhole": added only when
	// prison turned forwarding on for the uplink, so that the host
	// forwards nothing from it but traffic for its jails.
	PriorityUplinkGuard = 1744
)

// Link-local gateway of every veth jail, on every host link. The same
// addresses on many links are fine: IPv4 keeps one local route until the
// last holder goes (fib_del_ifaddr), IPv6 link-local addresses are
// per-link by definition.
var (
	gateway4 = [4]byte{169, 254, 1, 1}
	gateway6 = [16]byte{0: 0xfe, 1: 0x80, 15: 1}
)
