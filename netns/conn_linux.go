package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"syscall"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// conn is a NETLINK_ROUTE socket that sends queued requests as one
// batch: one sendto for all of them, then one read of all the
// acknowledgements. rtnetlink handles the messages of a datagram one
// after the other (netlink_rcv_skb), as if sent one by one, so a batch
// saves a system call pair per message and nothing else changes. This
// is what keeps Attach within its budget on every jail start.
//
// The socket stays in the network namespace it was opened in, whatever
// thread later uses it.
type conn struct {
	fd      int
	seq     uint32
	out     []byte
	pending []pending
	first   uint32 // sequence number of pending[0]
}

// dialRoute opens a conn in the calling thread's network namespace.
func dialRoute() (*conn, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return nil, os.NewSyscallError("socket", err)
	}
	// Acks without a copy of the request: smaller reads.
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_CAP_ACK, 1)
	// Error acks carry the kernel's message ("Nexthop device is not up").
	_ = unix.SetsockoptInt(fd, unix.SOL_NETLINK, unix.NETLINK_EXT_ACK, 1)
	if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		unix.Close(fd)
		return nil, os.NewSyscallError("bind", err)
	}
	return &conn{fd: fd}, nil
}

func (c *conn) Close() error { return unix.Close(c.fd) }

type pending struct {
	what string       // what the request does, for errors
	ok   []unix.Errno // errors that count as success
}

// queue adds a request to the batch; what names it in errors ("add
// route 10.0.0.5/32 dev pr-a"); the errnos in ok count as success (an
// EEXIST for an idempotent add).
func (c *conn) queue(req *nl.NetlinkRequest, what string, ok ...unix.Errno) {
	c.seq++
	if len(c.pending) == 0 {
		c.first = c.seq
	}
	req.Flags |= unix.NLM_F_REQUEST | unix.NLM_F_ACK
	req.Seq = c.seq
	c.out = append(c.out, req.Serialize()...)
	c.pending = append(c.pending, pending{what, ok})
}

// flush sends the batch and waits for every acknowledgement. Messages
// other than acks (NLM_F_ECHO replies) go to echo, when not nil. It
// returns the errors of all failed requests, each wrapped with what it
// did; one failure does not stop the kernel from running the rest.
func (c *conn) flush(echo func(h unix.NlMsghdr, data []byte)) error {
	if len(c.pending) == 0 {
		return nil
	}
	pending, first, out := c.pending, c.first, c.out
	c.pending, c.out = nil, c.out[:0]
	if err := unix.Sendto(c.fd, out, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return os.NewSyscallError("sendto", err)
	}
	var errs []error
	acked := 0
	bp := recvBufs.Get().(*[]byte)
	defer recvBufs.Put(bp)
	buf := *bp
	for acked < len(pending) {
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return os.NewSyscallError("recvfrom", err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			i := int(m.Header.Seq - first)
			if m.Header.Seq < first || i >= len(pending) {
				continue // an answer to an earlier batch that failed halfway
			}
			if m.Header.Type != unix.NLMSG_ERROR {
				if echo != nil {
					echo(unix.NlMsghdr(m.Header), m.Data)
				}
				continue
			}
			acked++
			if len(m.Data) < 4 {
				continue
			}
			if code := int32(nl.NativeEndian().Uint32(m.Data[:4])); code != 0 && !slices.Contains(pending[i].ok, unix.Errno(-code)) {
				err := error(syscall.Errno(-code))
				if msg := extAckMsg(m); msg != "" {
					err = &kernelError{errno: syscall.Errno(-code), msg: msg}
				}
				errs = append(errs, fmt.Errorf("%s: %w", pending[i].what, err))
			}
		}
	}
	return errors.Join(errs...)
}

// recvBufs keeps flush's receive buffers: a daemon flushes for every jail.
var recvBufs = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// kernelError is an errno with the kernel's extended ack message.
type kernelError struct {
	errno syscall.Errno
	msg   string
}

func (e *kernelError) Error() string { return e.errno.Error() + " (" + e.msg + ")" }
func (e *kernelError) Unwrap() error { return e.errno }

// extAckMsg returns NLMSGERR_ATTR_MSG of an error ack, if any. With
// NETLINK_CAP_ACK the attributes follow the error code and the original
// header (struct nlmsgerr).
func extAckMsg(m syscall.NetlinkMessage) string {
	if m.Header.Flags&unix.NLM_F_ACK_TLVS == 0 || len(m.Data) < 4+unix.NLMSG_HDRLEN {
		return ""
	}
	attrs, err := nl.ParseRouteAttr(m.Data[4+unix.NLMSG_HDRLEN:])
	if err != nil {
		return ""
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.NLMSGERR_ATTR_MSG {
			return string(trimNUL(a.Value))
		}
	}
	return ""
}

func trimNUL(b []byte) []byte {
	for len(b) > 0 && b[len(b)-1] == 0 {
		b = b[:len(b)-1]
	}
	return b
}

// Message builders. Each returns an unsent request for queue.

