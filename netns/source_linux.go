package netns

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/asm"
	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// The source check: a jail's frames leave it only with one of its own
// addresses as source (see "Source addresses" in the package
// documentation). Both forms below accept exactly the same frames, read
// at the same offsets from the start of the Ethernet header:
//
//   - IPv4 (ether type 0x0800) whose source is a jail IPv4 address;
//   - ARP (0x0806) for IPv4 over Ethernet whose sender IP is one;
//   - IPv6 (0x86dd) whose source is a jail IPv6 address, or :: towards
//     link-scope multicast (ff02::/16: MLD reports and DAD, which the
//     kernel sends from :: on a link without a link-local address);
//
// and drop everything else: other ether types, VLAN-tagged frames (their
// ether type reads 0x8100), frames too short to hold the field.
const (
	etherTypeIPv4 = 0x0800
	etherTypeARP  = 0x0806
	etherTypeIPv6 = 0x86dd

	offEtherSrc  = 6
	offEtherType = 12
	offIPv4Src   = 14 + 12
	offARP       = 14 // htype, ptype, hlen, plen, oper, sha, spa
	offARPSha    = 14 + 8
	offARPSpa    = 14 + 14
	offIPv6Src   = 14 + 8
	offIPv6Dst   = 14 + 24
)

// sourceFilterName names the filter, its program and its map, for tc and
// bpftool.
const sourceFilterName = "prison_src"

// tc's constants (linux/pkt_sched.h, linux/pkt_cls.h).
const (
	tcHClsact      = 0xfffffff1
	tcHMinIngress  = 0xfff2
	tcActOK        = 0
	tcActShot      = 2
	tcaBPFFD       = 6 // TCA_BPF_FD
	tcaBPFName     = 7 // TCA_BPF_NAME
	tcaBPFFlags    = 8 // TCA_BPF_FLAGS
	tcaBPFFlagAct  = 1 // TCA_BPF_FLAG_ACT_DIRECT
	sourceFilterPr = 1 // the filter's priority: first
)

// The program reads the sources it lets through from a hash map of its
// own, whose keys are a family tag (a host-order word) followed by the
// address: an IPv4 one in the first 4 of 16 bytes, the rest zero. The map
// holds the jail's addresses and :: (which the program lets through
// towards ff02::/16 only); empty, it lets nothing through.
const (
	sourceKeyV4   = 4
	sourceKeyV6   = 6
	sourceKeySize = 4 + 16
)

// loadSourceFilter makes the map of a source filter for n addresses,
// empty, and loads its program (loadSourceProgram). The program holds
// the map: closing the map's fd once the addresses are in leaves it to
// live exactly as long as the program, that is the filter.
func loadSourceFilter(n int) (*ebpf.Program, *ebpf.Map, error) {
	m, err := ebpf.NewMap(&ebpf.MapSpec{
		Name:       sourceFilterName,
		Type:       ebpf.Hash,
		KeySize:    sourceKeySize,
		ValueSize:  1,
		MaxEntries: uint32(n + 1), // and ::
	})
	if err != nil {
		return nil, nil, fmt.Errorf("network: make source address map: %w", err)
	}
	prog, err := loadSourceProgram(m)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return prog, m, nil
}

// newSourceFilter loads the source check of a fresh pair, for addrs.
func newSourceFilter(addrs []netip.Prefix) (*ebpf.Program, error) {
	prog, m, err := loadSourceFilter(len(addrs))
	if err != nil {
		return nil, err
	}
	defer m.Close() // the program holds it
	if err := allowSources(m, addrs); err != nil {
		prog.Close()
		return nil, err
	}
	return prog, nil
}

