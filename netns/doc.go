// Package netns gives a jail its network: a routed veth pair (the
// default with addresses), a macvlan on a host interface, loopback only,
// or the host's own namespace. It corresponds to FreeBSD's ip4.addr /
// ip6.addr, interface, ip4=disable and ip4=inherit.
//
// A [Plan] is pure data (JSON-serialisable) built from flags or a jail
// file with [ParseNet] and [ParseAddr] and checked by [Plan.Validate].
// The launcher calls [CheckHost] before it starts the jail, [Attach]
// once the jail's init waits in its fresh network namespace, and
// [Attachment.Detach] when the jail is gone; any prison command calls
// [Sweep] to clean up after launchers that were killed.
//
//	plan := &netns.Plan{Jail: "web", Addrs: []netip.Prefix{addr}}
//	if err := plan.Validate(); err != nil { … }
//	if err := netns.CheckHost(plan); err != nil { … }
//	// start the init with CLONE_NEWNET; it waits for a "go"
//	att, err := netns.Attach(plan, init.Pid)
//	// send "go"; wait for the jail
//	err = att.Detach()
//
// Everything runs on the host side, through netlink sockets opened in
// the host's and in the jail's namespace. The jail's side is entered on
// a locked thread that comes back before it is released; nothing of
// prison runs inside the jail.
//
// # Routed veth
//
// The host end "pr-NAME" ([Plan.HostLink]) and the jail end "eth0" are
// created in one message, eth0 directly in the jail's namespace. eth0
// holds the jail's addresses as /32 and /128 and a default route via
// 169.254.1.1 (onlink) and fe80::1. The host end holds those two
// addresses itself (169.254.1.1 with scope link, so it is never the
// source of traffic leaving elsewhere): the jail's ARP/NDP for its
// gateway is answered by an ordinary local address, with no proxy_arp
// to widen what the host answers for, and the host is 169.254.1.1 as
// seen from every jail. Neither end gets an automatic fe80:: address.
//
// The host routes each jail address via the host end (main table, so
// the host and rp_filter find it) and in [TableJails]. Forwarding is on
// for the host ends only: net.ipv4.conf.pr-NAME.forwarding, and for
// IPv6 net.ipv6.conf.pr-NAME.force_forwarding, the per-device switch
// Linux 6.17 added; before it, IPv6 forwarding had only the global
// conf.all.forwarding, which prison never touches, and a veth jail with
// IPv6 addresses fails to attach on such kernels. On 6.18 host↔jail and
// jail↔jail traffic works over both families with all.forwarding = 0.
//
// Packets that arrive from a jail never see the main table. Per host end
// and family, [Attach] adds
//
//	1740: iif pr-NAME lookup TableJails        (the other jails)
//	1741: iif pr-NAME lookup <uplink out>      (only with an uplink)
//	1742: iif pr-NAME unreachable              (everything else)
//
// all with protocol [Protocol] (112). Local addresses of the host are
// found before (the local table, priority 0), so a jail reaches the host
// and the other jails and gets ENETUNREACH/EHOSTUNREACH for anything
// else; no packet leaves. The rules do not depend on the jail's
// families: a jail without IPv6 addresses is fenced for IPv6 too.
//
// # Uplink
//
// With [Plan.Uplink] the jail's traffic may leave through that interface
// and come back: its out table (tableUplinkOut+ifindex) holds the main
// table's routes through the uplink, the uplink answers ARP/NDP for the
// jail's addresses (proxy entries with protocol 112), and "iif UPLINK
// lookup <in table>" (1743) forwards arriving traffic to the uplink's
// jails. Both directions need forwarding on the input device: if prison
// turns it on for the uplink (IPv4 forwarding; IPv6 forwarding, which
// proxy NDP requires in ndisc_recv_ns, plus force_forwarding, with
// accept_ra raised from 1 to 2 so the host keeps its RA-learned routes),
// it first adds "iif UPLINK blackhole" (1744), so the host still forwards
// nothing from the uplink except to its jails. The guard rule is also
// the record that prison turned forwarding on: [Sweep] turns it off
// again when no jail uses the uplink any more.
//
// # Lifetimes
//
// The veth, its addresses and every route via it die with the jail's
// namespace; Detach does not delete the link, which would wait about
// 30 ms for an RCU grace period. Rules and proxy entries outlive it:
// Detach removes them, and Sweep removes those whose host link is gone
// (a host link exists exactly as long as its jail's namespace), so it
// needs no list of live jails.
//
// # Macvlan
//
// eth0 is created in bridge mode on [Plan.Parent] directly in the jail's
// namespace, up, with the parent's MTU, the addresses with their prefix
// lengths and an optional default route via [Plan.Gateway]. Router
// advertisements are ignored inside (accept_ra and autoconf 0) so that
// the jail holds exactly its addresses. The host cannot reach a macvlan
// jail through the parent itself.
//
// # Source addresses
//
// A jail's frames leave it only with one of its own addresses as source,
// as with FreeBSD's allow.raw_sockets: IPv4 from a jail IPv4 address, ARP
// (IPv4 over Ethernet) with a jail IPv4 address as sender, IPv6 from a
// jail IPv6 address or from :: to ff02::/16 (MLD and DAD on a link without
// a link-local address); everything else is dropped, VLAN-tagged frames
// and other ether types included. Every field is read at its offset from
// the Ethernet header, never through the network header offset, which a
// packet socket's sender chooses. The check is installed before the jail's
// command runs, by the host, where the jail's root (no CAP_NET_ADMIN) can
// neither see nor remove it, whatever socket writes the frame: raw IP with
// IP_HDRINCL / IPV6_HDRINCL, or with allow.socket_af an AF_PACKET socket.
//
// Routed veth: a tc BPF classifier (cls_bpf, direct action, TC_ACT_SHOT;
// the kernel has no act_gact and no cls_flower) at the clsact ingress of
// the host end, in the host's namespace. Every frame eth0 sends is
// received there, whatever skipped eth0's own egress: PACKET_QDISC_BYPASS,
// AF_XDP. Each pair has a program of its own, which reads the sources it
// lets through from a small hash map of its own: the jail's addresses,
// keyed with their family, and :: (let through towards ff02::/16 only).
// An empty map lets nothing through. Nothing is shared between jails; the
// launcher closes its fd to the map once the addresses are in, so the map
// lives as long as the program, and the filter, its program and its map
// die with the link, like the routes: nothing to Detach or Sweep, and no
// firewall reload ("nft flush ruleset") takes it away, as it would a
// table in the host's ruleset. For a fresh pair the program is loaded and
// its map filled while the pair is created, and the filter goes in the
// host end's batch, before the link is up. A Spare has its filter
// attached when it is made, off the start path, with its map empty: until
// AttachSpare writes the jail's addresses (one bpf(2) call each, instead
// of a 0.3 ms load), it drops every frame. A Spare's map has room for 32
// addresses; a jail with more gets a fresh pair (Plan.Fits).
// Not rp_filter: it has no IPv6 counterpart and checks routed packets
// only.
//
// Macvlan: a jail's frames never cross a host end; towards the segment
// they go out of the parent, towards other macvlan jails straight into
// their eth0. So the check is on eth0's egress, in the jail's namespace:
// an nftables netdev table "prison" with an egress chain (policy drop),
// which also requires the jail's own MAC as source (and as ARP sender),
// since the segment's switches learn it. nftables, not tc: a packet socket
// with PACKET_QDISC_BYPASS (no capability needed to set it) skips tc's
// egress hook with the whole qdisc layer, but not netfilter's
// (packet_xmit calls nf_hook_direct_egress). Such a socket that gives a
// protocol in its address sends frames with no link-layer header offset
// set; the chain cannot read them and drops them (protocol 0 works). eth0
// gets no link-local address, so that the jail holds exactly its
// addresses, as in veth mode. The table dies with the namespace.
//
// What the egress hook does not see is AF_XDP's transmit path
// (__dev_direct_xmit): a macvlan jail given allow.socket_af could send
// past the check with an AF_XDP socket, which is why the filter refuses
// AF_XDP whatever allow.socket_af says (seccomp socketRules, tested in
// every allow.* configuration by the syscall table). A veth jail's AF_XDP frames still
// reach the host end.
//
// # What the jail needs of its init
//
// Nothing: the jail's root has no CAP_NET_ADMIN, and no sysctl inside
// has to change for veth mode. IPv6 addresses are added without DAD so
// they are usable at once.
package netns