// ipv4DevconfForwarding is IPV4_DEVCONF_FORWARDING (linux/ip.h).
const ipv4DevconfForwarding = 1

// vethMsg creates host (in the conn's namespace) and its peer "eth0"
// (in the namespace of process pid) in one message, both down: the
// peer cannot be created up (veth_open fails with ENOTCONN while
// veth_newlink configures it, before the two are paired), and neither
// should go up before its addr_gen_mode is set (noLinkLocalMsg). With NLM_F_ECHO the kernel
// answers with the new host end (rtnl_newlink_create, Linux 6.3+),
// whose IFLA_LINK is the peer's ifindex: no lookups by name afterwards.
func vethMsg(host string, mtu int, ns target) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ECHO)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(host)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(jailLink))
	peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu)))
	peer.AddChild(ns.attr())
	req.AddData(info)
	return req
}

// in6AddrGenModeNone is IN6_ADDR_GEN_MODE_NONE (linux/if_link.h).
const in6AddrGenModeNone = 1

// macvlanMsg creates "eth0", a down bridge-mode macvlan on parent,
// directly in the namespace of process pid: the kernel resolves
// IFLA_LINK in the requester's namespace and registers the device in
// the target one (rtnl_newlink_create), so it never shows on the host.
// Its MTU is the parent's (macvlan_common_newlink). It goes up once its
// source check is in place and its addr_gen_mode set (attachMacvlan).
func macvlanMsg(parent int, ns target) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(jailLink)))
	req.AddData(nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(uint32(parent))))
	req.AddData(ns.attr())
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("macvlan"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_MACVLAN_MODE, nl.Uint32Attr(nl.MACVLAN_MODE_BRIDGE))
	req.AddData(info)
	return req
}

// getLinkMsg asks for one link by name; the answer goes to flush's echo.
func getLinkMsg(name string) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_GETLINK, 0)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	return req
}

// renameMsg renames a down link.
func renameMsg(index int, name string) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	return req
}

func delLinkMsg(index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_DELLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	return req
}

// linkInfo reads the ifindex and IFLA_LINK of an RTM_NEWLINK message.
func linkInfo(data []byte) (index, link int) {
	if len(data) < unix.SizeofIfInfomsg {
		return 0, 0
	}
	index = int(int32(nl.NativeEndian().Uint32(data[4:8])))
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofIfInfomsg:])
	if err != nil {
		return index, 0
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_LINK && len(a.Value) == 4 {
			link = int(nl.NativeEndian().Uint32(a.Value))
		}
	}
	return index, link
}

// linkAddr reads IFLA_ADDRESS of an RTM_NEWLINK message.
func linkAddr(data []byte) net.HardwareAddr {
	if len(data) < unix.SizeofIfInfomsg {
		return nil
	}
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofIfInfomsg:])
	if err != nil {
		return nil
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.IFLA_ADDRESS {
			return net.HardwareAddr(slices.Clone(a.Value))
		}
	}
	return nil
}

// proxyMsg adds or deletes a neighbour proxy entry (NTF_PROXY) marked
// with Protocol. netlink.Neigh has no field for NDA_PROTOCOL (5.2+).
func proxyMsg(add bool, p proxy) *nl.NetlinkRequest {
	typ, flags := unix.RTM_DELNEIGH, 0
	if add {
		typ, flags = unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE
	}
	req := nl.NewNetlinkRequest(typ, flags)
	req.AddData(&netlink.Ndmsg{Family: uint8(family(p.addr.Is4())), Index: uint32(p.ifindex), State: unix.NUD_PERMANENT, Flags: unix.NTF_PROXY})
	req.AddData(nl.NewRtAttr(unix.NDA_DST, p.addr.AsSlice()))
	if add {
		req.AddData(nl.NewRtAttr(netlink.NDA_PROTOCOL, []byte{Protocol}))
	}
	return req
}

func linkUpMsg(index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	return req
}

// noLinkLocalMsg sets a down link's IPv6 addr_gen_mode to none: no
// fe80:: address is generated when it goes up, which spares the work
// (address, routes, DAD, MLD) on every jail start; prison's gateway
// fe80::1 is added explicitly, and the jail's NDP and MLD work without
// one (ndisc_solicit sends from the packet's own source). It must come
// before the link goes up (addrconf_dev_config runs at NETDEV_UP).
func noLinkLocalMsg(index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	inet6 := spec.AddRtAttr(unix.AF_INET6, nil)
	inet6.AddRtAttr(unix.IFLA_INET6_ADDR_GEN_MODE, []byte{in6AddrGenModeNone})
	req.AddData(spec)
	return req
}

// inetForwardingMsg turns on IPv4 forwarding of one device, the netlink
// way of writing net.ipv4.conf.DEV.forwarding (inet_set_link_af).
func inetForwardingMsg(index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, 0)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Index = int32(index)
	req.AddData(msg)
	spec := nl.NewRtAttr(unix.IFLA_AF_SPEC, nil)
	inet := spec.AddRtAttr(unix.AF_INET, nil)
	conf := inet.AddRtAttr(unix.IFLA_INET_CONF, nil)
	conf.AddRtAttr(ipv4DevconfForwarding, nl.Uint32Attr(1))
	req.AddData(spec)
	return req
}

