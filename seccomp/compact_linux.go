//go:build linux && cgo

package seccomp

import (
	"encoding/binary"
	"errors"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// compact rebuilds a one-architecture program of libseccomp's in far fewer
// instructions, or reports false and the caller keeps libseccomp's.
//
// Why: the kernel's cost of loading a filter grows with its length (the
// BPF checks, the translation to eBPF, the JIT), and a jail loads prison's
// on every start. libseccomp spends an instruction or two on every syscall
// number, about 570 for prison's allow list; most of those numbers lie in
// runs that share one action. A binary search over the runs needs about
// 230, and loads in half the time (about 100 µs less per jail here).
//
// How, without a second compiler of the policy: libseccomp's program only
// compares syscall numbers with constants, so between two consecutive
// constants its answer cannot change. compact runs the program once per
// such interval (interpret), which gives every number's action, or shows
// that the program reads the call's arguments for it. The new program is a
// binary search over the intervals: a run's action is returned at once,
// and a number whose rules check arguments jumps to a second libseccomp
// program holding only those syscalls' rules, which decides it as the
// first would. Both programs are then run side by side on every interval's
// bounds and, where arguments count, on argument values around every
// constant either compares; any difference keeps libseccomp's program.
func compact(s *specs.LinuxSeccomp, def libseccomp.ScmpAction, full []unix.SockFilter) ([]unix.SockFilter, bool) {
	if len(s.Architectures) > 1 || len(full) < 2 ||
		full[0] != (unix.SockFilter{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch}) ||
		full[1].Code != unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K {
		return nil, false
	}
	arch := full[1].K
	// Every value the program compares with, and the one after it, starts
	// an interval.
	starts := []uint64{0}
	for _, in := range full {
		switch in.Code {
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K,
			unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			starts = append(starts, uint64(in.K), uint64(in.K)+1)
		}
	}
	slices.Sort(starts)
	starts = slices.Compact(starts)
	if starts[len(starts)-1] == 1<<32 {
		starts = starts[:len(starts)-1]
	}

	var runs []run
	for _, lo := range starts {
		r, err := interpret(full, callData{nr: uint32(lo), arch: arch})
		if err != nil {
			return nil, false
		}
		c := run{lo: uint32(lo), ret: r.ret, args: r.maxRead >= offArgs}
		if c.args {
			c.ret = 0
		}
		if n := len(runs); n > 0 && runs[n-1].ret == c.ret && runs[n-1].args == c.args {
			continue
		}
		runs = append(runs, c)
	}

	badArch, err := interpret(full, callData{arch: ^arch})
	if err != nil || badArch.maxRead >= offArgs {
		return nil, false
	}
	prog := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offArch},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 1, K: arch},
		{Code: unix.BPF_RET | unix.BPF_K, K: badArch.ret},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: offNR},
	}
	prog = append(prog, searchTree(runs)...)
	var sub []unix.SockFilter
	if slices.ContainsFunc(runs, func(r run) bool { return r.args }) {
		var err error
		sub, _, err = build(s, def, func(nr uint32) bool {
			i, _ := slices.BinarySearchFunc(runs, nr, func(r run, nr uint32) int {
				if r.lo > nr {
					return 1
				}
				return -1
			})
			return runs[i-1].args
		})
		if err != nil {
			return nil, false
		}
		at := len(prog)
		for i, in := range prog {
			if in.Code == subMarker {
				prog[i] = unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(at - i - 1)}
			}
		}
		prog = append(prog, sub...)
	}
	if len(prog) >= len(full) || len(prog) > unix.BPF_MAXINSNS || !sameAnswers(full, prog, arch, starts, sub) {
		return nil, false
	}
	return prog, true
}

// Offsets in struct seccomp_data.
const (
	offNR   = 0
	offArch = 4
	offArgs = 16
)

// run is an interval of syscall numbers, from lo to the next run's lo,
// with one answer: ret, or the second program's when args.
type run struct {
	lo   uint32
	ret  uint32
	args bool
}

// subMarker stands for "jump to the second program" until it is placed.
const subMarker = 0xffff

// searchTree returns a binary search over runs, on the syscall number in
// the accumulator. Each subtree is built apart, so that jumps are relative
// to it; a conditional jump reaches 255 instructions at most, beyond which
// an unconditional one takes over.
func searchTree(runs []run) []unix.SockFilter {
	if len(runs) == 1 {
		if runs[0].args {
			return []unix.SockFilter{{Code: subMarker}}
		}
		return []unix.SockFilter{{Code: unix.BPF_RET | unix.BPF_K, K: runs[0].ret}}
	}
	mid := len(runs) / 2
	left, right := searchTree(runs[:mid]), searchTree(runs[mid:])
	jge := unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K, K: runs[mid].lo}
	var out []unix.SockFilter
	if len(left) <= 255 {
		jge.Jt = uint8(len(left))
		out = append(out, jge)
	} else {
		jge.Jf = 1
		out = append(out, jge, unix.SockFilter{Code: unix.BPF_JMP | unix.BPF_JA, K: uint32(len(left))})
	}
	return append(append(out, left...), right...)
}

