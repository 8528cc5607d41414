package bench

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestOCIStateIDs checks how leftovers are found in a runtime's state
// root: a container is a directory of files (runc's, crun's, prison's);
// under containerd each namespace is a directory of those; empty
// directories and files (prison's ROOT-jid is beside the root) are none.
func TestOCIStateIDs(t *testing.T) {
	root := t.TempDir()
	for _, f := range []string{"c1/state.json", "ns/c2/config.json", "ns/c3/status", "empty/", "ns2/"} {
		p := filepath.Join(root, f)
		if strings.HasSuffix(f, "/") {
			if err := os.MkdirAll(p, 0o700); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got := ociStateIDs(root)
	slices.Sort(got)
	if want := []string{"c1", "ns/c2", "ns/c3"}; !slices.Equal(got, want) {
		t.Errorf("ociStateIDs = %q, want %q", got, want)
	}
	if got := ociStateIDs(filepath.Join(root, "missing")); got != nil {
		t.Errorf("ociStateIDs(missing) = %q", got)
	}
}

func TestMountsIn(t *testing.T) {
	mi := []byte(`22 1 8:1 / / rw - ext4 /dev/vda rw
90 22 0:50 / /tmp/pb/oci/podman/graph/overlay rw - ext4 /dev/vda rw
91 22 0:51 / /tmp/pb/oci/podman/graph/overlay/abc/merged rw - overlay overlay rw
92 22 0:52 / /tmp/pb/oci/podman\040x rw - tmpfs tmpfs rw
93 22 0:53 / /tmp/pb/oci/podmanx rw - tmpfs tmpfs rw
`)
	got := mountsIn(mi, "/tmp/pb/oci/podman", "/tmp/pb/oci/podman/graph/overlay")
	if want := []string{"/tmp/pb/oci/podman/graph/overlay/abc/merged"}; !slices.Equal(got, want) {
		t.Errorf("mountsIn = %q, want %q", got, want)
	}
}

func TestVerbOf(t *testing.T) {
	for args, want := range map[string]string{
		"/usr/bin/ctr --address /s --namespace ns images import /a.tar": "images import",
		"/usr/bin/podman load --input /a.tar":                           "load",
		"/usr/bin/ctr --address=/s version":                             "version",
		"/usr/bin/ctr --debug":                                          "",
	} {
		if got := verbOf(strings.Fields(args)); got != want {
			t.Errorf("verbOf(%s) = %q, want %q", args, got, want)
		}
	}
}

// TestFindClients checks that the container managers are looked up, not
// installed: a missing one says which package has it.
func TestFindClients(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "podman"), []byte("#!/bin/sh\n"), 0o755); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	paths := map[string]string{}
	na := findClients(paths, nil)
	if paths["podman"] != filepath.Join(dir, "podman") || na["podman"] != "" {
		t.Errorf("podman: path %q, n/a %q", paths["podman"], na["podman"])
	}
	if want := "ctr not found (make deps installs it: apt-get install --no-install-recommends containerd)"; na["ctr"] != want {
		t.Errorf("ctr: n/a %q, want %q", na["ctr"], want)
	}
}
