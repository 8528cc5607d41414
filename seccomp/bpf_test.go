//go:build linux && cgo && amd64

package seccomp

import (
	"fmt"
	"math/rand/v2"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"prison/internal/sysprobe"
)

// These tests run the compiled filter in a small classic-BPF interpreter,
// so they need libseccomp but not root: every probe, every Params.

// seccompData is struct seccomp_data.
type seccompData struct {
	nr   int32
	arch uint32
	args [6]uint64
}

// runBPF runs a program in the package's interpreter (interpret).
func runBPF(t *testing.T, prog []unix.SockFilter, d seccompData) result {
	t.Helper()
	r, err := interpret(prog, callData{nr: uint32(d.nr), arch: d.arch, args: d.args})
	if err != nil {
		t.Fatalf("interpret: %v", err)
	}
	return r
}

// TestCompactAnswersAsLibseccomp: the program Compile returns answers every
// call as libseccomp's own program for the policy does, for every set of
// parameters: every syscall number up to past the last one, samples of the
// larger and the x32 ones, every single-bit and boundary value in each
// argument of the calls checked by argument, and random ones.
func TestCompactAnswersAsLibseccomp(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 7))
	var nrs []uint32
	for nr := range uint32(1100) {
		nrs = append(nrs, nr)
	}
	nrs = append(nrs, 0x3fffffff, 0x40000000, 0x40000000|unix.SYS_SOCKET, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff)
	for range 300 {
		nrs = append(nrs, rng.Uint32())
	}
	var values []uint64
	for bit := range 64 {
		values = append(values, 1<<bit, ^uint64(1<<bit))
	}
	values = append(values, 0, ^uint64(0), 0xffffffff, 0xffffffff<<32, unix.TIOCSTI, 0xffffffff00000000|unix.TIOCSTI)
	for v := range uint64(64) {
		values = append(values, v) // families, protocols, personalities
	}
	for _, sp := range sysprobe.AllParams() {
		s := Policy(Params(sp))
		def, err := action(s.DefaultAction, s.DefaultErrnoRet)
		if err != nil {
			t.Fatal(err)
		}
		full, _, err := build(s, def, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, ok := compact(s, def, full)
		if !ok {
			t.Fatalf("%+v: not compacted", sp)
		}
		if len(c)*10 > len(full)*6 {
			t.Errorf("%+v: %d instructions, libseccomp's %d: want at most 60%%", sp, len(c), len(full))
		}
		check := func(d seccompData) {
			want, got := runBPF(t, full, d), runBPF(t, c, d)
			if got.ret != want.ret {
				t.Fatalf("%+v: nr %#x arch %#x args %#x: compact says %s, libseccomp %s",
					sp, uint32(d.nr), d.arch, d.args, retText(got.ret), retText(want.ret))
			}
			if want.maxRead < 16 && got.maxRead >= 16 {
				t.Fatalf("%+v: nr %#x: compact reads the arguments of a call decided by number", sp, uint32(d.nr))
			}
		}
		for _, nr := range nrs {
			d := seccompData{nr: int32(nr), arch: unix.AUDIT_ARCH_X86_64}
			check(d)
			for _, arch := range []uint32{unix.AUDIT_ARCH_I386, unix.AUDIT_ARCH_AARCH64, 0} {
				check(seccompData{nr: int32(nr), arch: arch})
			}
			if runBPF(t, full, d).maxRead < 16 {
				continue
			}
			for arg := range 6 {
				for _, v := range values {
					d.args = [6]uint64{}
					d.args[arg] = v
					check(d)
				}
			}
			for range 200 {
				for i := range d.args {
					d.args[i] = rng.Uint64() & (rng.Uint64() | 0xffffffff00000000)
				}
				check(d)
			}
		}
	}
}

func retText(r uint32) string {
	switch r & unix.SECCOMP_RET_ACTION_FULL {
	case unix.SECCOMP_RET_ALLOW:
		return "ALLOW"
	case unix.SECCOMP_RET_USER_NOTIF:
		return "NOTIFY"
	case unix.SECCOMP_RET_ERRNO:
		return unix.Errno(r & unix.SECCOMP_RET_DATA).Error()
	}
	return fmt.Sprintf("%#x", r)
}

func compileT(t testing.TB, p Params) *Program {
	t.Helper()
	prog, err := Compile(Policy(p))
	if err != nil {
		t.Fatalf("Compile(Policy(%+v)): %v", p, err)
	}
	return prog
}

