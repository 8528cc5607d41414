//go:build linux && cgo

package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"
)

// Compile turns an OCI seccomp section into a classic BPF program for the
// native architecture. It is the one compiler for prison's own policy and
// for the sections of OCI bundles, and reads them as runc does:
//
//   - conditions of one rule on different arguments must all hold; a rule
//     naming the same argument twice matches when any of its conditions
//     holds (libseccomp allows one comparison per argument per rule);
//   - names libseccomp does not know are skipped, except a few syscalls
//     newer than the libseccomp this was built with, compiled by number;
//   - rules whose action equals the default action are skipped.
//
// Calls from other ABIs than the listed ones (i386 and x32 on an x86-64
// host, unless listed) fail with ENOSYS; the filter never kills.
//
// Compile runs on the host, in the launcher, before the jail starts; it does
// not load anything. The jail's init installs Program.Filter itself.
func Compile(s *specs.LinuxSeccomp) (*Program, error) {
	if s == nil {
		return nil, errors.New("seccomp: compile: no seccomp section")
	}
	if s.ListenerPath != "" {
		return nil, fmt.Errorf("seccomp: compile: listenerPath %q: seccomp agents are not supported", s.ListenerPath)
	}
	for _, f := range s.Flags {
		// The init installs the filter with prison's own flags; a flag
		// silently dropped here would change what the bundle asked for.
		return nil, fmt.Errorf("seccomp: compile: flag %s: not supported", f)
	}
	def, err := action(s.DefaultAction, s.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("seccomp: compile: default action: %w", err)
	}
	full, notified, err := build(s, def, nil)
	if err != nil {
		return nil, err
	}
	prog := &Program{
		Filter:          full,
		Listener:        notified.inotify || notified.others,
		NotifiesInotify: notified.inotify,
		NotifiesOthers:  notified.others,
	}
	if c, ok := compact(s, def, full); ok {
		prog.Filter = c
	}
	return prog, nil
}

// notified says which calls a program's notify rules name.
type notified struct{ inotify, others bool }

// build has libseccomp compile the section, with only the rules of the
// syscalls that keep says to keep when keep is not nil. It reports which
// calls the program's notify rules name.
func build(s *specs.LinuxSeccomp, def libseccomp.ScmpAction, keep func(nr uint32) bool) ([]unix.SockFilter, notified, error) {
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, notified{}, fmt.Errorf("seccomp: compile: %w", err)
	}
	defer f.Release()

	if err := f.SetBadArchAction(libseccomp.ActErrno.SetReturnCode(int16(unix.ENOSYS))); err != nil {
		return nil, notified{}, fmt.Errorf("seccomp: compile: bad-arch action: %w", err)
	}
	// A binary tree of syscall numbers instead of a linear list: the cost
	// of a filter pass grows with log(rules), not with their count.
	if err := f.SetOptimize(2); err != nil {
		return nil, notified{}, fmt.Errorf("seccomp: compile: binary tree optimisation (needs libseccomp >= 2.5): %w", err)
	}
	for _, a := range s.Architectures {
		arch, err := archFromSpec(a)
		if err != nil {
			return nil, notified{}, fmt.Errorf("seccomp: compile: %w", err)
		}
		if err := f.AddArch(arch); err != nil {
			return nil, notified{}, fmt.Errorf("seccomp: compile: add arch %s: %w", a, err)
		}
	}

	var n notified
	for i, r := range s.Syscalls {
		act, err := action(r.Action, r.ErrnoRet)
		if err != nil {
			return nil, notified{}, fmt.Errorf("seccomp: compile: rule %d (%v): %w", i, r.Names, err)
		}
		if act == def {
			continue
		}
		conds, err := conditions(r.Args)
		if err != nil {
			return nil, notified{}, fmt.Errorf("seccomp: compile: rule %d (%v): %w", i, r.Names, err)
		}
		for _, name := range r.Names {
			nr, ok := syscallNumber(name)
			if !ok || keep != nil && !keep(uint32(nr)) {
				continue
			}
			if err := addRule(f, nr, act, conds); err != nil {
				return nil, notified{}, fmt.Errorf("seccomp: compile: %s: %w", name, err)
			}
			if act == libseccomp.ActNotify {
				if slices.Contains(inotifyCalls, name) {
					n.inotify = true
				} else {
					n.others = true
				}
			}
		}
	}

	raw, err := exportBPF(f)
	if err != nil {
		return nil, notified{}, fmt.Errorf("seccomp: compile: export: %w", err)
	}
	prog := make([]unix.SockFilter, len(raw)/8)
	for i := range prog {
		b := raw[i*8:]
		prog[i] = unix.SockFilter{
			Code: binary.NativeEndian.Uint16(b[0:]),
			Jt:   b[2],
			Jf:   b[3],
			K:    binary.NativeEndian.Uint32(b[4:]),
		}
	}
	return prog, n, nil
}