func addrMsg(index int, p netip.Prefix, scope uint8, flags uint32) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWADDR, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg := nl.NewIfAddrmsg(family(p.Addr().Is4()))
	msg.Index = uint32(index)
	msg.Prefixlen = uint8(p.Bits())
	msg.Scope = scope
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFA_LOCAL, p.Addr().AsSlice()))
	req.AddData(nl.NewRtAttr(unix.IFA_ADDRESS, p.Addr().AsSlice()))
	if flags != 0 {
		req.AddData(nl.NewRtAttr(unix.IFA_FLAGS, nl.Uint32Attr(flags)))
	}
	return req
}

// route is the subset of a route prison writes.
type route struct {
	dst    netip.Prefix
	oif    int
	gw     netip.Addr
	table  int
	typ    uint8 // RTN_UNICAST when 0
	scope  uint8
	onlink bool
	proto  uint8
}

func routeMsg(r route) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWROUTE, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	msg := nl.NewRtMsg()
	msg.Family = uint8(family(r.dst.Addr().Is4()))
	msg.Dst_len = uint8(r.dst.Bits())
	msg.Protocol, msg.Scope, msg.Type = r.proto, r.scope, r.typ
	if msg.Protocol == 0 {
		msg.Protocol = unix.RTPROT_BOOT
	}
	if msg.Type == 0 {
		msg.Type = unix.RTN_UNICAST
	}
	if r.onlink {
		msg.Flags |= unix.RTNH_F_ONLINK
	}
	msg.Table = unix.RT_TABLE_UNSPEC
	if r.table < 256 {
		msg.Table = uint8(r.table)
	}
	req.AddData(msg)
	if r.table >= 256 {
		req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(r.table))))
	}
	if r.dst.Bits() > 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_DST, r.dst.Addr().AsSlice()))
	}
	if r.oif != 0 {
		req.AddData(nl.NewRtAttr(unix.RTA_OIF, nl.Uint32Attr(uint32(r.oif))))
	}
	if r.gw.IsValid() {
		req.AddData(nl.NewRtAttr(unix.RTA_GATEWAY, r.gw.AsSlice()))
	}
	return req
}

// delStaleRouteMsg deletes prison's route to dst in table, whatever its
// device: with scope NOWHERE and no type the kernel matches any, and the
// protocol limits it to prison's own (fib_table_delete, ip6_route_del).
func delStaleRouteMsg(dst netip.Prefix, table int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_DELROUTE, 0)
	msg := nl.NewRtMsg()
	msg.Family = uint8(family(dst.Addr().Is4()))
	msg.Dst_len = uint8(dst.Bits())
	msg.Protocol, msg.Scope, msg.Type = Protocol, unix.RT_SCOPE_NOWHERE, unix.RTN_UNSPEC
	msg.Table = unix.RT_TABLE_UNSPEC
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(uint32(table))))
	req.AddData(nl.NewRtAttr(unix.RTA_DST, dst.Addr().AsSlice()))
	return req
}

// ruleMsg builds the kind of rule prison uses: iif, priority, protocol,
// and either a table or an action such as unreachable.
func ruleMsg(add bool, fam int, iif string, prio, table int, action uint8) *nl.NetlinkRequest {
	typ, flags := unix.RTM_DELRULE, 0
	if add {
		typ, flags = unix.RTM_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_EXCL
	}
	req := nl.NewNetlinkRequest(typ, flags)
	msg := nl.NewRtMsg()
	msg.Family = uint8(fam)
	msg.Protocol, msg.Scope, msg.Table = 0, unix.RT_SCOPE_UNIVERSE, unix.RT_TABLE_UNSPEC
	msg.Type = unix.FR_ACT_TO_TBL
	if action != 0 {
		msg.Type = action
	}
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.FRA_IIFNAME, nl.ZeroTerminated(iif)))
	req.AddData(nl.NewRtAttr(unix.FRA_PRIORITY, nl.Uint32Attr(uint32(prio))))
	req.AddData(nl.NewRtAttr(unix.FRA_PROTOCOL, []byte{Protocol}))
	if table > 0 {
		req.AddData(nl.NewRtAttr(unix.FRA_TABLE, nl.Uint32Attr(uint32(table))))
	}
	return req
}

// target names the jail's network namespace: by a process in it (pid,
// with its pidfd) or by a namespace fd. setns(2) takes either fd.
type target struct {
	fd    int    // pidfd or network namespace fd
	pid   int    // 0: the namespace is named by fd alone
	spare *Spare // a pair made in it ahead of the jail, or nil
}

// attr is the attribute that puts a new link in the jail's namespace.
func (t target) attr() *nl.RtAttr {
	if t.pid != 0 {
		return nl.NewRtAttr(unix.IFLA_NET_NS_PID, nl.Uint32Attr(uint32(t.pid)))
	}
	return nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(t.fd)))
}
