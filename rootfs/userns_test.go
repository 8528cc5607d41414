package rootfs

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"prison/internal/mountinfo"
	"prison/internal/roottest"
)

// A jail with a user namespace gets its --root as an idmapped tree in the
// stage, its devices bound from the host, and nothing it must reach by a
// host path that the host keeps from others.
func TestPlanIDMapDirRoot(t *testing.T) {
	ops, err := Plan(Layout{
		Path:    "/srv/jails/www",
		Mounts:  []specs.Mount{{Destination: "/dev", Type: "tmpfs", Source: "tmpfs"}},
		Devices: []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}},
		IDMap:   true, Stage: "/run/prison-mnt",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := Attach{Source: "/srv/jails/www", Target: "/run/prison-mnt/root", Recursive: true, IDMap: true}
	if ops[1] != want {
		t.Errorf("second op: %v, want %v", ops[1], want)
	}
	if r, ok := ops[2].(Root); !ok || r.Path != "/run/prison-mnt/root" {
		t.Errorf("third op: %v, want the stage's root opened", ops[2])
	}
	for _, op := range ops {
		if _, ok := op.(Mknod); ok {
			t.Errorf("%v: a user namespace cannot make device nodes", op)
		}
	}
	i := slices.IndexFunc(ops, func(op Op) bool { m, ok := op.(Mount); return ok && m.Target == "dev/null" })
	if i < 0 || ops[i].(Mount).Source != "/dev/null" || ops[i].(Mount).Flags&unix.MS_BIND == 0 {
		t.Errorf("no bind of the host's /dev/null in:\n%s", opList(ops))
	}
	if got := StageDirs(ops, "/run/prison-mnt"); !slices.Equal(got, []string{"/run/prison-mnt/root"}) {
		t.Errorf("StageDirs = %v", got)
	}
}

// The host-derived root's read-only binds come from one idmapped tree per
// host filesystem, attached in the stage; a read-write bind is a tree of
// its own, idmapped unless it says noidmap.
func TestPlanIDMapHostDerived(t *testing.T) {
	src := t.TempDir()
	ops, err := Plan(Layout{
		Path: "/run/prison/x/root", HostDerived: true, IDMap: true, Stage: "/run/prison-mnt",
		Mounts: append(HostMounts(),
			specs.Mount{Destination: "/data", Type: "bind", Source: src, Options: []string{"rbind"}},
			specs.Mount{Destination: "/raw", Type: "bind", Source: src, Options: []string{"rbind", "noidmap"}},
		),
	})
	if err != nil {
		t.Fatal(err)
	}
	list := opList(ops)
	var usr *Mount
	trees := map[string]bool{}
	for _, op := range ops {
		switch o := op.(type) {
		case Mount:
			if o.Target == "usr" && o.Flags&unix.MS_REMOUNT == 0 {
				usr = &o
			}
		case Attach:
			if strings.HasPrefix(o.Target, "/run/prison-mnt/") {
				if trees[o.Source] {
					t.Errorf("%s attached twice in the stage", o.Source)
				}
				trees[o.Source] = true
				if !o.IDMap || o.Recursive {
					t.Errorf("%v: a stage tree is one idmapped mount", o)
				}
			}
		}
	}
	if usr == nil || !strings.HasPrefix(usr.Source, "/run/prison-mnt/") || !strings.HasSuffix(usr.Source, "/usr") {
		t.Fatalf("/usr is not bound from the stage:\n%s", list)
	}
	if !slices.Contains(ops, Op(Attach{Source: src, Target: "data", Recursive: true, IDMap: true})) {
		t.Errorf("no idmapped tree of %s on /data:\n%s", src, list)
	}
	if !slices.Contains(ops, Op(Attach{Source: src, Target: "raw", Recursive: true})) {
		t.Errorf("no plain tree of %s on /raw:\n%s", src, list)
	}
	if i := slices.IndexFunc(ops, func(op Op) bool { m, ok := op.(Mount); return ok && m.FSType == "tmpfs" }); i < 0 ||
		ops[i].(Mount).Target != "/run/prison-mnt/root" {
		t.Errorf("the root's tmpfs is not mounted in the stage:\n%s", list)
	}
}

func TestPlanIDMapOverlay(t *testing.T) {
	ops, err := Plan(Layout{
		Path:    "/run/prison/x/root",
		Overlay: &Overlay{Lower: []string{t.TempDir()}, Dir: "/var/lib/prison/jails/x"},
		IDMap:   true, Stage: "/run/prison-mnt",
	})
	if err != nil {
		t.Fatal(err)
	}
	var fsm *FSMount
	for _, op := range ops {
		if m, ok := op.(FSMount); ok {
			fsm = &m
		}
	}
	if fsm == nil || fsm.Target != "/run/prison-mnt/root" {
		t.Fatalf("no overlay on the stage's root:\n%s", opList(ops))
	}
	if !slices.Contains(fsm.Params, Param{"userxattr", ""}) {
		t.Errorf("overlay without userxattr: %v", fsm.Params)
	}
	for _, p := range fsm.Params {
		if (p.Key == "lowerdir+" || p.Key == "upperdir" || p.Key == "workdir") && !strings.HasPrefix(p.Value, "/run/prison-mnt/") {
			t.Errorf("%s=%s: not in the stage, where the jail's root can reach it", p.Key, p.Value)
		}
	}
}

// mountOf finds the mount that holds a path in a parsed table.
func TestMountOf(t *testing.T) {
	const mi = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
		"23 22 0:21 / /proc rw - proc proc rw\n" +
		"40 22 0:40 / /srv/with\\040space rw - tmpfs tmpfs rw\n" +
		"41 22 0:41 / /usr rw - xfs /dev/vdb rw\n" +
		"42 41 0:42 / /usr rw - tmpfs tmpfs rw\n"
	ms := mountinfo.Parse([]byte(mi))
	for _, c := range []struct{ path, point, fstype string }{
		{"/etc/passwd", "/", "ext4"},
		{"/srv/with space/x", "/srv/with space", "tmpfs"},
		{"/srv/with", "/", "ext4"},
		{"/usr/bin/su", "/usr", "tmpfs"}, // the last mounted on /usr
		{"/usrx", "/", "ext4"},
	} {
		if m := mountOf(ms, c.path); m.Point != c.point || m.FSType != c.fstype {
			t.Errorf("mountOf(%s) = %v, want %s (%s)", c.path, m, c.point, c.fstype)
		}
	}
}

func opList(ops []Op) string {
	var b strings.Builder
	for _, op := range ops {
		b.WriteString(op.String() + "\n")
	}
	return b.String()
}

// The cached mount table follows the host's: a mount made after it was
// read is seen at the next plan (a daemon plans for hours).
func TestHostMountsFollowChanges(t *testing.T) {
	roottest.Require(t)
	if _, err := hostMounts(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size=4k"); err != nil {
		t.Fatal(err)
	}
	ms, err := hostMounts()
	if uerr := unix.Unmount(dir, 0); uerr != nil {
		t.Errorf("umount %s: %v", dir, uerr)
	}
	if err != nil {
		t.Fatal(err)
	}
	if m := mountOf(ms, dir+"/x"); m.Point != dir || m.FSType != "tmpfs" {
		t.Errorf("after a mount on %s, the table says %v", dir, m)
	}
	ms, _ = hostMounts()
	if m := mountOf(ms, dir+"/x"); m.Point == dir {
		t.Errorf("after its unmount, the table still has %v", m)
	}
}
