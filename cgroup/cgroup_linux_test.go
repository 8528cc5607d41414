package cgroup

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"prison/internal/roottest"
)

func TestWeightShares(t *testing.T) {
	for w := uint64(1); w <= 10000; w++ {
		if got := SharesToWeight(WeightToShares(w)); got != w && w > 1 {
			t.Fatalf("weight %d: shares %d, back %d", w, WeightToShares(w), got)
		}
	}
	if WeightToShares(100) != 1024 || SharesToWeight(1024) != 100 {
		t.Errorf("the defaults do not meet: %d shares, %d weight", WeightToShares(100), SharesToWeight(1024))
	}
	if WeightToShares(10000) != 102400 || SharesToWeight(2) != 1 {
		t.Errorf("the bounds: %d, %d", WeightToShares(10000), SharesToWeight(2))
	}
}

func TestCheckPath(t *testing.T) {
	for _, p := range []string{"", "/", "rel", "/a/../b", "/a/", "//a"} {
		if CheckPath(p) == nil {
			t.Errorf("%q: accepted", p)
		}
	}
	if err := CheckPath("/prison/web1"); err != nil {
		t.Error(err)
	}
}

// group makes a group for the test at /prison-test/NAME, removed when it
// ends, on v2 at v2 ("" for the host's own mode).
func group(t *testing.T, v2 string, r *specs.LinuxResources) *Group {
	t.Helper()
	roottest.Require(t)
	w, err := Locate(fmt.Sprintf("/prison-test/%d-%s", os.Getpid(), t.Name()), v2)
	if err != nil {
		t.Fatal(err)
	}
	g, err := New(w, r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := g.Delete(5 * time.Second); err != nil {
			t.Error(err)
		}
		dirs, _ := filepath.Glob(Mountpoint + "/*/prison-test")
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(filepath.Dir(d), w.Path)); err == nil {
				t.Errorf("left: %s%s", filepath.Dir(d), w.Path)
			}
			_ = os.Remove(d) // the last test's removes it
		}
	})
	return g
}

// sleeper starts a process that sleeps, killed when the test ends.
func sleeper(t *testing.T) *exec.Cmd {
	t.Helper()
	c := exec.Command("sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	return c
}

// inGroup starts a sleeper in g.
func inGroup(t *testing.T, g *Group) *exec.Cmd {
	t.Helper()
	c := sleeper(t)
	if err := g.add(c.Process.Pid); err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGroupLifecycle(t *testing.T) {
	n := int64(50)
	g := group(t, "", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &n}})
	c := inGroup(t, g)
	if in, err := member(g.Where(), c.Process.Pid); err != nil || !in {
		t.Fatalf("the process is not in %s: %v", g.Where().Path, err)
	}
	procs, err := g.Procs()
	if err != nil || len(procs) != 1 || procs[0] != c.Process.Pid {
		t.Errorf("procs %v, %v; want [%d]", procs, err, c.Process.Pid)
	}
	s, err := g.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.Pids != 1 || s.PidsLimit != 50 {
		t.Errorf("stats: %d tasks of %d, want 1 of 50", s.Pids, s.PidsLimit)
	}
	n = 70
	if err := g.Update(&specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &n}}); err != nil {
		t.Fatal(err)
	}
	if s, _ := g.Stats(); s.PidsLimit != 70 {
		t.Errorf("after Update: limit %d", s.PidsLimit)
	}
	// A group with a process in it stays; once it is gone, Delete waits
	// for its exit and removes the group.
	if err := g.Delete(50 * time.Millisecond); err == nil {
		t.Error("a group with a process was removed")
	}
	_ = c.Process.Kill()
	_ = c.Wait()
	if err := g.Delete(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := Remove(g.Where(), time.Second); err != nil {
		t.Errorf("Remove of a removed group: %v", err)
	}
}

