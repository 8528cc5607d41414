package netns

import (
	"encoding/json"
	"net/netip"
	"reflect"
	"strings"
	"testing"
)

func TestParseNet(t *testing.T) {
	for _, tc := range []struct {
		name, in   string
		wantMode   Mode
		wantParent string
		wantErr    string
	}{
		{name: "default", in: ""},
		{name: "none", in: "none", wantMode: ModeNone},
		{name: "host", in: "host", wantMode: ModeHost},
		{name: "veth", in: "veth", wantMode: ModeVeth},
		{name: "macvlan", in: "macvlan:eth1", wantMode: ModeMacvlan, wantParent: "eth1"},
		{name: "macvlan without interface", in: "macvlan", wantErr: `--net "macvlan": missing interface`},
		{name: "macvlan empty interface", in: "macvlan:", wantErr: `--net "macvlan:": missing interface name`},
		{name: "macvlan long name", in: "macvlan:abcdefghijklmnop", wantErr: "longer than 15"},
		{name: "macvlan slash", in: "macvlan:a/b", wantErr: "invalid interface name"},
		{name: "unknown", in: "bridge", wantErr: `--net "bridge": unknown mode`},
		{name: "case matters", in: "VETH", wantErr: "unknown mode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mode, parent, err := ParseNet(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseNet(%q) error %v, want %q", tc.in, err, tc.wantErr)
				}
				return
			}
			if err != nil || mode != tc.wantMode || parent != tc.wantParent {
				t.Fatalf("ParseNet(%q) = %q, %q, %v; want %q, %q", tc.in, mode, parent, err, tc.wantMode, tc.wantParent)
			}
		})
	}
}

