package test

import (
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"prison/netns"
)

// Every address here is in 10.254.0.0/16 or fd00:254::/64, made and used
// only between the host and the jails the tests start: no test sends a
// packet to anything outside this machine.

// serve is a command line that prints ready once a server listens on port.
func serve(port int) []string {
	return []string{"/bin/sh", "-c", fmt.Sprintf(
		`mkdir -p /www && echo "page of $(hostname)" > /www/index.html && httpd -p %d -h /www && echo ready && exec cat`, port)}
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	c := &net.Dialer{Timeout: 5 * time.Second}
	host := strings.TrimPrefix(url, "http://")
	host, path, _ := strings.Cut(host, "/")
	conn, err := c.Dial("tcp", host)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	fmt.Fprintf(conn, "GET /%s HTTP/1.0\r\n\r\n", path)
	b, _ := io.ReadAll(conn)
	_, body, _ := strings.Cut(string(b), "\r\n\r\n")
	return body
}

func TestServeFromJail(t *testing.T) {
	n := jailName(t)
	b := startJail(t, n, append([]string{"--root", probeRoot(t), "--host", "www1", "--ip", "10.254.1.1"}, serve(80)...)...)
	if got := httpGet(t, "http://10.254.1.1:80/index.html"); got != "page of www1\n" {
		t.Errorf("page from the jail: %q", got)
	}
	b.stop()
	assertNoRoute(t, n)
}

func TestJailsTalk(t *testing.T) {
	a, b := jailName(t), jailName(t)
	startJail(t, a, append([]string{"--root", probeRoot(t), "--host", "a", "--ip", "10.254.2.1"}, serve(8080)...)...)
	out := mustRun(t, "run", "--name", b, "--root", probeRoot(t), "--ip", "10.254.2.2",
		"wget", "-qO-", "http://10.254.2.1:8080/index.html")
	if out != "page of a\n" {
		t.Errorf("jail b got %q from jail a", out)
	}
}

func TestSeveralAddresses(t *testing.T) {
	n := jailName(t)
	j := startJail(t, n, append([]string{
		"--root", probeRoot(t), "--host", "multi",
		"--ip", "10.254.3.1", "--ip", "10.254.3.2/24", "--ip", "fd00:254::3",
	}, serve(80)...)...)
	_ = j
	for _, url := range []string{"http://10.254.3.1:80/", "http://10.254.3.2:80/", "http://[fd00:254::3]:80/"} {
		if got := httpGet(t, url+"index.html"); got != "page of multi\n" {
			t.Errorf("%s: %q", url, got)
		}
	}
	// Exactly these addresses, each a host address, and nothing else.
	out := mustRun(t, "run", "--name", n+"x", "--root", probeRoot(t), "--ip", "10.254.3.9", "--ip", "fd00:254::9",
		"/bin/sh", "-c", "ip -o addr show dev eth0 scope global; ip -o link | wc -l")
	if !strings.Contains(out, "10.254.3.9/32") || !strings.Contains(out, "fd00:254::9/128") ||
		strings.Count(out, "inet") != 2 || !strings.HasSuffix(strings.TrimSpace(out), "2") {
		t.Errorf("jail addresses and links:\n%s", out)
	}
	assertNoLeftovers(t, n+"x")
}

func TestBindOnlyOwnAddress(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "--root", probeRoot(t), "--ip", "10.254.4.1", "/bin/sh", "-c",
		"httpd -p 10.254.4.2:80 -h / 2>&1; httpd -p 127.0.0.1:81 -h / && echo loopback-ok")
	if !strings.Contains(out, "Cannot assign requested address") || !strings.Contains(out, "loopback-ok") {
		t.Errorf("binding an address the jail was not given must fail with EADDRNOTAVAIL:\n%s", out)
	}
}

func TestNoNetworkChangesInside(t *testing.T) {
	n := jailName(t)
	// The host's iproute2, in the default root: busybox's ip has no
	// "neigh add".
	out := mustRun(t, "run", "--name", n, "--ip", "10.254.5.1", "/bin/sh", "-c",
		`ip addr add 10.254.5.99/32 dev eth0 2>&1; ip route add 10.254.6.0/24 dev eth0 2>&1;
		 ip link set eth0 down 2>&1; ip link set lo mtu 1400 2>&1; ip neigh add 10.254.5.7 lladdr 02:00:00:00:00:01 dev eth0 2>&1;
		 ip -o addr show dev eth0 scope global`)
	if c := strings.Count(out, "Operation not permitted"); c != 5 {
		t.Errorf("want 5 refusals (address, route, link, mtu, neighbour), got %d:\n%s", c, out)
	}
	if strings.Contains(out, "10.254.5.99") {
		t.Errorf("an address was added inside:\n%s", out)
	}
}

