package main

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

func init() { probes["spoof"] = spoof }

// spoof sends one UDP datagram to DST:PORT for each SRC=TAG, with SRC as
// its IP source and TAG as its payload, over a socket that writes the IP
// header itself: a raw IP socket with IP_HDRINCL / IPV6_HDRINCL (raw), or
// an AF_PACKET socket that writes the whole Ethernet frame, to the
// broadcast MAC, with PACKET_QDISC_BYPASS set (packet). DST may carry a
// zone (fe80::1%eth0). It prints TAG=ok or TAG=ERRNO per datagram: what
// the jail's kernel let out, not what arrived.
//
//	spoof raw|packet DST PORT SRC=TAG...
func spoof(args []string) string {
	if len(args) < 4 || (args[0] != "raw" && args[0] != "packet") {
		misuse("spoof: raw|packet DST PORT SRC=TAG...")
	}
	dst, err := netip.ParseAddr(args[1])
	if err != nil {
		misuse("spoof: %v", err)
	}
	port, err := strconv.Atoi(args[2])
	if err != nil {
		misuse("spoof: %v", err)
	}
	var out []string
	for _, a := range args[3:] {
		s, tag, ok := strings.Cut(a, "=")
		src, err := netip.ParseAddr(s)
		if !ok || err != nil || src.Is4() != dst.Is4() {
			misuse("spoof: %q: want SRC=TAG, SRC of DST's family", a)
		}
		pkt := ipUDP(src, dst.WithZone(""), uint16(port), []byte(tag))
		if args[0] == "raw" {
			err = sendRaw(dst, pkt)
		} else {
			err = sendPacket(dst.Is4(), pkt)
		}
		out = append(out, tag+"="+errnoName(err))
	}
	return strings.Join(out, " ")
}

// ipUDP builds an IPv4 or IPv6 packet holding one UDP datagram, checksums
// included: a packet socket sends it as it is.
func ipUDP(src, dst netip.Addr, port uint16, payload []byte) []byte {
	udp := binary.BigEndian.AppendUint16(nil, 40000) // source port
	udp = binary.BigEndian.AppendUint16(udp, port)
	udp = binary.BigEndian.AppendUint16(udp, uint16(8+len(payload)))
	udp = append(udp, 0, 0)
	udp = append(udp, payload...)
	// The pseudo-header's sum, then the datagram's.
	pseudo := append(src.AsSlice(), dst.AsSlice()...)
	pseudo = append(pseudo, 0, unix.IPPROTO_UDP)
	pseudo = binary.BigEndian.AppendUint16(pseudo, uint16(len(udp)))
	sum := checksum(append(pseudo, udp...))
	if sum == 0 {
		sum = 0xffff
	}
	binary.BigEndian.PutUint16(udp[6:], sum)
	if src.Is4() {
		h := []byte{0x45, 0, 0, 0, 0, 1, 0, 0, 64, unix.IPPROTO_UDP, 0, 0}
		binary.BigEndian.PutUint16(h[2:], uint16(20+len(udp)))
		h = append(h, src.AsSlice()...)
		h = append(h, dst.AsSlice()...)
		binary.BigEndian.PutUint16(h[10:], checksum(h))
		return append(h, udp...)
	}
	h := []byte{0x60, 0, 0, 0, 0, 0, unix.IPPROTO_UDP, 64}
	binary.BigEndian.PutUint16(h[4:], uint16(len(udp)))
	h = append(h, src.AsSlice()...)
	h = append(h, dst.AsSlice()...)
	return append(h, udp...)
}

// sendRaw sends pkt over a raw IP socket of IPPROTO_RAW, which implies
// IP_HDRINCL (IPV6_HDRINCL for IPv6, Linux 4.5+); it is set explicitly too.
func sendRaw(dst netip.Addr, pkt []byte) error {
	af, level, opt := unix.AF_INET, unix.IPPROTO_IP, unix.IP_HDRINCL
	var sa unix.Sockaddr
	if dst.Is4() {
		sa = &unix.SockaddrInet4{Addr: dst.As4()}
	} else {
		af, level, opt = unix.AF_INET6, unix.IPPROTO_IPV6, unix.IPV6_HDRINCL
		sa6 := &unix.SockaddrInet6{Addr: dst.As16()}
		if z := dst.Zone(); z != "" {
			ifi, err := net.InterfaceByName(z)
			if err != nil {
				fail("spoof: zone %s: %v", z, err)
			}
			sa6.ZoneId = uint32(ifi.Index)
		}
		sa = sa6
	}
	fd, err := unix.Socket(af, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, level, opt, 1); err != nil {
		return err
	}
	return unix.Sendto(fd, pkt, 0, sa)
}

// sendPacket sends pkt in an Ethernet frame from eth0's own MAC to the
// broadcast MAC (no neighbour lookup needed; receivers accept unicast IP
// in an L2 broadcast), over an AF_PACKET socket that skips the qdisc
// layer, and with it tc's egress hook.
func sendPacket(v4 bool, pkt []byte) error {
	ifi, err := net.InterfaceByName("eth0")
	if err != nil {
		fail("spoof: eth0: %v", err)
	}
	etype := uint16(unix.ETH_P_IPV6)
	if v4 {
		etype = unix.ETH_P_IP
	}
	fd, err := unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	if err := unix.SetsockoptInt(fd, unix.SOL_PACKET, unix.PACKET_QDISC_BYPASS, 1); err != nil {
		return err
	}
	frame := []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	frame = append(frame, ifi.HardwareAddr...)
	frame = binary.BigEndian.AppendUint16(frame, etype)
	frame = append(frame, pkt...)
	// Protocol 0: the kernel reads it from the frame and marks where the
	// frame's link-layer header starts (packet_parse_headers). With a
	// protocol given, a frame that skips the qdisc layer has no such mark,
	// and the source check, which reads the link-layer header, drops it.
	sa := &unix.SockaddrLinklayer{Ifindex: ifi.Index, Halen: 6}
	copy(sa.Addr[:], frame[:6])
	return unix.Sendto(fd, frame, 0, sa)
}
