package test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// Kubernetes' view: containerd's CRI plugin, driven by crictl as a kubelet
// would drive it, with a runtime handler "prison" whose shim runs the OCI
// runtime under test. A pod's sandbox and its containers share the
// sandbox's network namespace, which the CNI bridge plugin wires to a
// bridge of the test's own.

const (
	// criBridge is the bridge that the CNI bridge plugin makes for the
	// test's pods: no address on it (isGateway false), no masquerade, no
	// default route in the pods, so their packets reach only each other.
	criBridge = "prisoncri0"
	// criSubnet is the pods' subnet.
	criSubnet = "10.254.70.0/24"
	// cniBinDir is where Debian's containernetworking-plugins are.
	cniBinDir = "/usr/lib/cni"
	// cniCacheDir is libcni's cache (containerd 1.6 does not move it).
	cniCacheDir = "/var/lib/cni"
)

// crictlPath finds crictl: $CRICTL, else the one make builds into
// bin/tools, else one on PATH. Without it the CRI tests skip, or fail
// under CI=true.
func crictlPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CRICTL"); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("CRICTL=%s: %v", p, err)
		}
		return p
	}
	if m, _ := filepath.Glob("../bin/tools/crictl-*/crictl"); len(m) > 0 {
		p, _ := filepath.Abs(m[len(m)-1])
		return p
	}
	if p, err := exec.LookPath("crictl"); err == nil {
		return p
	}
	msg := "crictl not found: set CRICTL, or build it: GOBIN=$PWD/bin/tools/crictl-v1.37.0 go install sigs.k8s.io/cri-tools/cmd/crictl@v1.37.0"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

// criD is a containerd with the CRI plugin, and crictl to drive it.
type criD struct {
	*containerdD
	crictlBin, crictlConfig string
	podNS                   map[string]int // nil: criNamespaces
}

// crictl runs crictl against the test's containerd, with a generous
// timeout.
func (c *criD) crictl(args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.crictlBin, append([]string{"--config", c.crictlConfig}, args...)...)
	return runCmd(c.t, cmd)
}

// mustCrictl is crictl that fails the test unless crictl exits 0, and
// returns its output, trimmed.
func (c *criD) mustCrictl(args ...string) string {
	c.t.Helper()
	r := c.crictl(args...)
	if r.code != 0 {
		c.t.Fatalf("crictl %s: exit %d\nstdout: %s\nstderr: %s\ncontainerd's last warnings and errors:\n%s",
			strings.Join(args, " "), r.code, r.stdout, r.stderr, logTail(c.log.String(), 15))
	}
	return strings.TrimSpace(r.stdout)
}

// criStatus is what the tests read of crictl inspect and inspectp.
type criStatus struct {
	Status struct {
		State    string `json:"state"`
		ExitCode int    `json:"exitCode"`
		Network  struct {
			IP string `json:"ip"`
		} `json:"network"`
	} `json:"status"`
	Info struct {
		RuntimeHandler string `json:"runtimeHandler"`
		RuntimeSpec    struct {
			Linux struct {
				Namespaces []struct {
					Type string `json:"type"`
					Path string `json:"path"`
				} `json:"namespaces"`
			} `json:"linux"`
		} `json:"runtimeSpec"`
	} `json:"info"`
}

// inspect runs crictl inspect (a container) or inspectp (a pod).
func (c *criD) inspect(what, id string) criStatus {
	c.t.Helper()
	var s criStatus
	out := c.mustCrictl(what, "-o", "json", id)
	if err := json.Unmarshal([]byte(out), &s); err != nil {
		c.t.Fatalf("crictl %s %s: %v\n%s", what, id, err, out)
	}
	return s
}

// waitState waits (bounded, generously) until container id is in state
// want (CONTAINER_RUNNING, CONTAINER_EXITED).
func (c *criD) waitState(id, want string) criStatus {
	c.t.Helper()
	var s criStatus
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if s = c.inspect("inspect", id); s.Status.State == want {
			return s
		}
	}
	c.t.Fatalf("container %s: state %s, want %s\ncontainerd's last warnings and errors:\n%s", id, s.Status.State, want, logTail(c.log.String(), 15))
	return s
}

// waitLogs waits (bounded) until crictl logs of container id shows want,
// and returns the logs.
func (c *criD) waitLogs(id, want string) string {
	c.t.Helper()
	var out string
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if out = c.mustCrictl("logs", id); strings.Contains(out, want) {
			return out
		}
	}
	c.t.Fatalf("crictl logs %s: no %q in\n%s", id, want, out)
	return ""
}