// allowSources writes addrs, and ::, into the map of a source filter:
// one bpf(2) call each. Each frame is checked against the map as it is
// at that moment, so a partly written map only lets fewer through.
func allowSources(m *ebpf.Map, addrs []netip.Prefix) error {
	put := func(a netip.Addr) error {
		if err := m.Put(sourceKey(a), uint8(1)); err != nil {
			return fmt.Errorf("network: allow source %s: %w", a, err)
		}
		return nil
	}
	for _, p := range addrs {
		if err := put(p.Addr()); err != nil {
			return err
		}
	}
	return put(netip.IPv6Unspecified())
}

// sourceKey is a's key in a source filter's map.
func sourceKey(a netip.Addr) [sourceKeySize]byte {
	var k [sourceKeySize]byte
	if a.Is4() {
		binary.NativeEndian.PutUint32(k[:], sourceKeyV4)
		b := a.As4()
		copy(k[4:], b[:])
	} else {
		binary.NativeEndian.PutUint32(k[:], sourceKeyV6)
		b := a.As16()
		copy(k[4:], b[:])
	}
	return k
}

// loadSourceProgram loads the source check reading the map m as a tc
// classifier in direct-action mode: TC_ACT_OK for a frame the jail may
// send, TC_ACT_SHOT for the rest (no act_gact needed). Nothing is shared
// between jails: each pair has its program and its map.
func loadSourceProgram(m *ebpf.Map) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         sourceFilterName,
		Type:         ebpf.SchedCLS,
		Instructions: sourceProgram(m.FD()),
		License:      "GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("network: load source address filter: %w", err)
	}
	return prog, nil
}