func TestParseAddr(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     string
		wantErr  string
	}{
		{name: "ipv4", in: "10.0.0.5", want: "10.0.0.5/32"},
		{name: "ipv4 prefix", in: "10.0.0.5/24", want: "10.0.0.5/24"},
		{name: "ipv6", in: "fd00::5", want: "fd00::5/128"},
		{name: "ipv6 prefix", in: "fd00::5/64", want: "fd00::5/64"},
		{name: "ipv4 /31 low", in: "10.0.0.4/31", want: "10.0.0.4/31"},
		{name: "ipv4 /31 high", in: "10.0.0.5/31", want: "10.0.0.5/31"},
		{name: "not an address", in: "10.0.0.300", wantErr: `--ip "10.0.0.300": not an IP address`},
		{name: "hostname", in: "example.com", wantErr: "not an IP address"},
		{name: "empty", in: "", wantErr: `--ip "": not an IP address`},
		{name: "bad prefix length", in: "10.0.0.5/33", wantErr: `--ip "10.0.0.5/33": invalid prefix length`},
		{name: "bad address with prefix", in: "10.0.0/24", wantErr: "not an IP address"},
		{name: "unspecified ipv4", in: "0.0.0.0", wantErr: "unspecified"},
		{name: "unspecified ipv6", in: "::", wantErr: "unspecified"},
		{name: "this network", in: "0.1.2.3", wantErr: "0.0.0.0/8"},
		{name: "loopback", in: "127.0.0.2", wantErr: "loopback"},
		{name: "loopback ipv6", in: "::1", wantErr: "loopback"},
		{name: "multicast", in: "224.0.0.1", wantErr: "multicast"},
		{name: "multicast ipv6", in: "ff02::1", wantErr: "multicast"},
		{name: "limited broadcast", in: "255.255.255.255", wantErr: "broadcast address"},
		{name: "link-local", in: "169.254.1.1", wantErr: "link-local"},
		{name: "link-local ipv6", in: "fe80::1", wantErr: "link-local"},
		{name: "zone", in: "fe80::1%eth0", wantErr: "zoned"},
		{name: "mapped", in: "::ffff:10.0.0.5", wantErr: "IPv4-mapped"},
		{name: "network address", in: "10.0.0.0/24", wantErr: "network address of 10.0.0.0/24"},
		{name: "broadcast of prefix", in: "10.0.0.255/24", wantErr: "broadcast address of 10.0.0.0/24"},
		{name: "broadcast of /30", in: "10.0.0.7/30", wantErr: "broadcast address"},
		{name: "ipv6 subnet-router anycast", in: "fd00::/64", wantErr: "network address"},
		{name: "ipv6 all-ones is fine", in: "fd00::ffff:ffff:ffff:ffff/64", want: "fd00::ffff:ffff:ffff:ffff/64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseAddr(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("ParseAddr(%q) = %v, %v; want error %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.want {
				t.Fatalf("ParseAddr(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	pfx := func(ss ...string) []netip.Prefix {
		var out []netip.Prefix
		for _, s := range ss {
			out = append(out, netip.MustParsePrefix(s))
		}
		return out
	}
	gw := netip.MustParseAddr
	for _, tc := range []struct {
		name    string
		plan    Plan
		wantErr string
	}{
		{name: "default without addresses", plan: Plan{Jail: "a"}},
		{name: "default with addresses", plan: Plan{Jail: "a", Addrs: pfx("10.0.0.5/32")}},
		{name: "host", plan: Plan{Mode: ModeHost}},
		{name: "veth dual stack", plan: Plan{Mode: ModeVeth, Jail: "a", Addrs: pfx("10.0.0.5/32", "10.0.0.6/32", "fd00::5/128")}},
		{name: "veth uplink", plan: Plan{Jail: "a", Addrs: pfx("10.0.0.5/32"), Uplink: "eth1"}},
		{name: "macvlan", plan: Plan{Mode: ModeMacvlan, Jail: "a", Parent: "eth1", Addrs: pfx("10.0.0.5/24"), Gateway: gw("10.0.0.1")}},
		{name: "macvlan ipv6 link-local gateway", plan: Plan{Mode: ModeMacvlan, Parent: "eth1", Addrs: pfx("fd00::5/64"), Gateway: gw("fe80::1")}},
		{name: "unknown mode", plan: Plan{Mode: "bridge"}, wantErr: `network: unknown mode "bridge"`},
		{name: "duplicate", plan: Plan{Jail: "a", Addrs: pfx("10.0.0.5/32", "10.0.0.5/24")}, wantErr: "network: address 10.0.0.5 given twice"},
		{name: "bad address", plan: Plan{Jail: "a", Addrs: pfx("127.0.0.1/32")}, wantErr: "loopback"},
		{name: "none with addresses", plan: Plan{Mode: ModeNone, Addrs: pfx("10.0.0.5/32")}, wantErr: "--net none: takes no --ip"},
		{name: "host with addresses", plan: Plan{Mode: ModeHost, Addrs: pfx("10.0.0.5/32")}, wantErr: "--net host: takes no --ip"},
		{name: "veth without name", plan: Plan{Addrs: pfx("10.0.0.5/32")}, wantErr: "needs a jail name"},
		{name: "parent without macvlan", plan: Plan{Jail: "a", Addrs: pfx("10.0.0.5/32"), Parent: "eth1"}, wantErr: "only for macvlan"},
		{name: "macvlan without parent", plan: Plan{Mode: ModeMacvlan, Addrs: pfx("10.0.0.5/32")}, wantErr: "macvlan parent"},
		{name: "macvlan without address", plan: Plan{Mode: ModeMacvlan, Parent: "eth1"}, wantErr: "needs at least one --ip"},
		{name: "gateway with veth", plan: Plan{Jail: "a", Addrs: pfx("10.0.0.5/32"), Gateway: gw("10.0.0.1")}, wantErr: "only for macvlan"},
		{name: "gateway of other family", plan: Plan{Mode: ModeMacvlan, Parent: "eth1", Addrs: pfx("10.0.0.5/24"), Gateway: gw("fd00::1")}, wantErr: "no address of its family"},
		{name: "gateway is own address", plan: Plan{Mode: ModeMacvlan, Parent: "eth1", Addrs: pfx("10.0.0.5/24"), Gateway: gw("10.0.0.5")}, wantErr: "own addresses"},
		{name: "gateway multicast", plan: Plan{Mode: ModeMacvlan, Parent: "eth1", Addrs: pfx("10.0.0.5/24"), Gateway: gw("224.0.0.1")}, wantErr: "multicast"},
		{name: "uplink with macvlan", plan: Plan{Mode: ModeMacvlan, Parent: "eth1", Addrs: pfx("10.0.0.5/24"), Uplink: "eth2"}, wantErr: "only for veth"},
		{name: "uplink is a host link", plan: Plan{Jail: "a", Addrs: pfx("10.0.0.5/32"), Uplink: "pr-b"}, wantErr: "host link cannot be an uplink"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.plan.Validate()
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Validate: %v, want %q", err, tc.wantErr)
			}
		})
	}
}