// startCRI starts a containerd with the CRI plugin, the runtime handler
// "prison" (the default one too) running the runtime under test, the
// pause image as the sandbox image, and a CNI bridge network of the
// test's own; it imports the busybox image for the containers. The
// cleanups remove the bridge and check what CNI leaves.
func startCRI(t *testing.T) *criD {
	t.Helper()
	requireContainerd(t)
	crictlBin := crictlPath(t)
	if _, err := os.Stat(filepath.Join(cniBinDir, "bridge")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the CNI plugins are missing (apt-get install containernetworking-plugins): %v", err)
		}
		t.Skipf("the CNI plugins are missing (apt-get install containernetworking-plugins): %v", err)
	}
	// The bridge is the test's: one already there is someone else's,
	// or a killed run's (ip link del dev prisoncri0).
	if fileExists("/sys/class/net/" + criBridge) {
		t.Fatalf("the bridge %s exists already: a test run's leftover? (ip link del dev %s)", criBridge, criBridge)
	}
	netName := "prisontest-" + ociRandHex(3)
	cniCacheBefore := fileExists(cniCacheDir)
	// Registered before containerd's: runs after containerd stopped.
	t.Cleanup(func() {
		br := "/sys/class/net/" + criBridge
		if fileExists(br) {
			if ports := ociDirNames(br + "/brif"); len(ports) > 0 {
				t.Errorf("leftover: ports %v on the bridge %s", slices.Sorted(maps.Keys(ports)), criBridge)
			}
			if out, err := exec.Command("ip", "link", "del", "dev", criBridge).CombinedOutput(); err != nil {
				t.Errorf("ip link del dev %s: %v: %s", criBridge, err, out)
			}
		}
		results, _ := filepath.Glob(filepath.Join(cniCacheDir, "results", netName+"-*"))
		if len(results) > 0 {
			t.Errorf("leftover: CNI cache %v", results)
			for _, r := range results {
				os.Remove(r)
			}
		}
		if !cniCacheBefore {
			// Only if empty: libcni's cache, which CNI ADD made.
			os.Remove(filepath.Join(cniCacheDir, "results"))
			os.Remove(cniCacheDir)
		}
	})

	dir := t.TempDir()
	cniConfDir := filepath.Join(dir, "cni")
	ipamDir := filepath.Join(dir, "ipam")
	if err := os.Mkdir(cniConfDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// No gateway address on the bridge, no masquerade, no routes: the
	// pods reach each other and nothing else.
	conflist := map[string]any{
		"cniVersion": "1.0.0",
		"name":       netName,
		"plugins": []any{map[string]any{
			"type":             "bridge",
			"bridge":           criBridge,
			"isGateway":        false,
			"isDefaultGateway": false,
			"ipMasq":           false,
			"hairpinMode":      false,
			"ipam": map[string]any{
				"type":    "host-local",
				"ranges":  [][]map[string]string{{{"subnet": criSubnet}}},
				"dataDir": ipamDir,
			},
		}},
	}
	b, _ := json.MarshalIndent(conflist, "", "  ")
	if err := os.WriteFile(filepath.Join(cniConfDir, "10-prisontest.conflist"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// host-local keeps a file per address in use.
		ents, _ := os.ReadDir(filepath.Join(ipamDir, netName))
		for _, e := range ents {
			if net.ParseIP(e.Name()) != nil {
				t.Errorf("leftover: address %s still allocated", e.Name())
			}
		}
	})

	d := startContainerd(t, fmt.Sprintf(`
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %q
  # Exec and attach streams, on loopback only, on a free port.
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  # The pods' network namespaces under the test's state directory, not
  # /var/run/netns.
  netns_mounts_under_state_dir = true
  # Without CAP_SYS_RESOURCE (as in some sandboxes) the pause container's
  # oom_score_adj -998 is refused: clamp it to containerd's own.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    default_runtime_name = "prison"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.prison]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.prison.options]
        BinaryName = "{{RUNTIME}}"
        Root = "{{RUNCROOT}}"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = %q
    conf_dir = %q
    max_conf_num = 1
`, ociPauseRef, cniBinDir, cniConfDir))
	d.namespaces = append(d.namespaces, "k8s.io") // CRI's containerd namespace

	c := &criD{containerdD: d, crictlBin: crictlBin, crictlConfig: filepath.Join(dir, "crictl.yaml")}
	cfg := fmt.Sprintf("runtime-endpoint: unix://%s\nimage-endpoint: unix://%s\ntimeout: 60\ndebug: false\npull-image-on-create: false\ndisable-pull-on-run: true\n", d.sock, d.sock)
	if err := os.WriteFile(c.crictlConfig, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// No registry: the sandbox image and the containers' come from the
	// archives, into CRI's namespace. CRI learns of them by events.
	pauseArchive, _ := ociPauseImage(t)
	busyboxArchive, _ := ociBusyboxImage(t)
	d.importImage("k8s.io", pauseArchive, ociPauseRef)
	d.importImage("k8s.io", busyboxArchive, ociBusyboxRef)
	for _, ref := range []string{ociPauseRef, ociBusyboxRef} {
		for deadline := time.Now().Add(60 * time.Second); c.crictl("inspecti", ref).code != 0; time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("CRI does not list the imported image %s", ref)
			}
		}
	}
	return c
}