// sameAnswers runs both programs on the first and last number of every
// interval, with argument values around every constant the argument
// checks (sub) compare with, and with other architectures. It also checks
// that a call the first program decides by number alone is decided so by
// the second, which keeps the kernel's action cache working for it.
func sameAnswers(a, b []unix.SockFilter, arch uint32, starts []uint64, sub []unix.SockFilter) bool {
	var consts []uint32
	for _, in := range sub {
		if in.Code&0x07 == unix.BPF_JMP && in.Code != unix.BPF_JMP|unix.BPF_JA {
			consts = append(consts, in.K, in.K-1, in.K+1, ^in.K)
		}
	}
	slices.Sort(consts)
	consts = slices.Compact(consts)
	same := func(d callData) (bool, bool) {
		ra, erra := interpret(a, d)
		rb, errb := interpret(b, d)
		return erra == nil && errb == nil && ra.ret == rb.ret, ra.maxRead >= offArgs
	}
	for _, other := range []uint32{^arch, 0, unix.AUDIT_ARCH_I386, arch ^ 1} {
		if ok, _ := same(callData{arch: other}); !ok {
			return false
		}
	}
	for i, lo := range starts {
		hi := uint64(1<<32 - 1)
		if i+1 < len(starts) {
			hi = starts[i+1] - 1
		}
		for _, nr := range []uint32{uint32(lo), uint32(hi)} {
			ok, readsArgs := same(callData{nr: nr, arch: arch})
			if !ok {
				return false
			}
			if !readsArgs {
				if r, _ := interpret(b, callData{nr: nr, arch: arch}); r.maxRead >= offArgs {
					return false
				}
				continue
			}
			for arg := range 6 {
				for _, k := range consts {
					for _, v := range []uint64{uint64(k), uint64(k) << 32, uint64(k)<<32 | uint64(k), 0xffffffff<<32 | uint64(k)} {
						d := callData{nr: nr, arch: arch}
						d.args[arg] = v
						if ok, _ := same(d); !ok {
							return false
						}
					}
				}
			}
		}
	}
	return true
}

// callData is the part of struct seccomp_data a filter may read.
type callData struct {
	nr, arch uint32
	args     [6]uint64
}

// result is a program's answer and the highest byte of seccomp_data it
// read.
type result struct {
	ret, maxRead uint32
}

var errInterpret = errors.New("seccomp: program not interpretable")

// interpret runs a classic BPF program as seccomp would, for the
// instructions the seccomp verifier accepts (kernel/seccomp.c,
// seccomp_check_filter).
func interpret(prog []unix.SockFilter, d callData) (result, error) {
	var data [64]byte
	binary.NativeEndian.PutUint32(data[offNR:], d.nr)
	binary.NativeEndian.PutUint32(data[offArch:], d.arch)
	for i, a := range d.args {
		binary.NativeEndian.PutUint64(data[offArgs+8*i:], a)
	}
	var a, x uint32
	var mem [16]uint32
	var res result
	// compact's intervals hold only while the syscall number is compared
	// as it is: a number that is masked or bit-tested makes it give up.
	aIsNR := false
	jump := func(cond bool, in unix.SockFilter) int {
		if cond {
			return int(in.Jt)
		}
		return int(in.Jf)
	}
	for pc := 0; pc < len(prog); pc++ {
		in := prog[pc]
		switch in.Code {
		case unix.BPF_LD | unix.BPF_W | unix.BPF_ABS:
			if in.K > 60 || in.K%4 != 0 {
				return res, errInterpret
			}
			a = binary.NativeEndian.Uint32(data[in.K:])
			res.maxRead = max(res.maxRead, in.K+3)
			aIsNR = in.K == offNR
		case unix.BPF_LD | unix.BPF_IMM:
			a, aIsNR = in.K, false
		case unix.BPF_LDX | unix.BPF_IMM:
			x = in.K
		case unix.BPF_ST:
			if in.K >= 16 || aIsNR {
				return res, errInterpret
			}
			mem[in.K] = a
		case unix.BPF_LD | unix.BPF_MEM:
			if in.K >= 16 {
				return res, errInterpret
			}
			a, aIsNR = mem[in.K], false
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_K:
			if aIsNR {
				return res, errInterpret
			}
			a &= in.K
		case unix.BPF_ALU | unix.BPF_AND | unix.BPF_X:
			if aIsNR {
				return res, errInterpret
			}
			a &= x
		case unix.BPF_MISC | unix.BPF_TAX:
			if aIsNR {
				return res, errInterpret
			}
			x = a
		case unix.BPF_MISC | unix.BPF_TXA:
			a, aIsNR = x, false
		case unix.BPF_JMP | unix.BPF_JA:
			pc += int(in.K)
		case unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K:
			pc += jump(a == in.K, in)
		case unix.BPF_JMP | unix.BPF_JGT | unix.BPF_K:
			pc += jump(a > in.K, in)
		case unix.BPF_JMP | unix.BPF_JGE | unix.BPF_K:
			pc += jump(a >= in.K, in)
		case unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K:
			if aIsNR {
				return res, errInterpret
			}
			pc += jump(a&in.K != 0, in)
		case unix.BPF_RET | unix.BPF_K:
			res.ret = in.K
			return res, nil
		case unix.BPF_RET | unix.BPF_A:
			res.ret = a
			return res, nil
		default:
			return res, errInterpret
		}
	}
	return res, errInterpret
}
