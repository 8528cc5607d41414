package test

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Limit tests use addresses in 10.254.63.0/24.

// statsOf reads prison stats --json for one jail.
type jailStats struct {
	Name        string  `json:"name"`
	CPU         int64   `json:"cpuTime"`
	Memory      uint64  `json:"memory"`
	MemoryPeak  uint64  `json:"memoryPeak"`
	MemoryLimit uint64  `json:"memoryLimit"`
	Pids        uint64  `json:"pids"`
	PidsLimit   uint64  `json:"pidsLimit"`
	IOWrite     uint64  `json:"ioWriteBytes"`
	NetRx       int64   `json:"netRxBytes"`
	NetTx       int64   `json:"netTxBytes"`
	CPUPercent  float64 `json:"cpuPercent"`
}

func statsOf(t *testing.T, name string) jailStats {
	t.Helper()
	out := mustRun(t, "stats", "--json", "--interval", "100ms", name)
	var s []jailStats
	if err := json.Unmarshal([]byte(out), &s); err != nil || len(s) != 1 {
		t.Fatalf("prison stats --json %s: %v\n%s", name, err, out)
	}
	return s[0]
}

// cgroupOfPid is the v1 pids hierarchy's path of process pid, as the host
// sees it.
func cgroupOfPid(t *testing.T, pid int) string {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) == 3 && (f[1] == "pids" || (f[0] == "0" && !v1Host())) {
			return f[2]
		}
	}
	t.Fatalf("/proc/%d/cgroup: no pids line:\n%s", pid, b)
	return ""
}

// v1Host tells whether the host keeps its controllers on cgroup v1.
func v1Host() bool {
	_, err := os.Stat("/sys/fs/cgroup/pids/cgroup.procs")
	return err == nil
}

func TestMemoryHogIsKilledInsideTheJail(t *testing.T) {
	n, other := jailName(t), jailName(t)
	root := probeRoot(t)
	create(t, n, "--root", root, "--memory", "64M")
	create(t, other, "--root", root)
	r := prison(t, nil, "exec", n, "/probe", "hog", "200")
	if r.code != 128+9 {
		t.Fatalf("a 200 MiB hog under --memory 64M: exit %d, want 137 (SIGKILL by the OOM killer)\nstdout %s", r.code, r.stdout)
	}
	steps := strings.Fields(r.stderr)
	if len(steps) == 0 {
		t.Fatalf("the hog did not start: %q", r.stderr)
	}
	if got, _ := strconv.Atoi(steps[len(steps)-1]); got >= 64 {
		t.Errorf("the hog held %d MiB under a 64 MiB limit", got)
	}
	// The jail and its neighbour go on: only the hog died.
	if out := mustRun(t, "exec", n, "echo", "alive"); out != "alive\n" {
		t.Errorf("the jail after its hog: %q", out)
	}
	if out := mustRun(t, "exec", other, "/probe", "hog", "100"); out != "held 100\n" {
		t.Errorf("the other jail: %q", out)
	}
	// The kernel charges a page or so past the limit before it reclaims
	// or kills: the peak is within a MiB of it, not at the hog's 200.
	s := statsOf(t, n)
	if s.MemoryLimit != 64<<20 || s.MemoryPeak > 65<<20 {
		t.Errorf("stats: memory limit %d, peak %d; want a peak within about 64 MiB", s.MemoryLimit, s.MemoryPeak)
	}
}

func TestForkBombIsContained(t *testing.T) {
	root := probeRoot(t)
	got := func(out string) (int, string) {
		var k int
		var why string
		if _, err := fmt.Sscanf(strings.TrimSpace(out), "forked %d: %s", &k, &why); err != nil {
			t.Fatalf("forkbomb: %q", out)
		}
		return k, why
	}
	// Each process of the probe is a few threads, and the limit counts
	// threads: fewer processes than the limit start.
	k, why := got(mustRun(t, "run", "--name", jailName(t), "--root", root, "--pids", "50", "/probe", "forkbomb", "1000"))
	if why != "EAGAIN" || k >= 50 || k == 0 {
		t.Errorf("--pids 50: forked %d, then %s; want fewer than 50, then EAGAIN", k, why)
	}
	// The default limit holds too: root ignores RLIMIT_NPROC.
	k, why = got(mustRun(t, "run", "--name", jailName(t), "--root", root, "/probe", "forkbomb", "100000"))
	if why != "EAGAIN" || k >= 1024 || k < 50 {
		t.Errorf("default limit: forked %d, then %s; want 50 to 1023, then EAGAIN", k, why)
	}
	// And the machine still runs jails.
	if out := mustRun(t, "run", "--name", jailName(t), "--root", root, "echo", "ok"); out != "ok\n" {
		t.Errorf("after the bombs: %q", out)
	}
}