func TestCompiledFilterAnswersEveryProbe(t *testing.T) {
	env := &sysprobe.Env{Dir: "/tmp/x", DevNull: 3, Pipe: [2]int{4, 5}}
	for _, sp := range sysprobe.AllParams() {
		p := Params(sp)
		t.Run(fmt.Sprintf("%+v", p), func(t *testing.T) {
			prog := compileT(t, p)
			if prog.Listener != p.SetHostname {
				t.Errorf("Listener = %v, want %v", prog.Listener, p.SetHostname)
			}
			for _, pr := range sysprobe.Probes(sysprobe.Params(p), env) {
				got := runBPF(t, prog.Filter, seccompData{nr: int32(pr.NR), arch: unix.AUDIT_ARCH_X86_64, args: pr.Args}).ret
				want := unix.SECCOMP_RET_ERRNO | uint32(pr.Want)
				switch {
				case pr.Notify:
					want = unix.SECCOMP_RET_USER_NOTIF
				case pr.Want == 0:
					want = unix.SECCOMP_RET_ALLOW
				}
				if got != want {
					t.Errorf("%s: filter says %s, want %s", pr.Name, retText(got), retText(want))
				}
			}
		})
	}
}

// TestCompiledFilterRejectsOtherABIs: i386's int 0x80 would reach
// socketcall(2), which carries the socket family in memory the filter cannot
// read; x32 numbers come with the x86-64 arch and bit 30 set.
func TestCompiledFilterRejectsOtherABIs(t *testing.T) {
	prog := compileT(t, Params{})
	f := prog.Filter
	if len(f) < 2 || f[0].Code != unix.BPF_LD|unix.BPF_W|unix.BPF_ABS || f[0].K != 4 ||
		f[1].Code != unix.BPF_JMP|unix.BPF_JEQ|unix.BPF_K || f[1].K != unix.AUDIT_ARCH_X86_64 {
		t.Fatalf("filter does not start with an arch check: %v", f[:min(2, len(f))])
	}
	enosys := unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
	for _, c := range []struct {
		name string
		d    seccompData
	}{
		{"i386 socketcall", seccompData{nr: 102, arch: unix.AUDIT_ARCH_I386, args: [6]uint64{1}}},
		{"i386 getpid", seccompData{nr: 20, arch: unix.AUDIT_ARCH_I386}},
		{"x32 socket", seccompData{nr: 0x40000000 | unix.SYS_SOCKET, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{unix.AF_PACKET}}},
		{"aarch64 getpid", seccompData{nr: 172, arch: unix.AUDIT_ARCH_AARCH64}},
	} {
		if got := runBPF(t, f, c.d).ret; got != enosys {
			t.Errorf("%s: filter says %s, want ENOSYS", c.name, retText(got))
		}
	}
}

// TestAllowedOutrightByNumberAlone: the kernel's action cache (5.11+) skips
// the filter for a syscall only if the filter's answer for it never depends
// on anything but the number and arch.
func TestAllowedOutrightByNumberAlone(t *testing.T) {
	for _, p := range []Params{{}, {SysVIPC: true, SocketAF: true, RawSockets: true}} {
		prog := compileT(t, p)
		names := append([]string(nil), allowed...)
		if p.SysVIPC {
			names = append(names, sysVIPC...)
		}
		if p.SocketAF && p.RawSockets {
			names = append(names, "socketpair") // socket keeps AF_XDP out
		}
		for _, name := range names {
			nr, ok := syscallNumber(name)
			if !ok {
				t.Errorf("%s: unknown to libseccomp %s and not in newerAMD64", name, libseccompVersion())
				continue
			}
			r := runBPF(t, prog.Filter, seccompData{nr: int32(nr), arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{^uint64(0), 1, 2, 3, 4, 5}})
			if r.ret != unix.SECCOMP_RET_ALLOW {
				t.Errorf("%s: filter says %s, want ALLOW", name, retText(r.ret))
			}
			if r.maxRead >= 8 {
				t.Errorf("%s: filter reads seccomp_data up to byte %d; an allowed-outright call must be decided by nr and arch", name, r.maxRead)
			}
		}
	}
}