// A group that holds processes is not a jail's to take; Kill empties a
// jail's own.
func TestGroupInUseAndKill(t *testing.T) {
	g := group(t, "", nil)
	c := inGroup(t, g)
	inGroup(t, g)
	if _, err := New(g.Where(), nil); err == nil || !strings.Contains(err.Error(), "holds 2 processes already") {
		t.Errorf("New on a group with processes: %v, want a refusal", err)
	}
	g.Where().Kill()
	if err := c.Wait(); err == nil {
		t.Error("a process of the group survived Kill")
	}
	if procs := g.Where().Procs(); len(procs) > 0 {
		t.Errorf("after Kill: %v", procs)
	}
	if err := g.Delete(5 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func TestGroupOnV2Tree(t *testing.T) {
	if !isCgroup2(hybridTree) {
		t.Skip("no v2 tree beside v1 here")
	}
	g := group(t, hybridTree, nil)
	c := inGroup(t, g)
	if in, err := member(g.Where(), c.Process.Pid); err != nil || !in {
		t.Fatalf("not in the v2 group: %v", err)
	}
	n := int64(5)
	_, err := New(Where{Path: g.Where().Path + "x", V2: hybridTree}, &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &n}})
	b, _ := os.ReadFile(hybridTree + "/cgroup.controllers")
	var ue *UnsupportedError
	if !slices.Contains(strings.Fields(string(b)), "pids") && !errors.As(err, &ue) {
		t.Errorf("pids on a v2 tree without the controller: %v, want an UnsupportedError", err)
	}
}

func TestHybridTwin(t *testing.T) {
	if !isCgroup2(hybridTree) || isCgroup2(Mountpoint) {
		t.Skip("not a hybrid host")
	}
	booted := systemdBooted
	systemdBooted = func() bool { return true }
	t.Cleanup(func() { systemdBooted = booted })
	g := group(t, "", nil)
	if !g.NeedsRest() {
		t.Fatal("no twin on the v2 tree of a hybrid host run by systemd")
	}
	c := sleeper(t)
	if err := g.AddRest(c.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if in, err := member(Where{Path: g.Where().Path, V2: hybridTree}, c.Process.Pid); err != nil || !in {
		t.Errorf("not in the twin on %s: %v", hybridTree, err)
	}
	_ = c.Process.Kill()
	_ = c.Wait()
	if err := g.Delete(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(hybridTree, g.Where().Path)); err == nil {
		t.Error("the twin is left")
	}
}

// TestTaskFilesMoveItself checks what the jail's init does with the
// files: a process that writes "0" to each is in the group.
func TestTaskFilesMoveItself(t *testing.T) {
	g := group(t, "", nil)
	files, err := g.TaskFiles()
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Skip("a v2 group has no task files")
	}
	c := exec.Command("sh", "-c", `for fd in $FDS; do echo 0 >&$fd || exit 1; done; exec sleep 60`)
	var fds []string
	for i, f := range files {
		c.ExtraFiles = append(c.ExtraFiles, f)
		fds = append(fds, fmt.Sprint(3+i))
	}
	c.Env = append(os.Environ(), "FDS="+strings.Join(fds, " "))
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		f.Close()
	}
	t.Cleanup(func() { _ = c.Process.Kill(); _ = c.Wait() })
	deadline := time.Now().Add(5 * time.Second)
	for {
		procs, _ := g.Procs()
		if len(procs) == 1 && procs[0] == c.Process.Pid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the process did not move itself: %v", procs)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestMemoryLimitUpAndDown(t *testing.T) {
	mem := func(n int64) *specs.LinuxResources {
		return &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &n, Swap: &n}}
	}
	g := group(t, "", mem(64<<20))
	for _, n := range []int64{128 << 20, 32 << 20, 256 << 20} {
		if err := g.Update(mem(n)); err != nil {
			t.Fatalf("to %d: %v", n, err)
		}
		if s, _ := g.Stats(); s.MemoryLimit != uint64(n) {
			t.Errorf("limit %d, want %d", s.MemoryLimit, n)
		}
	}
}