func TestCPUQuota(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--cpus", "0.5")
	before := statsOf(t, n).CPU
	start := time.Now()
	out := mustRun(t, "exec", n, "/probe", "burn", "2")
	wall := time.Since(start)
	used := time.Duration(statsOf(t, n).CPU - before)
	cores := used.Seconds() / wall.Seconds()
	// A wide band: the quota is what matters, and the machine may be
	// loaded; the probe's own measure (out) says the same.
	if cores > 0.7 || cores < 0.1 {
		t.Errorf("--cpus 0.5: the jail's cgroup counted %.2f cores over %v (probe: %s)", cores, wall, out)
	}
}

func TestTmpfsIsBoundedAndCharged(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--tmpfs", "/scratch", "--tmpfs", "/small:8m")
	for _, c := range []struct {
		file string
		mib  int
	}{{"/dev/shm/fill", 64}, {"/scratch/fill", 64}, {"/small/fill", 8}} {
		out := strings.TrimSpace(mustRun(t, "exec", n, "/probe", "fill", c.file))
		if out != fmt.Sprintf("wrote %d: ENOSPC", c.mib) {
			t.Errorf("filling %s: %q, want ENOSPC at %d MiB", c.file, out, c.mib)
		}
	}
	// What the jail keeps in memory is the jail's: 136 MiB of files.
	if s := statsOf(t, n); s.Memory < 130<<20 {
		t.Errorf("the jail's cgroup holds %d bytes with 136 MiB in its tmpfs", s.Memory)
	}
}

func TestCgroupIsTheJailsAlone(t *testing.T) {
	n := jailName(t)
	root := probeRoot(t)
	b := startJail(t, n, "--root", root, "sh", "-c", "echo ready; cat")
	// Inside, the jail's cgroup is the root of the cgroup tree it sees;
	// it cannot mount a cgroup file system to climb it or to set a
	// release_agent (CVE-2022-0492), and has no /sys.
	out := mustRun(t, "exec", n, "sh", "-c",
		"cat /proc/self/cgroup; mount -t cgroup2 none /tmp 2>&1; mount -t cgroup -o pids none /tmp 2>&1; ls /sys/fs/cgroup 2>&1; true")
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.SplitN(l, ":", 3)
		if _, err := strconv.Atoi(f[0]); err == nil && len(f) == 3 && f[2] != "/" {
			t.Errorf("the jail sees a cgroup path outside its own: %q", l)
		}
	}
	if strings.Count(strings.ToLower(out), "permission denied") < 2 || !strings.Contains(out, "No such file") {
		t.Errorf("cgroup mounts or /sys inside:\n%s", out)
	}
	// On the host: the jail's processes are in /prison/NAME, its
	// launcher is not.
	j, ok := findListed(t, n)
	if !ok {
		t.Fatal("not listed")
	}
	if got := cgroupOfPid(t, j.PID); got != "/prison/"+n {
		t.Errorf("the jail's PID 1 is in cgroup %q, want /prison/%s", got, n)
	}
	if got := cgroupOfPid(t, b.cmd.Process.Pid); got == "/prison/"+n {
		t.Errorf("the launcher (or client) is charged to the jail's cgroup")
	}
	// On a hybrid host, systemd tracks processes on the v2 tree: the jail
	// is apart from its creator's login session there too.
	if v1Host() && fileExists("/sys/fs/cgroup/unified/cgroup.procs") && fileExists("/run/systemd/system") {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", j.PID))
		if !strings.Contains(string(b), "\n0::/prison/"+n+"\n") {
			t.Errorf("the jail's PID 1 is not in /prison/%s on the v2 tree:\n%s", n, b)
		}
	}
}