// TestCRIPodSharedNetwork is a pod as Kubernetes runs it: a sandbox with
// the runtime handler prison, two containers in it that share its
// network namespace (one serves on a port, the other connects over
// loopback and over the pod's address), logs, exec, then stop and
// removal of each, after which nothing is left: no container, sandbox,
// shim, mount, network namespace, address, bridge port.
func TestCRIPodSharedNetwork(t *testing.T) {
	ociPass(t)
	c := startCRI(t)
	dir := t.TempDir()
	pod, podCfg := c.runPod(dir)
	ps := c.inspect("inspectp", pod)
	if ps.Status.State != "SANDBOX_READY" || ps.Info.RuntimeHandler != "prison" {
		t.Fatalf("pod %s: state %s, runtime handler %q; want SANDBOX_READY, prison", pod, ps.Status.State, ps.Info.RuntimeHandler)
	}
	podIP := ps.Status.Network.IP
	if _, subnet, _ := net.ParseCIDR(criSubnet); !subnet.Contains(net.ParseIP(podIP)) {
		t.Fatalf("pod IP %q, want one in %s", podIP, criSubnet)
	}
	var podNetNS string
	for _, n := range ps.Info.RuntimeSpec.Linux.Namespaces {
		if n.Type == "network" {
			podNetNS = n.Path
		}
	}
	if podNetNS == "" || !fileExists(podNetNS) {
		t.Fatalf("pod network namespace %q: missing", podNetNS)
	}
	// The network rule: nothing on the bridge for a pod to route through.
	if out, _ := exec.Command("ip", "-4", "addr", "show", "dev", criBridge).CombinedOutput(); strings.Contains(string(out), "inet ") {
		t.Fatalf("the bridge %s has an IPv4 address:\n%s", criBridge, out)
	}

	// Both trap SIGTERM, as PID 1 of their PID namespaces: a stop ends
	// them at once, with status 0.
	server := c.createStart(dir, pod, podCfg, "server",
		`trap 'exit 0' TERM; echo "server-up $(hostname) $(readlink /proc/self/ns/net)";`+
			` nc -ll -p 7070 -e echo hello-from-server & wait`)
	client := c.createStart(dir, pod, podCfg, "client",
		`trap 'exit 0' TERM; echo "client-up $(hostname) $(readlink /proc/self/ns/net)"; sleep 2147483647 & wait`)

	// One network namespace, the pod's, not the host's; the pod's
	// hostname in both.
	serverUp := ociLineWith(c.waitLogs(server, "server-up "), "server-up ")
	clientUp := ociLineWith(c.waitLogs(client, "client-up "), "client-up ")
	sf, cf := strings.Fields(serverUp), strings.Fields(clientUp)
	hostNet, _ := os.Readlink("/proc/self/ns/net")
	if len(sf) != 3 || len(cf) != 3 || sf[1] != "prisonpod" || cf[1] != "prisonpod" ||
		sf[2] != cf[2] || !strings.HasPrefix(sf[2], "net:[") || sf[2] == hostNet {
		t.Errorf("server %q, client %q (host %s): want the hostname prisonpod and one network namespace, not the host's",
			serverUp, clientUp, hostNet)
	}

	// The client reaches the server's port over loopback and over the
	// pod's address: the server's listener is in its network namespace.
	// (It may not listen yet: retried, bounded.)
	for _, addr := range []string{"127.0.0.1", podIP} {
		r := c.crictl("exec", client, "sh", "-c",
			`for i in $(seq 300); do nc `+addr+` 7070 </dev/null && exit 0; sleep 0.2; done; exit 1`)
		if r.code != 0 || !strings.Contains(r.stdout, "hello-from-server") {
			t.Errorf("client: nc %s 7070: exit %d\nstdout: %s\nstderr: %s", addr, r.code, r.stdout, r.stderr)
		}
	}

	// exec: the container's own PID namespace, the image's user, and the
	// command's exit status.
	out := c.mustCrictl("exec", server, "sh", "-c", `echo "uid $(id -u) init $(tr '\0' ' ' </proc/1/cmdline)"`)
	want := "uid 0 init sh -c trap 'exit 0' TERM; echo \"server-up"
	if ociIsPrison() {
		want = strings.TrimSpace("uid 0 init " + ociInitCmdline(server, ""))
	}
	if !strings.HasPrefix(out, want) {
		t.Errorf("exec in server: %q", out)
	}
	if out := c.mustCrictl("exec", client, "grep", "^Seccomp:", "/proc/self/status"); !strings.Contains(out, "2") {
		t.Errorf("exec in a container with containerd's default seccomp profile: %q, want a filter (2)", out)
	}
	if r := c.crictl("exec", client, "sh", "-c", "echo before-exit; exit 5"); r.code == 0 ||
		!strings.Contains(r.stdout, "before-exit") || !strings.Contains(r.stderr, "exit code 5") {
		t.Errorf("exec exit 5: crictl exit %d\nstdout: %s\nstderr: %s", r.code, r.stdout, r.stderr)
	}
	// The pod's only route is its subnet's: no way off the machine.
	if out := c.mustCrictl("exec", client, "ip", "route"); strings.Contains(out, "default") || !strings.Contains(out, "10.254.70.0/24 dev eth0") {
		t.Errorf("pod routes:\n%s", out)
	}

	// Stop: SIGTERM, the trap, status 0, well before the grace period's
	// end (a kubelet's default: 30 s; crictl's is 0, SIGKILL at once).
	// The logs outlive the process.
	for _, id := range []string{server, client} {
		c.mustCrictl("stop", "--timeout", "30", id)
		if s := c.waitState(id, "CONTAINER_EXITED"); s.Status.ExitCode != 0 {
			t.Errorf("container %s: exit code %d after stop, want 0 (its TERM trap)", id, s.Status.ExitCode)
		}
	}
	if logs := c.mustCrictl("logs", server); !strings.Contains(logs, "server-up prisonpod") {
		t.Errorf("crictl logs of the stopped server: %q", logs)
	}
	for _, id := range []string{server, client} {
		c.mustCrictl("rm", id)
	}
	if ids := c.mustCrictl("ps", "-a", "-q"); ids != "" {
		t.Errorf("after rm: containers %q", ids)
	}

	c.mustCrictl("stopp", pod)
	if s := c.inspect("inspectp", pod); s.Status.State != "SANDBOX_NOTREADY" {
		t.Errorf("after stopp: pod state %s, want SANDBOX_NOTREADY", s.Status.State)
	}
	c.mustCrictl("rmp", pod)
	if ids := c.mustCrictl("pods", "-q"); ids != "" {
		t.Errorf("after rmp: pods %q", ids)
	}
	// Nothing of the pod in containerd, on the bridge, in the netns
	// directory.
	if ids := strings.Fields(c.mustCtr("k8s.io", "container", "ls", "-q")); len(ids) > 0 {
		t.Errorf("after rmp: containerd containers %v", ids)
	}
	if ids := strings.Fields(c.mustCtr("k8s.io", "task", "ls", "-q")); len(ids) > 0 {
		t.Errorf("after rmp: containerd tasks %v", ids)
	}
	if fileExists(podNetNS) {
		t.Errorf("after rmp: the pod's network namespace %s is left", podNetNS)
	}
	if ports := ociDirNames("/sys/class/net/" + criBridge + "/brif"); len(ports) > 0 {
		t.Errorf("after rmp: ports %v on %s", slices.Sorted(maps.Keys(ports)), criBridge)
	}
	for _, p := range []string{
		"state/io.containerd.grpc.v1.cri/sandboxes", "state/io.containerd.grpc.v1.cri/containers",
		"root/io.containerd.grpc.v1.cri/sandboxes", "root/io.containerd.grpc.v1.cri/containers",
	} {
		if left := ociDirNames(filepath.Join(c.dir, p)); len(left) > 0 {
			t.Errorf("after rmp: %s: %v", p, slices.Sorted(maps.Keys(left)))
		}
	}
	// No rootfs, /dev/shm or network namespace mount; no log file.
	if m := mountsUnder(c.dir); len(m) > 0 {
		t.Errorf("after rmp: mounts %v", m)
	}
	if left := ociDirNames(filepath.Join(dir, "logs")); len(left) > 0 {
		t.Errorf("after rmp: logs %v", slices.Sorted(maps.Keys(left)))
	}
}

