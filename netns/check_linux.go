package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// CheckHost fails when one of the plan's addresses is held by an
// interface of the caller's (the host's) namespace, or when the macvlan
// parent or the uplink does not exist. Conflicts between jails are the
// caller's to check (its state store knows all jails).
func CheckHost(p *Plan) error {
	mode := p.EffectiveMode()
	if mode == ModeHost || mode == ModeNone {
		return nil
	}
	if p.Parent != "" || p.Uplink != "" {
		h, err := openRtnl()
		if err != nil {
			return fmt.Errorf("network: open netlink: %w", err)
		}
		defer h.Close()
		for _, c := range []struct{ flag, name string }{{"--net macvlan:", p.Parent}, {"--uplink ", p.Uplink}} {
			if c.name == "" {
				continue
			}
			_, err := h.LinkByName(c.name)
			var nf netlink.LinkNotFoundError
			if errors.As(err, &nf) {
				return fmt.Errorf("%s%s: no such interface", c.flag, c.name)
			}
			if err != nil {
				return fmt.Errorf("network: look up %s: %w", c.name, err)
			}
		}
	}
	// One lookup in the local routing table per address, where the kernel
	// keeps a route for every address an interface holds: the cost does
	// not grow with the host's addresses, which include two per running
	// jail. (bind(2) would answer too, but not where ip_nonlocal_bind is
	// on.)
	c, err := dialRoute()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer c.Close()
	for _, pfx := range p.Addrs {
		holder := 0
		c.queue(localRouteMsg(pfx.Addr()), "look up "+pfx.Addr().String()+" in the local table",
			unix.ENETUNREACH, unix.EHOSTUNREACH, unix.ENOENT, unix.ESRCH, unix.EAGAIN)
		err := c.flush(func(h unix.NlMsghdr, data []byte) {
			if h.Type == unix.RTM_NEWROUTE {
				holder = localRouteOif(data)
			}
		})
		if err != nil {
			return fmt.Errorf("network: %w", err)
		}
		if holder == 0 {
			continue
		}
		name := "of unknown name"
		if l, err := net.InterfaceByIndex(holder); err == nil {
			name = l.Name
		}
		return fmt.Errorf("--ip %s: already held by host interface %s", pfx.Addr(), name)
	}
	return nil
}

// localRouteMsg looks addr up in the local table alone.
func localRouteMsg(addr netip.Addr) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_GETROUTE, 0)
	msg := nl.NewRtMsg()
	msg.Family = uint8(family(addr.Is4()))
	msg.Dst_len = uint8(addr.BitLen())
	msg.Table = unix.RT_TABLE_LOCAL
	msg.Flags = unix.RTM_F_LOOKUP_TABLE | unix.RTM_F_FIB_MATCH // the entry, whose device holds addr
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.RTA_DST, addr.AsSlice()))
	req.AddData(nl.NewRtAttr(unix.RTA_TABLE, nl.Uint32Attr(unix.RT_TABLE_LOCAL)))
	return req
}

// localRouteOif returns the device of an RTM_NEWROUTE answer when the route
// is of type local (the address is the host's), or 0.
func localRouteOif(data []byte) int {
	if len(data) < unix.SizeofRtMsg || data[7] != unix.RTN_LOCAL {
		return 0
	}
	attrs, err := nl.ParseRouteAttr(data[unix.SizeofRtMsg:])
	if err != nil {
		return 0
	}
	for _, a := range attrs {
		if a.Attr.Type == unix.RTA_OIF && len(a.Value) == 4 {
			if i := int(nl.NativeEndian().Uint32(a.Value)); i > 0 {
				return i
			}
		}
	}
	return -1 // local, device unknown
}
