package netns

import (
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/cilium/ebpf"
	"github.com/vishvananda/netlink"
)

// A frame a jail might send, and whether its source check lets it through.
type sourceCase struct {
	name  string
	frame []byte
	pass  bool
}

// sourceCases are frames from a jail whose addresses are 10.213.11.1 and
// fd7a:5eed:11::1.
func sourceCases() []sourceCase {
	own4, own6 := netip.MustParseAddr("10.213.11.1"), netip.MustParseAddr("fd7a:5eed:11::1")
	other4, other6 := netip.MustParseAddr("10.213.11.2"), netip.MustParseAddr("fd7a:5eed:11::2")
	dst4, dst6 := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("2001:db8::1")
	eth := func(etype uint16) []byte {
		b := []byte{2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2}
		return binary.BigEndian.AppendUint16(b, etype)
	}
	ipv4 := func(src netip.Addr) []byte {
		h := make([]byte, 20)
		h[0], h[8], h[9] = 0x45, 64, 17
		binary.BigEndian.PutUint16(h[2:], 28)
		s, d := src.As4(), dst4.As4()
		copy(h[12:], s[:])
		copy(h[16:], d[:])
		return append(append(eth(etherTypeIPv4), h...), make([]byte, 8)...)
	}
	arp := func(ptype uint16, plen byte, spa netip.Addr) []byte {
		b := eth(etherTypeARP)
		b = binary.BigEndian.AppendUint16(b, 1) // Ethernet
		b = binary.BigEndian.AppendUint16(b, ptype)
		b = append(b, 6, plen, 0, 1, 2, 0, 0, 0, 0, 2)
		s := spa.As4()
		b = append(b, s[:]...)
		d := dst4.As4()
		return append(append(b, 0, 0, 0, 0, 0, 0), d[:]...)
	}
	ipv6raw := func(src, dst [16]byte) []byte {
		h := make([]byte, 40)
		h[0], h[6], h[7] = 0x60, 59, 64 // no next header
		copy(h[8:], src[:])
		copy(h[24:], dst[:])
		return append(eth(etherTypeIPv6), h...)
	}
	ipv6 := func(src, dst netip.Addr) []byte { return ipv6raw(src.As16(), dst.As16()) }
	// own4's bytes in an IPv6 source, as a map keyed by address alone
	// would confuse them.
	var own4In6 [16]byte
	o := own4.As4()
	copy(own4In6[:], o[:])
	vlan := append(eth(0x8100), 0, 1)
	vlan = append(vlan, ipv4(own4)[12:]...)
	return []sourceCase{
		{"ipv4 from own", ipv4(own4), true},
		{"ipv4 from other", ipv4(other4), false},
		{"arp from own", arp(etherTypeIPv4, 4, own4), true},
		{"arp from other", arp(etherTypeIPv4, 4, other4), false},
		{"arp not ipv4", arp(etherTypeIPv6, 4, own4), false},
		{"arp bad plen", arp(etherTypeIPv4, 16, own4), false},
		// The test run refuses IPv4 and IPv6 frames shorter than their
		// header: short ones are ARP's.
		{"arp short", arp(etherTypeIPv4, 4, own4)[:14+16], false},
		{"arp header only", eth(etherTypeARP), false},
		{"ipv6 from own", ipv6(own6, dst6), true},
		{"ipv6 from other", ipv6(other6, dst6), false},
		{"ipv6 from ipv4-mapped own", ipv6(netip.AddrFrom16(own4.As16()), dst6), false},
		{"ipv6 from own ipv4 bytes", ipv6raw(own4In6, dst6.As16()), false},
		{"ipv6 from :: to ff02::16", ipv6(netip.IPv6Unspecified(), netip.MustParseAddr("ff02::16")), true},
		{"ipv6 from :: to ff05::2", ipv6(netip.IPv6Unspecified(), netip.MustParseAddr("ff05::2")), false},
		{"ipv6 from :: to unicast", ipv6(netip.IPv6Unspecified(), dst6), false},
		{"vlan", vlan, false},
		{"other ether type", append(eth(0x88b5), ipv4(own4)[14:]...), false},
	}
}