// runPod runs a pod sandbox with prison as its runtime handler, and
// returns its id and config.
func (c *criD) runPod(dir string) (pod, podCfg string) {
	c.t.Helper()
	cgroupParent := "prisontest-" + ociRandHex(4)
	c.cgroupParents = append(c.cgroupParents, cgroupParent)
	podCfg = filepath.Join(dir, "pod.json")
	ociWriteJSON(c.t, podCfg, map[string]any{
		"metadata":      map[string]any{"name": "prisonpod", "namespace": "prisontest", "uid": ociRandHex(8), "attempt": 0},
		"hostname":      "prisonpod",
		"log_directory": filepath.Join(dir, "logs"),
		"linux": map[string]any{
			"cgroup_parent":    "/" + cgroupParent,
			"security_context": map[string]any{"namespace_options": c.namespaces()},
		},
	})
	pod = c.mustCrictl("runp", "--runtime", "prison", podCfg)
	c.t.Cleanup(func() {
		// After a failure: the pod, its containers, its network.
		if c.crictl("inspectp", pod).code == 0 {
			c.crictl("rmp", "--force", pod)
		}
	})
	return pod, podCfg
}

// namespaces are the namespace options of the test's pods and containers.
func (c *criD) namespaces() map[string]int {
	if c.podNS != nil {
		return c.podNS
	}
	return criNamespaces
}

