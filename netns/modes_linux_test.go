package netns

import (
	"net"
	"net/netip"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// TestMacvlan puts two jails on a macvlan parent the test made (a veth
// whose peer stands in for the segment) and has them talk, and the
// outside reach one through its gateway-less on-link prefix.
func TestMacvlan(t *testing.T) {
	requireRoot(t)
	a1 := mustParse(t, "10.213.3.11/24", "fd7a:5eed:3::11/64")
	a2 := mustParse(t, "10.213.3.12/24")
	expectClean(t, []string{"prt-mv0"}, append(a1, a2...)...)
	parent, outPid := makeOutside(t, "prt-mv0", nil, mustParse(t, "10.213.3.1/24"))
	if err := netlink.LinkSetMTU(parent, 1400); err != nil {
		t.Fatal(err)
	}
	p1 := &Plan{Mode: ModeMacvlan, Jail: "t-mv-1", Parent: "prt-mv0", Addrs: a1, Gateway: netip.MustParseAddr("10.213.3.1")}
	p2 := &Plan{Mode: ModeMacvlan, Jail: "t-mv-2", Parent: "prt-mv0", Addrs: a2}
	pid1, pid2 := startJail(t), startJail(t)
	attach(t, p1, pid1)
	attach(t, p2, pid2)

	listenIn(t, pid2, "10.213.3.12:7030")
	if got, err := dial(pid1, "10.213.3.12:7030"); err != nil || !strings.Contains(got, "10.213.3.11:") {
		t.Errorf("macvlan jail -> jail: %q, %v", got, err)
	}
	listenIn(t, pid1, "10.213.3.11:7031")
	if _, err := dial(outPid, "10.213.3.11:7031"); err != nil {
		t.Errorf("segment -> macvlan jail: %v", err)
	}
	err := inNetns(pid1, func() error {
		eth, err := netlink.LinkByName("eth0")
		if err != nil {
			return err
		}
		if eth.Attrs().MTU != 1400 {
			t.Errorf("jail eth0 MTU %d, want the parent's 1400", eth.Attrs().MTU)
		}
		routes, err := netlink.RouteList(nil, netlink.FAMILY_V4)
		if err != nil {
			return err
		}
		var gw bool
		for _, r := range routes {
			gw = gw || (r.Dst == nil || r.Dst.IP.IsUnspecified()) && r.Gw.Equal(net.ParseIP("10.213.3.1"))
		}
		if !gw {
			t.Errorf("jail has no default route via 10.213.3.1: %v", routes)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestModeNone(t *testing.T) {
	requireRoot(t)
	pid := startJail(t)
	attach(t, &Plan{Jail: "t-none"}, pid)
	listenIn(t, pid, "127.0.0.1:7040")
	if _, err := dial(pid, "127.0.0.1:7040"); err != nil {
		t.Errorf("loopback in a none jail: %v", err)
	}
	listenIn(t, pid, "[::1]:7041")
	if _, err := dial(pid, "[::1]:7041"); err != nil {
		t.Errorf("IPv6 loopback in a none jail: %v", err)
	}
}

func TestAttachRefusesHostNamespace(t *testing.T) {
	requireRoot(t)
	_, err := Attach(&Plan{Jail: "t-self"}, unix.Getpid())
	if err == nil || !strings.Contains(err.Error(), "host's network namespace") {
		t.Fatalf("Attach to own pid: %v", err)
	}
}

// TestUplink gives one jail an uplink (a veth to a namespace standing in
// for the outside) and not another: the outside reaches only the first,
// in both directions, via proxy ARP/NDP; nothing of the uplink's set-up
// stays after the jails and the uplink are gone and Sweep ran.
func TestUplink(t *testing.T) {
	requireRoot(t)
	a1 := mustParse(t, "10.213.4.50", "fd7a:5eed:4::50")
	a2 := mustParse(t, "10.213.4.51")
	outside := mustParse(t, "10.213.4.1/24", "fd7a:5eed:4::1/64")
	expectClean(t, []string{"pr-t-up-1", "pr-t-up-2", "prt-up0"}, append(append(a1, a2...), outside...)...)
	t.Cleanup(func() {
		// Runs after the uplink is gone: its rules are then stale.
		if err := Sweep(); err != nil {
			t.Errorf("Sweep: %v", err)
		}
		checkNoUplinkState(t)
	})
	// An ifindex past what a table id holds, as a host that has made many
	// links gives a new one: the uplink's tables take a slot instead.
	up, outPid := makeOutsideIndex(t, "prt-up0", 1<<20+unix.Getpid()%(1<<16), mustParse(t, "10.213.4.254/24", "fd7a:5eed:4::fe/64"), outside)
	if up.Attrs().Index < uplinkSlots {
		t.Fatalf("uplink ifindex %d: want one past the slots", up.Attrs().Index)
	}
	p1 := &Plan{Jail: "t-up-1", Addrs: a1, Uplink: "prt-up0"}
	p2 := &Plan{Jail: "t-up-2", Addrs: a2}
	pid1, pid2 := startJail(t), startJail(t)
	attach(t, p1, pid1)
	attach(t, p2, pid2)

	for _, a := range []string{"10.213.4.1", "fd7a:5eed:4::1"} {
		listenIn(t, outPid, net.JoinHostPort(a, "7050"))
	}
	if got, err := dial(pid1, "10.213.4.1:7050"); err != nil || !strings.Contains(got, "10.213.4.50:") {
		t.Errorf("uplink jail -> outside: %q, %v", got, err)
	}
	if got, err := dial(pid1, "[fd7a:5eed:4::1]:7050"); err != nil || !strings.Contains(got, "fd7a:5eed:4::50") {
		t.Errorf("uplink jail -> outside (IPv6): %q, %v", got, err)
	}
	if _, err := dial(pid2, "10.213.4.1:7050"); !isUnreachable(err) {
		t.Errorf("jail without uplink -> outside: %v, want unreachable", err)
	}
	listenIn(t, pid1, "10.213.4.50:7051")
	listenIn(t, pid1, "[fd7a:5eed:4::50]:7051")
	if _, err := dial(outPid, "10.213.4.50:7051"); err != nil {
		t.Errorf("outside -> uplink jail: %v", err)
	}
	if _, err := dial(outPid, "[fd7a:5eed:4::50]:7051"); err != nil {
		t.Errorf("outside -> uplink jail (IPv6): %v", err)
	}
}

// checkNoUplinkState fails on any rule of prison's uplink priorities or
// route in its uplink tables, once the jails' namespaces had time to go.
func checkNoUplinkState(t *testing.T) {
	t.Helper()
	var left []string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		left = left[:0]
		for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
			rules, err := netlink.RuleList(fam)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range rules {
				if r.Protocol == Protocol && (r.Priority == PriorityJailUplink || r.Priority >= PriorityUplinkIn) {
					left = append(left, "rule "+r.String())
				}
			}
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Protocol: Protocol}, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_PROTOCOL)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range routes {
			if r.Table >= tableUplinkOut {
				left = append(left, "route "+r.String())
			}
		}
		if len(left) == 0 {
			return
		}
	}
	t.Errorf("left: %v", left)
}

// TestSweepAfterCrash kills two jails (one with an uplink) without
// Detach, as a SIGKILL of their launcher would leave them, and checks
// that Sweep removes their rules and proxy entries and turns the
// uplink's forwarding back off, while a live jail keeps its rules.
func TestSweepAfterCrash(t *testing.T) {
	requireRoot(t)
	a1 := mustParse(t, "10.213.5.50", "fd7a:5eed:5::50")
	a2 := mustParse(t, "10.213.5.51")
	a3 := mustParse(t, "10.213.5.52")
	links := []string{"pr-t-crash-1", "pr-t-crash-2", "pr-t-alive", "prt-up1"}
	expectClean(t, links, append(append(a1, a2...), a3...)...)
	makeOutside(t, "prt-up1", mustParse(t, "10.213.5.254/24"), mustParse(t, "10.213.5.1/24"))
	alive := &Plan{Jail: "t-alive", Addrs: a3}
	attach(t, alive, startJail(t))

	for _, p := range []*Plan{{Jail: "t-crash-1", Addrs: a1, Uplink: "prt-up1"}, {Jail: "t-crash-2", Addrs: a2}} {
		cmd := exec.Command("sleep", "300")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		if _, err := Attach(p, cmd.Process.Pid); err != nil {
			t.Fatal(err)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	for _, l := range links[:2] {
		if err := waitLinkGone(l, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	if err := Sweep(); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	var gone []netip.Addr
	for _, a := range append(a1, a2...) {
		gone = append(gone, a.Addr())
	}
	left, err := hostLeftovers(links[:2], gone)
	if err != nil || len(left) > 0 {
		t.Errorf("after Sweep: %v %v", left, err)
	}
	for _, path := range uplinkSwitches("prt-up1", true) {
		if v, _ := readSysctl(path); v != "0" {
			t.Errorf("%s = %s after Sweep, want 0", path, v)
		}
	}
	checkNoUplinkState(t)
	var live int
	for _, fam := range []int{unix.AF_INET, unix.AF_INET6} {
		rules, err := netlink.RuleList(fam)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rules {
			if r.IifName == alive.HostLink() {
				live++
			}
		}
	}
	if live != 4 {
		t.Errorf("the live jail has %d rules after Sweep, want 4 (2 per family)", live)
	}
}