func TestHostInterfacesInvisible(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "--ip", "10.254.5.2", "cat", "/proc/net/dev")
	for _, l := range strings.Split(out, "\n")[2:] {
		name, _, _ := strings.Cut(strings.TrimSpace(l), ":")
		if name != "" && name != "lo" && name != "eth0" {
			t.Errorf("host interface %q visible inside", name)
		}
	}
}

func TestNothingLeavesTheMachine(t *testing.T) {
	n := jailName(t)
	// 198.51.100.1 (TEST-NET-2) is never reached: the host's table for
	// jails answers unreachable before any interface is chosen.
	out := mustRun(t, "run", "--name", n, "--ip", "10.254.6.1", "/bin/sh", "-c",
		`ping -c1 -W2 198.51.100.1 2>&1; ping -c1 -W2 169.254.1.1 | grep -c ' 0% packet loss'`)
	if !strings.Contains(out, "Unreachable") || !strings.HasSuffix(strings.TrimSpace(out), "1") {
		t.Errorf("a jail's ping outside must be refused, its ping of the host answered:\n%s", out)
	}
	// The host's own verdict for a packet arriving from the jail.
	b := startJail(t, n+"r", "--ip", "10.254.6.2", "/bin/sh", "-c", "echo ready; exec cat")
	link, err := netlink.LinkByName(hostLink(b.name))
	if err != nil {
		t.Fatal(err)
	}
	_, err = netlink.RouteGetWithOptions(net.ParseIP("198.51.100.1"),
		&netlink.RouteGetOptions{IifIndex: link.Attrs().Index, SrcAddr: net.ParseIP("10.254.6.2")})
	if err == nil {
		t.Errorf("the host routes a jail's packet to 198.51.100.1; want unreachable")
	}
	b.stop()
	assertNoLeftovers(t, n+"r")
}

func TestAddressConflicts(t *testing.T) {
	a, b := jailName(t), jailName(t)
	startJail(t, a, "--ip", "10.254.7.1", "/bin/sh", "-c", "echo ready; exec cat")
	r := prison(t, nil, "run", "--name", b, "--ip", "10.254.7.1", "true")
	if r.code != 125 {
		t.Errorf("second jail with a held address: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, fmt.Sprintf("--ip 10.254.7.1: already held by jail %q", a))

	// An address a host interface holds, on a veth the test makes, is
	// refused; so is one on a link that is down (it comes back with the
	// link) or not ready yet (IPv6 tentative).
	hostHolds := func(link netlink.Link, ips ...string) {
		t.Helper()
		for _, ip := range ips {
			a := netip.MustParseAddr(ip)
			addr, _ := netlink.ParseAddr(netip.PrefixFrom(a, a.BitLen()).String())
			addr.Flags = unix.IFA_F_NODAD
			if err := netlink.AddrAdd(link, addr); err != nil {
				t.Fatal(err)
			}
		}
		for _, ip := range ips {
			r := prison(t, nil, "run", "--name", b, "--ip", ip, "true")
			if r.code != 125 {
				t.Errorf("address %s of host interface %s: exit %d, want 125", ip, link.Attrs().Name, r.code)
			}
			assertOneLine(t, r, "--ip "+ip+": already held by host interface "+link.Attrs().Name)
		}
	}
	hostHolds(testVeth(t, "prt"+b[1:5]), "10.254.7.9", "fd00:254::7:9")
	// The same network, another address: free.
	mustRun(t, "run", "--name", b, "--ip", "10.254.7.10", "true")
	down := testVeth(t, "prd"+b[1:5])
	if err := netlink.LinkSetDown(down); err != nil {
		t.Fatal(err)
	}
	hostHolds(down, "10.254.7.11", "fd00:254::7:11")

	for _, bad := range []struct{ arg, want string }{
		{"10.0.0.300", `--ip "10.0.0.300": not an IP address`},
		{"fe80::zz", `--ip "fe80::zz": not an IP address`},
		{"10.254.7.0/24", "network address"},
		{"10.254.7.255/24", "broadcast address"},
	} {
		r := prison(t, nil, "run", "--name", b, "--ip", bad.arg, "true")
		if r.code != 125 {
			t.Errorf("--ip %s: exit %d, want 125", bad.arg, r.code)
		}
		assertOneLine(t, r, bad.want)
	}
	for _, bad := range []struct {
		args []string
		want string
	}{
		{[]string{"--net", "macvlan:nosuchif", "--ip", "10.254.7.5"}, "--net macvlan:nosuchif: no such interface"},
		{[]string{"--net", "bogus"}, "--net"},
	} {
		r := prison(t, nil, append(append([]string{"run", "--name", b}, bad.args...), "true")...)
		if r.code != 125 {
			t.Errorf("%v: exit %d, want 125", bad.args, r.code)
		}
		assertOneLine(t, r, bad.want)
	}
}

// testVeth makes a veth pair on the host for a test (this kernel has no
// dummy driver) and removes it when the test ends; it returns the end named
// name, up.
func testVeth(t *testing.T, name string) netlink.Link {
	t.Helper()
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: name}, PeerName: name + "p"}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add test veth %s: %v", name, err)
	}
	t.Cleanup(func() {
		netlink.LinkDel(v)
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("leftover: test veth %s", name)
		}
	})
	l, err := netlink.LinkByName(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{name, name + "p"} {
		if l, err := netlink.LinkByName(n); err == nil {
			netlink.LinkSetUp(l)
		}
	}
	return l
}

