package prison

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	dir := t.TempDir()
	os.Mkdir(filepath.Join(dir, "rootfs"), 0o755)
	os.Symlink("/", filepath.Join(dir, "hostroot"))
	os.Symlink("rootfs", filepath.Join(dir, "link"))
	base := `"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"},
		"linux": {"namespaces": [{"type": "mount"}, {"type": "pid"}]}`
	for _, c := range []struct {
		name, json, want string // want: "" parses
	}{
		{"minimal, relative root", `{` + base + `, "root": {"path": "rootfs"}}`, ""},
		{"unknown fields ignored", `{` + base + `, "root": {"path": "rootfs"}, "frob": 1, "linux2": {}}`, ""},
		{"root through a link in the bundle", `{` + base + `, "root": {"path": "link"}}`, ""},
		{"root resolving to the host's /", `{` + base + `, "root": {"path": "hostroot"}}`, "the host's own root"},
		{"no version", `{"process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}, "linux": {}}`, "ociVersion is missing"},
		{"version 2", `{"ociVersion": "2.0.0", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}, "linux": {}}`, "want 1.x"},
		{"no root", `{` + base + `}`, "root.path is missing"},
		{"missing root dir", `{` + base + `, "root": {"path": "nope"}}`, "root.path"},
		{"no process", `{"ociVersion": "1.0.2", "root": {"path": "rootfs"}, "linux": {}}`, "process is missing"},
		{"relative cwd", `{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "x"}, "root": {"path": "rootfs"}, "linux": {}}`, "process.cwd"},
		{"no linux nor freebsd", `{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}}`, "linux is missing"},
		{"bad json", `{"ociVersion": 1}`, "config.json"},
		{"mount without destination", `{` + base + `, "root": {"path": "rootfs"}, "mounts": [{"type": "tmpfs"}]}`, "mounts[0].destination is missing"},
		{"no mount namespace", `{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"}, "linux": {}}`, "mount namespace"},
		{"join user", `{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
			"linux": {"namespaces": [{"type": "mount"}, {"type": "user", "path": "/proc/1/ns/user"}]}}`, "joining a user namespace"},
		{"join own mounts", `{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
			"linux": {"namespaces": [{"type": "mount", "path": "/proc/self/ns/mnt"}]}}`, "the host's own mount namespace"},
		{"bad cgroupsPath", `{` + strings.Replace(base, `"namespaces"`, `"cgroupsPath": "a:b", "namespaces"`, 1) + `, "root": {"path": "rootfs"}}`, "cgroupsPath"},
	} {
		s, err := ParseConfig([]byte(c.json), dir)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want an error with %q", c.name, err, c.want)
		case c.want == "" && s.Root.Path != filepath.Join(dir, "rootfs"):
			t.Errorf("%s: root %q, want the bundle's rootfs, resolved", c.name, s.Root.Path)
		}
	}
}

func TestCgroupsPathOf(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "",
		"/a/b":                    "/a/b",
		"a/b":                     "/a/b",
		"system.slice:docker:abc": "/system.slice/docker-abc.scope",
		"kubepods-besteffort-pod1.slice:cri-containerd:x": "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-x.scope",
		":prefix:n":   "/system.slice/prefix-n.scope",
		"-.slice:p:n": "/p-n.scope",
	} {
		if got, err := cgroupsPathOf(in); err != nil || got != want {
			t.Errorf("cgroupsPathOf(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"a:b", "nodots:p:n", "a--b.slice:p:n", "s.slice:p:"} {
		if _, err := cgroupsPathOf(bad); err == nil {
			t.Errorf("cgroupsPathOf(%q): no error", bad)
		}
	}
}