func TestLocateOnASystemdHost(t *testing.T) {
	booted, unified := systemdBooted, unifiedHost
	t.Cleanup(func() { systemdBooted, unifiedHost = booted, unified })
	systemdBooted = func() bool { return true }
	unifiedHost = func() bool { return true }
	w, err := Locate("/prison/web1", "")
	if err != nil {
		t.Fatal(err)
	}
	want := Where{Path: "/system.slice/prison-web1.scope", V2: Mountpoint, Unit: "prison-web1.scope"}
	if w != want {
		t.Errorf("Locate: %+v, want %+v", w, want)
	}
	// A scope is made with its first process: until then there is
	// nothing on the host to list, show or remove.
	g, err := New(w, nil)
	if err != nil {
		t.Fatal(err)
	}
	if fileExists(filepath.Join(Mountpoint, w.Path)) {
		t.Errorf("%s made before its first process", w.Path)
	}
	if procs, err := g.Procs(); err != nil || procs != nil {
		t.Errorf("procs of a scope not made: %v %v", procs, err)
	}
	if err := g.Delete(time.Second); err != nil {
		t.Errorf("delete of a scope not made: %v", err)
	}
	// A spec's systemd cgroupsPath (a Kubernetes pod's, through
	// containerd's SystemdCgroup): the scope stays in the pod's slice.
	pod := "/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1.slice/cri-containerd-c1.scope"
	if w, _ := Locate(pod, ""); w != (Where{Path: pod, V2: Mountpoint, Unit: "cri-containerd-c1.scope"}) {
		t.Errorf("a pod's scope: %+v", w)
	} else if g := (&Group{path: w.Path}); g.slice() != "kubepods-besteffort-pod1.slice" {
		t.Errorf("a pod's scope's slice: %s", g.slice())
	}
	for _, p := range []string{"/a.slice/b.slice/c.scope", "/a.slice/x", "/c.scope", "/a/b.scope"} {
		if w, _ := Locate(p, ""); w.Path == p {
			t.Errorf("%s, no scope in its slices: %+v", p, w)
		}
	}
	systemdBooted, unifiedHost = func() bool { return false }, func() bool { return true }
	if w, _ := Locate("/prison/web1", ""); w != (Where{Path: "/prison/web1", V2: Mountpoint}) {
		t.Errorf("a unified host without systemd: %+v", w)
	}
	unifiedHost = func() bool { return false }
	if w, _ := Locate("/prison/web1", ""); w != (Where{Path: "/prison/web1"}) {
		t.Errorf("a v1 host: %+v", w)
	}
}

// TestSystemdScope makes a jail's group as systemd's transient scope: on
// a unified host that systemd runs only.
func TestSystemdScope(t *testing.T) {
	if !systemdBooted() || !unifiedHost() {
		t.Skip("systemd is not PID 1 of a unified host here: the scope driver is not used")
	}
	n := int64(20)
	g := group(t, "", &specs.LinuxResources{Pids: &specs.LinuxPids{Limit: &n}})
	if g.Where().Unit == "" {
		t.Fatalf("a group on a systemd host is no scope: %+v", g.Where())
	}
	c := sleeper(t)
	if err := g.AddRest(c.Process.Pid); err != nil {
		t.Fatal(err)
	}
	if in, err := member(g.Where(), c.Process.Pid); err != nil || !in {
		t.Errorf("not in the scope's group: %v", err)
	}
	if s, err := g.Stats(); err != nil || s.PidsLimit != 20 {
		t.Errorf("the scope's task limit: %+v %v", s, err)
	}
	_ = c.Process.Kill()
	_ = c.Wait()
	if err := g.Delete(10 * time.Second); err != nil {
		t.Fatal(err)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// add moves process pid, with all its threads, into the group, as a
// launcher would (the jail's init joins by TaskFiles and Dir instead).
func (g *Group) add(pid int) error {
	var err error
	if g.v2m != nil {
		err = g.v2m.AddProc(uint64(pid))
	} else {
		err = g.v1c.AddProc(uint64(pid))
		if err == nil && g.track != nil {
			err = g.track.AddProc(uint64(pid))
		}
	}
	if err != nil {
		return fmt.Errorf("cgroup %s: add process %d: %w", g.path, pid, err)
	}
	return nil
}

// member tells whether process pid is in the group at w: /proc/PID/cgroup
// names it on the hierarchy that holds it.
func member(w Where, pid int) (bool, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		onV2 := f[0] == "0" && f[1] == ""
		if onV2 != (w.V2 != "") {
			continue
		}
		if !onV2 && !slices.Contains(strings.Split(f[1], ","), "pids") {
			continue
		}
		return f[2] == w.Path, nil
	}
	return false, nil
}