// sourceProgram is the source check as BPF, reading the map mapFD. The
// frame's bytes are copied to the stack with bpf_skb_load_bytes, which
// also reads non-linear frames and fails (drop) for short ones; a legacy
// LD_ABS out of bounds would end the program with 0, which is TC_ACT_OK.
func sourceProgram(mapFD int) asm.Instructions {
	const (
		buf = -40     // stack buffer of 40 bytes (an IPv6 header)
		key = buf - 4 // the map key: its family tag, then the address at buf
	)
	// load copies n bytes of the frame at off to the buffer.
	load := func(off, n int32) asm.Instructions {
		return asm.Instructions{
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, off),
			asm.Mov.Reg(asm.R3, asm.RFP),
			asm.Add.Imm(asm.R3, buf),
			asm.Mov.Imm(asm.R4, n),
			asm.FnSkbLoadBytes.Call(),
			asm.JNE.Imm(asm.R0, 0, "drop"),
		}
	}
	// lookup sets R0 to nil when the key is not in the map.
	lookup := func(tag int64) asm.Instructions {
		return asm.Instructions{
			asm.StoreImm(asm.RFP, key, tag, asm.Word),
			asm.LoadMapPtr(asm.R1, mapFD),
			asm.Mov.Reg(asm.R2, asm.RFP),
			asm.Add.Imm(asm.R2, key),
			asm.FnMapLookupElem.Call(),
		}
	}
	// half is the immediate that equals v (network order) loaded from the
	// buffer as a host-order half word.
	half := func(v uint16) int32 {
		return int32(binary.NativeEndian.Uint16(binary.BigEndian.AppendUint16(nil, v)))
	}
	ins := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),
		// A tag the kernel took off the frame (skb_vlan_untag) is not in
		// its bytes: refuse it here.
		asm.LoadMem(asm.R0, asm.R6, 20, asm.Word), // __sk_buff.vlan_present
		asm.JNE.Imm(asm.R0, 0, "drop"),
	}
	ins = append(ins, load(offEtherType, 2)...)
	ins = append(ins,
		asm.LoadMem(asm.R7, asm.RFP, buf, asm.Half),
		asm.JEq.Imm32(asm.R7, half(etherTypeIPv4), "ipv4"),
		asm.JEq.Imm32(asm.R7, half(etherTypeARP), "arp"),
		asm.JEq.Imm32(asm.R7, half(etherTypeIPv6), "ipv6"),
		asm.Ja.Label("drop"),
	)

	ipv4 := load(offIPv4Src, 4)
	ipv4[0] = ipv4[0].WithSymbol("ipv4")
	ins = append(ins, ipv4...)
	ins = append(ins, asm.Ja.Label("v4"))

	arp := load(offARP, 8)
	arp[0] = arp[0].WithSymbol("arp")
	ins = append(ins, arp...)
	ins = append(ins,
		asm.LoadMem(asm.R7, asm.RFP, buf+2, asm.Half), // ptype
		asm.JNE.Imm32(asm.R7, half(etherTypeIPv4), "drop"),
		asm.LoadMem(asm.R7, asm.RFP, buf+4, asm.Half), // hlen, plen
		asm.JNE.Imm32(asm.R7, half(6<<8|4), "drop"),
	)
	// The sender IP on its own: at buf+14 it would be a misaligned word.
	ins = append(ins, load(offARPSpa, 4)...)

	// An IPv4 source (or ARP sender) is in the buffer's first word; the
	// rest of the key's address is zero.
	ins = append(ins,
		asm.StoreImm(asm.RFP, buf+4, 0, asm.Word).WithSymbol("v4"),
		asm.StoreImm(asm.RFP, buf+8, 0, asm.Word),
		asm.StoreImm(asm.RFP, buf+12, 0, asm.Word),
	)
	ins = append(ins, lookup(sourceKeyV4)...)
	ins = append(ins,
		asm.JNE.Imm(asm.R0, 0, "pass"),
		asm.Ja.Label("drop"),
	)

	ipv6 := load(offIPv6Src, 32)
	ipv6[0] = ipv6[0].WithSymbol("ipv6")
	ins = append(ins, ipv6...)
	ins = append(ins, lookup(sourceKeyV6)...)
	ins = append(ins, asm.JEq.Imm(asm.R0, 0, "drop"))
	// A source in the map, but :: only towards ff02::/16.
	for i := int16(0); i < 16; i += 4 {
		ins = append(ins,
			asm.LoadMem(asm.R7, asm.RFP, buf+i, asm.Word),
			asm.JNE.Imm32(asm.R7, 0, "pass"))
	}
	ins = append(ins,
		asm.LoadMem(asm.R7, asm.RFP, buf+offIPv6Dst-offIPv6Src, asm.Half),
		asm.JEq.Imm32(asm.R7, half(0xff02), "pass"),
		asm.Ja.Label("drop"),

		asm.Mov.Imm(asm.R0, tcActOK).WithSymbol("pass"),
		asm.Return(),
		asm.Mov.Imm(asm.R0, tcActShot).WithSymbol("drop"),
		asm.Return(),
	)
	return ins
}

// clsactMsg adds the clsact qdisc to a link: the attachment point of tc
// filters at its ingress (and egress).
func clsactMsg(index int) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWQDISC, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	req.AddData(&nl.TcMsg{Family: unix.AF_UNSPEC, Ifindex: int32(index), Handle: 0xffff0000, Parent: tcHClsact})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("clsact")))
	return req
}

// sourceFilterMsg attaches prog (loadSourceFilter) at the ingress of
// link index, for every protocol, in direct-action mode.
func sourceFilterMsg(index int, prog *ebpf.Program) *nl.NetlinkRequest {
	req := nl.NewNetlinkRequest(unix.RTM_NEWTFILTER, unix.NLM_F_CREATE|unix.NLM_F_EXCL)
	proto := uint32(unix.ETH_P_ALL>>8 | unix.ETH_P_ALL&0xff<<8) // htons
	req.AddData(&nl.TcMsg{
		Family:  unix.AF_UNSPEC,
		Ifindex: int32(index),
		Handle:  1,
		Parent:  tcHClsact&0xffff0000 | tcHMinIngress,
		Info:    sourceFilterPr<<16 | proto,
	})
	req.AddData(nl.NewRtAttr(nl.TCA_KIND, nl.ZeroTerminated("bpf")))
	opts := nl.NewRtAttr(nl.TCA_OPTIONS, nil)
	opts.AddRtAttr(tcaBPFFD, nl.Uint32Attr(uint32(prog.FD())))
	opts.AddRtAttr(tcaBPFName, nl.ZeroTerminated(sourceFilterName))
	opts.AddRtAttr(tcaBPFFlags, nl.Uint32Attr(tcaBPFFlagAct))
	req.AddData(opts)
	return req
}

