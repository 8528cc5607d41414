package test

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// The source address check (security audit, finding 6): a jail's packets
// leave it only with one of its own addresses as source, whatever socket
// it writes them with. Every address here is in 10.221.0.0/16 or
// fd7a:5eed:21::/48; every packet goes between jails and the host, or a
// namespace the test made.

// spoofCase is one datagram a jail sends: its source and payload, and
// whether it must arrive.
type spoofCase struct {
	src    string
	tag    string
	arrive bool
}

// udpSink collects the payloads of the datagrams that reach a socket.
type udpSink struct {
	conn *net.UDPConn
	mu   sync.Mutex
	got  map[string]string // payload: source address
}

func newSink(t *testing.T, c *net.UDPConn) *udpSink {
	s := &udpSink{conn: c, got: map[string]string{}}
	t.Cleanup(func() { c.Close() })
	go func() {
		b := make([]byte, 1500)
		for {
			n, from, err := c.ReadFromUDPAddrPort(b)
			if err != nil {
				return
			}
			s.mu.Lock()
			s.got[string(b[:n])] = from.Addr().String()
			s.mu.Unlock()
		}
	}()
	return s
}

// listenHost listens for UDP on addr (with its zone) in the host's
// namespace, on a port of the kernel's choice.
func listenHost(t *testing.T, addr string) *udpSink {
	t.Helper()
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return newSink(t, c)
}

func (s *udpSink) port() int { return s.conn.LocalAddr().(*net.UDPAddr).Port }

// check waits for the cases that must arrive, then a little longer for
// those that must not.
func (s *udpSink) check(t *testing.T, what string, cases []spoofCase) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		s.mu.Lock()
		missing := 0
		for _, c := range cases {
			if _, ok := s.got[c.tag]; c.arrive && !ok {
				missing++
			}
		}
		s.mu.Unlock()
		if missing == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range cases {
		from, ok := s.got[c.tag]
		switch {
		case c.arrive && !ok:
			t.Errorf("%s: the datagram with the jail's own source %s did not arrive", what, c.src)
		case !c.arrive && ok:
			t.Errorf("%s: a datagram with the spoofed source %s arrived (from %s)", what, c.src, from)
		}
	}
}

// shellJail is a jail running a shell that runs each line written to it
// as "/probe LINE" and answers with the probe's output line.
type shellJail struct{ *background }

func startShellJail(t *testing.T, name string, args ...string) shellJail {
	t.Helper()
	args = append(append([]string{"--root", probeRoot(t)}, args...),
		"/bin/sh", "-c", `echo ready; while read -r line; do /probe $line 2>&1 || echo "exit $?"; done`)
	return shellJail{startJail(t, name, args...)}
}

func (j shellJail) probe(t *testing.T, line string) string {
	t.Helper()
	if _, err := fmt.Fprintln(j.stdin, line); err != nil {
		t.Fatalf("jail %s: %v", j.name, err)
	}
	ch := make(chan string, 1)
	go func() { l, _ := j.out.ReadString('\n'); ch <- l }()
	select {
	case l := <-ch:
		return strings.TrimSpace(l)
	case <-time.After(10 * time.Second):
		t.Fatalf("jail %s: no answer to %q: %s", j.name, line, j.stderr.String())
		return ""
	}
}

// spoofFrom has jail j send the cases to dst:port with the probe's way
// mode. The genuine datagram must be sent; a spoofed one may fail already
// in the jail (a check on the jail's egress drops it in the sendto:
// ENOBUFS, or EPERM), and the listener tells whether it got out.
func spoofFrom(t *testing.T, j shellJail, mode, dst string, port int, cases []spoofCase) {
	t.Helper()
	line := fmt.Sprintf("spoof %s %s %d", mode, dst, port)
	for _, c := range cases {
		line += " " + c.src + "=" + c.tag
	}
	out := j.probe(t, line)
	for _, c := range cases {
		if !strings.Contains(out, c.tag+"=") || c.arrive && !strings.Contains(out, c.tag+"=ok") {
			t.Fatalf("jail %s: %s: %s", j.name, line, out)
		}
	}
	t.Logf("jail %s sent: %s", j.name, out)
}

// resolveNeighbour has jail j reach dst from its own address own until
// one datagram arrives. A macvlan jail has no IPv6 link-local address, so
// the kernel sources its neighbour solicitations from the packet waiting
// for the neighbour (ndisc_solicit): with a spoofed one last in the queue,
// resolution would wait for the next genuine packet. Resolving first makes
// the spoofed datagrams' fate the filter's alone.
func resolveNeighbour(t *testing.T, j shellJail, s *udpSink, dst, own string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
		j.probe(t, fmt.Sprintf("spoof raw %s %d %s=resolve", dst, s.port(), own))
		for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait); time.Sleep(20 * time.Millisecond) {
			s.mu.Lock()
			_, ok := s.got["resolve"]
			s.mu.Unlock()
			if ok {
				return
			}
		}
	}
	t.Fatalf("jail %s: no datagram from its own %s reached %s", j.name, own, dst)
}

// spoofCases are the three sources of the audit: the jail's own, a foreign
// one (TEST-NET-1, 2001:db8::), another running jail's.
func spoofCases(mode, own, foreign, other string) []spoofCase {
	return []spoofCase{
		{own, mode + "-own-" + own, true},
		{foreign, mode + "-foreign-" + foreign, false},
		{other, mode + "-other-" + other, false},
	}
}

