package rootfs

import (
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// overlayPlan plans a root on o and returns its ops up to the root's
// opening, and the overlay mount.
func overlayPlan(t *testing.T, o *Overlay, readonly bool) ([]Op, FSMount, []Op) {
	t.Helper()
	ops, err := Plan(Layout{Path: "/run/prison/j/root", Overlay: o, Readonly: readonly})
	if err != nil {
		t.Fatal(err)
	}
	var ov FSMount
	n := 0
	for _, op := range ops {
		if m, ok := op.(FSMount); ok {
			ov = m
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d overlay mounts in %v", n, ops)
	}
	open := slices.IndexFunc(ops, func(op Op) bool { _, ok := op.(Root); return ok })
	return ops[1:open], ov, ops
}

func params(m FSMount, key string) []string {
	var out []string
	for _, p := range m.Params {
		if p.Key == key {
			out = append(out, p.Value)
		}
	}
	return out
}

func TestPlanOverlayKept(t *testing.T) {
	lower := []string{"/img/top", "/img/mid", "/img/base"}
	before, ov, _ := overlayPlan(t, &Overlay{Lower: lower, Dir: "/var/lib/prison/jails/j"}, false)
	// The layer's directories are the host's: nothing is mounted under
	// the overlay, which is the root's only mount.
	if _, ok := before[0].(FSMount); len(before) != 1 || !ok {
		t.Errorf("before the root opens: %v, want the overlay alone", before)
	}
	if ov.Target != "/run/prison/j/root" || ov.FSType != "overlay" {
		t.Errorf("overlay %v", ov)
	}
	if got := params(ov, "lowerdir+"); !slices.Equal(got, lower) {
		t.Errorf("lowerdir+ %q, want %q in overlay's order (top first)", got, lower)
	}
	if got := params(ov, "upperdir"); !slices.Equal(got, []string{"/var/lib/prison/jails/j/upper"}) {
		t.Errorf("upperdir %q", got)
	}
	if got := params(ov, "workdir"); !slices.Equal(got, []string{"/var/lib/prison/jails/j/work"}) {
		t.Errorf("workdir %q", got)
	}
	// A base must survive an offline upgrade: no feature that makes lower
	// changes undefined.
	for k, v := range map[string]string{"index": "off", "metacopy": "off", "xino": "off", "redirect_dir": "nofollow"} {
		if got := params(ov, k); !slices.Equal(got, []string{v}) {
			t.Errorf("%s=%q, want %s", k, got, v)
		}
	}
	if ov.Attrs&unix.MOUNT_ATTR_NODEV == 0 || ov.Attrs&unix.MOUNT_ATTR_NOSUID != 0 {
		t.Errorf("overlay attrs %#x: want nodev, and suid for su", ov.Attrs)
	}
}

func TestPlanOverlayOwnFilesystem(t *testing.T) {
	for _, tt := range []struct {
		name   string
		o      Overlay
		fstype string
		source string
		data   string
	}{
		{"ephemeral default", Overlay{Lower: []string{"/b"}}, "tmpfs", "tmpfs", "mode=0755,size=1073741824"},
		{"ephemeral sized", Overlay{Lower: []string{"/b"}, Size: 16 << 20}, "tmpfs", "tmpfs", "mode=0755,size=16777216"},
		{"disk", Overlay{Lower: []string{"/b"}, Dir: "/l/j", Disk: true, Device: "/dev/loop7", Size: 16 << 20}, "ext4", "/dev/loop7", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before, ov, _ := overlayPlan(t, &tt.o, false)
			// The layer's filesystem on the mount point, its two
			// directories in it, then the overlay over it all.
			if len(before) != 4 {
				t.Fatalf("before the root opens: %v", before)
			}
			m, ok := before[0].(Mount)
			if !ok || m.FSType != tt.fstype || m.Source != tt.source || m.Target != "/run/prison/j/root" || m.Data != tt.data {
				t.Errorf("layer mount %+v, want %s of %s with %q", before[0], tt.fstype, tt.source, tt.data)
			}
			if m.Flags&(unix.MS_NOSUID|unix.MS_NODEV) != unix.MS_NOSUID|unix.MS_NODEV {
				t.Errorf("layer mount flags %s", FlagString(m.Flags))
			}
			want := []Op{
				Mkdir{Path: "/run/prison/j/root/upper", Mode: 0o755},
				Mkdir{Path: "/run/prison/j/root/work", Mode: 0o700},
			}
			if !slices.Equal(before[1:3], want) {
				t.Errorf("layer directories %v, want %v", before[1:3], want)
			}
			if got := params(ov, "upperdir"); !slices.Equal(got, []string{"/run/prison/j/root/upper"}) {
				t.Errorf("upperdir %q", got)
			}
		})
	}
}

func TestPlanOverlayReadonlyKeepsNodev(t *testing.T) {
	_, _, ops := overlayPlan(t, &Overlay{Lower: []string{"/b"}}, true)
	for _, op := range ops {
		if m, ok := op.(Mount); ok && m.Flags&unix.MS_REMOUNT != 0 && m.Target == "/run/prison/j/root" {
			if m.Flags&unix.MS_RDONLY == 0 || m.Flags&unix.MS_NODEV == 0 {
				t.Errorf("remount of the root: %s", FlagString(m.Flags))
			}
			return
		}
	}
	t.Errorf("no read-only remount of the root in %v", ops)
}

func TestPlanOverlayRefusesBadLayers(t *testing.T) {
	for _, o := range []Overlay{
		{},
		{Lower: []string{"rel"}, Dir: "/l"},
		{Lower: []string{"/b"}, Dir: "rel"},
	} {
		if _, err := Plan(Layout{Path: "/r", Overlay: &o}); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

func TestPlanHostDerivedSize(t *testing.T) {
	for size, want := range map[int64]string{0: "size=1073741824", 32 << 20: "size=33554432"} {
		ops, err := Plan(Layout{Path: "/r", HostDerived: true, Size: size})
		if err != nil {
			t.Fatal(err)
		}
		m := ops[1].(Mount)
		if m.FSType != "tmpfs" || !strings.Contains(m.Data, want) {
			t.Errorf("size %d: root mount %+v, want %s", size, m, want)
		}
	}
}

func TestLowerRoundTrip(t *testing.T) {
	for _, layers := range [][]string{
		{"/a"},
		{"/a", "/b/c"},
		{"/store/sha256:abc/root", `/odd\name`, "/x:y:z"},
	} {
		s := JoinLower(layers)
		if got := SplitLower(s); !slices.Equal(got, layers) {
			t.Errorf("%q: %q read back as %q", layers, s, got)
		}
	}
	if got := JoinLower([]string{"/a:b", "/c"}); got != `/a\:b:/c` {
		t.Errorf("JoinLower: %q, want overlay's escaping", got)
	}
}