// addRule adds one OCI rule for one syscall. conds has one entry per
// libseccomp rule: usually one (all conditions AND-ed), several when the
// OCI rule repeated an argument.
func addRule(f *libseccomp.ScmpFilter, nr libseccomp.ScmpSyscall, act libseccomp.ScmpAction, conds [][]libseccomp.ScmpCondition) error {
	if len(conds) == 0 {
		return f.AddRule(nr, act)
	}
	for _, c := range conds {
		if err := f.AddRuleConditional(nr, act, c); err != nil {
			return err
		}
	}
	return nil
}

// conditions converts OCI arguments to libseccomp conditions, grouped as
// runc groups them (see Compile).
func conditions(args []specs.LinuxSeccompArg) ([][]libseccomp.ScmpCondition, error) {
	if len(args) == 0 {
		return nil, nil
	}
	seen := map[uint]bool{}
	repeated := false
	var all []libseccomp.ScmpCondition
	for _, a := range args {
		op, err := operator(a.Op)
		if err != nil {
			return nil, err
		}
		if a.Index > 5 {
			return nil, fmt.Errorf("argument index %d out of range 0-5", a.Index)
		}
		c, err := libseccomp.MakeCondition(a.Index, op, a.Value, a.ValueTwo)
		if err != nil {
			return nil, fmt.Errorf("argument %d %s: %w", a.Index, a.Op, err)
		}
		repeated = repeated || seen[a.Index]
		seen[a.Index] = true
		all = append(all, c)
	}
	if !repeated {
		return [][]libseccomp.ScmpCondition{all}, nil
	}
	out := make([][]libseccomp.ScmpCondition, len(all))
	for i, c := range all {
		out[i] = []libseccomp.ScmpCondition{c}
	}
	return out, nil
}

func action(a specs.LinuxSeccompAction, errnoRet *uint) (libseccomp.ScmpAction, error) {
	ret := func(def uint) int16 {
		if errnoRet != nil {
			return int16(*errnoRet)
		}
		return int16(def)
	}
	if errnoRet != nil && a != specs.ActErrno && a != specs.ActTrace {
		return 0, fmt.Errorf("errnoRet given for %s", a)
	}
	switch a {
	case specs.ActAllow:
		return libseccomp.ActAllow, nil
	case specs.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(ret(uint(unix.EPERM))), nil
	case specs.ActNotify:
		return libseccomp.ActNotify, nil
	case specs.ActLog:
		return libseccomp.ActLog, nil
	case specs.ActTrace:
		return libseccomp.ActTrace.SetReturnCode(ret(uint(unix.EPERM))), nil
	case specs.ActTrap:
		return libseccomp.ActTrap, nil
	case specs.ActKill, specs.ActKillThread:
		return libseccomp.ActKillThread, nil
	case specs.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	}
	return 0, fmt.Errorf("unknown action %q", a)
}

