package main

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// icmp sends one ICMP echo request to ADDR (default 127.0.0.1) and waits,
// at most 5 s, for the reply: over an ICMP datagram socket ("ping" without
// privilege, net.ipv4.ping_group_range), or with --raw over a raw socket.
//
//	icmp [--raw] [ADDR]
func icmp(args []string) string {
	raw := len(args) > 0 && args[0] == "--raw"
	if raw {
		args = args[1:]
	}
	addr := netip.MustParseAddr("127.0.0.1")
	if len(args) > 0 {
		var err error
		if addr, err = netip.ParseAddr(args[0]); err != nil {
			misuse("icmp: %v", err)
		}
	}
	af, proto, request, reply := unix.AF_INET6, unix.IPPROTO_ICMPV6, byte(128), byte(129)
	var sa unix.Sockaddr = &unix.SockaddrInet6{Addr: addr.As16()}
	if addr.Is4() {
		af, proto, request, reply = unix.AF_INET, unix.IPPROTO_ICMP, 8, 0
		sa = &unix.SockaddrInet4{Addr: addr.As4()}
	}
	typ := unix.SOCK_DGRAM
	if raw {
		typ = unix.SOCK_RAW
	}
	fd, err := unix.Socket(af, typ|unix.SOCK_CLOEXEC, proto)
	if err != nil {
		return "icmp=socket:" + errnoName(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		fail("icmp: SO_RCVTIMEO: %v", err)
	}
	payload := []byte("prison-jailprobe")
	msg := append([]byte{request, 0, 0, 0, 0x12, 0x34, 0, 1}, payload...)
	if raw && af == unix.AF_INET {
		// Datagram sockets and ICMPv6 raw sockets have the kernel sum.
		binary.BigEndian.PutUint16(msg[2:], checksum(msg))
	}
	if err := unix.Sendto(fd, msg, 0, sa); err != nil {
		return "icmp=send:" + errnoName(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	buf := make([]byte, 1500)
	for time.Now().Before(deadline) {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return "icmp=recv:" + errnoName(err)
		}
		b := buf[:n]
		if raw && af == unix.AF_INET && n > 0 {
			b = b[int(b[0]&0xf)*4:] // IPv4 raw sockets get the IP header
		}
		// A raw socket on loopback also sees the request itself.
		if len(b) >= 8 && b[0] == reply && bytes.Equal(b[8:], payload) {
			return "icmp=ok"
		}
	}
	return "icmp=timeout"
}

// checksum is the Internet checksum (RFC 1071).
func checksum(b []byte) uint16 {
	var s uint32
	for i := 0; i+1 < len(b); i += 2 {
		s += uint32(b[i])<<8 | uint32(b[i+1])
	}
	if len(b)%2 == 1 {
		s += uint32(b[len(b)-1]) << 8
	}
	for s>>16 != 0 {
		s = s&0xffff + s>>16
	}
	return ^uint16(s)
}

// bindLow binds a TCP socket to PORT (default 80) on every address:
// CAP_NET_BIND_SERVICE.
//
//	bind-low [PORT]
func bindLow(args []string) string {
	port := 80
	if len(args) > 0 {
		var err error
		if port, err = strconv.Atoi(args[0]); err != nil {
			misuse("bind-low: %v", err)
		}
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fail("bind-low: socket: %v", err)
	}
	defer unix.Close(fd)
	return "bind=" + errnoName(unix.Bind(fd, &unix.SockaddrInet4{Port: port}))
}

// netadmin tries to reconfigure the jail's network as ip(8) and ifconfig(8)
// would: add an address, a route, change a link over rtnetlink; set a
// link's flags by ioctl. Without CAP_NET_ADMIN each is EPERM. Reading the
// links over the same socket (what `ip link` does) is the control. The
// changes are harmless in the jail's own network namespace if one went
// through: a second loopback address, a route to 10.99.0.0/24 on lo, lo up.
func netadmin([]string) string {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
	if err != nil {
		return "netlink=" + errnoName(err)
	}
	defer unix.Close(fd)
	tv := unix.NsecToTimeval(int64(5 * time.Second))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		fail("netadmin: SO_RCVTIMEO: %v", err)
	}
	const lo = 1 // the loopback device's index in every network namespace
	create := uint16(unix.NLM_F_CREATE | unix.NLM_F_EXCL)

	addr := []byte{unix.AF_INET, 8, 0, unix.RT_SCOPE_HOST}
	addr = binary.NativeEndian.AppendUint32(addr, lo)
	addr = rtattr(addr, unix.IFA_LOCAL, []byte{127, 0, 0, 2})
	addr = rtattr(addr, unix.IFA_ADDRESS, []byte{127, 0, 0, 2})

	route := []byte{unix.AF_INET, 24, 0, 0, unix.RT_TABLE_MAIN, unix.RTPROT_BOOT, unix.RT_SCOPE_LINK, unix.RTN_UNICAST, 0, 0, 0, 0}
	route = rtattr(route, unix.RTA_DST, []byte{10, 99, 0, 0})
	route = rtattr(route, unix.RTA_OIF, binary.NativeEndian.AppendUint32(nil, lo))

	link := []byte{unix.AF_UNSPEC, 0, 0, 0}
	link = binary.NativeEndian.AppendUint32(link, lo)
	link = binary.NativeEndian.AppendUint32(link, unix.IFF_UP) // flags
	link = binary.NativeEndian.AppendUint32(link, unix.IFF_UP) // change

	out := []string{
		"getlink=" + nlRequest(fd, unix.RTM_GETLINK, unix.NLM_F_DUMP, make([]byte, unix.SizeofIfInfomsg)),
		"newaddr=" + nlRequest(fd, unix.RTM_NEWADDR, create, addr),
		"newroute=" + nlRequest(fd, unix.RTM_NEWROUTE, create, route),
		"newlink=" + nlRequest(fd, unix.RTM_NEWLINK, 0, link),
	}

	s, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		fail("netadmin: socket: %v", err)
	}
	defer unix.Close(s)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		fail("netadmin: %v", err)
	}
	if err := unix.IoctlIfreq(s, unix.SIOCGIFFLAGS, ifr); err != nil {
		fail("netadmin: SIOCGIFFLAGS: %v", err)
	}
	// The same flags back: a no-op, were it allowed.
	out = append(out, "siocsifflags="+errnoName(unix.IoctlIfreq(s, unix.SIOCSIFFLAGS, ifr)))
	return strings.Join(out, " ")
}

