package test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"
	"golang.org/x/sys/unix"

	"prison/internal/peerconf"
)

// Podman drives the OCI runtime under test (ociRuntime: prison, or
// $PRISON_OCI_RUNTIME) through real podman, with runc's command line, and
// asserts from inside the containers what a podman user sees.
//
// Each test has a podman of its own that shares nothing with the
// machine's: its configuration files (CONTAINERS_CONF,
// CONTAINERS_STORAGE_CONF, CONTAINERS_REGISTRIES_CONF), storage, run
// root, tmp_dir, lock files, event log and CNI network directory are all
// in the test's temporary directory, and the cleanup removes them and
// checks that nothing is left.
//
// The network podman gives a container by default is the test's CNI
// network: a bridge of the test's own (podmanBridge), 10.254.71.0/24, the
// host at .1. The host is no gateway for it: no masquerade and no NAT,
// and the bridge plugin is not asked to be a gateway (which would turn
// on net.ipv4.ip_forward for the whole machine); the containers have no
// default route and lack CAP_NET_ADMIN to add one. A container's packets
// reach the host and the test's other containers and nothing else.
//
// Every podman command runs in a mount namespace of the test's (a holder
// process keeps it), so that podman's mounts (the containers' roots,
// /run/netns) are never in the host's table and go with the namespace.
// In it /var/lib is an overlay whose upper layer is in the test's
// directory: podman writes there whatever it is told (podman load's blob
// info cache in /var/lib/containers/cache, libcni's cache of results in
// /var/lib/cni). On a hybrid cgroup host whose v2 tree holds a controller (hugetlb here:
// it is not mounted as v1), the v2 tree is unmounted in that namespace:
// crun refuses such a host ("cgroups in hybrid mode not supported, drop
// all controllers from cgroupv2"), and the controllers prison and crun
// use are on the v1 hierarchies anyway.

const (
	podmanNetwork = "prisonpodman"   // the CNI network's name
	podmanBridge  = "prisonpodman0"  // its bridge, made and removed by the test
	podmanSubnet  = "10.254.71.0/24" // no other interface may have it
	podmanHostIP  = "10.254.71.1"    // the host's end, on the bridge
	podmanTimeout = 120 * time.Second
)

// podmanEnv is one test's podman.
type podmanEnv struct {
	dir          string // the test's directory: configuration, storage, state
	podman       string
	nsenter      string
	env          []string
	global       []string // podman's flags before the command
	cgroupParent string   // --cgroup-parent of every container
	image        string   // the busybox image, loaded
	holder       *exec.Cmd
	holderDone   chan struct{} // closed when the holder has ended
	mntNS        string        // the holder's mount namespace: /proc/PID/ns/mnt
	nsID         string        // and its identity, mnt:[INODE]

	// The host as it was before the test: what podman or the runtime
	// makes there must be gone at the end.
	netnsBefore  map[string]bool
	defaultsGone []string // default podman paths that did not exist
	bridgeMade   bool     // whether the test made podmanBridge
}

// podmanNeed skips the test when a program podman needs is missing, or
// fails it under CI=true, where the tests must run.
func podmanNeed(t *testing.T, what string, ok bool) {
	t.Helper()
	if ok {
		return
	}
	msg := what + " not found: install podman, conmon, containernetworking-plugins and iproute2 to run the podman tests"
	if os.Getenv("CI") == "true" {
		t.Fatal(msg)
	}
	t.Skip(msg)
}

func podmanLook(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	podmanNeed(t, name, err == nil)
	return p
}

// newPodman makes the test's podman, with the busybox image loaded.
func newPodman(t *testing.T) *podmanEnv {
	t.Helper()
	ociPass(t)
	p := &podmanEnv{
		podman:  podmanLook(t, "podman"),
		nsenter: podmanLook(t, "nsenter"),
	}
	podmanLook(t, "conmon")
	podmanLook(t, "ip")
	for _, plugin := range []string{"bridge", "host-local", "loopback"} {
		podmanNeed(t, "/usr/lib/cni/"+plugin, fileExists("/usr/lib/cni/"+plugin))
	}
	rt := ociRuntime()
	if !fileExists(rt) {
		t.Fatalf("OCI runtime %s not found", rt)
	}

	p.dir = t.TempDir()
	var b [3]byte
	_, _ = rand.Read(b[:])
	p.cgroupParent = "/prisonpodman-" + hex.EncodeToString(b[:])
	p.recordHost()
	t.Cleanup(func() { p.cleanup(t) })

	// The test's CNI network is podman's default.
	conf := peerconf.Podman{
		Dir:      p.dir,
		Runtimes: []string{filepath.Base(rt)},
		Network: &peerconf.CNINetwork{
			Name: podmanNetwork, Bridge: podmanBridge, Subnet: podmanSubnet, Gateway: podmanHostIP,
			PluginDir: "/usr/lib/cni", // where the plugins were found above
		},
	}
	writePodmanConfig(t, conf)
	p.env = conf.Env()
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		// The machine's podman settings, a remote podman, storage
		// overrides, proxies, a service manager's sockets.
		switch {
		case strings.HasPrefix(k, "CONTAINER"), strings.HasPrefix(k, "XDG_"),
			strings.HasPrefix(k, "PODMAN"), strings.HasPrefix(k, "STORAGE_"),
			strings.HasPrefix(k, "REGISTRY_"), strings.HasPrefix(k, "BUILDAH"),
			strings.HasSuffix(strings.ToLower(k), "_proxy"),
			k == "HOME", k == "TMPDIR", k == "NOTIFY_SOCKET", strings.HasPrefix(k, "LISTEN_"):
			continue
		}
		p.env = append(p.env, kv)
	}
	p.global = []string{"--runtime", rt, "--cgroup-manager", "cgroupfs", "--events-backend", "file"}

	p.makeBridge(t)
	p.startHolder(t)

	_, docker := ociBusyboxImage(t)
	out := p.must(t, "load", "-i", docker)
	p.image = ociBusyboxRef
	if !strings.Contains(out, p.image) {
		t.Fatalf("podman load: no %s in %q", p.image, out)
	}
	return p
}