func operator(op specs.LinuxSeccompOperator) (libseccomp.ScmpCompareOp, error) {
	switch op {
	case specs.OpNotEqual:
		return libseccomp.CompareNotEqual, nil
	case specs.OpLessThan:
		return libseccomp.CompareLess, nil
	case specs.OpLessEqual:
		return libseccomp.CompareLessOrEqual, nil
	case specs.OpEqualTo:
		return libseccomp.CompareEqual, nil
	case specs.OpGreaterEqual:
		return libseccomp.CompareGreaterEqual, nil
	case specs.OpGreaterThan:
		return libseccomp.CompareGreater, nil
	case specs.OpMaskedEqual:
		return libseccomp.CompareMaskedEqual, nil
	}
	return 0, fmt.Errorf("unknown operator %q", op)
}

func archFromSpec(a specs.Arch) (libseccomp.ScmpArch, error) {
	name, ok := specArchNames[a]
	if !ok {
		return 0, fmt.Errorf("unknown architecture %q", a)
	}
	return libseccomp.GetArchFromString(name)
}

var specArchNames = map[specs.Arch]string{
	specs.ArchX86: "x86", specs.ArchX86_64: "amd64", specs.ArchX32: "x32",
	specs.ArchARM: "arm", specs.ArchAARCH64: "arm64",
	specs.ArchMIPS: "mips", specs.ArchMIPS64: "mips64", specs.ArchMIPS64N32: "mips64n32",
	specs.ArchMIPSEL: "mipsel", specs.ArchMIPSEL64: "mipsel64", specs.ArchMIPSEL64N32: "mipsel64n32",
	specs.ArchPPC: "ppc", specs.ArchPPC64: "ppc64", specs.ArchPPC64LE: "ppc64le",
	specs.ArchS390: "s390", specs.ArchS390X: "s390x",
	specs.ArchPARISC: "parisc", specs.ArchPARISC64: "parisc64",
	specs.ArchRISCV64: "riscv64", specs.ArchLOONGARCH64: "loong64",
	specs.ArchM68K: "m68k", specs.ArchSH: "sh", specs.ArchSHEB: "sheb",
}

// syscallNumber resolves a name for the native architecture.
func syscallNumber(name string) (libseccomp.ScmpSyscall, bool) {
	if nr, err := libseccomp.GetSyscallFromName(name); err == nil {
		return nr, true
	}
	if runtime.GOARCH == "amd64" {
		if nr, ok := newerAMD64[name]; ok {
			return libseccomp.ScmpSyscall(nr), true
		}
	}
	return 0, false
}

// newerAMD64 are x86-64 syscalls newer than libseccomp 2.5.4's tables
// (Debian bookworm), from arch/x86/entry/syscalls/syscall_64.tbl. Without
// them an allowed call would fail with ENOSYS, and a refused one with ENOSYS
// rather than EPERM.
var newerAMD64 = map[string]int{
	"mseal":          462,
	"setxattrat":     463,
	"getxattrat":     464,
	"listxattrat":    465,
	"removexattrat":  466,
	"open_tree_attr": 467,
	"file_getattr":   468,
	"file_setattr":   469,
}

// exportBPF has libseccomp write the program into a memfd:
// seccomp_export_bpf_mem only exists from libseccomp 2.6.
func exportBPF(f *libseccomp.ScmpFilter) ([]byte, error) {
	fd, err := unix.MemfdCreate("prison-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	mf := os.NewFile(uintptr(fd), "prison-seccomp")
	defer mf.Close()
	if err := f.ExportBPF(mf); err != nil {
		return nil, err
	}
	if _, err := mf.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(mf)
	if err != nil {
		return nil, err
	}
	if len(b) == 0 || len(b)%8 != 0 {
		return nil, fmt.Errorf("bug: libseccomp exported %d bytes, not whole instructions", len(b))
	}
	return b, nil
}