// hostCgroup makes a cgroup on the host for a test's own processes, with
// pids and memory limits, and removes it when the test ends.
func hostCgroup(t *testing.T, pids int, mem int64) string {
	t.Helper()
	if !v1Host() {
		t.Skip("the launcher's cgroup test builds its cgroup on v1; this host is unified")
	}
	name := "prisontest-" + strconv.Itoa(os.Getpid()) + "-" + t.Name()
	for _, h := range []string{"pids", "memory"} {
		dir := filepath.Join("/sys/fs/cgroup", h, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			if err := os.Remove(dir); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		})
	}
	write := func(file, v string) {
		if err := os.WriteFile(filepath.Join("/sys/fs/cgroup", file), []byte(v), 0); err != nil {
			t.Fatal(err)
		}
	}
	write("pids/"+name+"/pids.max", strconv.Itoa(pids))
	write("memory/"+name+"/memory.limit_in_bytes", strconv.FormatInt(mem, 10))
	return name
}

func TestLauncherIsNotChargedForTheJail(t *testing.T) {
	// What was tried by hand: prison run inside a cgroup with 40 tasks
	// and 64 MiB. The launcher (or the daemon's client) fits, and the
	// jail's processes are the jail's cgroup's, not the caller's.
	cg := hostCgroup(t, 40, 64<<20)
	run := func(args ...string) result {
		script := fmt.Sprintf("echo $$ > /sys/fs/cgroup/pids/%s/cgroup.procs && echo $$ > /sys/fs/cgroup/memory/%s/cgroup.procs && exec \"$@\"", cg, cg)
		return runCmd(t, exec.Command("sh", append([]string{"-c", script, "sh", prisonBin}, args...)...))
	}
	root := probeRoot(t)
	r := run("run", "--name", jailName(t), "--root", root, "/probe", "forkbomb", "60")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "forked 60" {
		t.Errorf("60 processes in a jail started from a 40-task cgroup: exit %d, %q %s", r.code, r.stdout, r.stderr)
	}
	r = run("run", "--name", jailName(t), "--root", root, "--memory", "512M", "/probe", "hog", "150")
	if r.code != 0 || strings.TrimSpace(r.stdout) != "held 150" {
		t.Errorf("150 MiB in a jail started from a 64 MiB cgroup: exit %d, %q", r.code, r.stdout)
	}
}

func TestLimitsChangeLive(t *testing.T) {
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--pids", "30")
	if out := mustRun(t, "exec", n, "/probe", "forkbomb", "60"); !strings.HasSuffix(strings.TrimSpace(out), "EAGAIN") {
		t.Fatalf("--pids 30: %q", out)
	}
	mustRun(t, "set", n, "maxproc=400", "memoryuse=48M")
	if out := mustRun(t, "exec", n, "/probe", "forkbomb", "60"); strings.TrimSpace(out) != "forked 60" {
		t.Errorf("after maxproc=400: %q", out)
	}
	if r := prison(t, nil, "exec", n, "/probe", "hog", "100"); r.code != 137 {
		t.Errorf("after memoryuse=48M, a 100 MiB hog: exit %d", r.code)
	}
	s := statsOf(t, n)
	if s.PidsLimit != 400 || s.MemoryLimit != 48<<20 {
		t.Errorf("stats after set: pids limit %d, memory limit %d", s.PidsLimit, s.MemoryLimit)
	}
	// jls -v's parameters show them, by rctl's names.
	if j, _ := findListed(t, n); j.Params["maxproc"] != "400" || j.Params["memoryuse"] != strconv.Itoa(48<<20) {
		t.Errorf("list --json parameters: maxproc %q, memoryuse %q", j.Params["maxproc"], j.Params["memoryuse"])
	}
	// A restart keeps what set changed.
	mustRun(t, "restart", n)
	if s := statsOf(t, n); s.PidsLimit != 400 {
		t.Errorf("after restart: pids limit %d, want 400", s.PidsLimit)
	}
	r := prison(t, nil, "set", n, "maxproc=lots")
	if r.code != 125 || !strings.HasPrefix(r.stderr, "prison: maxproc lots: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("set maxproc=lots: exit %d, %q", r.code, r.stderr)
	}
}

