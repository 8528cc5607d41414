package netns

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

func TestVethHostToJail(t *testing.T) {
	requireRoot(t)
	addrs := mustParse(t, "10.213.0.5", "10.213.0.6/24", "fd7a:5eed::5")
	p := &Plan{Jail: "t-veth", Addrs: addrs}
	expectClean(t, []string{p.HostLink()}, addrs...)
	pid := startJail(t)
	attach(t, p, pid)

	for _, a := range addrs {
		hp := net.JoinHostPort(a.Addr().String(), "7000")
		listenIn(t, pid, hp)
		got, err := dial(0, hp)
		if err != nil {
			t.Fatalf("host -> jail %s: %v", hp, err)
		}
		t.Logf("host -> %s: %s", hp, got)
	}
	// The jail reaches the host at its gateway addresses.
	hostLn, err := net.Listen("tcp", "169.254.1.1:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(c.RemoteAddr().String()))
			c.Close()
		}
	}()
	got, err := dial(pid, "169.254.1.1:7001")
	if err != nil || !strings.HasPrefix(got, "10.213.0.5:") {
		t.Errorf("jail -> host 169.254.1.1: %q, %v (want from 10.213.0.5)", got, err)
	}
	// Only the given addresses exist inside.
	err = inNetns(pid, func() error {
		ln, err := net.Listen("tcp", "10.213.0.7:7002")
		if err == nil {
			ln.Close()
		}
		return err
	})
	if !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Errorf("bind of an address not given: %v, want EADDRNOTAVAIL", err)
	}
}

func TestVethJailToJail(t *testing.T) {
	requireRoot(t)
	a1 := mustParse(t, "10.213.1.1", "fd7a:5eed:1::1")
	a2 := mustParse(t, "10.213.1.2", "fd7a:5eed:1::2")
	p1 := &Plan{Jail: "t-j2j-1", Addrs: a1}
	p2 := &Plan{Jail: "t-j2j-2", Addrs: a2}
	expectClean(t, []string{p1.HostLink(), p2.HostLink()}, append(a1, a2...)...)
	pid1, pid2 := startJail(t), startJail(t)
	attach(t, p1, pid1)
	attach(t, p2, pid2)
	for _, tc := range []struct{ from, to string }{
		{"10.213.1.1", "10.213.1.2"},
		{"fd7a:5eed:1::1", "fd7a:5eed:1::2"},
	} {
		hp := net.JoinHostPort(tc.to, "7010")
		listenIn(t, pid2, hp)
		got, err := dial(pid1, hp)
		if err != nil {
			t.Fatalf("jail %s -> jail %s: %v", tc.from, hp, err)
		}
		if _, peer, _ := strings.Cut(got, " "); !strings.HasPrefix(peer, net.JoinHostPort(tc.from, "")) {
			t.Errorf("jail %s -> %s: seen from %q", tc.from, hp, peer)
		}
	}
}

// TestVethNothingLeaves sends from a jail to addresses the host routes
// through a link the test made (standing in for the machine's real
// uplink): the jail gets "unreachable" and no frame from the jail shows
// up on the other side of that link, where a listener waits.
func TestVethNothingLeaves(t *testing.T) {
	requireRoot(t)
	addrs := mustParse(t, "10.213.2.1", "fd7a:5eed:2::1")
	p := &Plan{Jail: "t-leak", Addrs: addrs}
	outside := mustParse(t, "198.51.100.1/24", "fd7a:dead::1/64")
	expectClean(t, []string{p.HostLink(), "prt-out0"}, append(addrs, outside...)...)
	_, outPid := makeOutside(t, "prt-out0", mustParse(t, "198.51.100.254/24", "fd7a:dead::fe/64"), outside)
	frames := capture(t, outPid)
	pid := startJail(t)
	attach(t, p, pid)
	for _, dst := range outside {
		hp := net.JoinHostPort(dst.Addr().String(), "7020")
		listenIn(t, outPid, hp)
		if _, err := dial(0, hp); err != nil {
			t.Fatalf("host -> outside %s: %v (the test's outside is broken)", hp, err)
		}
		_, err := dial(pid, hp)
		if !isUnreachable(err) {
			t.Errorf("jail -> outside %s: %v, want EHOSTUNREACH or ENETUNREACH", hp, err)
		}
	}
	for _, f := range frames() {
		for _, a := range addrs {
			if bytes.Contains(f, a.Addr().AsSlice()) {
				t.Errorf("a frame from jail address %s reached the outside: % x", a.Addr(), f)
			}
		}
	}
}

