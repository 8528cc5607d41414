package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// idmapID is a container id of its own for a test of the user namespace
// maps a bundle gives; at the test's end, nothing of it may be left, its
// ids' claims included.
func idmapID(t *testing.T) string {
	t.Helper()
	id := "idmap-" + strings.TrimPrefix(jailName(t), "t")
	t.Cleanup(func() {
		assertNoLeftovers(t, id)
		if links := usernsIDLinks(id); len(links) > 0 {
			t.Errorf("leftover: ids %v still claimed for %s", links, id)
		}
	})
	return id
}

// idmapBundle is a bundle whose container has a user namespace of its
// own with these maps, runs script, and has the host's directory shared
// bound at /shared as it is (noidmap): what the container makes there is
// on the host with the owners its maps give.
func idmapBundle(t *testing.T, uids, gids []specs.LinuxIDMapping, shared, script string) string {
	t.Helper()
	return ociBundle(t, []string{"sh", "-c", script}, func(s *specs.Spec) {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		s.Linux.UIDMappings, s.Linux.GIDMappings = uids, gids
		// prison-oci spec's is all gids, which a user namespace's
		// sysctl may not name beyond its own.
		delete(s.Linux.Sysctl, "net.ipv4.ping_group_range")
		if shared != "" {
			s.Mounts = append(s.Mounts, specs.Mount{
				Destination: "/shared", Type: "bind", Source: shared,
				Options: []string{"rbind", "rw", "noidmap"},
			})
		}
	})
}

// mapFileLines reads a uid_map or gid_map's lines as their three numbers.
func mapFileLines(s string) []string {
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		out = append(out, strings.Join(strings.Fields(l), " "))
	}
	return out
}

// idmapRT is newOCIRT whose state root the container's root, a host user,
// can reach: its stage (prison.StageDir) is beside it, and the test's
// temporary directories are 0700.
func idmapRT(t *testing.T) *ociRT {
	t.Helper()
	rt := newOCIRT(t)
	for d := filepath.Dir(rt.root); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o711); err != nil {
			t.Fatal(err)
		}
	}
	return rt
}

// nsOwner is the host uid that owns the user namespace of process pid
// (NS_GET_OWNER_UID, ioctl_nsfs(2)).
func nsOwner(t *testing.T, pid int) uint32 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const nsGetOwnerUID = 0xb704
	uid, err := unix.IoctlGetUint32(int(f.Fd()), nsGetOwnerUID)
	if err != nil {
		t.Fatalf("NS_GET_OWNER_UID of %d: %v", pid, err)
	}
	return uid
}