func TestConcurrentSameAddress(t *testing.T) {
	const n = 8
	type outcome struct {
		code int
		err  string
	}
	var wg sync.WaitGroup
	results := make([]outcome, n) // each written by its goroutine, read after wg.Wait
	exited := make(chan struct{}, n)
	stdins := make([]io.WriteCloser, n)
	names := make([]string, n)
	for i := range names {
		names[i] = jailName(t)
	}
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		cmd := exec.Command(prisonBin, "run", "--name", names[i], "--ip", "10.254.8.1", "/bin/sh", "-c", "exec cat")
		stdins[i], _ = cmd.StdinPipe()
		var errb strings.Builder
		cmd.Stderr = &errb
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { exited <- struct{}{} }()
			<-start
			if err := cmd.Start(); err != nil {
				results[i] = outcome{-1, err.Error()}
				return
			}
			cmd.Wait()
			results[i] = outcome{cmd.ProcessState.ExitCode(), errb.String()}
		}(i)
	}
	close(start)
	// The winner runs until its stdin closes; the losers exit by themselves.
	// Wait until n-1 have exited (bounded, should two win), then let the
	// winner go.
	timeout := time.After(30 * time.Second)
wait:
	for done := 0; done < n-1; done++ {
		select {
		case <-exited:
		case <-timeout:
			break wait
		}
	}
	for _, s := range stdins {
		s.Close()
	}
	wg.Wait()
	won := 0
	for i, r := range results {
		switch {
		case r.code == 0:
			won++
		case r.code == 125 && strings.Contains(r.err, "--ip 10.254.8.1: already held by jail"):
		default:
			t.Errorf("jail %d: exit %d: %s", i, r.code, r.err)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d jails got 10.254.8.1, want exactly 1", won, n)
	}
}

func TestMacvlan(t *testing.T) {
	a, b := jailName(t), jailName(t)
	parent := testVeth(t, "prm"+a[1:5])
	mtu := parent.Attrs().MTU
	startJail(t, a, append([]string{
		"--root", probeRoot(t), "--host", "mac-a", "--net", "macvlan:" + parent.Attrs().Name,
		"--ip", "10.254.9.1/24",
	}, serve(80)...)...)
	out := mustRun(t, "run", "--name", b, "--root", probeRoot(t), "--net", "macvlan:"+parent.Attrs().Name,
		"--ip", "10.254.9.2/24", "--gateway", "10.254.9.254", "/bin/sh", "-c",
		"wget -qO- http://10.254.9.1/index.html; ip route; cat /sys/class/net/eth0/mtu 2>/dev/null || ip -o link show eth0")
	if !strings.Contains(out, "page of mac-a") {
		t.Errorf("macvlan jails do not talk:\n%s", out)
	}
	if !strings.Contains(out, "default via 10.254.9.254") || !strings.Contains(out, fmt.Sprintf("mtu %d", mtu)) {
		t.Errorf("macvlan route or MTU (parent %d):\n%s", mtu, out)
	}
}