// sourceTable is the name of the nftables table (netdev family) that holds
// a macvlan jail's source check, in the jail's namespace.
const sourceTable = "prison"

// setSourceRules installs the source check of a macvlan jail on the
// egress of its eth0 (index eth, address mac), in the jail's namespace
// nsFd, in one nftables batch. Egress, not tc's: tc's egress hook is
// skipped by packet sockets with PACKET_QDISC_BYPASS, the netfilter one
// is not (packet_xmit calls nf_hook_direct_egress).
func setSourceRules(nsFd int, addrs []netip.Prefix, mac net.HardwareAddr) error {
	c, err := nftables.New(nftables.WithNetNSFd(nsFd))
	if err != nil {
		return fmt.Errorf("network: source address filter: %w", err)
	}
	policy := nftables.ChainPolicyDrop
	t := c.AddTable(&nftables.Table{Family: nftables.TableFamilyNetdev, Name: sourceTable})
	ch := c.AddChain(&nftables.Chain{
		Name:     "egress",
		Table:    t,
		Type:     nftables.ChainTypeFilter,
		Hooknum:  nftables.ChainHookEgress,
		Priority: nftables.ChainPriorityFilter,
		Device:   jailLink,
		Policy:   &policy,
	})
	for _, r := range sourceRules(addrs, mac) {
		c.AddRule(&nftables.Rule{Table: t, Chain: ch, Exprs: r})
	}
	if err := c.Flush(); err != nil {
		return fmt.Errorf("network: source address filter: %w", err)
	}
	return nil
}

// sourceRules is the source check as nftables rules, for a chain whose
// policy is drop. Every field is read from the link-layer header, as the
// BPF form does: the network header offset of a frame from a packet
// socket is the sender's to choose.
func sourceRules(addrs []netip.Prefix, mac net.HardwareAddr) [][]expr.Any {
	field := func(off, n uint32, op expr.CmpOp, want []byte) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseLLHeader, Offset: off, Len: n},
			&expr.Cmp{Op: op, Register: 1, Data: want},
		}
	}
	is := func(off uint32, want []byte) []expr.Any {
		return field(off, uint32(len(want)), expr.CmpOpEq, want)
	}
	etype := func(t uint16) []expr.Any { return is(offEtherType, binary.BigEndian.AppendUint16(nil, t)) }
	rule := func(parts ...[]expr.Any) []expr.Any {
		var out []expr.Any
		for _, p := range parts {
			out = append(out, p...)
		}
		return append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	}
	// A frame with another MAC is dropped at once: the segment's switches
	// would learn it.
	rules := [][]expr.Any{append(field(offEtherSrc, 6, expr.CmpOpNeq, mac), &expr.Verdict{Kind: expr.VerdictDrop})}
	for _, p := range addrs {
		a := p.Addr().AsSlice()
		if p.Addr().Is4() {
			rules = append(rules,
				rule(etype(etherTypeIPv4), is(offIPv4Src, a)),
				rule(etype(etherTypeARP), is(offARP+2, []byte{0x08, 0x00, 6, 4}), is(offARPSha, mac), is(offARPSpa, a)))
		} else {
			rules = append(rules, rule(etype(etherTypeIPv6), is(offIPv6Src, a)))
		}
	}
	rules = append(rules, rule(etype(etherTypeIPv6), is(offIPv6Src, make([]byte, 16)), is(offIPv6Dst, []byte{0xff, 0x02})))
	return rules
}