func idmap(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

// TestOCIUserNSMappings: a bundle's linux.uidMappings and gidMappings are
// the container's maps as given: of different sizes (runtime-tools'
// linux_uid_mappings), and of several extents each. Inside, uid_map and
// gid_map say so and the command is root; on the host, what it makes
// belongs to the host ids its maps give. A bundle whose maps meet a
// running container's ids, or leave its root unmapped, is refused with
// one line naming the field.
func TestOCIUserNSMappings(t *testing.T) {
	ociPass(t)
	const script = `cat /proc/self/uid_map; echo --; cat /proc/self/gid_map; echo --; id; echo --
		echo made > /shared/root-f && touch /shared/other-f && chown 1:1 /shared/other-f`
	for _, c := range []struct {
		name       string
		uids, gids []specs.LinuxIDMapping
		// The host owners of a file root makes and of one given to 1:1.
		root, other [2]uint32
	}{
		{
			"sizes differ",
			[]specs.LinuxIDMapping{idmap(0, 1000, 2000)},
			[]specs.LinuxIDMapping{idmap(0, 1000, 3000)},
			[2]uint32{1000, 1000},
			[2]uint32{1001, 1001},
		},
		{
			"two extents each",
			[]specs.LinuxIDMapping{idmap(0, 1000, 1), idmap(1, 2000001, 999)},
			[]specs.LinuxIDMapping{idmap(0, 1000, 1), idmap(1, 3000001, 1999)},
			[2]uint32{1000, 1000},
			[2]uint32{2000001, 3000001},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			rt := idmapRT(t)
			shared := filepath.Join(t.TempDir(), "shared")
			if err := os.Mkdir(shared, 0o777); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(shared, 0o777); err != nil { // past the umask
				t.Fatal(err)
			}
			id := idmapID(t)
			bundle := idmapBundle(t, c.uids, c.gids, shared, script)
			r := runCmd(t, exec.Command(prisonBin, "--root", rt.root, "run", "--bundle", bundle, id))
			if r.code != 0 {
				t.Fatalf("prison run --bundle: exit %d: %s%s", r.code, r.stdout, r.stderr)
			}
			parts := strings.Split(r.stdout, "--\n")
			if len(parts) != 4 {
				t.Fatalf("output %q: want the two maps and id", r.stdout)
			}
			for i, want := range [][]specs.LinuxIDMapping{c.uids, c.gids} {
				var lines []string
				for _, e := range want {
					lines = append(lines, fmt.Sprintf("%d %d %d", e.ContainerID, e.HostID, e.Size))
				}
				if got := mapFileLines(parts[i]); strings.Join(got, "\n") != strings.Join(lines, "\n") {
					t.Errorf("%s inside: %q, want %q", []string{"uid_map", "gid_map"}[i], got, lines)
				}
			}
			if got := strings.TrimSpace(parts[2]); !strings.HasPrefix(got, "uid=0(root) gid=0(root)") {
				t.Errorf("id inside: %q, want root", got)
			}
			for _, f := range []struct {
				name string
				want [2]uint32
			}{{"root-f", c.root}, {"other-f", c.other}} {
				uid, gid := hostOwner(t, filepath.Join(shared, f.name))
				if [2]uint32{uid, gid} != f.want {
					t.Errorf("/shared/%s on the host is %d:%d, want %d:%d", f.name, uid, gid, f.want[0], f.want[1])
				}
			}
			ociGone(t, id)
		})
	}

	t.Run("meets a running container's ids", func(t *testing.T) {
		rt := idmapRT(t)
		held := idmapID(t)
		// Its root is in its second uid extent.
		rt.mustRun("run", "-d", "--bundle", idmapBundle(t, []specs.LinuxIDMapping{idmap(1, 2000001, 999), idmap(0, 1000, 1)},
			[]specs.LinuxIDMapping{idmap(0, 1000, 3000)}, "", "sleep 100"), held)
		t.Cleanup(func() { rt.run(nil, "delete", "--force", held); ociGone(t, held) })
		rt.waitStatus(held, "running")
		// Owned by the host uid its root maps to, which the kernel
		// charges its per-user counts to.
		_, pid := rt.state(held)
		if owner := nsOwner(t, pid); owner != 1000 {
			t.Errorf("the container's user namespace is owned by host uid %d, want 1000 (its root's, not its first extent's)", owner)
		}
		// A command exec'd into it is in its namespace, and may reopen
		// its stdout: the pipe is the container root's.
		r := rt.run(nil, "exec", held, "sh", "-c", "cat /proc/self/uid_map > /dev/stdout")
		if got := mapFileLines(r.stdout); r.code != 0 || strings.Join(got, ",") != "1 2000001 999,0 1000 1" {
			t.Errorf("exec into %s: exit %d, uid_map %q (%s), want its maps", held, r.code, got, r.stderr)
		}

		// Only its second gid extent meets the running container's.
		bundle := idmapBundle(t, []specs.LinuxIDMapping{idmap(0, 5000, 10)},
			[]specs.LinuxIDMapping{idmap(0, 5000, 10), idmap(10, 3999, 1)}, "", "true")
		id := idmapID(t)
		r = runCmd(t, exec.Command(prisonBin, "--root", rt.root, "run", "--bundle", bundle, id))
		if r.code == 0 {
			t.Fatalf("a container whose gids meet %s's: ran", held)
		}
		assertOneLine(t, r, fmt.Sprintf("linux.uidMappings and gidMappings (uid_map 0 5000 10; gid_map 0 5000 10, 10 3999 1): overlaps the ids of jail %q", held))
		if st, _ := rt.state(held); st != "running" {
			t.Errorf("the container whose ids were asked for is %s, want running", st)
		}
		ociGone(t, id)
	})

	t.Run("container root unmapped", func(t *testing.T) {
		rt := idmapRT(t)
		id := idmapID(t)
		bundle := idmapBundle(t, []specs.LinuxIDMapping{idmap(1, 1000, 2000)}, []specs.LinuxIDMapping{idmap(0, 1000, 3000)}, "", "true")
		r := rt.run(nil, "create", "--bundle", bundle, id)
		if r.code == 0 {
			t.Fatal("a container without its root mapped: created")
		}
		want := "config.json: linux.uidMappings: maps no host uid to container uid 0"
		if lines := strings.Split(strings.TrimSpace(r.stderr), "\n"); len(lines) != 1 || !strings.Contains(lines[0], want) {
			t.Errorf("stderr %q: want one line with %q", r.stderr, want)
		}
		ociGone(t, id)
	})
}
