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

// sourceFilterName names the filter and its program, for tc and bpftool.
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

// loadSourceProgram loads the source check for addrs as a tc classifier
// in direct-action mode: TC_ACT_OK for a frame the jail may send,
// TC_ACT_SHOT for the rest (no act_gact needed). The addresses are
// immediates: no map, nothing shared between jails, and the program lives
// exactly as long as the filter that holds it.
func loadSourceProgram(addrs []netip.Prefix) (*ebpf.Program, error) {
	prog, err := ebpf.NewProgram(&ebpf.ProgramSpec{
		Name:         sourceFilterName,
		Type:         ebpf.SchedCLS,
		Instructions: sourceProgram(addrs),
		License:      "GPL",
	})
	if err != nil {
		return nil, fmt.Errorf("network: load source address filter: %w", err)
	}
	return prog, nil
}

// sourceProgram is the source check as BPF. The frame's bytes are copied
// to the stack with bpf_skb_load_bytes, which also reads non-linear
// frames and fails (drop) for short ones; a legacy LD_ABS out of bounds
// would end the program with 0, which is TC_ACT_OK.
func sourceProgram(addrs []netip.Prefix) asm.Instructions {
	const buf = -40 // stack buffer of 40 bytes (an IPv6 header)
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
	// word is the immediate that equals b (network order) loaded from the
	// buffer as a host-order word.
	word := func(b []byte) int32 { return int32(binary.NativeEndian.Uint32(b)) }
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
	var v4, v6 []netip.Addr
	for _, p := range addrs {
		if p.Addr().Is4() {
			v4 = append(v4, p.Addr())
		} else {
			v6 = append(v6, p.Addr())
		}
	}
	// matchV4 passes when the word at buf+at is one of the IPv4 addresses.
	matchV4 := func(at int16) asm.Instructions {
		out := asm.Instructions{asm.LoadMem(asm.R7, asm.RFP, buf+at, asm.Word)}
		for _, a := range v4 {
			b := a.As4()
			out = append(out, asm.JEq.Imm32(asm.R7, word(b[:]), "pass"))
		}
		return append(out, asm.Ja.Label("drop"))
	}
	ipv4 := load(offIPv4Src, 4)
	ipv4[0] = ipv4[0].WithSymbol("ipv4")
	ins = append(ins, ipv4...)
	ins = append(ins, matchV4(0)...)

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
	ins = append(ins, matchV4(0)...)

	ipv6 := load(offIPv6Src, 32)
	ipv6[0] = ipv6[0].WithSymbol("ipv6")
	ins = append(ins, ipv6...)
	// match6 jumps to to when the 16 bytes at buf+at are a, and falls
	// through otherwise.
	match6 := func(at int16, a [16]byte, to, next string) asm.Instructions {
		var out asm.Instructions
		for i := int16(0); i < 16; i += 4 {
			out = append(out,
				asm.LoadMem(asm.R7, asm.RFP, buf+at+i, asm.Word),
				asm.JNE.Imm32(asm.R7, word(a[i:i+4]), next))
		}
		return append(out, asm.Ja.Label(to))
	}
	for i, a := range v6 {
		next := fmt.Sprintf("ipv6-%d", i+1)
		ins = append(ins, match6(0, a.As16(), "pass", next)...)
		ins = append(ins, asm.Mov.Imm(asm.R0, 0).WithSymbol(next)) // a no-op to carry the label
	}
	// :: towards ff02::/16.
	ins = append(ins, match6(0, [16]byte{}, "ipv6-any", "drop")...)
	ins = append(ins,
		asm.LoadMem(asm.R7, asm.RFP, buf+offIPv6Dst-offIPv6Src, asm.Half).WithSymbol("ipv6-any"),
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

// sourceFilterMsg attaches prog (loadSourceProgram) at the ingress of
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
