package bench

import (
	"strings"
	"testing"
	"time"
)

// fakeResult builds a start-up-like result without running anything.
func fakeResult() *Result {
	s := &Section{
		ID: "startup", Title: "Start-up", About: "Wall time.", Unit: "ms", Baseline: "bwrap",
		Targets: []Target{
			{Label: "prison vs bwrap", Num: "prison", Den: "bwrap", Max: 1},
			{Label: "prison vs crun", Num: "prison", Den: "crun", Max: 0.5},
			{Label: "runc vs bwrap", Num: "runc", Den: "bwrap", Max: 1},
		},
	}
	res := &Result{Section: s, Rounds: 3, Elapsed: 2 * time.Second}
	add := func(name, na string, vals ...float64) {
		c := &Contender{Name: name, NA: na}
		s.Contenders = append(s.Contenders, c)
		sr := &Series{Contender: c}
		if na == "" {
			sr.Command = []string{"/usr/bin/" + name, "--root", "/tmp/my root"}
		}
		for _, v := range vals {
			sr.Samples = append(sr.Samples, Sample{{"wall", v}})
		}
		res.Series = append(res.Series, sr)
	}
	add("prison", "", 2, 2.5, 3)
	add("bwrap", "", 3, 3.2, 3.4)
	add("crun", "", 7, 8, 9)
	add("runc", "preflight failed: runc: exit status 1: bad | config")
	return res
}

func TestReportMarkdown(t *testing.T) {
	rep := &Report{
		Date:         time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC),
		Machine:      []KV{{"kernel", "Linux 6.18"}, {"cores", "2"}},
		Versions:     []KV{{"prison", "v0.1-3-gabc"}},
		Command:      "go run ./bench/cmd/benchjail -out bench",
		Results:      []*Result{fakeResult()},
		ProfileNotes: "The lead was here.\n",
	}
	md := rep.Markdown()
	for _, want := range []string{
		"Date: 2026-11-28 12:00 UTC",
		"- kernel: Linux 6.18",
		"- prison: v0.1-3-gabc",
		"| prison vs bwrap | 0.78× | ≤ 1.00× | PASS |",
		"| prison vs crun | 0.31× | ≤ 0.50× | PASS |",
		"| runc vs bwrap | n/a | ≤ 1.00× | n/a (runc is n/a) |",
		"| prison | 2.50 | 2.10 | 2.90 | 0.78× | 3 |",
		"| runc | n/a | | | | 0 |",
		`- runc: n/a: preflight failed: runc: exit status 1: bad \| config`,
		"/usr/bin/prison --root '/tmp/my root'",
		"## Profile notes\n\nThe lead was here.\n",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q; got:\n%s", want, md)
		}
	}
}

func TestReportMiss(t *testing.T) {
	res := fakeResult()
	res.Section.Targets = []Target{{Label: "crun vs bwrap", Num: "crun", Den: "bwrap", Max: 1}}
	rep := &Report{Results: []*Result{res}}
	if got := rep.TargetsTable(); !strings.Contains(got, "| crun vs bwrap | 2.50× | ≤ 1.00× | **MISS** |") {
		t.Errorf("TargetsTable =\n%s", got)
	}
}

func TestColumnsWithDiff(t *testing.T) {
	s := &Section{Title: "Network", Unit: "ms", Diffs: []Diff{{Label: "ip − none", A: "none", B: "ip"}}}
	res := &Result{Section: s, Rounds: 2}
	for name, vals := range map[string][][2]float64{"none": {{1, 2}, {1, 2}}, "ip": {{1.5, 2.1}, {1.7, 2.1}}} {
		c := &Contender{Name: name}
		sr := &Series{Contender: c}
		for _, v := range vals {
			sr.Samples = append(sr.Samples, Sample{{"start", v[0]}, {"exit", v[1]}})
		}
		s.Contenders = append(s.Contenders, c)
		res.Series = append(res.Series, sr)
	}
	md := res.Markdown()
	if !strings.Contains(md, "| start |") || !strings.Contains(md, "+0.60 (+0.52–+0.68) |") {
		t.Errorf("Markdown =\n%s", md)
	}
}

func TestProfileNotes(t *testing.T) {
	tests := []struct {
		name, old, want string
	}{
		{"no file", "", DefaultProfileNotes},
		{"empty section", "# x\n\n## Profile notes\n\n", DefaultProfileNotes},
		{"kept", "# x\n\n## Targets\n\n## Profile notes\n\nclone is slow: see pprof.\n", "clone is slow: see pprof.\n"},
		{"stops at the next section", "# x\n\n## Profile notes\n\nnote\n\n## Later\nother\n", "note\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ProfileNotes(tt.old); got != tt.want {
				t.Errorf("ProfileNotes = %q, want %q", got, tt.want)
			}
		})
	}
	// A regenerated report carries the notes over unchanged.
	rep := &Report{ProfileNotes: "by hand\n"}
	if got := ProfileNotes(rep.Markdown()); got != "by hand\n" {
		t.Errorf("round trip = %q", got)
	}
}

func TestShellQuote(t *testing.T) {
	got := ShellQuote([]string{"/bin/prison", "run", "--ip", "10.254.0.1", "it's", "a b", "--mount-proc=/r/proc"})
	want := `/bin/prison run --ip 10.254.0.1 'it'\''s' 'a b' --mount-proc=/r/proc`
	if got != want {
		t.Errorf("ShellQuote = %s, want %s", got, want)
	}
}