func TestCompileRunc(t *testing.T) {
	// A rule repeating an argument matches when any condition holds, as
	// in runc; conditions on different arguments must all hold.
	errno := uint(unix.EACCES)
	s := &specs.LinuxSeccomp{DefaultAction: specs.ActAllow}
	s.Syscalls = append(s.Syscalls,
		specsRule("getpriority", &errno, argEq(0, 7), argEq(0, 9)),
		specsRule("setpriority", &errno, argEq(0, 7), argEq(1, 9)),
	)
	prog, err := Compile(s)
	if err != nil {
		t.Fatal(err)
	}
	eacces := unix.SECCOMP_RET_ERRNO | uint32(unix.EACCES)
	for _, c := range []struct {
		nr   int32
		args [6]uint64
		want uint32
	}{
		{unix.SYS_GETPRIORITY, [6]uint64{7}, eacces},
		{unix.SYS_GETPRIORITY, [6]uint64{9}, eacces},
		{unix.SYS_GETPRIORITY, [6]uint64{8}, unix.SECCOMP_RET_ALLOW},
		{unix.SYS_SETPRIORITY, [6]uint64{7, 9}, eacces},
		{unix.SYS_SETPRIORITY, [6]uint64{7, 8}, unix.SECCOMP_RET_ALLOW},
	} {
		if got := runBPF(t, prog.Filter, seccompData{nr: c.nr, arch: unix.AUDIT_ARCH_X86_64, args: c.args}).ret; got != c.want {
			t.Errorf("nr %d %v: %s, want %s", c.nr, c.args[:2], retText(got), retText(c.want))
		}
	}
}

func TestCompileRejects(t *testing.T) {
	bad := Policy(Params{})
	bad.Syscalls = append(bad.Syscalls, specsRule("getpid", nil, argOp(0, 1, "SCMP_CMP_BOGUS")))
	if _, err := Compile(bad); err == nil {
		t.Error("Compile accepted an unknown operator")
	}
	flags := Policy(Params{})
	flags.Flags = append(flags.Flags, "SECCOMP_FILTER_FLAG_SPEC_ALLOW")
	if _, err := Compile(flags); err == nil {
		t.Error("Compile accepted a flag it cannot pass to the init")
	}
	if _, err := Compile(nil); err == nil {
		t.Error("Compile accepted a nil section")
	}
}

func specsRule(name string, errno *uint, args ...specs.LinuxSeccompArg) specs.LinuxSyscall {
	return specs.LinuxSyscall{Names: []string{name}, Action: specs.ActErrno, ErrnoRet: errno, Args: args}
}

func argEq(index uint, v uint64) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: v, Op: specs.OpEqualTo}
}

func argOp(index uint, v uint64, op specs.LinuxSeccompOperator) specs.LinuxSeccompArg {
	return specs.LinuxSeccompArg{Index: index, Value: v, Op: op}
}

func libseccompVersion() string {
	ma, mi, pa := libseccomp.GetLibraryVersion()
	return fmt.Sprintf("%d.%d.%d", ma, mi, pa)
}

// BenchmarkCompile measures what every jail start pays.
func BenchmarkCompile(b *testing.B) {
	s := Policy(Params{SysVIPC: true})
	for b.Loop() {
		if _, err := Compile(s); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCompiledHostIDs: with the host's ids the compiled program notifies
// both inotify calls, and says which calls it notifies: the inotify calls
// alone, which the jail's init serves, or with the hostname calls, which
// the launcher serves.
func TestCompiledHostIDs(t *testing.T) {
	for _, tc := range []struct {
		p              Params
		inotify, other bool
	}{
		{Params{}, false, false},
		{Params{SetHostname: true}, false, true},
		{Params{HostIDs: true}, true, false},
		{Params{HostIDs: true, SetHostname: true}, true, true},
	} {
		prog := compileT(t, tc.p)
		if prog.NotifiesInotify != tc.inotify || prog.NotifiesOthers != tc.other || prog.Listener != (tc.inotify || tc.other) {
			t.Errorf("%+v: Listener %v, NotifiesInotify %v, NotifiesOthers %v; want %v, %v, %v", tc.p,
				prog.Listener, prog.NotifiesInotify, prog.NotifiesOthers, tc.inotify || tc.other, tc.inotify, tc.other)
		}
		want := uint32(unix.SECCOMP_RET_ALLOW)
		if tc.inotify {
			want = unix.SECCOMP_RET_USER_NOTIF
		}
		for _, nr := range []int32{unix.SYS_INOTIFY_INIT, unix.SYS_INOTIFY_INIT1} {
			for _, flags := range []uint64{0, unix.IN_CLOEXEC, 1 << 40} {
				d := seccompData{nr: nr, arch: unix.AUDIT_ARCH_X86_64, args: [6]uint64{flags}}
				if got := runBPF(t, prog.Filter, d).ret; got != want {
					t.Errorf("%+v: syscall %d(%#x): filter says %s, want %s", tc.p, nr, flags, retText(got), retText(want))
				}
			}
		}
		d := seccompData{nr: unix.SYS_INOTIFY_ADD_WATCH, arch: unix.AUDIT_ARCH_X86_64}
		if got := runBPF(t, prog.Filter, d).ret; got != unix.SECCOMP_RET_ALLOW {
			t.Errorf("%+v: inotify_add_watch: filter says %s, want ALLOW", tc.p, retText(got))
		}
	}
}
