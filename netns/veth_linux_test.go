package netns

import (
	"errors"
	"net"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestVethHostToJail(t *testing.T) {
	requireRoot(t)
	addrs := mustParse(t, "10.213.0.5", "10.213.0.6/24", "fd7a:5eed::5")
	p := &Plan{Jail: "t-veth", Addrs: addrs}
	expectClean(t, []string{p.HostLink()}, addrs...)
	pid := startJail(t)
	attach(t, p, pid)

	for _, a := range addrs {
		hp := net.JoinHostPort(a.Addr().String(), "7000")
		listenIn(t, pid, hp)
		got, err := dial(0, hp)
		if err != nil {
			t.Fatalf("host -> jail %s: %v", hp, err)
		}
		t.Logf("host -> %s: %s", hp, got)
	}
	// The jail reaches the host at its gateway addresses.
	hostLn, err := net.Listen("tcp", "169.254.1.1:7001")
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			c.Write([]byte(c.RemoteAddr().String()))
			c.Close()
		}
	}()
	got, err := dial(pid, "169.254.1.1:7001")
	if err != nil || !strings.HasPrefix(got, "10.213.0.5:") {
		t.Errorf("jail -> host 169.254.1.1: %q, %v (want from 10.213.0.5)", got, err)
	}
	// Only the given addresses exist inside.
	err = inNetns(pid, func() error {
		ln, err := net.Listen("tcp", "10.213.0.7:7002")
		if err == nil {
			ln.Close()
		}
		return err
	})
	if !errors.Is(err, unix.EADDRNOTAVAIL) {
		t.Errorf("bind of an address not given: %v, want EADDRNOTAVAIL", err)
	}
}
