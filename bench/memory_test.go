package bench

import (
	"strings"
	"testing"
)

// smapsRollup is a prison-init's /proc/PID/smaps_rollup, from a run.
const smapsRollup = `00400000-7fff98fd6000 ---p 00000000 00:00 0                              [rollup]
Rss:                1352 kB
Pss:                 708 kB
Pss_Dirty:           708 kB
Pss_Anon:             68 kB
Pss_File:            640 kB
Pss_Shmem:             0 kB
Shared_Clean:          4 kB
Shared_Dirty:       1280 kB
Private_Clean:         8 kB
Private_Dirty:        60 kB
Referenced:         1352 kB
Anonymous:            68 kB
Swap:                  0 kB
`

// status is the part of the same process's /proc/PID/status that matters,
// with its neighbours.
const status = `Name:	prison-init
State:	S (sleeping)
Pid:	23713
PPid:	1
VmRSS:	    1352 kB
VmPTE:	      56 kB
VmSwap:	       0 kB
Threads:	1
SigQ:	0/96367
`

func TestParseKV(t *testing.T) {
	kv := parseKV([]byte(smapsRollup + status))
	for k, want := range map[string]int64{"Rss": 1352, "Pss": 708, "Private_Dirty": 60, "VmPTE": 56, "Threads": 1, "PPid": 1} {
		if got, ok := kv[k]; !ok || got != want {
			t.Errorf("%s = %d, %v; want %d", k, got, ok, want)
		}
	}
	// The address range of smaps_rollup's first line is no key; words
	// and "0/96367" give no number but the first.
	for k := range kv {
		if strings.ContainsAny(k, " -") {
			t.Errorf("key %q from the header line", k)
		}
	}
	if _, ok := kv["Name"]; ok {
		t.Error("Name: prison-init parsed as a number")
	}
	if _, ok := kv["State"]; ok {
		t.Error("State parsed as a number")
	}
	if kv["SigQ"] != 0 {
		t.Errorf("SigQ = %d, want 0 (the number before the slash)", kv["SigQ"])
	}
}

func TestParseProcMem(t *testing.T) {
	m, err := parseProcMem([]byte(smapsRollup), []byte(status))
	if err != nil {
		t.Fatal(err)
	}
	if want := (procMem{Pss: 708, Private: 68, Kernel: 56 + kernelStackKiB}); m != want {
		t.Errorf("parseProcMem = %+v, want %+v", m, want)
	}
	threads := strings.Replace(status, "Threads:\t1", "Threads:\t4", 1)
	if m, _ := parseProcMem([]byte(smapsRollup), []byte(threads)); m.Kernel != 56+4*kernelStackKiB {
		t.Errorf("4 threads: kernel %d KiB, want %d", m.Kernel, 56+4*kernelStackKiB)
	}
	if _, err := parseProcMem([]byte("Rss: 4 kB\n"), []byte(status)); err == nil || !strings.Contains(err.Error(), "smaps_rollup: no Pss") {
		t.Errorf("no Pss: err = %v", err)
	}
	// A zombie's status has no VmPTE: no memory to read, and an error.
	if _, err := parseProcMem([]byte(smapsRollup), []byte("Name:\tsleep\nThreads:\t1\n")); err == nil || !strings.Contains(err.Error(), "status: no VmPTE") {
		t.Errorf("no VmPTE: err = %v", err)
	}
	if got := m.add(procMem{1, 2, 3}); got != (procMem{709, 70, 75}) {
		t.Errorf("add = %+v", got)
	}
}

func TestKernelKiB(t *testing.T) {
	meminfo := `MemTotal:       24669520 kB
Slab:             400000 kB
SReclaimable:     300000 kB
SUnreclaim:       100000 kB
KernelStack:        9000 kB
PageTables:        20000 kB
SecPageTables:         4 kB
Percpu:             6000 kB
`
	got, err := kernelKiB([]byte(meminfo))
	if err != nil || got != 100000+9000+20000+4+6000 {
		t.Errorf("kernelKiB = %d, %v", got, err)
	}
	// Older kernels have no SecPageTables.
	old := strings.Replace(meminfo, "SecPageTables:         4 kB\n", "", 1)
	if got, err := kernelKiB([]byte(old)); err != nil || got != 100000+9000+20000+6000 {
		t.Errorf("without SecPageTables: %d, %v", got, err)
	}
	if _, err := kernelKiB([]byte("MemTotal: 1 kB\n")); err == nil {
		t.Error("kernelKiB of an empty meminfo: no error")
	}
}

