package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// rtnl is one netlink route socket bound to one network namespace, used
// both through netlink.Handle and for the few messages the library
// cannot shape (a veth whose peer is created up, entries with
// NDA_PROTOCOL). A socket stays in the namespace it was opened in, so
// all calls may run on any thread.
type rtnl struct {
	*netlink.Handle
	raw map[int]*nl.SocketHandle
}

// openRtnl opens the sockets in the calling thread's network namespace.
//
// Preconditions: the thread is in the intended namespace (the host's for
// an ordinary goroutine; the jail's on a locked, setns'd one).
func openRtnl() (*rtnl, error) {
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return nil, err
	}
	s, err := nl.GetNetlinkSocketAt(vnetns.None(), vnetns.None(), unix.NETLINK_ROUTE)
	if err != nil {
		h.Close()
		return nil, err
	}
	return &rtnl{Handle: h, raw: map[int]*nl.SocketHandle{unix.NETLINK_ROUTE: {Socket: s}}}, nil
}

func (r *rtnl) Close() {
	r.Handle.Close()
	r.raw[unix.NETLINK_ROUTE].Close()
}

func (r *rtnl) request(typ, flags int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(typ, flags)
	req.Sockets = r.raw
	return req
}

// createVeth creates host (up, in this namespace) and its peer "eth0"
// (down: veth_open of the peer fails with ENOTCONN while veth_newlink
// configures it, before the two are paired) in the namespace nsFd, with
// one RTM_NEWLINK. netlink.LinkAdd would look the link up by name
// afterwards, in the wrong namespace for the peer.
func (r *rtnl) createVeth(host string, mtu int, nsFd int) error {
	req := r.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(host)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(jailLink))
	peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu)))
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(nsFd)))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// createMacvlan creates "eth0", a bridge-mode macvlan on parent, directly
// in the namespace nsFd: the kernel resolves IFLA_LINK in the requester's
// namespace and registers the device in the target one
// (rtnl_newlink_create), so nothing is ever visible on the host. Its MTU
// is the parent's (macvlan_common_newlink).
func (r *rtnl) createMacvlan(parent int, nsFd int) error {
	req := r.request(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(jailLink)))
	req.AddData(nl.NewRtAttr(unix.IFLA_LINK, nl.Uint32Attr(uint32(parent))))
	req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(nsFd))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("macvlan"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	data.AddRtAttr(nl.IFLA_MACVLAN_MODE, nl.Uint32Attr(nl.MACVLAN_MODE_BRIDGE))
	req.AddData(info)
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// addRule adds the kind of rule prison uses: iif, priority, protocol,
// and either a table (with an optional suppress_prefixlength) or a
// type such as blackhole. netlink.RuleAdd sends FRA_SUPPRESS_PREFIXLEN
// only for tables below 256 (vishvananda/netlink v1.3.1 rule_linux.go).
func (r *rtnl) addRule(rule *netlink.Rule) error {
	req := r.request(unix.RTM_NEWRULE, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK)
	msg := nl.NewRtMsg()
	msg.Family = uint8(rule.Family)
	msg.Protocol, msg.Scope, msg.Table = 0, unix.RT_SCOPE_UNIVERSE, unix.RT_TABLE_UNSPEC
	msg.Type = unix.FR_ACT_TO_TBL
	if rule.Type != 0 {
		msg.Type = rule.Type
	}
	req.AddData(msg)
	u32 := func(typ int, v uint32) { req.AddData(nl.NewRtAttr(typ, nl.Uint32Attr(v))) }
	req.AddData(nl.NewRtAttr(unix.FRA_IIFNAME, nl.ZeroTerminated(rule.IifName)))
	u32(unix.FRA_PRIORITY, uint32(rule.Priority))
	req.AddData(nl.NewRtAttr(unix.FRA_PROTOCOL, []byte{rule.Protocol}))
	if rule.Table > 0 {
		u32(unix.FRA_TABLE, uint32(rule.Table))
		if rule.SuppressPrefixlen >= 0 {
			u32(unix.FRA_SUPPRESS_PREFIXLEN, uint32(rule.SuppressPrefixlen))
		}
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// proxy is a neighbour proxy entry (NTF_PROXY): the host answers ARP or
// NDP for addr on the link ifindex.
type proxy struct {
	ifindex  int
	addr     netip.Addr
	protocol uint8
}

// setProxy adds or deletes a proxy entry marked with Protocol.
// netlink.Neigh has no field for NDA_PROTOCOL (kernel 5.2+), hence raw.
func (r *rtnl) setProxy(add bool, p proxy) error {
	typ, flags := unix.RTM_DELNEIGH, unix.NLM_F_ACK
	if add {
		typ, flags = unix.RTM_NEWNEIGH, unix.NLM_F_CREATE|unix.NLM_F_REPLACE|unix.NLM_F_ACK
	}
	req := r.request(typ, flags)
	fam := unix.AF_INET6
	if p.addr.Is4() {
		fam = unix.AF_INET
	}
	req.AddData(&netlink.Ndmsg{Family: uint8(fam), Index: uint32(p.ifindex), State: unix.NUD_PERMANENT, Flags: unix.NTF_PROXY})
	req.AddData(nl.NewRtAttr(unix.NDA_DST, p.addr.AsSlice()))
	if add {
		req.AddData(nl.NewRtAttr(netlink.NDA_PROTOCOL, []byte{Protocol}))
	}
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}

// listProxies dumps the proxy entries of both families.
func (r *rtnl) listProxies() ([]proxy, error) {
	var out []proxy
	for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
		msgs, err := retryDump(func() ([][]byte, error) {
			req := r.request(unix.RTM_GETNEIGH, unix.NLM_F_DUMP)
			req.AddData(&netlink.Ndmsg{Family: fam, Flags: unix.NTF_PROXY})
			return req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWNEIGH)
		})
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			var nd netlink.Ndmsg
			if len(m) < nd.Len() {
				continue
			}
			// struct ndmsg: family, 3 bytes pad, ifindex, state, flags, type.
			nd.Index = nl.NativeEndian().Uint32(m[4:8])
			nd.Flags = m[10]
			if nd.Flags&unix.NTF_PROXY == 0 {
				continue
			}
			attrs, err := nl.ParseRouteAttr(m[nd.Len():])
			if err != nil {
				return nil, err
			}
			p := proxy{ifindex: int(nd.Index)}
			for _, a := range attrs {
				switch a.Attr.Type {
				case unix.NDA_DST:
					p.addr, _ = netip.AddrFromSlice(a.Value)
				case netlink.NDA_PROTOCOL:
					if len(a.Value) == 1 {
						p.protocol = a.Value[0]
					}
				}
			}
			out = append(out, p)
		}
	}
	return out, nil
}