// burnCPU burns the CPU for 0.3 s of wall time in jail n and returns the
// CPU time the burner itself used, as it measured it: what the jail's
// cgroup must count at least, however loaded the machine (on a quiet one
// about 0.3 s a core).
func burnCPU(t *testing.T, n string) time.Duration {
	t.Helper()
	out := mustRun(t, "exec", n, "/probe", "burn", "0.3")
	var cores, cpu float64
	if _, err := fmt.Sscanf(out, "cores %f cpu %f", &cores, &cpu); err != nil || cpu <= 0 {
		t.Fatalf("burn: %q (%v)", out, err)
	}
	return time.Duration(cpu * float64(time.Second))
}

func TestStatsMoveAsTheJailWorks(t *testing.T) {
	n := jailName(t)
	dir := t.TempDir()
	args := []string{"--root", probeRoot(t), "--ip", "10.254.63.2", "--mount", dir + ":/data"}
	// cgroup v1 counts a jail's I/O on a multi-queue device only where
	// it throttles it: a limit far above the test's writes.
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("/dev/block/%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
	disk := unix.Major(st.Dev) != 0 && fileExists(dev)
	if disk {
		args = append(args, "--io-max", dev+":wbps=1G")
	} else {
		t.Logf("%s is not on a block device: no disk figures to check", dir)
	}
	create(t, n, args...)
	if disk && v1Host() {
		b, _ := os.ReadFile("/sys/fs/cgroup/blkio/prison/" + n + "/blkio.throttle.write_bps_device")
		if want := fmt.Sprintf("%d:%d 1073741824", unix.Major(st.Dev), unix.Minor(st.Dev)); !strings.Contains(string(b), want) {
			t.Errorf("--io-max %s:wbps=1G: the jail's cgroup has %q", dev, b)
		}
	}
	s0 := statsOf(t, n)
	burnt := burnCPU(t, n)
	mustRun(t, "exec", n, "/probe", "hog", "40")
	mustRun(t, "exec", n, "sh", "-c", "sleep 30 </dev/null >/dev/null 2>&1 & dd if=/dev/zero of=/data/f bs=1M count=8 oflag=direct 2>/dev/null")
	if out, err := exec.Command("ping", "-c", "3", "-i", "0.2", "-W", "2", "10.254.63.2").CombinedOutput(); err != nil {
		t.Fatalf("ping the jail: %v\n%s", err, out)
	}
	s1 := statsOf(t, n)
	switch {
	case time.Duration(s1.CPU-s0.CPU) < burnt:
		t.Errorf("CPU time moved by %v after a burner used %v", time.Duration(s1.CPU-s0.CPU), burnt)
	case s1.MemoryPeak < 40<<20:
		t.Errorf("memory peak %d after holding 40 MiB", s1.MemoryPeak)
	case s1.Pids < s0.Pids+1:
		t.Errorf("pids %d, then %d with a sleep in the background", s0.Pids, s1.Pids)
	case s1.NetRx < s0.NetRx+3*84 || s1.NetTx < s0.NetTx+3*84:
		t.Errorf("network bytes in %d→%d, out %d→%d after 3 pings", s0.NetRx, s1.NetRx, s0.NetTx, s1.NetTx)
	case disk && s1.IOWrite < s0.IOWrite+8<<20:
		t.Errorf("disk writes %d→%d after writing 8 MiB", s0.IOWrite, s1.IOWrite)
	}
	// The table names every column's figure, and --watch refreshes.
	tab := mustRun(t, "stats", "--interval", "100ms", n)
	if !strings.Contains(tab, "MEMORY") || !strings.Contains(tab, n) {
		t.Errorf("prison stats:\n%s", tab)
	}
	// --watch runs until interrupted, one refresh per interval.
	w := exec.Command(prisonBin, "stats", "--watch", "--json", "--interval", "200ms", n)
	var out strings.Builder
	w.Stdout = &out
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond)
	_ = w.Process.Signal(os.Interrupt)
	if err := w.Wait(); err != nil {
		t.Errorf("stats --watch, interrupted: %v", err)
	}
	if lines := strings.Count(out.String(), "\n"); lines < 2 {
		t.Errorf("stats --watch refreshed %d times in 1.5s at 200ms:\n%s", lines, out.String())
	}
}