func TestHostLink(t *testing.T) {
	for _, tc := range []struct{ name, jail, want string }{
		{name: "short", jail: "web", want: "pr-web"},
		{name: "twelve bytes", jail: "abcdefghijkl", want: "pr-abcdefghijkl"},
		{name: "thirteen bytes", jail: "abcdefghijklm", want: "pr-abc~"},
		{name: "slash", jail: "a/b", want: "pr-ab~"},
		{name: "percent", jail: "a%d", want: "pr-ad~"},
		{name: "unicode", jail: "jäil", want: "pr-jil~"},
		{name: "looks hashed", jail: "abc~12345678", want: "pr-abc~"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := (&Plan{Jail: tc.jail}).HostLink()
			if !strings.HasPrefix(got, tc.want) || len(got) > 15 || checkIfname(got) != nil {
				t.Fatalf("HostLink(%q) = %q, want %q… valid and at most 15 bytes", tc.jail, got, tc.want)
			}
			if strings.HasSuffix(tc.want, "~") && len(got) != len(tc.want)+8 {
				t.Fatalf("HostLink(%q) = %q, want 8 hex digits after ~", tc.jail, got)
			}
			if again := hostLink(tc.jail); again != got {
				t.Fatalf("HostLink(%q) not deterministic: %q, %q", tc.jail, got, again)
			}
		})
	}
	if a, b := hostLink("abcdefghijklm"), hostLink("abcdefghijkln"); a == b {
		t.Fatalf("two long names share host link %s", a)
	}
}

func TestPlanJSON(t *testing.T) {
	p := Plan{
		Mode: ModeMacvlan, Jail: "a", Parent: "eth1", Addrs: []netip.Prefix{netip.MustParsePrefix("10.0.0.5/24")},
		Gateway: netip.MustParseAddr("10.0.0.1"), DNS: []netip.Addr{netip.MustParseAddr("10.0.0.53")},
	}
	b, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	var q Plan
	if err := json.Unmarshal(b, &q); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(p, q) {
		t.Fatalf("round trip: %+v != %+v (%s)", q, p, b)
	}
}

func TestFits(t *testing.T) {
	addrs := func(n int) []netip.Prefix {
		var out []netip.Prefix
		for i := range n {
			out = append(out, netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)}), 32))
		}
		return out
	}
	for _, tc := range []struct {
		p    Plan
		want bool
	}{
		{Plan{Jail: "a", Addrs: addrs(1)}, true},
		{Plan{Jail: "a", Addrs: addrs(spareAddrs)}, true},
		// More than a spare's source filter has room for.
		{Plan{Jail: "a", Addrs: addrs(spareAddrs + 1)}, false},
		{Plan{Jail: "a", Addrs: []netip.Prefix{netip.MustParsePrefix("fd7a::1/128")}}, false},
		{Plan{Jail: "a", Addrs: addrs(1), Uplink: "eth1"}, false},
		{Plan{Mode: ModeMacvlan, Jail: "a", Parent: "eth1", Addrs: addrs(1)}, false},
	} {
		if got := tc.p.Fits(); got != tc.want {
			t.Errorf("%d addresses, uplink %q, mode %q: Fits() = %v, want %v", len(tc.p.Addrs), tc.p.Uplink, tc.p.Mode, got, tc.want)
		}
	}
}