// writePodmanConfig makes podman's directories in conf.Dir and writes its
// configuration there, the CNI network's included.
func writePodmanConfig(t *testing.T, conf peerconf.Podman) {
	t.Helper()
	for _, sub := range []string{"net", "cni-ipam", "home/.config", "scratch", "imagetmp"} {
		if err := os.MkdirAll(filepath.Join(conf.Dir, sub), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range conf.Files() {
		if err := os.WriteFile(filepath.Join(conf.Dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// makeBridge makes the test network's bridge, with the host's address on
// it: the CNI bridge plugin finds it there. The subnet must be nobody
// else's.
func (p *podmanEnv) makeBridge(t *testing.T) {
	t.Helper()
	if fileExists("/sys/class/net/" + podmanBridge) {
		t.Fatalf("interface %s exists: another podman test running, or a leftover (ip link del %s)", podmanBridge, podmanBridge)
	}
	_, subnet, _ := net.ParseCIDR(podmanSubnet)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && (subnet.Contains(ipn.IP) || ipn.Contains(subnet.IP)) {
			t.Fatalf("the host has %s, which overlaps the test network %s", ipn, podmanSubnet)
		}
	}
	if out, _ := exec.Command("ip", "-4", "route", "show", "root", podmanSubnet).Output(); len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("the host routes %s already: %s", podmanSubnet, out)
	}
	for _, args := range [][]string{
		{"link", "add", podmanBridge, "type", "bridge"},
		{"addr", "add", podmanHostIP + "/24", "dev", podmanBridge},
		{"link", "set", podmanBridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
		p.bridgeMade = true
	}
}

// startHolder starts the process that holds the tests' mount namespace.
func (p *podmanEnv) startHolder(t *testing.T) {
	t.Helper()
	hide := "0"
	if b, err := os.ReadFile(cgroupHybridTree + "/cgroup.controllers"); err == nil && len(bytes.TrimSpace(b)) > 0 && podmanIsCgroup2(cgroupHybridTree) && !podmanIsCgroup2("/sys/fs/cgroup") {
		hide = "1"
	}
	upper, work := filepath.Join(p.dir, "varlib"), filepath.Join(p.dir, "varlib.work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// What podman writes to /var/lib whatever it is told (the blob info
	// cache of podman load, /var/lib/containers/cache; CNI's cache of
	// results, /var/lib/cni) goes to the test's directory.
	h := exec.Command("/bin/sh", "-c", `set -e
mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$2,workdir=$3" /var/lib
if [ "$1" = 1 ]; then umount `+cgroupHybridTree+`; fi
echo ready
exec sleep 2147483647`, "holder", hide, upper, work)
	// Go makes the whole tree private in the new namespace: nothing
	// mounted in it propagates to the host.
	h.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := h.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb lockedBuffer
	h.Stderr = &errb
	if err := h.Start(); err != nil {
		t.Fatal(err)
	}
	p.mntNS = fmt.Sprintf("/proc/%d/ns/mnt", h.Process.Pid)
	line := make(chan string, 1)
	go func() { l, _ := bufio.NewReader(out).ReadString('\n'); line <- l }()
	select {
	case l := <-line:
		if strings.TrimSpace(l) != "ready" {
			h.Process.Kill()
			h.Wait()
			t.Fatalf("mount namespace: %q %s", l, errb.String())
		}
	case <-time.After(60 * time.Second):
		h.Process.Kill()
		h.Wait()
		t.Fatalf("mount namespace: not ready: %s", errb.String())
	}
	if p.nsID, err = os.Readlink(p.mntNS); err != nil {
		t.Fatal(err)
	}
	p.holder, p.holderDone = h, make(chan struct{})
	go func() { h.Wait(); close(p.holderDone) }()
}

// nsPath returns a path to the test's mount namespace: the holder's, or,
// should it have ended, that of a process still in the namespace.
func (p *podmanEnv) nsPath() (string, error) {
	select {
	case <-p.holderDone:
		if pids := p.nsProcesses(); len(pids) > 0 {
			return fmt.Sprintf("/proc/%d/ns/mnt", pids[0]), nil
		}
		return "", fmt.Errorf("the test's mount namespace is gone: its holder ended (%v)", p.holder.ProcessState)
	default:
		return p.mntNS, nil
	}
}

const cgroupHybridTree = "/sys/fs/cgroup/unified"

func podmanIsCgroup2(dir string) bool {
	var st unix.Statfs_t
	return unix.Statfs(dir, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// command is podman args, in the test's mount namespace and
// configuration. Every container is made below the test's cgroup parent.
func (p *podmanEnv) command(ctx context.Context, args ...string) (*exec.Cmd, error) {
	ns, err := p.nsPath()
	if err != nil {
		return nil, err
	}
	if len(args) > 0 && (args[0] == "run" || args[0] == "create") {
		args = append([]string{args[0], "--cgroup-parent", p.cgroupParent}, args[1:]...)
	}
	full := append([]string{"--mount=" + ns, "--", p.podman}, p.global...)
	cmd := exec.CommandContext(ctx, p.nsenter, append(full, args...)...)
	cmd.Env = p.env
	cmd.Dir = p.dir
	// A process podman leaves holding the output must not hang the test.
	cmd.WaitDelay = 10 * time.Second
	return cmd, nil
}

// run runs podman args with stdin from the reader (nil: /dev/null).
func (p *podmanEnv) run(t testing.TB, stdin io.Reader, args ...string) result {
	t.Helper()
	r, err := p.try(stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// try is run for the cleanup, which goes on after a failure.
func (p *podmanEnv) try(stdin io.Reader, args ...string) (result, error) {
	ctx, cancel := context.WithTimeout(context.Background(), podmanTimeout)
	defer cancel()
	cmd, err := p.command(ctx, args...)
	if err != nil {
		return result{}, err
	}
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("podman %s: no exit within %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), podmanTimeout, r.stdout, r.stderr)
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		return r, fmt.Errorf("podman %s: %w", strings.Join(args, " "), err)
	}
	return r, nil
}

// must runs podman args and fails the test unless it exits 0.
func (p *podmanEnv) must(t testing.TB, args ...string) string {
	t.Helper()
	r := p.run(t, nil, args...)
	if r.code != 0 {
		t.Fatalf("podman %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// expect runs podman args and checks its exit status and standard output.
func (p *podmanEnv) expect(t *testing.T, stdin io.Reader, code int, stdout string, args ...string) result {
	t.Helper()
	r := p.run(t, stdin, args...)
	if r.code != code || r.stdout != stdout {
		t.Errorf("podman %s: exit %d, stdout %q; want exit %d, stdout %q\nstderr: %s",
			strings.Join(args, " "), r.code, r.stdout, code, stdout, r.stderr)
	}
	return r
}

// inspect returns a container's field, e.g. {{.State.Pid}}.
func (p *podmanEnv) inspect(t *testing.T, ctr, format string) string {
	t.Helper()
	return strings.TrimSpace(p.must(t, "inspect", "--format", format, ctr))
}

// pid returns the host pid of a running container's process.
func (p *podmanEnv) pid(t *testing.T, ctr string) int {
	t.Helper()
	s := p.inspect(t, ctr, "{{.State.Pid}}")
	pid, err := strconv.Atoi(s)
	if err != nil || pid <= 0 {
		t.Fatalf("container %s: pid %q", ctr, s)
	}
	return pid
}

// waitExec runs podman exec ctr cmd... until it exits 0 (bounded), for a
// container's command to get ready, and returns its output.
func (p *podmanEnv) waitExec(t *testing.T, ctr string, cmd ...string) string {
	t.Helper()
	var r result
	for deadline := time.Now().Add(podmanTimeout); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		if r = p.run(t, nil, append([]string{"exec", ctr}, cmd...)...); r.code == 0 {
			return r.stdout
		}
	}
	t.Fatalf("podman exec %s %s: exit %d\nstdout: %s\nstderr: %s", ctr, strings.Join(cmd, " "), r.code, r.stdout, r.stderr)
	return ""
}

// TestPodmanRunExitStatus: a container's output, and its command's exit
// status as podman's.
func TestPodmanRunExitStatus(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	p.expect(t, nil, 3, "hi\n", "run", "--rm", "--network", "none", p.image, "sh", "-c", "echo hi; exit 3")
	p.expect(t, nil, 0, "", "run", "--rm", "--network", "none", p.image, "true")
	p.expect(t, nil, 1, "", "run", "--rm", "--network", "none", p.image, "false")
	// Without -t there is no terminal.
	p.expect(t, nil, 1, "not a tty\n", "run", "--rm", "--network", "none", p.image, "tty")
	// The image's command (Cmd /bin/sh) with no terminal and no input.
	p.expect(t, nil, 0, "", "run", "--rm", "--network", "none", p.image)

	// podman tells a command that is not there (127) from one that
	// cannot run (126), by the runtime's error message.
	r := p.run(t, nil, "run", "--rm", "--network", "none", p.image, "/no/such/command")
	if r.code != 127 {
		t.Errorf("missing command: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	r = p.run(t, nil, "run", "--rm", "--network", "none", p.image, "nosuchcommand")
	if r.code != 127 {
		t.Errorf("command not in PATH: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	r = p.run(t, nil, "run", "--rm", "--network", "none", p.image, "/etc/passwd")
	if r.code != 126 {
		t.Errorf("command not executable: exit %d, want 126\nstderr: %s", r.code, r.stderr)
	}
	// --rm removed them all, the failed ones too.
	if out := p.must(t, "ps", "--all", "--quiet"); out != "" {
		t.Errorf("containers left after run --rm: %q", out)
	}
}

// TestPodmanBridgeNetwork: on the test's bridge network a container has
// an address in the subnet, the host reaches a server in it and it
// reaches one on the host, and it has no way off the machine.
func TestPodmanBridgeNetwork(t *testing.T) {
	ociPass(t)
	p := newPodman(t)

	// A server on the host's end of the bridge, for the container.
	ln, err := net.Listen("tcp", podmanHostIP+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, "hello from the host\n")
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	hostPort := ln.Addr().(*net.TCPAddr).Port

	p.must(t, "run", "-d", "--name", "web", p.image, "sh", "-c",
		"mkdir -p /www && echo hello from the container >/www/index.html && exec httpd -f -p 8080 -h /www")

	ip := p.inspect(t, "web", "{{.NetworkSettings.IPAddress}}")
	_, subnet, _ := net.ParseCIDR(podmanSubnet)
	if a := net.ParseIP(ip); a == nil || !subnet.Contains(a) || ip == podmanHostIP {
		t.Fatalf("container address %q, want one in %s", ip, podmanSubnet)
	}
	// As the container sees it.
	addr := p.must(t, "exec", "web", "ip", "-4", "-o", "addr", "show", "dev", "eth0")
	if !strings.Contains(addr, " "+ip+"/24 ") {
		t.Errorf("eth0 in the container: %q, want %s/24", addr, ip)
	}
	routes := p.must(t, "exec", "web", "ip", "-4", "route", "show")
	if strings.Contains(routes, "default") || !strings.Contains(routes, "10.254.71.0/24 dev eth0") {
		t.Errorf("container routes %q: want the subnet's only", routes)
	}
	// Nothing beyond the subnet is reachable: no route, so no packet
	// is ever sent (198.51.100.1 is TEST-NET-2).
	// (busybox 1.35's wget -T crashes: no timeout.)
	if r := p.run(t, nil, "exec", "web", "wget", "-q", "-O", "-", "http://198.51.100.1/"); r.code == 0 ||
		!strings.Contains(r.stderr, "unreachable") {
		t.Errorf("container reached beyond its subnet? exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}

	// Host to container: the container's httpd, once it listens.
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	url := "http://" + net.JoinHostPort(ip, "8080") + "/"
	var body string
	for deadline := time.Now().Add(podmanTimeout); ; time.Sleep(100 * time.Millisecond) {
		resp, err := client.Get(url)
		if err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if body = string(b); resp.StatusCode == http.StatusOK {
				break
			}
			err = errors.New(resp.Status)
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	if body != "hello from the container\n" {
		t.Errorf("GET %s: %q", url, body)
	}

	// Container to host.
	out := p.must(t, "exec", "web", "wget", "-q", "-O", "-", fmt.Sprintf("http://%s:%d/", podmanHostIP, hostPort))
	if out != "hello from the host\n" {
		t.Errorf("container's GET from the host: %q", out)
	}

	// Its end of the network goes with it.
	p.must(t, "rm", "--force", "--time", "0", "web")
	if ports := podmanBridgePorts(); len(ports) > 0 {
		t.Errorf("links left on %s after podman rm: %v", podmanBridge, ports)
	}
}

// podmanBridgePorts lists the links on the test's bridge.
func podmanBridgePorts() []string {
	ents, _ := os.ReadDir("/sys/class/net/" + podmanBridge + "/brif")
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out
}

// TestPodmanStdin: with -i the container reads podman's standard input
// to its end; without, it reads nothing.
func TestPodmanStdin(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	p.expect(t, strings.NewReader("data\n"), 0, "data\n", "run", "-i", "--rm", "--network", "none", p.image, "cat")
	p.expect(t, strings.NewReader("data\n"), 0, "", "run", "--rm", "--network", "none", p.image, "cat")

	// A megabyte of binary input arrives whole, and its end too.
	in := make([]byte, 1<<20)
	_, _ = rand.Read(in)
	sum := md5.Sum(in)
	want := hex.EncodeToString(sum[:]) + "  -\n"
	p.expect(t, bytes.NewReader(in), 0, want, "run", "-i", "--rm", "--network", "none", p.image, "md5sum")
}

// TestPodmanTTY: with -t the command's standard streams are a terminal
// of the container's; with -it what the user types reaches it.
func TestPodmanTTY(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	ptyRE := regexp.MustCompile(`(?m)^/dev/pts/[0-9]+\r?$`)

	out, code := p.runOnPty(t, "", "run", "-t", "--rm", "--network", "none", p.image, "tty")
	if code != 0 || !ptyRE.MatchString(out) {
		t.Errorf("run -t tty: exit %d, output %q; want /dev/pts/N", code, out)
	}

	// An interactive shell: type a line once it prompts.
	out, code = p.runOnPty(t, "tty; echo sum=$((6*7)); exit 5\r", "run", "-it", "--rm", "--network", "none", p.image, "sh")
	if code != 5 || !ptyRE.MatchString(out) || !strings.Contains(out, "sum=42") {
		t.Errorf("run -it sh: exit %d, output %q; want exit 5, /dev/pts/N and sum=42", code, out)
	}
}

// runOnPty runs podman with a new terminal as its standard streams, as at
// a user's terminal. When typed is not empty, it is typed once the
// container's shell prompts. It returns the output and the exit status.
func (p *podmanEnv) runOnPty(t *testing.T, typed string, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), podmanTimeout)
	defer cancel()
	cmd, err := p.command(ctx, args...)
	if err != nil {
		t.Fatal(err)
	}
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer ptmx.Close()
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: 24, Cols: 80}); err != nil {
		t.Fatal(err)
	}
	cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	tty.Close()

	var (
		mu   sync.Mutex
		buf  bytes.Buffer
		done = make(chan struct{})
	)
	go func() {
		defer close(done)
		b := make([]byte, 4096)
		for {
			n, err := ptmx.Read(b)
			mu.Lock()
			buf.Write(b[:n])
			mu.Unlock()
			if err != nil {
				return // EIO once nothing has the terminal open
			}
		}
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }

	if typed != "" {
		// busybox sh's prompt is "/ # ".
		for !strings.Contains(output(), "# ") {
			select {
			case <-ctx.Done():
				t.Fatalf("podman %s: no prompt; output %q", strings.Join(args, " "), output())
			case <-time.After(50 * time.Millisecond):
			}
		}
		if _, err := io.WriteString(ptmx, typed); err != nil {
			t.Fatal(err)
		}
	}

	err = cmd.Wait()
	if ctx.Err() != nil {
		t.Fatalf("podman %s: no exit within %v; output %q", strings.Join(args, " "), podmanTimeout, output())
	}
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("podman %s: %v", strings.Join(args, " "), err)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second): // something else has the terminal: take what came
	}
	return output(), code
}

// TestPodmanExecStopRm: podman exec joins a detached container (its
// files, processes, input, exit status), podman stop's signal reaches the
// command, podman rm removes it.
func TestPodmanExecStopRm(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	id := strings.TrimSpace(p.must(t, "run", "-d", "--name", "box", p.image, "sh", "-c",
		`echo marker >/tmp/marker; trap "exit 42" TERM; sleep 1000 & wait`))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("podman run -d: %q, want the container's id", id)
	}
	if got := p.waitExec(t, "box", "cat", "/tmp/marker"); got != "marker\n" {
		t.Errorf("exec cat /tmp/marker: %q", got)
	}
	if st := p.inspect(t, "box", "{{.State.Status}}"); st != "running" {
		t.Errorf("state %q, want running", st)
	}
	if out := p.must(t, "ps", "--format", "{{.Names}}"); out != "box\n" {
		t.Errorf("podman ps: %q", out)
	}
	// The container's processes, from its own PID namespace.
	if out := p.must(t, "exec", "box", "ps", "-o", "args"); !strings.Contains(out, "sleep 1000") {
		t.Errorf("exec ps: no sleep 1000 in %q", out)
	}
	p.expect(t, nil, 7, "", "exec", "box", "sh", "-c", "exit 7")
	p.expect(t, strings.NewReader("typed\n"), 0, "typed\n", "exec", "-i", "box", "cat")
	p.expect(t, nil, 0, "1000 1000\n", "exec", "--user", "1000:1000", "box", "sh", "-c", `echo $(id -u) $(id -g)`)
	p.expect(t, nil, 0, "from exec\n", "exec", "--env", "GREETING=from exec", "box", "sh", "-c", `echo "$GREETING"`)
	if r := p.run(t, nil, "exec", "box", "nosuchcommand"); r.code != 127 {
		t.Errorf("exec of a missing command: exit %d, want 127\nstderr: %s", r.code, r.stderr)
	}
	// A terminal for exec -t, without one for podman.
	if out := p.must(t, "exec", "-t", "box", "tty"); !regexp.MustCompile(`^/dev/pts/[0-9]+\r?\n$`).MatchString(out) {
		t.Errorf("exec -t tty: %q", out)
	}

	// SIGTERM reaches the command, which exits 42: no need to wait for
	// the timeout's SIGKILL (no time is asserted).
	if out := p.must(t, "stop", "--time", "60", "box"); out != "box\n" {
		t.Errorf("podman stop: %q", out)
	}
	if st := p.inspect(t, "box", "{{.State.Status}} {{.State.ExitCode}}"); st != "exited 42" {
		t.Errorf("after stop: %q, want exited 42", st)
	}
	if r := p.run(t, nil, "exec", "box", "true"); r.code == 0 {
		t.Error("exec into a stopped container succeeded")
	}
	if ports := podmanBridgePorts(); len(ports) > 0 {
		t.Errorf("links left on %s after podman stop: %v", podmanBridge, ports)
	}

	if out := p.must(t, "rm", "box"); out != "box\n" && out != id+"\n" {
		t.Errorf("podman rm: %q", out)
	}
	if out := p.must(t, "ps", "--all", "--quiet"); out != "" {
		t.Errorf("containers after podman rm: %q", out)
	}
	if r := p.run(t, nil, "inspect", "box"); r.code == 0 {
		t.Error("podman inspect finds the removed container")
	}

	// podman kill's SIGKILL ends a command that ignores SIGTERM: 128+9.
	p.must(t, "run", "-d", "--name", "victim", "--network", "none", p.image, "sh", "-c", `trap "" TERM; sleep 1000 & wait`)
	p.waitExec(t, "victim", "true")
	p.must(t, "kill", "victim")
	if out := p.must(t, "wait", "victim"); out != "137\n" {
		t.Errorf("podman wait after podman kill: %q, want 137", out)
	}
	p.must(t, "rm", "victim")
}

// TestPodmanReadOnly: --read-only makes the root read-only; podman
// mounts writable tmpfs at /tmp, /var/tmp and /run (read_only_tmpfs).
func TestPodmanReadOnly(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	p.expect(t, nil, 0, "root read-only\ntmp ok\nvar/tmp ok\nrun ok\n", "run", "--rm", "--network", "none", "--read-only", p.image, "sh", "-c",
		`touch /x 2>/dev/null && echo root writable || echo root read-only
touch /tmp/x && echo tmp ok
touch /var/tmp/x && echo var/tmp ok
touch /run/x && echo run ok`)
	r := p.expect(t, nil, 1, "", "run", "--rm", "--network", "none", "--read-only", p.image, "touch", "/x")
	if !strings.Contains(r.stderr, "Read-only file system") {
		t.Errorf("touch /x: stderr %q, want Read-only file system", r.stderr)
	}
	out := p.must(t, "run", "--rm", "--network", "none", "--read-only", p.image, "cat", "/proc/self/mounts")
	if root := podmanMountOpts(out, "/"); !slices.Contains(root, "ro") {
		t.Errorf("/ mounted %v, want ro\n%s", root, out)
	}
	// Without it the root is writable.
	p.expect(t, nil, 0, "ok\n", "run", "--rm", "--network", "none", p.image, "sh", "-c", "touch /x && echo ok")
	// And with --read-only-tmpfs=false even /tmp is read-only.
	p.expect(t, nil, 0, "tmp read-only\n", "run", "--rm", "--network", "none", "--read-only", "--read-only-tmpfs=false", p.image, "sh", "-c",
		`touch /tmp/x 2>/dev/null && echo tmp writable || echo tmp read-only`)
}

// podmanMountOpts returns the options of the last mount at dir in a
// /proc/self/mounts text.
func podmanMountOpts(mounts, dir string) []string {
	var opts []string
	for _, l := range strings.Split(mounts, "\n") {
		if f := strings.Fields(l); len(f) >= 4 && f[1] == dir {
			opts = strings.Split(f[3], ",")
		}
	}
	return opts
}

// TestPodmanUser: --user runs the command as that uid and gid, without
// root's powers.
func TestPodmanUser(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	p.expect(t, nil, 0, "1000\n1000\n", "run", "--rm", "--network", "none", "--user", "1000:1000", p.image, "sh", "-c", "id -u; id -g")
	p.expect(t, nil, 0, "0\n", "run", "--rm", "--network", "none", p.image, "id", "-u")
	out := p.must(t, "run", "--rm", "--network", "none", "--user", "1000:1000", p.image, "cat", "/proc/self/status")
	if !regexp.MustCompile(`(?m)^CapEff:\s+0+$`).MatchString(out) {
		t.Errorf("--user 1000: effective capabilities, want none:\n%s", out)
	}
	r := p.run(t, nil, "run", "--rm", "--network", "none", "--user", "1000:1000", p.image, "touch", "/etc/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
		t.Errorf("--user 1000 touch /etc/x: exit %d, stderr %q; want Permission denied", r.code, r.stderr)
	}
}

// TestPodmanMemoryLimit: --memory is the container's cgroup limit, as it
// sees it and as the host does, and it holds: for the command and for
// what podman exec adds.
func TestPodmanMemoryLimit(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	const limit = "67108864\n" // 64m
	// Swap as large as memory: none, on a host that has swap.
	lim := []string{"--memory", "64m", "--memory-swap", "64m"}
	readLimit := "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max"
	p.expect(t, nil, 0, limit, append(append([]string{"run", "--rm", "--network", "none"}, lim...), p.image, "sh", "-c", readLimit)...)
	// dd's 100M buffer does not fit: the kernel kills it (128+9); 16M do.
	dd := func(bs string) []string { return []string{"dd", "if=/dev/zero", "of=/dev/null", "bs=" + bs, "count=1"} }
	p.expect(t, nil, 137, "", append(append(append([]string{"run", "--rm", "--network", "none"}, lim...), p.image), dd("100M")...)...)
	p.expect(t, nil, 0, "", append(append(append([]string{"run", "--rm", "--network", "none"}, lim...), p.image), dd("16M")...)...)

	p.must(t, append(append([]string{"run", "-d", "--name", "mem", "--network", "none"}, lim...), p.image, "sleep", "1000")...)
	if got := podmanHostCgroupFile(t, p.pid(t, "mem"), "memory", "memory.limit_in_bytes", "memory.max"); got != limit {
		t.Errorf("memory limit from the host: %q, want %q", got, limit)
	}
	p.expect(t, nil, 137, "", append([]string{"exec", "mem"}, dd("100M")...)...)
	p.expect(t, nil, 0, "", append([]string{"exec", "mem"}, dd("16M")...)...)
	p.must(t, "rm", "--force", "--time", "0", "mem")
}

// TestPodmanPidsLimit: --pids-limit is the container's cgroup limit, and
// it holds.
func TestPodmanPidsLimit(t *testing.T) {
	ociPass(t)
	p := newPodman(t)
	readLimit := "cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max"
	p.expect(t, nil, 0, "20\n", "run", "--rm", "--network", "none", "--pids-limit", "20", p.image, "sh", "-c", readLimit)
	// 40 processes do not fit in 20: a fork fails, and busybox sh gives
	// up; they fit in 100.
	spawn := `for i in $(seq 40); do sleep 1000 & done; echo all started`
	r := p.run(t, nil, "run", "--rm", "--network", "none", "--pids-limit", "20", p.image, "sh", "-c", spawn)
	if r.code == 0 || strings.Contains(r.stdout, "all started") || !strings.Contains(r.stderr, "fork") {
		t.Errorf("40 processes under --pids-limit 20: exit %d, stdout %q, stderr %q; want a failed fork", r.code, r.stdout, r.stderr)
	}
	p.expect(t, nil, 0, "all started\n", "run", "--rm", "--network", "none", "--pids-limit", "100", p.image, "sh", "-c", spawn)

	p.must(t, "run", "-d", "--name", "pids", "--network", "none", "--pids-limit", "20", p.image, "sleep", "1000")
	if got := podmanHostCgroupFile(t, p.pid(t, "pids"), "pids", "pids.max", "pids.max"); got != "20\n" {
		t.Errorf("pids limit from the host: %q, want 20", got)
	}
	p.must(t, "rm", "--force", "--time", "0", "pids")
}

// podmanHostCgroupFile reads, from the host, a file of process pid's
// cgroup: of controller's v1 hierarchy (v1name) or of the v2 tree
// (v2name) on a unified host.
func podmanHostCgroupFile(t *testing.T, pid int, controller, v1name, v2name string) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	var file string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case slices.Contains(strings.Split(f[1], ","), controller):
			file = filepath.Join("/sys/fs/cgroup", f[1], f[2], v1name)
		case f[0] == "0" && f[1] == "" && podmanIsCgroup2("/sys/fs/cgroup") && file == "":
			file = filepath.Join("/sys/fs/cgroup", f[2], v2name)
		}
	}
	if file == "" {
		t.Fatalf("process %d: no %s cgroup in %q", pid, controller, b)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// podmanDefaults are where podman keeps its state when not told
// otherwise: a test's podman must not make them.
var podmanDefaults = []string{
	"/var/lib/containers", "/run/containers", "/run/libpod", "/etc/containers/networks",
	"/dev/shm/libpod_lock", "/var/lib/cni/networks/" + podmanNetwork,
}

// recordHost notes what of podman's is on the host before the test.
func (p *podmanEnv) recordHost() {
	p.netnsBefore = map[string]bool{}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		p.netnsBefore[e.Name()] = true
	}
	for _, d := range podmanDefaults {
		if !fileExists(d) {
			p.defaultsGone = append(p.defaultsGone, d)
		}
	}
}

// cleanup removes the test's containers, storage, namespace, bridge and
// cgroups, and checks that podman and the runtime left nothing behind.
func (p *podmanEnv) cleanup(t *testing.T) {
	t.Helper()
	ids := p.containerIDs()
	if p.holder != nil {
		for _, args := range [][]string{{"rm", "--all", "--force", "--time", "0"}, {"system", "reset", "--force"}} {
			if r, err := p.try(nil, args...); err != nil || r.code != 0 {
				t.Errorf("podman %s: exit %d, %v: %s", strings.Join(args, " "), r.code, err, r.stderr)
			}
		}
		// conmon, and the podman container cleanup it runs at a
		// container's end, end soon after.
		var left []int
		podmanWait(30*time.Second, func() bool { left = p.nsProcesses(); return len(left) == 0 })
		for _, pid := range left {
			cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
			t.Errorf("leftover process %d: %s", pid, bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}))
			syscall.Kill(pid, syscall.SIGKILL)
		}
		// Mounts: in the namespace (podman's), and on the host, where
		// there must never be any.
		mis := []string{"/proc/self/mountinfo"}
		if ns, err := p.nsPath(); err == nil {
			mis = append(mis, strings.TrimSuffix(ns, "ns/mnt")+"mountinfo")
		}
		for _, mi := range mis {
			b, _ := os.ReadFile(mi)
			for _, l := range strings.Split(string(b), "\n") {
				if f := strings.Fields(l); len(f) > 8 && (strings.HasPrefix(f[4], p.dir) || f[len(f)-3] == "nsfs" && strings.HasPrefix(f[4], "/run/netns/")) {
					t.Errorf("leftover mount (%s): %s", mi, l)
				}
			}
		}
		select {
		case <-p.holderDone:
			t.Errorf("the holder of the test's mount namespace ended during the test: %v", p.holder.ProcessState)
		default:
			p.holder.Process.Kill()
			<-p.holderDone
		}
		// Should the holder have ended early, what is left in the
		// namespace goes now.
		for _, pid := range p.nsProcesses() {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
	for _, pid := range podmanConmons(p.dir) {
		t.Errorf("leftover conmon process %d", pid)
	}

	// The bridge: nothing on it any more, then gone.
	if p.bridgeMade && fileExists("/sys/class/net/"+podmanBridge) {
		if ports := podmanBridgePorts(); len(ports) > 0 {
			t.Errorf("leftover links on %s: %v", podmanBridge, ports)
		}
		if out, err := exec.Command("ip", "link", "del", podmanBridge).CombinedOutput(); err != nil {
			t.Errorf("ip link del %s: %v: %s", podmanBridge, err, out)
		}
		if fileExists("/sys/class/net/" + podmanBridge) {
			t.Errorf("leftover bridge %s", podmanBridge)
		}
	}

	// Network namespaces podman made: the files are on the host's /run.
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if !p.netnsBefore[e.Name()] && strings.HasPrefix(e.Name(), "netns-") {
			t.Errorf("leftover network namespace /run/netns/%s", e.Name())
			unix.Unmount("/run/netns/"+e.Name(), unix.MNT_DETACH)
			os.Remove("/run/netns/" + e.Name())
		}
	}

	// The runtime's state of each container, wherever under /run. What
	// is left goes with the runtime's delete --force, for the tests that
	// follow.
	for _, id := range ids {
		for _, pat := range []string{"/run/*/" + id, "/run/*/*/" + id} {
			if left, _ := filepath.Glob(pat); len(left) > 0 {
				t.Errorf("leftover runtime state: %v", left)
				ctx, cancel := context.WithTimeout(context.Background(), podmanTimeout)
				exec.CommandContext(ctx, ociRuntime(), "delete", "--force", id).Run()
				cancel()
			}
		}
	}

	// Cgroups: podman keeps the conmon group below the parent; a
	// container's own group is the runtime's to remove. The parent goes
	// too.
	p.removeCgroups(t)

	// CNI's cache of results (NETWORK-CONTAINERID-IFNAME), in the test's
	// /var/lib.
	for _, id := range ids {
		if res, _ := filepath.Glob(filepath.Join(p.dir, "varlib/cni/results/*-"+id+"-*")); len(res) > 0 {
			t.Errorf("leftover CNI results: %v", res)
		}
		if res, _ := filepath.Glob("/var/lib/cni/results/*-" + id + "-*"); len(res) > 0 {
			t.Errorf("CNI results in the host's /var/lib/cni: %v", res)
		}
	}
	for _, d := range p.defaultsGone {
		if fileExists(d) {
			t.Errorf("podman made %s: it is not isolated from the machine's defaults", d)
		}
	}
}

// containerIDs lists the containers the test made, from podman's event
// log (the containers are gone by the end).
func (p *podmanEnv) containerIDs() []string {
	f, err := os.Open(filepath.Join(p.dir, "events.log"))
	if err != nil {
		return nil
	}
	defer f.Close()
	var ids []string
	s := bufio.NewScanner(f)
	s.Buffer(nil, 1<<20)
	for s.Scan() {
		var ev struct{ ID, Type string }
		if json.Unmarshal(s.Bytes(), &ev) == nil && ev.Type == "container" && len(ev.ID) == 64 && !slices.Contains(ids, ev.ID) {
			ids = append(ids, ev.ID)
		}
	}
	return ids
}

// nsProcesses lists the live processes in the test's mount namespace
// but its holder: conmon, podman.
func (p *podmanEnv) nsProcesses() []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == p.holder.Process.Pid || exiting(e.Name()) {
			continue
		}
		if l, err := os.Readlink("/proc/" + e.Name() + "/ns/mnt"); err == nil && l == p.nsID {
			out = append(out, pid)
		}
	}
	return out
}

// podmanConmons lists the live conmon processes of the podman in dir.
func podmanConmons(dir string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || exiting(e.Name()) {
			continue
		}
		comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm")
		cmdline, _ := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if strings.TrimSpace(string(comm)) == "conmon" && bytes.Contains(cmdline, []byte(dir)) {
			out = append(out, pid)
		}
	}
	return out
}

// removeCgroups removes the test's cgroup parent on every hierarchy,
// deepest first, and says which container cgroups the runtime left.
func (p *podmanEnv) removeCgroups(t *testing.T) {
	t.Helper()
	roots, _ := filepath.Glob("/sys/fs/cgroup/*" + p.cgroupParent)
	if fileExists("/sys/fs/cgroup" + p.cgroupParent) {
		roots = append(roots, "/sys/fs/cgroup"+p.cgroupParent)
	}
	reported := map[string]bool{}
	for _, root := range roots {
		var dirs []string
		filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		slices.Reverse(dirs) // children first
		for _, d := range dirs {
			rel := strings.TrimPrefix(d, root)
			if rel != "" && rel != "/conmon" && !reported[rel] {
				reported[rel] = true
				t.Errorf("leftover cgroup %s (on %s)", p.cgroupParent+rel, filepath.Dir(root))
			}
			// A group empties as its processes finish exiting. What
			// still runs in it is the test's: it is killed.
			gone := func() bool { return unix.Rmdir(d) == nil || !fileExists(d) }
			podmanWait(10*time.Second, gone)
			if fileExists(d) {
				procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
				t.Errorf("leftover processes %q in cgroup %s", strings.Fields(string(procs)), d)
				for _, f := range strings.Fields(string(procs)) {
					if pid, err := strconv.Atoi(f); err == nil && pid > 1 {
						syscall.Kill(pid, syscall.SIGKILL)
					}
				}
				podmanWait(10*time.Second, gone)
				if fileExists(d) {
					t.Errorf("cannot remove cgroup %s", d)
				}
			}
		}
	}
}

// podmanWait polls cond until it holds or the timeout passes.
func podmanWait(timeout time.Duration, cond func() bool) {
	for deadline := time.Now().Add(timeout); !cond() && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
}
