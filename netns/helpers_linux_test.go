package netns

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"prison/internal/roottest"
)

// requireRoot skips a privileged test, or fails it when CI=true: CI
// promises root, so a skip there would hide the whole tier.
func requireRoot(tb testing.TB) { roottest.Require(tb) }

// startJail starts `sleep` in a network namespace of its own and
// returns its pid; the process is killed when the test ends.
func startJail(tb testing.TB) int {
	tb.Helper()
	cmd := exec.Command("sleep", "300")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start jail: %v", err)
	}
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	return cmd.Process.Pid
}

// inNetns runs fn on a thread moved into pid's network namespace
// (and back: see inNamespace).
func inNetns(pid int, fn func() error) error {
	fd, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return inNamespace(fd, fn)
}

// listenIn opens a TCP listener in pid's namespace that answers every
// connection with its own local address and closes it.
func listenIn(tb testing.TB, pid int, addr string) net.Listener {
	tb.Helper()
	var ln net.Listener
	err := inNetns(pid, func() (err error) {
		ln, err = net.Listen("tcp", addr)
		return err
	})
	if err != nil {
		tb.Fatalf("listen on %s in jail: %v", addr, err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			fmt.Fprintf(c, "%s %s", c.LocalAddr(), c.RemoteAddr())
			c.Close()
		}
	}()
	return ln
}

// dial connects to addr (from pid's namespace when pid > 0, from the
// host otherwise) and returns what the listener said.
func dial(pid int, addr string) (string, error) {
	var out string
	do := func() error {
		d := net.Dialer{Timeout: 3 * time.Second}
		c, err := d.DialContext(context.Background(), "tcp", addr)
		if err != nil {
			return err
		}
		defer c.Close()
		b := make([]byte, 200)
		_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
		n, err := c.Read(b)
		if n > 0 {
			err = nil
		}
		out = string(b[:n])
		return err
	}
	if pid > 0 {
		return out, inNetns(pid, do)
	}
	return out, do()
}

func mustParse(tb testing.TB, ss ...string) []netip.Prefix {
	tb.Helper()
	var out []netip.Prefix
	for _, s := range ss {
		p, err := ParseAddr(s)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

// attach runs Attach and registers Detach, then a check that the host
// keeps nothing of the jail once its namespace is gone.
func attach(tb testing.TB, p *Plan, pid int) *Attachment {
	tb.Helper()
	a, err := Attach(p, pid)
	if err != nil {
		tb.Fatalf("Attach: %v", err)
	}
	tb.Cleanup(func() {
		if err := a.Detach(); err != nil {
			tb.Errorf("Detach: %v", err)
		}
	})
	return a
}

// hostLeftovers lists what the host still holds of the given host links
// and addresses: links, rules naming them, routes via them or to the
// addresses in any table, proxy entries for the addresses.
func hostLeftovers(links []string, addrs []netip.Addr) ([]string, error) {
	h, err := openRtnl()
	if err != nil {
		return nil, err
	}
	defer h.Close()
	var left []string
	names := map[string]bool{}
	for _, l := range links {
		names[l] = true
		if _, err := h.LinkByName(l); err == nil {
			left = append(left, "link "+l)
		}
	}
	want := map[netip.Addr]bool{}
	for _, a := range addrs {
		want[a] = true
	}
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := retryDump(func() ([]netlink.Rule, error) { return h.RuleList(fam) })
		if err != nil {
			return nil, err
		}
		for _, r := range rules {
			if names[r.IifName] {
				left = append(left, "rule "+r.String())
			}
		}
	}
	routes, err := retryDump(func() ([]netlink.Route, error) {
		return h.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	})
	if err != nil {
		return nil, err
	}
	for _, r := range routes {
		if r.Dst == nil {
			continue
		}
		if d, ok := netip.AddrFromSlice(r.Dst.IP); ok && want[d.Unmap()] {
			left = append(left, "route "+r.String())
		}
	}
	proxies, err := h.listProxies()
	if err != nil {
		return nil, err
	}
	for _, p := range proxies {
		if want[p.addr] {
			left = append(left, fmt.Sprintf("proxy %s dev #%d", p.addr, p.ifindex))
		}
	}
	return left, nil
}

// expectClean registers, before anything else of the test, a cleanup
// that runs last: it waits for the namespaces to go (their teardown is
// asynchronous) and fails on anything left of links and addrs.
func expectClean(t *testing.T, links []string, addrs ...netip.Prefix) {
	t.Helper()
	var as []netip.Addr
	for _, a := range addrs {
		as = append(as, a.Addr())
	}
	t.Cleanup(func() {
		var left []string
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if left, err = hostLeftovers(links, as); err == nil && len(left) == 0 {
				return
			}
		}
		t.Errorf("left on the host: %v %v", left, err)
	})
}

func isUnreachable(err error) bool {
	return errors.Is(err, unix.EHOSTUNREACH) || errors.Is(err, unix.ENETUNREACH)
}
