package netns

import (
	"errors"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	vnetns "github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// rtnl is netlink.Handle plus a raw socket for the dumps the library
// cannot parse (proxy entries with NDA_PROTOCOL), for the paths that
// are not on every jail's start (Sweep, CheckHost, uplinks): those need
// listings, which conn does not do. Its sockets stay in the host's
// namespace, where they were opened.
type rtnl struct {
	*netlink.Handle
	raw map[int]*nl.SocketHandle
}

// openRtnl opens the sockets in the calling thread's network namespace.
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

// proxy is a neighbour proxy entry (NTF_PROXY): the host answers ARP or
// NDP for addr on the link ifindex.
type proxy struct {
	ifindex  int
	addr     netip.Addr
	protocol uint8
}

// setProxy adds or deletes a proxy entry marked with Protocol.
func (r *rtnl) setProxy(add bool, p proxy) error {
	req := proxyMsg(add, p)
	req.Flags |= unix.NLM_F_ACK
	req.Sockets = r.raw
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