// rtattr appends one route attribute to b.
func rtattr(b []byte, typ uint16, data []byte) []byte {
	b = binary.NativeEndian.AppendUint16(b, uint16(unix.SizeofRtAttr+len(data)))
	b = binary.NativeEndian.AppendUint16(b, typ)
	b = append(b, data...)
	for len(b)%unix.NLMSG_ALIGNTO != 0 {
		b = append(b, 0)
	}
	return b
}

var nlSeq uint32

// nlRequest sends one rtnetlink request with an ack asked for and returns
// the kernel's answer: the ack's errno, or "ok" for a dump's first part.
func nlRequest(fd int, typ, flags uint16, body []byte) string {
	nlSeq++
	msg := binary.NativeEndian.AppendUint32(nil, uint32(unix.SizeofNlMsghdr+len(body)))
	msg = binary.NativeEndian.AppendUint16(msg, typ)
	msg = binary.NativeEndian.AppendUint16(msg, unix.NLM_F_REQUEST|unix.NLM_F_ACK|flags)
	msg = binary.NativeEndian.AppendUint32(msg, nlSeq)
	msg = binary.NativeEndian.AppendUint32(msg, 0)
	msg = append(msg, body...)
	if err := unix.Sendto(fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return "send:" + errnoName(err)
	}
	buf := make([]byte, 1<<16)
	for {
		n, _, err := unix.Recvfrom(fd, buf, 0)
		if err != nil {
			return "recv:" + errnoName(err)
		}
		msgs, err := syscall.ParseNetlinkMessage(buf[:n])
		if err != nil {
			fail("netlink: %v", err)
		}
		for _, m := range msgs {
			if m.Header.Seq != nlSeq {
				continue // the rest of an earlier dump
			}
			switch m.Header.Type {
			case unix.NLMSG_ERROR:
				if len(m.Data) < 4 {
					fail("netlink: short error")
				}
				return errnoName(unix.Errno(-int32(binary.NativeEndian.Uint32(m.Data))))
			case unix.NLMSG_DONE:
				return "ok"
			}
			if flags&unix.NLM_F_DUMP != 0 {
				// Read the dump to its end, so the next answer is ours.
				continue
			}
		}
	}
}
