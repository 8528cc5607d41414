package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"

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
	// One dump of the host's addresses, through a plain netlink socket:
	// an address counts even on a link that is down or not ready yet
	// (tentative), which a routing lookup would miss, and the parse keeps
	// nothing but the addresses wanted, so that hosts with many jails (two
	// addresses on each host link) pay little for it.
	c, err := dialRoute()
	if err != nil {
		return fmt.Errorf("network: %w", err)
	}
	defer c.Close()
	want := make(map[netip.Addr]bool, len(p.Addrs))
	fams := 0
	for _, pfx := range p.Addrs {
		want[pfx.Addr()] = true
		fams |= 1 << family(pfx.Addr().Is4())
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		if fams&(1<<fam) == 0 {
			continue
		}
		addr, holder, err := c.findAddr(fam, want)
		if err != nil {
			return fmt.Errorf("network: list host addresses: %w", err)
		}
		if holder == 0 {
			continue
		}
		name := fmt.Sprintf("#%d", holder)
		if l, err := net.InterfaceByIndex(holder); err == nil {
			name = l.Name
		}
		return fmt.Errorf("--ip %s: already held by host interface %s", addr, name)
	}
	return nil
}

// findAddr dumps the addresses of family fam and returns the first one in
// want with its interface index, or a zero index.
func (c *conn) findAddr(fam int, want map[netip.Addr]bool) (netip.Addr, int, error) {
	for range 5 {
		addr, idx, intr, err := c.dumpAddrs(fam, want)
		if err != nil || !intr || idx != 0 {
			return addr, idx, err
		}
		// The addresses changed during the dump (NLM_F_DUMP_INTR).
	}
	return netip.Addr{}, 0, unix.EINTR
}

func (c *conn) dumpAddrs(fam int, want map[netip.Addr]bool) (found netip.Addr, idx int, intr bool, err error) {
	req := nl.NewNetlinkRequest(unix.RTM_GETADDR, unix.NLM_F_DUMP)
	req.AddData(nl.NewIfAddrmsg(fam))
	c.seq++
	req.Seq = c.seq
	if err := unix.Sendto(c.fd, req.Serialize(), 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return found, 0, false, os.NewSyscallError("sendto", err)
	}
	bp := recvBufs.Get().(*[]byte)
	defer recvBufs.Put(bp)
	for {
		n, _, err := unix.Recvfrom(c.fd, *bp, 0)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return found, 0, false, os.NewSyscallError("recvfrom", err)
		}
		msgs, err := syscall.ParseNetlinkMessage((*bp)[:n])
		if err != nil {
			return found, 0, false, err
		}
		for _, m := range msgs {
			if m.Header.Seq != req.Seq {
				continue
			}
			intr = intr || m.Header.Flags&unix.NLM_F_DUMP_INTR != 0
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				return found, idx, intr, nil
			case unix.NLMSG_ERROR:
				if len(m.Data) >= 4 {
					if code := int32(nl.NativeEndian().Uint32(m.Data[:4])); code != 0 {
						return found, 0, false, syscall.Errno(-code)
					}
				}
			case unix.RTM_NEWADDR:
				if idx != 0 || len(m.Data) < unix.SizeofIfAddrmsg {
					continue
				}
				attrs, err := nl.ParseRouteAttr(m.Data[unix.SizeofIfAddrmsg:])
				if err != nil {
					continue
				}
				// The interface's own address is IFA_LOCAL where there is
				// one: IFA_ADDRESS is then a point-to-point link's peer.
				var own []byte
				for _, a := range attrs {
					switch {
					case a.Attr.Type == unix.IFA_LOCAL:
						own = a.Value
					case a.Attr.Type == unix.IFA_ADDRESS && own == nil:
						own = a.Value
					}
				}
				if ip, ok := netip.AddrFromSlice(own); ok && want[ip.Unmap()] {
					found, idx = ip.Unmap(), int(nl.NativeEndian().Uint32(m.Data[4:8]))
				}
			}
		}
	}
}
