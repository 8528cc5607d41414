package prison

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/seccomp"
)

// compileFilter compiles a seccomp section, through a cache of compiled
// programs keyed by the section's hash. libseccomp takes milliseconds to
// compile prison's policy, more than all the rest of a jail's start, and
// there are few distinct policies (one per set of allow.* parameters), so
// each is compiled once. The cache directory is root's only: whoever can
// write it is root on the host already.
// CacheDir holds what prison computes once and reuses: compiled filters.
var CacheDir = "/var/cache/prison"

func compileFilter(s *specs.LinuxSeccomp) (*seccomp.Program, error) {
	key, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	sum := sha256.Sum256(key)
	path := filepath.Join(CacheDir, "seccomp-"+hex.EncodeToString(sum[:16]))
	if b, err := os.ReadFile(path); err == nil {
		if p, ok := decodeProgram(b); ok {
			return p, nil
		}
	}
	p, err := seccomp.Compile(s)
	if err != nil {
		return nil, err
	}
	// Best effort: a failed write costs the next jail a compile, nothing
	// else.
	_ = writeAtomic(path, encodeProgram(p))
	return p, nil
}

// A cached program is one flag byte (1: has a listener) and the BPF
// instructions, 8 bytes each.
func encodeProgram(p *seccomp.Program) []byte {
	b := make([]byte, 1, 1+8*len(p.Filter))
	if p.Listener {
		b[0] = 1
	}
	for _, f := range p.Filter {
		b = binary.LittleEndian.AppendUint16(b, f.Code)
		b = append(b, f.Jt, f.Jf)
		b = binary.LittleEndian.AppendUint32(b, f.K)
	}
	return b
}

func decodeProgram(b []byte) (*seccomp.Program, bool) {
	if len(b) < 9 || (len(b)-1)%8 != 0 || b[0] > 1 {
		return nil, false
	}
	p := &seccomp.Program{Listener: b[0] == 1, Filter: make([]unix.SockFilter, (len(b)-1)/8)}
	for i := range p.Filter {
		r := b[1+8*i:]
		p.Filter[i] = unix.SockFilter{Code: binary.LittleEndian.Uint16(r), Jt: r[2], Jf: r[3],
			K: binary.LittleEndian.Uint32(r[4:])}
	}
	return p, true
}

// writeAtomic writes a file whole or not at all: a temporary file, then a
// rename, so that a reader never sees half of it.
func writeAtomic(path string, b []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil {
		os.Remove(f.Name())
		return fmt.Errorf("write %s: %w", path, errors.Join(werr, cerr))
	}
	if err := os.Rename(f.Name(), path); err != nil {
		os.Remove(f.Name())
		return err
	}
	return nil
}