// hostFilter returns the program of the source filter at the ingress of
// the host link name.
func hostFilter(t *testing.T, name string) *ebpf.Program {
	t.Helper()
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	fs, err := netlink.FilterList(l, netlink.HANDLE_MIN_INGRESS)
	if err != nil {
		t.Fatalf("list filters of %s: %v", name, err)
	}
	if len(fs) != 1 {
		t.Fatalf("%s has %d ingress filters, want 1", name, len(fs))
	}
	f, ok := fs[0].(*netlink.BpfFilter)
	if !ok || !f.DirectAction || f.Name != sourceFilterName {
		t.Fatalf("%s's ingress filter is %+v, want %s in direct action", name, fs[0], sourceFilterName)
	}
	prog, err := ebpf.NewProgramFromID(ebpf.ProgramID(f.Id))
	if err != nil {
		t.Fatalf("program of %s's filter: %v", name, err)
	}
	t.Cleanup(func() { prog.Close() })
	return prog
}

// checkSources runs every case through prog; with none, nothing may pass.
func checkSources(t *testing.T, prog *ebpf.Program, none bool) {
	t.Helper()
	for _, c := range sourceCases() {
		ret, err := prog.Run(&ebpf.RunOptions{Data: c.frame})
		if err != nil {
			t.Fatalf("%s: run: %v", c.name, err)
		}
		want := uint32(tcActShot)
		if c.pass && !none {
			want = tcActOK
		}
		if ret != want {
			t.Errorf("%s: verdict %d, want %d", c.name, ret, want)
		}
	}
}

// TestSourceFilter checks the source filter of a fresh pair.
func TestSourceFilter(t *testing.T) {
	requireRoot(t)
	addrs := mustParse(t, "10.213.11.1", "fd7a:5eed:11::1")
	p := &Plan{Jail: "t-src", Addrs: addrs}
	expectClean(t, []string{p.HostLink()}, addrs...)
	attach(t, p, startJail(t))
	checkSources(t, hostFilter(t, p.HostLink()), false)
}

// TestSpareSourceFilter checks that a Spare's source filter, attached
// when the spare is made, lets nothing through until AttachSpare, and
// then exactly what a fresh pair's does.
func TestSpareSourceFilter(t *testing.T) {
	requireRoot(t)
	addrs := mustParse(t, "10.213.11.1", "fd7a:5eed:11::1")
	p := &Plan{Jail: "t-spare", Addrs: addrs}
	const name = "prst.src"
	expectClean(t, []string{p.HostLink(), name}, addrs...)
	ns := newNamespace(t)
	t.Cleanup(func() { ns.Close() })
	s, err := MakeSpare(int(ns.Fd()), name)
	if err != nil {
		t.Fatalf("MakeSpare: %v", err)
	}
	t.Cleanup(s.Close)
	prog := hostFilter(t, name)
	checkSources(t, prog, true)

	NameSpare(p, s)
	checkSources(t, prog, true)
	a, err := AttachSpare(p, int(ns.Fd()), s)
	if err != nil {
		t.Fatalf("AttachSpare: %v", err)
	}
	t.Cleanup(func() {
		if err := a.Detach(); err != nil {
			t.Errorf("Detach: %v", err)
		}
	})
	if s.srcs != nil {
		t.Error("AttachSpare kept the spare's map open")
	}
	checkSources(t, prog, false)
	if after := hostFilter(t, p.HostLink()); !sameProgram(t, prog, after) {
		t.Error("AttachSpare replaced the spare's filter")
	}
}

func sameProgram(t *testing.T, a, b *ebpf.Program) bool {
	t.Helper()
	ia, err := a.Info()
	if err != nil {
		t.Fatal(err)
	}
	ib, err := b.Info()
	if err != nil {
		t.Fatal(err)
	}
	ida, _ := ia.ID()
	idb, _ := ib.ID()
	return ida == idb
}