func TestSIGKILLOfLauncherLeavesNoNetwork(t *testing.T) {
	n := jailName(t)
	b := startJail(t, n, "--ip", "10.254.10.1", "/bin/sh", "-c", "echo ready; exec sleep 300")
	if _, err := netlink.LinkByName(hostLink(n)); err != nil {
		t.Fatalf("no host link while the jail runs: %v", err)
	}
	b.kill()
	deadline := time.Now().Add(10 * time.Second)
	for len(jailInits(n)) > 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	// The address is free again at once for the next jail, whose prison
	// call also sweeps the rules and routes left behind.
	mustRun(t, "run", "--name", n+"b", "--ip", "10.254.10.1", "true")
	assertNoLeftovers(t, n+"b")
	assertNoRoute(t, n)
}

// assertNoRoute checks, after the jail is gone, that no rule or route of
// prison's for jail name is left on the host.
func assertNoRoute(t *testing.T, name string) {
	t.Helper()
	func() {
		link := hostLink(name)
		deadline := time.Now().Add(10 * time.Second)
		for fileExists("/sys/class/net/"+link) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		mustRun(t, "run", "true") // sweeps what a killed launcher left
		for _, fam := range []int{netlink.FAMILY_V4, netlink.FAMILY_V6} {
			rules, _ := netlink.RuleList(fam)
			for _, r := range rules {
				if r.IifName == link {
					t.Errorf("leftover rule: %v", r)
				}
			}
		}
		routes, _ := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC, Protocol: netns.Protocol},
			netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		for _, r := range routes {
			if l, err := netlink.LinkByIndex(r.LinkIndex); err != nil || l.Attrs().Name == link {
				t.Errorf("leftover route: %v", r)
			}
		}
	}()
}

func TestAddressReusedAtOnce(t *testing.T) {
	// A jail that just ended still has its host link (the namespace dies
	// asynchronously); the next jail with its address must not trip on it.
	for i := 0; i < 5; i++ {
		n := jailName(t)
		mustRun(t, "run", "--name", n, "--ip", "10.254.11.1", "--ip", "fd00:254::11", "true")
	}
}

func TestNetHost(t *testing.T) {
	n := jailName(t)
	before, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	// The jail is in the host's network namespace, and so sees the host's
	// links, this test's own among them. (Comparing the lists of links
	// would compare two moments of a host where others make and remove
	// links meanwhile.)
	own := testVeth(t, "prh"+n[1:5]).Attrs().Name
	host, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	out := mustRun(t, "run", "--name", n, "--net", "host", "/bin/sh", "-c", "readlink /proc/self/ns/net; cat /proc/net/dev")
	ns, dev, _ := strings.Cut(out, "\n")
	seen := false
	for _, l := range strings.Split(dev, "\n") {
		name, _, _ := strings.Cut(strings.TrimSpace(l), ":")
		seen = seen || name == own
	}
	if ns != host || !seen {
		t.Errorf("--net host: the jail is not in the host's network namespace (%s), or does not see link %s:\n%s", host, own, out)
	}
	after, _ := os.ReadFile("/proc/sys/net/ipv4/ping_group_range")
	if string(before) != string(after) {
		t.Errorf("--net host changed the host's ping_group_range: %q -> %q", before, after)
	}
	r := prison(t, nil, "run", "--name", n, "--net", "host", "--ip", "10.254.12.1", "true")
	if r.code != 125 {
		t.Errorf("--net host with --ip: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, "--ip: a jail with --net host has the host's addresses")
}

func TestResolvAndHosts(t *testing.T) {
	n := jailName(t)
	out := mustRun(t, "run", "--name", n, "--host", "cust1", "--ip", "10.254.13.1", "--dns", "10.254.13.53",
		"/bin/sh", "-c", "cat /etc/resolv.conf /etc/hosts")
	if !strings.Contains(out, "nameserver 10.254.13.53") || !strings.Contains(out, "10.254.13.1\tcust1") {
		t.Errorf("--dns and /etc/hosts:\n%s", out)
	}
	host, _ := os.ReadFile("/etc/resolv.conf")
	out = mustRun(t, "run", "--name", n, "cat", "/etc/resolv.conf")
	if out != string(host) {
		t.Errorf("without --dns the jail's resolv.conf is not the host's:\n%s", out)
	}
	r := prison(t, nil, "run", "--name", n, "--dns", "not-an-ip", "true")
	if r.code != 125 {
		t.Errorf("--dns not-an-ip: exit %d, want 125", r.code)
	}
	assertOneLine(t, r, `--dns "not-an-ip": not an IP address`)
}