func TestCgroupV2Tree(t *testing.T) {
	const v2 = "/sys/fs/cgroup/unified"
	if _, err := os.Stat(v2 + "/cgroup.procs"); err != nil {
		t.Skip("this host has no cgroup v2 tree beside v1 (on a unified host every test runs on v2)")
	}
	n := jailName(t)
	create(t, n, "--root", probeRoot(t), "--cgroup-v2", v2, "--pids", "unlimited")
	j, _ := findListed(t, n)
	procs, err := os.ReadFile(filepath.Join(v2, "prison", n, "cgroup.procs"))
	if err != nil || !strings.Contains(string(procs), strconv.Itoa(j.PID)) {
		t.Errorf("the jail's PID 1 (%d) is not in %s/prison/%s: %q %v", j.PID, v2, n, procs, err)
	}
	if out := mustRun(t, "exec", n, "grep", "^0::", "/proc/self/cgroup"); out != "0::/\n" {
		t.Errorf("inside, the v2 cgroup is %q", out)
	}
	before := statsOf(t, n).CPU
	burnt := burnCPU(t, n)
	if d := time.Duration(statsOf(t, n).CPU - before); d < burnt {
		t.Errorf("the v2 cgroup counted %v of a burner's %v", d, burnt)
	}
	ctl, _ := os.ReadFile(v2 + "/cgroup.controllers")
	if !strings.Contains(string(ctl), "pids") {
		r := prison(t, nil, "run", "--name", jailName(t), "--cgroup-v2", v2, "--pids", "50", "true")
		if r.code != 125 || !strings.HasPrefix(r.stderr, "prison: --pids (linux.resources.pids.limit): the pids controller is not available") {
			t.Errorf("--pids on a v2 tree without the pids controller: exit %d, %q", r.code, r.stderr)
		}
	}
}

func TestLimitsBadInput(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--memory", "lots"}, "prison: --memory lots: want a size"},
		{[]string{"--memory", "1M"}, "prison: --memory 1M: below the"},
		{[]string{"--swap", "1G"}, "prison: --swap 1G: needs --memory"},
		{[]string{"--pids", "0"}, "prison: --pids 0: want a number"},
		{[]string{"--cpus", "1000"}, "prison: --cpus 1000: this host has"},
		{[]string{"--cpu-weight", "0"}, "prison: --cpu-weight 0: want 1 to 10000"},
		{[]string{"--io-max", "/dev/null:rbps=1M"}, "prison: --io-max /dev/null:rbps=1M: /dev/null: not a block device"},
		{[]string{"--nofile", "99999999999"}, "prison: --nofile 99999999999: above prison's own hard limit"},
		{[]string{"--cgroup", "rel/path"}, "prison: --cgroup rel/path: want an absolute"},
	} {
		n := jailName(t)
		r := prison(t, nil, append(append([]string{"run", "--name", n}, c.args...), "true")...)
		if r.code != 125 || !strings.HasPrefix(r.stderr, c.want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: exit %d, %q; want 125 and %q…", c.args, r.code, r.stderr, c.want)
		}
	}
	// As a jail.conf parameter, the error names the parameter.
	n := jailName(t)
	r := prison(t, nil, "create", n, "memoryuse=lots")
	if r.code != 125 || !strings.HasPrefix(r.stderr, "prison: memoryuse lots: want a size") {
		t.Errorf("create memoryuse=lots: exit %d, %q", r.code, r.stderr)
	}
	r = prison(t, nil, "create", n, "pcpu=half")
	if r.code != 125 || !strings.HasPrefix(r.stderr, "prison: pcpu \"half\": want a percentage") {
		t.Errorf("create pcpu=half: exit %d, %q", r.code, r.stderr)
	}
}