// retryDump repeats a dump the kernel interrupted (NLM_F_DUMP_INTR: the
// table changed while it was read), as netlink.ErrDumpInterrupted asks.
func retryDump[T any](dump func() (T, error)) (T, error) {
	var (
		v   T
		err error
	)
	for range 8 {
		if v, err = dump(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return v, err
		}
	}
	return v, err
}

// ignore returns nil for the errnos listed, err otherwise: for idempotent
// adds (EEXIST) and deletes of what the kernel already removed (ENOENT,
// ESRCH, ENODEV).
func ignore(err error, errnos ...unix.Errno) error {
	for _, e := range errnos {
		if errors.Is(err, e) {
			return nil
		}
	}
	return err
}

// writeSysctl writes one /proc/sys file; the namespace is the one of the
// thread that opens it (net sysctls are per namespace, chosen at open).
func writeSysctl(path, value string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(value)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func readSysctl(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	if n := len(b); n > 0 && b[n-1] == '\n' {
		b = b[:n-1]
	}
	return string(b), nil
}

// waitLinkGone waits until no link named name exists. A jail's namespace
// is torn down asynchronously (cleanup_net runs from a workqueue), so the
// host end of a jail that just died may linger for some milliseconds.
func (r *rtnl) waitLinkGone(name string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		_, err := r.LinkByName(name)
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		if err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("host link %s still exists after %v (is a jail of that name running?)", name, timeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
