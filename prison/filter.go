package prison

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/cachefile"
	"prison/seccomp"
)

// Compiled programs are cached, keyed by the seccomp section's hash. libseccomp takes milliseconds to
// compile prison's policy, more than all the rest of a jail's start, and
// there are few distinct policies (one per set of allow.* parameters), so
// each is compiled once, kept in memory by a daemon and in cachefile.Dir,
// whose files are read only if root's alone (internal/cachefile).

var loadedFilters sync.Map // policyKey → *seccomp.Program

// compileFilter compiles a seccomp section, through the caches above.
func compileFilter(s *specs.LinuxSeccomp) (*seccomp.Program, error) {
	sum := policyKey(s)
	// A daemon keeps what it loaded: the programs are read-only.
	if p, ok := loadedFilters.Load(sum); ok {
		return p.(*seccomp.Program), nil
	}
	path := cachefile.Path("seccomp-" + hex.EncodeToString(sum[:16]))
	if b, ok := cachefile.Read(path); ok {
		if p, ok := decodeProgram(b); ok {
			loadedFilters.Store(sum, p)
			return p, nil
		}
	}
	p, err := seccomp.Compile(s)
	if err != nil {
		return nil, err
	}
	loadedFilters.Store(sum, p)
	// Best effort: a failed write costs the next jail a compile, nothing
	// else.
	_ = cachefile.Write(path, encodeProgram(p))
	return p, nil
}

// policyKey hashes every field of a seccomp section, by hand: encoding/json
// would cost more, in a fresh launcher, than the rest of the plan.
// TestPolicyKeyCoversSpec fails when runtime-spec adds a field it misses.
func policyKey(s *specs.LinuxSeccomp) [sha256.Size]byte {
	h := sha256.New()
	var buf []byte
	str := func(v string) { buf = append(append(buf, v...), 0) }
	// A program compiled by another prison binary may differ: the compiler
	// changes with prison, and libseccomp with the host.
	str(compilerID())
	num := func(v uint64) { buf = binary.LittleEndian.AppendUint64(buf, v) }
	opt := func(v *uint) {
		if v == nil {
			str("-")
		} else {
			num(uint64(*v))
		}
	}
	str(string(s.DefaultAction))
	opt(s.DefaultErrnoRet)
	for _, a := range s.Architectures {
		str(string(a))
	}
	str("|")
	for _, f := range s.Flags {
		str(string(f))
	}
	str("|")
	str(s.ListenerPath)
	str(s.ListenerMetadata)
	for _, r := range s.Syscalls {
		str("{")
		for _, n := range r.Names {
			str(n)
		}
		str(string(r.Action))
		opt(r.ErrnoRet)
		for _, a := range r.Args {
			num(uint64(a.Index))
			num(a.Value)
			num(a.ValueTwo)
			str(string(a.Op))
		}
		str("}")
	}
	h.Write(buf)
	var out [sha256.Size]byte
	h.Sum(out[:0])
	return out
}

// A cached program is one flag byte (progListener…) and the BPF
// instructions, 8 bytes each.
func encodeProgram(p *seccomp.Program) []byte {
	b := make([]byte, 1, 1+8*len(p.Filter))
	if p.Listener {
		b[0] |= progListener
	}
	if p.NotifiesInotify {
		b[0] |= progInotify
	}
	if p.NotifiesOthers {
		b[0] |= progOthers
	}
	for _, f := range p.Filter {
		b = binary.LittleEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.LittleEndian.AppendUint32(b, f.K)
	}
	return b
}

// The flag byte's bits: the program has notify rules, among them the
// inotify calls, or other calls. A program recorded by an older prison
// has only the first.
const (
	progListener = 1 << iota
	progInotify
	progOthers
)

func decodeProgram(b []byte) (*seccomp.Program, bool) {
	if len(b) < 9 || (len(b)-1)%8 != 0 || b[0]&^(progListener|progInotify|progOthers) != 0 {
		return nil, false
	}
	p := &seccomp.Program{
		Listener: b[0]&progListener != 0, NotifiesInotify: b[0]&progInotify != 0,
		NotifiesOthers: b[0]&progOthers != 0, Filter: make([]unix.SockFilter, (len(b)-1)/8),
	}
	for i := range p.Filter {
		var r [8]byte
		copy(r[:], b[1+8*i:])
		p.Filter[i] = unix.SockFilter{
			Code: binary.LittleEndian.Uint16(r[:]), Jt: r[2], Jf: r[3],
			K: binary.LittleEndian.Uint32(r[4:]),
		}
	}
	return p, true
}

// compilerID names the running binary: a rebuilt or upgraded prison is a
// new file, with a new inode or mtime.
var compilerID = sync.OnceValue(func() string {
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/exe", &st); err != nil {
		return ""
	}
	return fmt.Sprintf("%d:%d:%d:%d.%d", st.Dev, st.Ino, st.Size, st.Mtim.Sec, st.Mtim.Nsec)
})
