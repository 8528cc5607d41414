package peerconf

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"
	"testing"
)

// TestContainerd checks what the containerd's configuration keeps in its
// directory and what it turns off, with and without the CRI plugin.
func TestContainerd(t *testing.T) {
	c := Containerd("/d", "/d/c.sock", "")
	for _, want := range []string{
		"version = 2\n", `root = "/d/root"`, `state = "/d/state"`, `path = "/d/opt"`,
		"[grpc]\n  address = \"/d/c.sock\"\n", "[ttrpc]\n  address = \"/d/c.sock.ttrpc\"\n",
		"[debug]\n  address = \"\"\n", "[metrics]\n  address = \"\"\n",
		`disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", ` +
			`"io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", ` +
			`"io.containerd.snapshotter.v1.devmapper", "io.containerd.internal.v1.tracing", ` +
			`"io.containerd.tracing.processor.v1.otlp"]` + "\n",
	} {
		if !strings.Contains(c, want) {
			t.Errorf("containerd config lacks %q:\n%s", want, c)
		}
	}

	cri := "\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"x\"\n"
	c = Containerd("/d", "/d/c.sock", cri)
	if !strings.HasSuffix(c, "path = \"/d/opt\"\n"+cri) {
		t.Errorf("containerd config with CRI: the plugin's section is not appended as it is:\n%s", c)
	}
	if strings.Contains(c, `"io.containerd.grpc.v1.cri",`) || !strings.Contains(c, `"io.containerd.snapshotter.v1.aufs"`) {
		t.Errorf("containerd config with CRI: disabled plugins:\n%s", c)
	}

	// A path with a quote or a backslash stays one TOML string.
	c = Containerd(`/a "b"\c`, "/s", "")
	if want := `root = "/a \"b\"\\c/root"`; !strings.Contains(c, want) {
		t.Errorf("containerd config lacks %s:\n%s", want, c)
	}
}

