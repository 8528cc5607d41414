package prison

import (
	"reflect"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/seccomp"
)

// The cache key is hand-written; a field it does not hash would let two
// different policies share one compiled filter.
func TestPolicyKeyCoversSpec(t *testing.T) {
	want := map[reflect.Type]int{
		reflect.TypeOf(specs.LinuxSeccomp{}):    7,
		reflect.TypeOf(specs.LinuxSyscall{}):    4,
		reflect.TypeOf(specs.LinuxSeccompArg{}): 4,
	}
	for typ, n := range want {
		if typ.NumField() != n {
			t.Errorf("%s has %d fields, policyKey hashes %d: update policyKey", typ, typ.NumField(), n)
		}
	}
}

func TestPolicyKeyDistinguishes(t *testing.T) {
	base := seccomp.Policy(seccomp.Params{SysVIPC: true})
	keys := map[[32]byte]string{policyKey(base): "default"}
	variants := map[string]*specs.LinuxSeccomp{
		"raw":      seccomp.Policy(seccomp.Params{SysVIPC: true, RawSockets: true}),
		"nosysv":   seccomp.Policy(seccomp.Params{}),
		"hostname": seccomp.Policy(seccomp.Params{SysVIPC: true, SetHostname: true}),
	}
	for name, v := range variants {
		k := policyKey(v)
		if other, ok := keys[k]; ok {
			t.Errorf("%s and %s share a cache key", name, other)
		}
		keys[k] = name
	}
	if policyKey(base) != policyKey(seccomp.Policy(seccomp.Params{SysVIPC: true})) {
		t.Errorf("one policy, two keys")
	}
	// One argument value changed must change the key.
	mod := seccomp.Policy(seccomp.Params{SysVIPC: true})
	for i := range mod.Syscalls {
		if len(mod.Syscalls[i].Args) > 0 {
			mod.Syscalls[i].Args[0].Value++
			break
		}
	}
	if policyKey(mod) == policyKey(base) {
		t.Errorf("an argument value does not change the key")
	}
}

func TestCachedProgramRoundTrip(t *testing.T) {
	p := &seccomp.Program{Listener: true}
	p.Filter = append(p.Filter, unix.SockFilter{Code: 6, Jt: 1, Jf: 2, K: 0x7fff0000})
	got, ok := decodeProgram(encodeProgram(p))
	if !ok || !got.Listener || len(got.Filter) != 1 || got.Filter[0] != p.Filter[0] {
		t.Errorf("round trip: %+v %v", got, ok)
	}
	if _, ok := decodeProgram([]byte{1, 2, 3}); ok {
		t.Errorf("a truncated cache file decoded")
	}
	// Which calls are notified decides who serves the listener: the
	// exec profile of a running jail carries it to prison exec.
	p = &seccomp.Program{Listener: true, NotifiesInotify: true, Filter: p.Filter}
	if got, ok := decodeProgram(encodeProgram(p)); !ok || !got.NotifiesInotify || got.NotifiesOthers || !got.Listener {
		t.Errorf("round trip of an inotify program: %+v %v", got, ok)
	}
	p = &seccomp.Program{Listener: true, NotifiesInotify: true, NotifiesOthers: true, Filter: p.Filter}
	if got, ok := decodeProgram(encodeProgram(p)); !ok || !got.NotifiesInotify || !got.NotifiesOthers {
		t.Errorf("round trip of an inotify and hostname program: %+v %v", got, ok)
	}
	if _, ok := decodeProgram(append([]byte{8}, encodeProgram(p)[1:]...)); ok {
		t.Errorf("an unknown flag bit decoded")
	}
}
