// Package peerconf writes the configuration of the container engines that
// drive prison as their OCI runtime, containerd and podman, for an
// instance that shares nothing with the machine's own: every path it
// names is in one directory of the caller's. The integration tests
// (test/containerd_test.go, cri_test.go, podman_test.go) and the
// benchmarks (bench/oci_linux.go) start such instances; what differs
// between them (containerd's CRI plugin, podman's default network) is a
// parameter.
//
// The functions return the files' text; the caller makes the directories
// and writes the files, with the permissions it wants.
package peerconf

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// criPlugin is the plugin ID of containerd's CRI server.
const criPlugin = "io.containerd.grpc.v1.cri"

// Containerd returns the config.toml (version 2, containerd 1.6 and 1.7)
// of a containerd whose root, state and opt directories are dir/root,
// dir/state and dir/opt, and whose gRPC socket is sock (ttrpc's is
// sock.ttrpc). It turns off the snapshotters that need a filesystem of
// their own (aufs, btrfs, zfs, devmapper), tracing, and the debug and
// metrics listeners. cri, when not empty, is the CRI plugin's
// configuration, appended as it is; when empty, the CRI plugin is
// disabled too.
func Containerd(dir, sock, cri string) string {
	var disabled []string
	if cri == "" {
		disabled = append(disabled, criPlugin)
	}
	disabled = append(disabled,
		"io.containerd.snapshotter.v1.aufs",
		"io.containerd.snapshotter.v1.btrfs",
		"io.containerd.snapshotter.v1.zfs",
		"io.containerd.snapshotter.v1.devmapper",
		"io.containerd.internal.v1.tracing",
		"io.containerd.tracing.processor.v1.otlp",
	)
	return fmt.Sprintf(`version = 2
root = %q
state = %q
disabled_plugins = [%s]

[grpc]
  address = %q

[ttrpc]
  address = %q

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), quoteList(disabled),
		sock, sock+".ttrpc", filepath.Join(dir, "opt")) + cri
}

// Podman describes a podman whose configuration, storage, run root,
// temporary and static directories, lock files and event log are all in
// Dir: Files are its configuration files and Env the environment that
// points podman at them.
type Podman struct {
	// Dir holds everything of the podman's. The caller makes its
	// directories net, home/.config, scratch and imagetmp, and, with a
	// Network, cni-ipam.
	Dir string
	// Runtimes are the names of the OCI runtimes, beside crun and runc,
	// that take their configuration as JSON (runtime_supports_json):
	// podman hands any other its configuration in another form.
	Runtimes []string
	// Network, when set, is the CNI network podman gives a container
	// unless told otherwise. Without it podman's own default network
	// applies, which a caller that must leave the host's network alone
	// avoids with --network none.
	Network *CNINetwork
}

// CNINetwork is a CNI network of a bridge that the caller makes, with the
// host's address (Gateway) on it. The host is no gateway for it: no
// firewall, portmap or tuning plugin (no iptables rule), isGateway false
// (no forwarding turned on for the machine), ipMasq false (no NAT), no
// route but the subnet's. A container's packets reach the host and the
// network's other containers, and nothing else.
type CNINetwork struct {
	Name      string // the network's name, and its file's in Dir/net
	Bridge    string // the bridge's interface name
	Subnet    string // CIDR, the containers' addresses
	Gateway   string // the host's address on the bridge, in Subnet
	PluginDir string // where the bridge, host-local and loopback plugins are; "" for podman's default directories
}

// Files returns the podman's configuration files by their path relative
// to Dir: containers.conf, storage.conf and registries.conf, and with a
// Network its conflist in net/, the network configuration directory.
func (p Podman) Files() map[string]string {
	d := p.Dir
	network := fmt.Sprintf("network_config_dir = %q\n", filepath.Join(d, "net"))
	if n := p.Network; n != nil {
		network += fmt.Sprintf("default_network = %q\ndefault_subnet = %q\n", n.Name, n.Subnet)
		if n.PluginDir != "" {
			network = fmt.Sprintf("cni_plugin_dirs = [%q]\n", n.PluginDir) + network
		}
	}
	// The soft and hard nofile and nproc limits podman sets by default
	// (1048576) can be above a machine's hard limits, which a root
	// without CAP_SYS_RESOURCE cannot raise: the runtime's setrlimit
	// would fail. Limits below any machine's are set instead.
	containers := fmt.Sprintf(`[containers]
log_driver = "k8s-file"
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
http_proxy = false

[network]
network_backend = "cni"
%s
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = %q
lock_type = "file"
tmp_dir = %q
static_dir = %q
volume_path = %q
image_copy_tmp_dir = %q
pull_policy = "never"
runtime_supports_json = [%s]
`, network, filepath.Join(d, "events.log"), filepath.Join(d, "tmp"), filepath.Join(d, "graph", "libpod"),
		filepath.Join(d, "graph", "volumes"), filepath.Join(d, "imagetmp"), quoteList(p.jsonRuntimes()))
	files := map[string]string{
		"containers.conf": containers,
		"storage.conf": fmt.Sprintf("[storage]\ndriver = \"overlay\"\ngraphroot = %q\nrunroot = %q\n",
			filepath.Join(d, "graph"), filepath.Join(d, "run")),
		// No registry: nothing is pulled, and a short name resolves nowhere.
		"registries.conf": "unqualified-search-registries = []\n",
	}
	if n := p.Network; n != nil {
		// The address allocations are in Dir rather than
		// /var/lib/cni/networks.
		files["net/"+n.Name+".conflist"] = fmt.Sprintf(`{
  "cniVersion": "0.4.0",
  "name": %q,
  "plugins": [
    {
      "type": "bridge",
      "bridge": %q,
      "isGateway": false,
      "isDefaultGateway": false,
      "ipMasq": false,
      "hairpinMode": true,
      "ipam": {
        "type": "host-local",
        "dataDir": %q,
        "ranges": [[{"subnet": %q, "gateway": %q}]]
      }
    }
  ]
}
`, n.Name, n.Bridge, filepath.Join(d, "cni-ipam"), n.Subnet, n.Gateway)
	}
	return files
}

// jsonRuntimes are crun, runc and Runtimes, each once.
func (p Podman) jsonRuntimes() []string {
	var names []string
	for _, n := range append([]string{"crun", "runc"}, p.Runtimes...) {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	return names
}

// Env returns the variables that point podman at Files and keep its
// home, user configuration and temporary files in Dir. They go in the
// command's environment after the machine's own CONTAINERS_*, XDG_*, HOME
// and TMPDIR, or instead of them.
func (p Podman) Env() []string {
	d := p.Dir
	return []string{
		"CONTAINERS_CONF=" + filepath.Join(d, "containers.conf"),
		"CONTAINERS_STORAGE_CONF=" + filepath.Join(d, "storage.conf"),
		"CONTAINERS_REGISTRIES_CONF=" + filepath.Join(d, "registries.conf"),
		"HOME=" + filepath.Join(d, "home"),
		"XDG_CONFIG_HOME=" + filepath.Join(d, "home", ".config"),
		"XDG_DATA_HOME=" + filepath.Join(d, "home", ".local", "share"),
		"TMPDIR=" + filepath.Join(d, "scratch"),
	}
}

// quoteList is ss as the elements of a TOML array of strings.
func quoteList(ss []string) string {
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = strconv.Quote(s)
	}
	return strings.Join(q, ", ")
}
