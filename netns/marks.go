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
	// jail address via its host link, and "unreachable default" for both
	// families. Packets arriving from a jail are routed by it alone.
	TableJails = 0x70720000

	// tableUplinkOut+ifindex holds the routes copied from the main table
	// that leave through the uplink with that ifindex, then "unreachable
	// default": the way out for jails that have that uplink.
	tableUplinkOut = 0x70740000
	// tableUplinkIn+ifindex holds the routes to the jails of that uplink:
	// the only destinations forwarded for packets arriving on it.
	tableUplinkIn = 0x70760000

	// PriorityJail is the rule "iif pr-x lookup TableJails" of every veth
	// jail (with suppress_prefixlength 0 when the jail has an uplink).
	// Below 32766 (main) and apart from the ranges of the usual suspects
	// (0 local, 1000 l3mdev, 5210-5270 tailscale, 32764-32765 wg-quick).
	PriorityJail = 1740
	// PriorityJailUplink is "iif pr-x lookup <uplink out table>" of a jail
	// with an uplink, consulted when TableJails has no specific route.
	PriorityJailUplink = 1741
	// PriorityUplinkIn is "iif UPLINK lookup <uplink in table>".
	PriorityUplinkIn = 1742
	// PriorityUplinkGuard is "iif UPLINK blackhole": added only when
	// prison turned forwarding on for the uplink, so that the host
	// forwards nothing from it but traffic for its jails.
	PriorityUplinkGuard = 1743
)

// Link-local gateway of every veth jail, on every host link. The same
// addresses on many links are fine: IPv4 keeps one local route until the
// last holder goes (fib_del_ifaddr), IPv6 link-local addresses are
// per-link by definition.
var (
	gateway4 = [4]byte{169, 254, 1, 1}
	gateway6 = [16]byte{0: 0xfe, 1: 0x80, 15: 1}
)