// capture records every frame that eth0 of pid's namespace receives
// until the returned function is called.
func capture(tb testing.TB, pid int) func() [][]byte {
	tb.Helper()
	var fd int
	err := inNetns(pid, func() (err error) {
		proto := int(htons(unix.ETH_P_ALL))
		if fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, proto); err != nil {
			return err
		}
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: eth.Attrs().Index})
	})
	if err != nil {
		tb.Fatalf("capture: %v", err)
	}
	tb.Cleanup(func() { unix.Close(fd) })
	return func() [][]byte {
		var out [][]byte
		for {
			b := make([]byte, 65536)
			n, _, err := unix.Recvfrom(fd, b, 0)
			if err != nil {
				return out
			}
			out = append(out, b[:n])
		}
	}
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// settleLink gives the down link l the addresses addrs, none of them
// tentative (no DAD) and no automatic link-local address, then sets it up.
func settleLink(l netlink.Link, addrs []netip.Prefix) error {
	// Before the link goes up: addrconf_dev_config runs at NETDEV_UP.
	if err := netlink.LinkSetIP6AddrGenMode(l, 1); err != nil { // IN6_ADDR_GEN_MODE_NONE
		return fmt.Errorf("addr_gen_mode: %w", err)
	}
	for _, a := range addrs {
		if err := netlink.AddrAdd(l, &netlink.Addr{IPNet: ipNet(a), Flags: unix.IFA_F_NODAD}); err != nil {
			return fmt.Errorf("address %s: %w", a, err)
		}
	}
	return netlink.LinkSetUp(l)
}

// makeOutside makes a stand-in for the world beyond the machine: a veth
// pair whose host end (up, with hostAddrs) is name and whose other end,
// "eth0" with outAddrs, lives in a namespace of its own (the dummy
// driver is not built into every kernel). It returns the host end and
// the pid holding the outside namespace.
//
// Both ends get their IPv6 link-local address as a link that has long
// been up has one: usable at once (fe80::fe on the host end, fe80::1
// outside, without DAD and without the automatic one). The host sends a
// neighbour solicitation for a packet it forwards only from a link-local
// address of the link that is not tentative (ndisc_solicit,
// ipv6_get_lladdr): with a fresh automatic one, still in DAD for 1-2 s,
// or longer while others hold the RTNL lock, a jail's first IPv6 packet
// through this link would wait for it, or fail (TestUplink, issue 9).
func makeOutside(tb testing.TB, name string, hostAddrs, outAddrs []netip.Prefix) (netlink.Link, int) {
	tb.Helper()
	return makeOutsideIndex(tb, name, 0, hostAddrs, outAddrs)
}

// makeOutsideIndex is makeOutside with the host end's ifindex chosen
// (0: the kernel's next).
func makeOutsideIndex(tb testing.TB, name string, index int, hostAddrs, outAddrs []netip.Prefix) (netlink.Link, int) {
	tb.Helper()
	pid := startJail(tb)
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name, Index: index}, PeerName: "eth0", PeerNamespace: netlink.NsPid(pid)}
	if err := netlink.LinkAdd(v); err != nil {
		tb.Fatalf("add veth %s: %v", name, err)
	}
	tb.Cleanup(func() { _ = netlink.LinkDel(v) })
	l, err := netlink.LinkByName(name)
	if err != nil {
		tb.Fatal(err)
	}
	if err := settleLink(l, append([]netip.Prefix{netip.MustParsePrefix("fe80::fe/64")}, hostAddrs...)); err != nil {
		tb.Fatalf("set up %s: %v", name, err)
	}
	err = inNetns(pid, func() error {
		if err := netlink.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Name: "lo"}}); err != nil {
			return err
		}
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		return settleLink(eth, append([]netip.Prefix{netip.MustParsePrefix("fe80::1/64")}, outAddrs...))
	})
	if err != nil {
		tb.Fatalf("set up outside namespace: %v", err)
	}
	return l, pid
}
