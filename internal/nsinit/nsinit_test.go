package nsinit

import (
	"encoding/binary"
	"testing"

	"golang.org/x/sys/unix"

	"prison/rootfs"
)

// records splits an encoded plan back into (type, payload) pairs.
func records(t *testing.T, b []byte) [][2]any {
	var out [][2]any
	for len(b) > 0 {
		if len(b) < 8 {
			t.Fatalf("truncated record header")
		}
		typ, n := binary.NativeEndian.Uint32(b), binary.NativeEndian.Uint32(b[4:])
		padded := (n + 7) &^ 7
		if uint32(len(b)-8) < padded {
			t.Fatalf("record %d: length %d past the end", typ, n)
		}
		out = append(out, [2]any{typ, b[8 : 8+n]})
		b = b[8+padded:]
	}
	return out
}

func TestEncodeOrderAndIndex(t *testing.T) {
	p := &Plan{
		Ops: []rootfs.Op{
			rootfs.Mount{Target: "/", Flags: unix.MS_REC | unix.MS_PRIVATE},
			rootfs.Root{Path: "/r"},
			rootfs.Mkdir{Path: "proc", Mode: 0o555},
			rootfs.Pivot{},
		},
		Hostname: "h",
		Args:     []string{"/bin/sh", "-c", "x"},
		Env:      []string{"A=b"},
		Filter:   []unix.SockFilter{{Code: 6, K: 0x7fff0000}},
	}
	b, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	recs := records(t, b)
	// Record i is Ops[i], so that the init's error index names the op.
	wantTypes := []uint32{1, 2, 3, 8, 9, 20, 20, 20, 21}
	for i, w := range wantTypes {
		if recs[i][0].(uint32) != w {
			t.Fatalf("record %d has type %d, want %d", i, recs[i][0], w)
		}
	}
	if s := p.Step(2); s != "mkdir /proc" {
		t.Errorf("Step(2) = %q", s)
	}
	if s := p.Step(OpCwd); s != "chdir " {
		t.Errorf("Step(OpCwd) = %q", s)
	}
	last := recs[len(recs)-1]
	if last[0].(uint32) != 26 || len(last[1].([]byte)) != 8+8 {
		t.Errorf("filter record: %v", last)
	}
}

func TestEncodeRefusesEmptyCommand(t *testing.T) {
	if _, err := (&Plan{}).Encode(); err == nil {
		t.Errorf("a plan without a command encoded")
	}
}

func TestParseMessage(t *testing.T) {
	b := binary.NativeEndian.AppendUint32(nil, MsgError)
	op := int32(OpExec)
	b = binary.NativeEndian.AppendUint32(b, uint32(op))
	b = binary.NativeEndian.AppendUint32(b, 2)
	m, err := ParseMessage(b, nil)
	if err != nil || m.Type != MsgError || m.A != -4 || m.B != 2 || m.FD != -1 {
		t.Errorf("ParseMessage = %+v, %v", m, err)
	}
	if _, err := ParseMessage(b[:5], nil); err == nil {
		t.Errorf("short message accepted")
	}
}
