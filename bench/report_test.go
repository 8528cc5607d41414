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
			sr.Commands = [][]string{{"/usr/bin/" + name, "--root", "/tmp/my root"}}
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

// TestColumnsWithBaseline checks the ratio row of a multi-metric section
// with a baseline: each contender's headline median over the baseline's.
func TestColumnsWithBaseline(t *testing.T) {
	s := &Section{Title: "Create", Unit: "ms", Baseline: "crun"}
	res := &Result{Section: s, Rounds: 1}
	for _, row := range []struct {
		name string
		smp  Sample
	}{
		{"prison", Sample{{"total", 20}, {"create", 12}, {"delete", 8}}},
		{"crun", Sample{{"total", 40}, {"create", 20}, {"start", 5}, {"delete", 15}}},
		{"runc", nil},
	} {
		c := &Contender{Name: row.name}
		if row.smp == nil {
			c.NA = "runc not found"
		}
		s.Contenders = append(s.Contenders, c)
		res.Series = append(res.Series, &Series{Contender: c, Samples: []Sample{row.smp}})
	}
	md := res.Markdown()
	for _, want := range []string{
		"| ms, median (p10–p90) | prison | crun | runc |\n|---|--:|--:|--:|\n" +
			"| total | 20.0 (20.0–20.0) | 40.0 (40.0–40.0) | n/a |\n" +
			"| create | 12.0 (12.0–12.0) | 20.0 (20.0–20.0) | n/a |\n" +
			"| start | n/a | 5.00 (5.00–5.00) | n/a |\n" +
			"| delete | 8.00 (8.00–8.00) | 15.0 (15.0–15.0) | n/a |\n" +
			"| total, × crun | 0.50× | 1.00× | n/a |\n",
		"- runc: n/a: runc not found",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks\n%s\ngot:\n%s", want, md)
		}
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

// TestTargetsBothModes evaluates the suite's own targets on made-up
// medians: each is listed for the daemon rows and again for the rows
// without a daemon, with its own verdict.
func TestTargetsBothModes(t *testing.T) {
	env := &Env{
		Prison: "/bin/prison", Root: "/r", Socket: "/tmp/pb/daemon.sock", Bundle: "/b", State: "/s",
		Tools: map[string]string{
			"bwrap": "/bin/bwrap", "crun": "/bin/crun", "runc": "/bin/runc", "unshare": "/bin/unshare",
			"chroot": "/bin/chroot", "ip": "/bin/ip", "nsenter": "/bin/nsenter",
		},
	}
	ociEnv(env)
	// The OCI sections' medians in ms, per section and runtime.
	oci := map[string]map[string]float64{
		SecOCI:    {nameOCIPrison: 10, nameOCICrun: 25, nameOCIRunc: 50},
		SecCtr:    {nameOCIPrison: 110, nameOCICrun: 120, nameOCIRunc: 130},
		SecPodman: {nameOCIPrison: 300, nameOCICrun: 250, nameOCIRunc: 260},
	}
	// Medians in ms, per contender; network rows give start and exit.
	wall := map[string]float64{
		nameNoneU + daemonSuffix: 4.8, nameIPU + daemonSuffix: 5.4, nameNoneU + directSuffix: 6.8, nameIPU + directSuffix: 7.5,
		nameNoneH + daemonSuffix: 4.4, nameIPH + daemonSuffix: 5.0, nameNoneH + directSuffix: 6.2, nameIPH + directSuffix: 6.0,
		nameBwrap: 5.0, nameCrun: 15, nameRunc: 24, nameFloor: 3.3,
		nameNone + daemonSuffix + " ×50 parallel": 100, nameNone + daemonSuffix + " ×50 sequential": 250,
		nameIP + daemonSuffix + " ×50 parallel": 200, nameIP + daemonSuffix + " ×50 sequential": 300,
		nameNone + directSuffix + " ×50 parallel": 210, nameNone + directSuffix + " ×50 sequential": 300,
		nameIP + directSuffix + " ×50 parallel": 310, nameIP + directSuffix + " ×50 sequential": 340,
		nameBwrap + " ×50 parallel": 117, nameBwrap + " ×50 sequential": 189,
		nameExec: 8, nameExecD: 5, nameCrunExec: 6, nameRuncExec: 20,
	}
	// Pss per unit in KiB.
	mem := map[string]float64{nameIdle: 80, nameCrunIdle: 60, nameBwrapIdle: 300}
	net := map[string][2]float64{
		nameNone + daemonSuffix: {4, 1}, nameIP + daemonSuffix: {4.4, 1.1},
		nameNone + directSuffix: {6.4, 1.2}, nameIP + directSuffix: {7, 1.4},
	}
	rep := &Report{}
	for _, s := range Suite(env) {
		if s.ID == SecSeccomp || s.ID == SecPhases {
			continue
		}
		res := &Result{Section: s, Rounds: 1}
		for _, c := range s.Contenders {
			sr := &Series{Contender: c}
			switch {
			case s.ID == SecMemory:
				sr.Samples = []Sample{{{keyPss, mem[c.Name]}, {keyPrivate, mem[c.Name] / 2}}}
			case oci[s.ID] != nil:
				sr.Samples = []Sample{{{"total", oci[s.ID][c.Name]}}}
			case s.ID != SecNetwork:
				sr.Samples = []Sample{{{"wall", wall[c.Name]}}}
			case c.Name == nameIPSh:
				sr.Samples = []Sample{{{"total", 30}}}
			default:
				v := net[c.Name]
				sr.Samples = []Sample{{{"start", v[0]}, {"exit", v[1]}, {"total", v[0] + v[1]}}}
			}
			res.Series = append(res.Series, sr)
		}
		rep.Results = append(rep.Results, res)
	}
	got := rep.TargetsTable()
	for _, want := range []string{
		"| start-up, prison --ip (userns) via daemon (seccomp, caps) vs bwrap --unshare-all | 1.08× | ≤ 1.00× | **MISS** |\n" +
			"| start-up, prison --ip (userns) without daemon (seccomp, caps) vs bwrap --unshare-all | 1.50× | ≤ 1.00× | **MISS** |\n" +
			"| start-up, prison --ip (userns) via daemon (seccomp, caps) vs crun run | 0.36× | ≤ 0.50× | PASS |\n" +
			"| start-up, prison --ip (userns) without daemon (seccomp, caps) vs crun run | 0.50× | ≤ 0.50× | PASS |\n" +
			"| user namespace's cost: prison --ip via daemon, userns over --userns host | 1.08× | ≤ 1.15× | PASS |\n" +
			"| user namespace's cost: prison --ip without daemon, userns over --userns host | 1.25× | ≤ 1.15× | **MISS** |\n",
		"| start-up with limits, prison --ip (userns) via daemon vs crun run with the same limits | 0.36× | ≤ 0.50× | PASS |\n" +
			"| start-up with limits, prison --ip (userns) without daemon vs crun run with the same limits | 0.50× | ≤ 0.50× | PASS |\n",
		"| --ip over --net none (start + exit), via daemon | +0.50 ms | ≤ +0.60 ms | PASS |\n" +
			"| --ip over --net none (start + exit), without daemon | +0.80 ms | ≤ +0.60 ms | **MISS** |\n",
		"| --ip's cost over --net none via daemon, as a share of the same setup done with ip(8) | 0.02× | ≤ 1.00× | PASS |\n" +
			"| --ip's cost over --net none without daemon, as a share of the same setup done with ip(8) | 0.03× | ≤ 1.00× | PASS |\n",
		"| 50 parallel vs sequential, prison --net none via daemon | 0.40× | ≤ 0.55× | PASS |\n" +
			"| 50 parallel vs sequential, prison --net none without daemon | 0.70× | ≤ 0.55× | **MISS** |\n" +
			"| 50 parallel vs sequential, prison --ip via daemon | 0.67× | ≤ 0.55× | **MISS** |\n" +
			"| 50 parallel vs sequential, prison --ip without daemon | 0.91× | ≤ 0.55× | **MISS** |\n",
		"| exec, prison exec (daemon) vs crun exec | 0.83× | ≤ 0.50× | **MISS** |\n" +
			"| exec, prison exec (no daemon) vs crun exec | 1.33× | ≤ 0.50× | **MISS** |\n",
		"| idle memory per persistent jail (Pss, host side included) | 80.0 KiB | ≤ 256 KiB | PASS |\n" +
			"| OCI runtime, create + start + wait + delete, prison-oci vs crun | 0.40× | ≤ 0.50× | PASS |\n" +
			"| OCI runtime, ctr run --rm, prison-oci vs crun | 0.92× | ≤ 1.00× | PASS |\n" +
			"| OCI runtime, podman run --rm, prison-oci vs crun | 1.20× | ≤ 1.00× | **MISS** |\n",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("TargetsTable lacks\n%s\ngot:\n%s", want, got)
		}
	}
	if strings.Contains(got, "n/a") {
		t.Errorf("TargetsTable has an n/a:\n%s", got)
	}
}
