package rootfs

import (
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

func TestPlanOrder(t *testing.T) {
	ops, err := Plan(Layout{
		Path: "/srv/root",
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"mode=755"}},
		},
		Devices:       []specs.LinuxDevice{{Path: "/dev/null", Type: "c", Major: 1, Minor: 3}},
		Sysctl:        map[string]string{"net.ipv4.ping_group_range": "0 1"},
		ReadonlyPaths: []string{"/proc/sys"},
		Pty:           true,
	})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, op := range ops {
		names = append(names, op.String())
	}
	got := strings.Join(names, "\n")
	// Order matters: private first, root bound onto itself, the sysctl
	// before /proc/sys turns read-only, the pty after devpts, pivot last.
	want := []string{
		"make / rec,private", "bind /srv/root on /srv/root", "open root /srv/root",
		"mount proc on /proc", "mount tmpfs on /dev", "mknod /dev/null", "symlink /dev/ptmx",
		"write /proc/sys/net/ipv4/ping_group_range", "bind /proc/sys on /proc/sys",
		"remount /proc/sys", "open pty /dev/pts/ptmx", "pivot_root",
	}
	last := -1
	for _, w := range want {
		i := strings.Index(got, w)
		if i < 0 || i < last {
			t.Fatalf("want %q after the previous steps in:\n%s", w, got)
		}
		last = i
	}
	if ops[0].(Mount).Flags != unix.MS_REC|unix.MS_PRIVATE {
		t.Errorf("first op is not making / private: %v", ops[0])
	}
}

func TestPlanHostDerived(t *testing.T) {
	ops, err := Plan(Layout{
		Path: "/run/prison/x/root", HostDerived: true, Mounts: HostMounts(),
		Files: []WriteFile{{Path: "etc/passwd", Data: []byte("root:x:0:0::/root:/bin/sh\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	var usrRO, tmpfsRoot, shadow bool
	for i, op := range ops {
		switch o := op.(type) {
		case Mount:
			if o.FSType == "tmpfs" && o.Target == "/run/prison/x/root" {
				tmpfsRoot = true
			}
			if o.Target == "usr" && o.Flags&unix.MS_REMOUNT != 0 && o.Flags&unix.MS_RDONLY != 0 {
				usrRO = i > 0
			}
			if strings.Contains(o.Source, "shadow") {
				shadow = true
			}
		}
	}
	if !tmpfsRoot || !usrRO || shadow {
		t.Errorf("tmpfs root %v, /usr read-only %v, shadow exposed %v", tmpfsRoot, usrRO, shadow)
	}
}

func TestPlanRejectsRelative(t *testing.T) {
	if _, err := Plan(Layout{Path: "rel"}); err == nil {
		t.Errorf("relative root accepted")
	}
	if _, err := Plan(Layout{Path: "/r", Mounts: []specs.Mount{{Destination: "proc", Type: "proc"}}}); err == nil {
		t.Errorf("relative mount destination accepted")
	}
}

func TestParseOptions(t *testing.T) {
	f, d := ParseOptions([]string{"nosuid", "ro", "mode=755", "size=1k", "rbind"})
	if f != unix.MS_NOSUID|unix.MS_RDONLY|unix.MS_BIND|unix.MS_REC || d != "mode=755,size=1k" {
		t.Errorf("flags %x data %q", f, d)
	}
}

func TestMountErrorNamesFlags(t *testing.T) {
	e := &MountError{Op: "remount /usr (ro)", Target: "usr", Flags: unix.MS_REMOUNT | unix.MS_RDONLY, Err: unix.EPERM}
	if s := e.Error(); !strings.Contains(s, "ro,remount") || !strings.Contains(s, "operation not permitted") {
		t.Errorf("MountError: %s", s)
	}
}