// TestPodman checks the podman's files, without a network (the
// benchmarks') and with one (the tests'), and its environment.
func TestPodman(t *testing.T) {
	common := map[string][]string{
		"containers.conf": {
			`cgroup_manager = "cgroupfs"`, `events_logger = "file"`, `events_logfile_path = "/p/events.log"`,
			`lock_type = "file"`, `default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]`, `tmp_dir = "/p/tmp"`,
			`static_dir = "/p/graph/libpod"`, `volume_path = "/p/graph/volumes"`, `image_copy_tmp_dir = "/p/imagetmp"`,
			`network_backend = "cni"`, `network_config_dir = "/p/net"`, `pull_policy = "never"`,
			`log_driver = "k8s-file"`, "http_proxy = false",
		},
		"storage.conf":    {"[storage]\ndriver = \"overlay\"\ngraphroot = \"/p/graph\"\nrunroot = \"/p/run\"\n"},
		"registries.conf": {"unqualified-search-registries = []\n"},
	}
	check := func(name string, files map[string]string, wants map[string][]string) {
		t.Helper()
		for file, ws := range wants {
			for _, want := range ws {
				if !strings.Contains(files[file], want) {
					t.Errorf("%s: %s lacks %q:\n%s", name, file, want, files[file])
				}
			}
		}
	}

	// Without a network: the three files; crun and runc once each.
	p := Podman{Dir: "/p", Runtimes: []string{"prison-oci", "crun", "runc"}}.Files()
	if got, want := slices.Sorted(maps.Keys(p)), []string{"containers.conf", "registries.conf", "storage.conf"}; !slices.Equal(got, want) {
		t.Errorf("files %q, want %q", got, want)
	}
	check("no network", p, common)
	check("no network", p, map[string][]string{"containers.conf": {`runtime_supports_json = ["crun", "runc", "prison-oci"]`}})
	for _, not := range []string{"default_network", "default_subnet", "cni_plugin_dirs"} {
		if strings.Contains(p["containers.conf"], not) {
			t.Errorf("no network: containers.conf has %s:\n%s", not, p["containers.conf"])
		}
	}
	if got := (Podman{Dir: "/p"}).Files()["containers.conf"]; !strings.Contains(got, `runtime_supports_json = ["crun", "runc"]`+"\n") {
		t.Errorf("no runtimes: containers.conf:\n%s", got)
	}

	// With one: its name, subnet and plugin directory in
	// containers.conf, and its conflist in the network directory.
	n := &CNINetwork{Name: "net1", Bridge: "br1", Subnet: "10.254.99.0/24", Gateway: "10.254.99.1", PluginDir: "/usr/lib/cni"}
	p = Podman{Dir: "/p", Runtimes: []string{"prison"}, Network: n}.Files()
	if len(p) != 4 {
		t.Errorf("with a network: files %q, want 4", slices.Sorted(maps.Keys(p)))
	}
	check("network", p, common)
	check("network", p, map[string][]string{"containers.conf": {
		`runtime_supports_json = ["crun", "runc", "prison"]`,
		"network_backend = \"cni\"\ncni_plugin_dirs = [\"/usr/lib/cni\"]\nnetwork_config_dir = \"/p/net\"\n" +
			"default_network = \"net1\"\ndefault_subnet = \"10.254.99.0/24\"\n\n[engine]\n",
	}})
	var conf struct {
		CNIVersion string `json:"cniVersion"`
		Name       string `json:"name"`
		Plugins    []struct {
			Type             string `json:"type"`
			Bridge           string `json:"bridge"`
			IsGateway        *bool  `json:"isGateway"`
			IsDefaultGateway *bool  `json:"isDefaultGateway"`
			IPMasq           *bool  `json:"ipMasq"`
			IPAM             struct {
				Type    string                               `json:"type"`
				DataDir string                               `json:"dataDir"`
				Ranges  [][]struct{ Subnet, Gateway string } `json:"ranges"`
			} `json:"ipam"`
		} `json:"plugins"`
	}
	if err := json.Unmarshal([]byte(p["net/net1.conflist"]), &conf); err != nil {
		t.Fatalf("net/net1.conflist: %v\n%s", err, p["net/net1.conflist"])
	}
	if len(conf.Plugins) != 1 {
		t.Fatalf("conflist plugins %d, want the bridge alone:\n%s", len(conf.Plugins), p["net/net1.conflist"])
	}
	pl := conf.Plugins[0]
	// No gateway, no masquerade: nothing of the machine's forwarding or
	// NAT changes.
	if conf.Name != "net1" || pl.Type != "bridge" || pl.Bridge != "br1" ||
		pl.IsGateway == nil || *pl.IsGateway || pl.IsDefaultGateway == nil || *pl.IsDefaultGateway || pl.IPMasq == nil || *pl.IPMasq ||
		pl.IPAM.Type != "host-local" || pl.IPAM.DataDir != "/p/cni-ipam" ||
		len(pl.IPAM.Ranges) != 1 || len(pl.IPAM.Ranges[0]) != 1 ||
		pl.IPAM.Ranges[0][0].Subnet != "10.254.99.0/24" || pl.IPAM.Ranges[0][0].Gateway != "10.254.99.1" {
		t.Errorf("net/net1.conflist:\n%s", p["net/net1.conflist"])
	}

	// Without a plugin directory, podman's default ones.
	n.PluginDir = ""
	if got := (Podman{Dir: "/p", Network: n}).Files()["containers.conf"]; strings.Contains(got, "cni_plugin_dirs") ||
		!strings.Contains(got, "network_config_dir = \"/p/net\"\ndefault_network = \"net1\"\n") {
		t.Errorf("network without a plugin directory: containers.conf:\n%s", got)
	}

	env := Podman{Dir: "/p"}.Env()
	want := []string{
		"CONTAINERS_CONF=/p/containers.conf", "CONTAINERS_STORAGE_CONF=/p/storage.conf",
		"CONTAINERS_REGISTRIES_CONF=/p/registries.conf", "HOME=/p/home", "XDG_CONFIG_HOME=/p/home/.config",
		"XDG_DATA_HOME=/p/home/.local/share", "TMPDIR=/p/scratch",
	}
	if !slices.Equal(env, want) {
		t.Errorf("Env = %q, want %q", env, want)
	}
}