// forSpoofModes runs f for each way a jail can write raw frames: raw IP
// sockets (allow.raw_sockets), and packet sockets (with allow.socket_af).
func forSpoofModes(t *testing.T, f func(t *testing.T, mode string, args []string)) {
	for _, allow := range [][]string{{"raw_sockets"}, {"socket_af", "raw_sockets"}} {
		mode := "raw"
		if len(allow) == 2 {
			mode = "packet"
		}
		var args []string
		for _, a := range allow {
			args = append(args, "--allow", a)
		}
		t.Run(mode, func(t *testing.T) { f(t, mode, args) })
	}
}

func TestSpoofVeth(t *testing.T) {
	b := jailName(t)
	startJail(t, b, "--ip", "10.221.1.2", "--ip", "fd7a:5eed:21:1::2", "/bin/sh", "-c", "echo ready; exec cat")
	forSpoofModes(t, func(t *testing.T, mode string, args []string) {
		n := jailName(t)
		j := startShellJail(t, n, append(args, "--ip", "10.221.1.1", "--ip", "fd7a:5eed:21:1::1")...)
		// The gateway addresses on the jail's host end.
		s4 := listenHost(t, "169.254.1.1")
		s6 := listenHost(t, "fe80::1%"+hostLink(n))
		c4 := spoofCases(mode, "10.221.1.1", "192.0.2.1", "10.221.1.2")
		c6 := spoofCases(mode, "fd7a:5eed:21:1::1", "2001:db8::1", "fd7a:5eed:21:1::2")
		spoofFrom(t, j, mode, "169.254.1.1", s4.port(), c4)
		spoofFrom(t, j, mode, "fe80::1%eth0", s6.port(), c6)
		s4.check(t, mode+" IPv4 to the host", c4)
		s6.check(t, mode+" IPv6 to the host", c6)
	})
}

func TestSpoofMacvlan(t *testing.T) {
	b := jailName(t)
	// The parent: a veth whose peer is in a namespace of the test's own,
	// where the listeners are.
	parent := "prs" + b[1:5]
	peerNS := spoofPeer(t, parent, "10.221.2.254/24", "fd7a:5eed:21:2::fe/64")
	s4 := listenIn(t, peerNS, "10.221.2.254")
	s6 := listenIn(t, peerNS, "fd7a:5eed:21:2::fe")
	startJail(t, b, "--net", "macvlan:"+parent, "--ip", "10.221.2.2/24", "--ip", "fd7a:5eed:21:2::2/64",
		"/bin/sh", "-c", "echo ready; exec cat")
	forSpoofModes(t, func(t *testing.T, mode string, args []string) {
		j := startShellJail(t, jailName(t), append(args, "--net", "macvlan:"+parent,
			"--ip", "10.221.2.1/24", "--ip", "fd7a:5eed:21:2::1/64")...)
		c4 := spoofCases(mode, "10.221.2.1", "192.0.2.1", "10.221.2.2")
		c6 := spoofCases(mode, "fd7a:5eed:21:2::1", "2001:db8::1", "fd7a:5eed:21:2::2")
		if mode == "raw" {
			resolveNeighbour(t, j, s6, "fd7a:5eed:21:2::fe", "fd7a:5eed:21:2::1")
		}
		spoofFrom(t, j, mode, "10.221.2.254", s4.port(), c4)
		spoofFrom(t, j, mode, "fd7a:5eed:21:2::fe", s6.port(), c6)
		s4.check(t, mode+" IPv4 on the segment", c4)
		s6.check(t, mode+" IPv6 on the segment", c6)
	})
}

// spoofPeer makes a veth pair: parent, up in the host's namespace, and its
// peer, with the given addresses, in a network namespace of its own (a
// sleep's). It returns the namespace's process; the test's end removes it
// all.
func spoofPeer(t *testing.T, parent string, addrs ...string) int {
	t.Helper()
	cmd := exec.Command("sleep", "300")
	// No Pdeathsig: it fires when the forking thread ends, and inNetNS
	// ends threads.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	pid := cmd.Process.Pid
	v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: parent}, PeerName: parent + "p", PeerNamespace: netlink.NsPid(pid)}
	if err := netlink.LinkAdd(v); err != nil {
		t.Fatalf("add veth %s: %v", parent, err)
	}
	t.Cleanup(func() {
		netlink.LinkDel(v)
		if _, err := netlink.LinkByName(parent); err == nil {
			t.Errorf("leftover: test veth %s", parent)
		}
	})
	if err := netlink.LinkSetUp(v); err != nil {
		t.Fatal(err)
	}
	err := inNetNS(pid, func() error {
		peer, err := netlink.LinkByName(parent + "p")
		if err != nil {
			return err
		}
		for _, a := range addrs {
			addr, err := netlink.ParseAddr(a)
			if err != nil {
				return err
			}
			addr.Flags = unix.IFA_F_NODAD
			if err := netlink.AddrAdd(peer, addr); err != nil {
				return err
			}
		}
		return netlink.LinkSetUp(peer)
	})
	if err != nil {
		t.Fatalf("configure %sp: %v", parent, err)
	}
	return pid
}

// listenIn listens for UDP on addr in pid's network namespace.
func listenIn(t *testing.T, pid int, addr string) *udpSink {
	t.Helper()
	var c *net.UDPConn
	err := inNetNS(pid, func() (err error) {
		c, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
		return err
	})
	if err != nil {
		t.Fatalf("listen on %s: %v", addr, err)
	}
	return newSink(t, c)
}

// inNetNS runs fn on a thread of its own in pid's network namespace. The
// thread is locked throughout and never released, so the runtime discards
// it: it never comes back to the host's namespace by mistake.
func inNetNS(pid int, fn func() error) error {
	ch := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		f, err := os.Open(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			ch <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- err
			return
		}
		ch <- fn()
	}()
	return <-ch
}