func TestParseStat(t *testing.T) {
	for _, tc := range []struct {
		line    string
		want    proc
		wantErr bool
	}{
		{line: "23713 (prison-init) S 1 23713 23713 0 -1 4194560 96 0", want: proc{23713, 1, "prison-init", 'S'}},
		// comm may hold spaces and parentheses: it ends at the last ')'.
		{line: "42 (a b) c)) R 7 42 42", want: proc{42, 7, "a b) c)", 'R'}},
		{line: "1 (init) S 0 1 1\n", want: proc{1, 0, "init", 'S'}},
		{line: "9 (bwrap) Z 1 9 9", want: proc{9, 1, "bwrap", 'Z'}},
		{line: "garbage", wantErr: true},
		{line: "x (sh) S 1", wantErr: true},
		{line: "5 (sh) S", wantErr: true},
	} {
		got, err := parseStat([]byte(tc.line))
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseStat(%q) = %+v, %v; want %+v, error %v", tc.line, got, err, tc.want, tc.wantErr)
		}
		if dead := got.state == 'Z'; got.dead() != dead {
			t.Errorf("parseStat(%q).dead() = %v", tc.line, got.dead())
		}
	}
}

func TestProcTableTree(t *testing.T) {
	tab := newProcTable([]proc{
		{1, 0, "init", 'S'},
		{100, 1, "bwrap", 'S'},
		{101, 100, "bwrap", 'S'},
		{102, 101, "sleep", 'S'},
		{200, 1, "prison-init", 'S'},
		{300, 1, "sleep", 'S'},
		{301, 300, "sh", 'S'},
		{302, 300, "sh", 'Z'},
		{303, 301, "true", 'R'},
	})
	names := func(ps []proc) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.comm)
		}
		return strings.Join(s, ",")
	}
	for pid, want := range map[int]string{
		100: "bwrap,bwrap,sleep",
		200: "prison-init",
		300: "sleep,sh,sh,true", // parents before children
		999: "",
	} {
		if got := names(tab.tree(pid)); got != want {
			t.Errorf("tree(%d) = %s, want %s", pid, got, want)
		}
	}
}

func TestMentions(t *testing.T) {
	ids := map[string]bool{"pb-1-crun-7": true, "pb-1-crun-70": true, "pb-1-prison-3": true}
	for _, tc := range []struct {
		cmdline, want string
	}{
		{"conmon\x00-c\x00pb-1-crun-7\x00", "pb-1-crun-7"},
		{"/usr/bin/conmon\x00--bundle=/run/x/pb-1-crun-70/userdata\x00", "pb-1-crun-70"},
		{"prison\x00__prison_init\x00pb-1-prison-3", "pb-1-prison-3"},
		// A longer id does not count as a shorter one it starts with.
		{"sleep\x00pb-1-crun-71\x00", ""},
		{"prison\x00__prison_init\x00pb-1-prison-33\x00", ""},
		{"", ""},
	} {
		if got := mentions([]byte(tc.cmdline), ids); got != tc.want {
			t.Errorf("mentions(%q) = %q, want %q", tc.cmdline, got, tc.want)
		}
	}
}

func TestUnitProcessesRemark(t *testing.T) {
	var up UnitProcesses
	if got := up.Remark([]string{"a"}); got != "" {
		t.Errorf("no record: %q", got)
	}
	up.record("prison", []string{"prison-init"}, nil)
	up.record("bwrap", []string{"bwrap", "bwrap", "sleep"}, nil)
	got := up.Remark([]string{"prison", "crun", "bwrap"})
	want := "Processes counted per unit, by command name, in the last round: prison: 1 (prison-init); " +
		"bwrap: 3 (bwrap, bwrap, sleep). No other process that appeared during a batch and stayed named one of its units."
	if got != want {
		t.Errorf("Remark =\n%s\nwant\n%s", got, want)
	}
	up.record("crun", []string{"sleep"}, []string{"conmon", "conmon", "crun"})
	if got := up.Remark([]string{"crun"}); !strings.HasSuffix(got, "for the whole batch: crun: 2 × conmon, 1 × crun.") {
		t.Errorf("Remark with strays = %s", got)
	}
}

func TestParsePrisonList(t *testing.T) {
	b := []byte(`[
  {"name": "pb-1-prison-3", "jid": 4, "status": "running", "processes": 0, "persist": true, "pid": 23713},
  {"name": "web1", "status": "dead", "processes": 0, "persist": true}
]`)
	m, err := parsePrisonList(b)
	if err != nil || len(m) != 2 || m["pb-1-prison-3"] != 23713 || m["web1"] != 0 {
		t.Errorf("parsePrisonList = %v, %v", m, err)
	}
	if m, err := parsePrisonList([]byte("null\n")); err != nil || len(m) != 0 {
		t.Errorf("no jails: %v, %v", m, err)
	}
	if _, err := parsePrisonList([]byte("NAME JID\n")); err == nil {
		t.Error("a table instead of JSON: no error")
	}
}

func TestParseStatePID(t *testing.T) {
	if pid, err := parseStatePID([]byte(`{"ociVersion": "1.0.2-dev", "id": "r1", "pid": 28257, "status": "running"}`)); err != nil || pid != 28257 {
		t.Errorf("parseStatePID = %d, %v", pid, err)
	}
	if _, err := parseStatePID([]byte(`{"id": "r1", "pid": 0, "status": "stopped"}`)); err == nil {
		t.Error("pid 0: no error")
	}
}
