//go:build linux && amd64

package sysprobe

import (
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// TestProbeNames: results are matched to probes by name, so names must be
// unique and survive Format and Parse.
func TestProbeNames(t *testing.T) {
	for _, p := range AllParams() {
		seen := map[string]bool{}
		for _, pr := range Probes(p, &Env{}) {
			if seen[pr.Name] {
				t.Errorf("%+v: probe %q twice", p, pr.Name)
			}
			seen[pr.Name] = true
			if pr.Name == "" || strings.ContainsAny(pr.Name, "=\n") {
				t.Errorf("probe name %q: empty, or holds '=' or a newline", pr.Name)
			}
			if pr.Notify && !pr.BPFOnly {
				// Made in a subprocess, a notified call would wait for
				// a launcher that is not there.
				t.Errorf("%s: notified probes must be BPFOnly", pr.Name)
			}
		}
	}
}

func TestFormatParse(t *testing.T) {
	rs := []Result{{"mount", unix.EPERM}, {"socket(AF_INET raw|1<<32)", 0}, {"x", unix.Errno(4000)}}
	s := Format(rs)
	if want := "mount=EPERM\nsocket(AF_INET raw|1<<32)=ok\nx=errno 4000\n"; s != want {
		t.Errorf("Format = %q, want %q", s, want)
	}
	got, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if got[r.Name] != r.Errno || len(got) != len(rs) {
			t.Errorf("Parse(Format) = %v, want %v", got, rs)
		}
	}
	for _, bad := range []string{"mount", "mount=EWHAT", "a=ok\na=ok"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted it", bad)
		}
	}
}

func TestCheck(t *testing.T) {
	ps := []Probe{
		{Name: "refused", Want: unix.EPERM},
		{Name: "allowed"},
		{Name: "never made", BPFOnly: true},
		{Name: "missing", Want: unix.ENOSYS},
	}
	for _, tc := range []struct {
		name string
		got  map[string]unix.Errno
		want []string
	}{
		{"all as the table says", map[string]unix.Errno{"refused": unix.EPERM, "allowed": unix.EFAULT, "missing": unix.ENOSYS}, nil},
		{
			"wrong errno, filter errno on an allowed call, a call not made, a stranger",
			map[string]unix.Errno{"refused": unix.EACCES, "allowed": unix.EAFNOSUPPORT, "extra": 0},
			[]string{
				"allowed: EAFNOSUPPORT, want the call let through to the kernel",
				"extra: made, but not in the table",
				"missing: not made",
				"refused: EACCES, want EPERM",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Check(ps, tc.got)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("Check:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}