// A pod whose containers share its PID namespace (Kubernetes'
// shareProcessNamespace): each container sees the others' processes, and
// stopping one leaves the others running.
func TestCRIPodSharedPID(t *testing.T) {
	ociPass(t)
	c := startCRI(t)
	c.podNS = map[string]int{"network": 0, "pid": 0, "ipc": 0} // all the pod's
	dir := t.TempDir()
	pod, podCfg := c.runPod(dir)
	a := c.createStart(dir, pod, podCfg, "a", `trap 'exit 0' TERM; sleep 2147483646 & wait`)
	b := c.createStart(dir, pod, podCfg, "b", `trap 'exit 0' TERM; sleep 2147483645 & wait`)
	sees := func(id, cmd string) bool {
		t.Helper()
		return strings.Contains(c.mustCrictl("exec", id, "ps", "-o", "args"), cmd)
	}
	if !sees(b, "sleep 2147483646") || !sees(a, "sleep 2147483645") {
		t.Errorf("containers of a pod sharing its PID namespace do not see each other's processes")
	}
	c.mustCrictl("stop", "--timeout", "30", a)
	if s := c.waitState(a, "CONTAINER_EXITED"); s.Status.ExitCode != 0 {
		t.Errorf("container a: exit code %d after stop, want 0 (its TERM trap)", s.Status.ExitCode)
	}
	if sees(b, "sleep 2147483646") {
		t.Errorf("container a's process outlived its stop")
	}
	if s := c.inspect("inspect", b); s.Status.State != "CONTAINER_RUNNING" {
		t.Errorf("container b after a's stop: %s, want running", s.Status.State)
	}
	c.mustCrictl("stop", "--timeout", "30", b)
	c.waitState(b, "CONTAINER_EXITED")
	for _, id := range []string{a, b} {
		c.mustCrictl("rm", id)
	}
	c.mustCrictl("stopp", pod)
	c.mustCrictl("rmp", pod)
}

// createStart creates container name in pod from the busybox image, with
// sh -c script as its command, starts it, and waits until it runs.
func (c *criD) createStart(dir, pod, podCfg, name, script string) string {
	c.t.Helper()
	cfg := filepath.Join(dir, name+".json")
	ociWriteJSON(c.t, cfg, map[string]any{
		"metadata": map[string]any{"name": name},
		"image":    map[string]any{"image": ociBusyboxRef},
		"command":  []string{"sh", "-c", script},
		"log_path": name + ".log",
		"linux": map[string]any{
			// RuntimeDefault (0): containerd's own seccomp profile,
			// which prison's compiler loads as given.
			"security_context": map[string]any{"namespace_options": c.namespaces(), "seccomp": map[string]any{"profile_type": 0}},
		},
	})
	out := c.mustCrictl("create", pod, cfg, podCfg)
	id := out[strings.LastIndex(out, "\n")+1:]
	c.mustCrictl("start", id)
	c.waitState(id, "CONTAINER_RUNNING")
	return id
}

// criNamespaces are the namespace options that a kubelet gives a pod
// and its containers unless told otherwise (CRI's own default for PID is
// the pod's): network and IPC the pod's, a PID namespace per container.
var criNamespaces = map[string]int{"network": 0, "pid": 1, "ipc": 0} // POD, CONTAINER, POD

func ociWriteJSON(t *testing.T, p string, v any) {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// ociLineWith returns the first line of s that contains sub.
func ociLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
