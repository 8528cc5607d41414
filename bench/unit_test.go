package bench

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// shUnit returns a unit whose steps are shell commands: up runs ups, down
// runs downs, each appending its key to dir/log, so that a test sees what
// ran.
func shUnit(t *testing.T, ups, downs []string) (*Unit, func() string) {
	t.Helper()
	dir := t.TempDir()
	log := filepath.Join(dir, "log")
	steps := func(cmds []string, id string) []Step {
		var s []Step
		for i, c := range cmds {
			key := fmt.Sprintf("%s%d", c[:1], i)
			s = append(s, Step{key, []string{"/bin/sh", "-c", "echo " + key + " " + id + " >>" + log + "; " + c[2:]}})
		}
		return s
	}
	n := 0
	u := &Unit{
		ID:   func() string { n++; return "u" + strconv.Itoa(n) },
		Up:   func(id string) []Step { return steps(ups, id) },
		Down: func(id string) []Step { return steps(downs, id) },
	}
	return u, func() string {
		b, err := os.ReadFile(log)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
}

// TestUpDown checks the create section's measure: each step timed, their
// total first, and the unit removed also when bringing it up failed.
func TestUpDown(t *testing.T) {
	// "c:" and "s:" are up steps, "d:" a down step; after the letter, the
	// shell command.
	u, ran := shUnit(t, []string{"c:", "s:"}, []string{"d:"})
	smp, err := UpDown(context.Background(), &Contender{Unit: u})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	var sum float64
	for _, m := range smp {
		keys = append(keys, m.Key)
		if m.Key != "total" {
			sum += m.Value
		}
	}
	if got := strings.Join(keys, ","); got != "total,c0,s1,d0" {
		t.Errorf("keys %s, want total,c0,s1,d0", got)
	}
	if smp[0].Value != sum || sum <= 0 {
		t.Errorf("total %v, steps sum to %v", smp[0].Value, sum)
	}
	if got := ran(); got != "c0 u1\ns1 u1\nd0 u1" {
		t.Errorf("ran:\n%s", got)
	}

	u, ran = shUnit(t, []string{"c:", "s:echo refused >&2; exit 3"}, []string{"d:"})
	_, err = UpDown(context.Background(), &Contender{Unit: u})
	if err == nil || !strings.Contains(err.Error(), "exit status 3: refused") {
		t.Errorf("failed start: err = %v, want its status and stderr", err)
	}
	if got := ran(); got != "c0 u1\ns1 u1\nd0 u1" {
		t.Errorf("a failed start must still be removed; ran:\n%s", got)
	}
}

// TestFixture checks the exec section's Setup: the unit is up before the
// invocations and goes in the teardown; a failed up leaves nothing.
func TestFixture(t *testing.T) {
	u, ran := shUnit(t, []string{"c:"}, []string{"d:"})
	td, err := u.Fixture("x")(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := ran(); got != "c0 x" {
		t.Errorf("after Setup: %q", got)
	}
	if err := td(); err != nil {
		t.Fatal(err)
	}
	if got := ran(); got != "c0 x\nd0 x" {
		t.Errorf("after teardown: %q", got)
	}

	u, ran = shUnit(t, []string{"c:exit 1"}, []string{"d:"})
	if td, err := u.Fixture("y")(context.Background()); err == nil || td != nil {
		t.Errorf("failed up: teardown %v, err %v", td != nil, err)
	}
	if got := ran(); got != "c0 y\nd0 y" {
		t.Errorf("a failed up must be removed at once; ran:\n%s", got)
	}
}

// TestRemoveAfterCancel checks that a unit is removed even when the run
// is being interrupted.
func TestRemoveAfterCancel(t *testing.T) {
	u, ran := shUnit(t, []string{"c:"}, []string{"d:"})
	h, _, err := u.up(context.Background(), "z")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := u.remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	if got := ran(); got != "c0 z\nd0 z" {
		t.Errorf("ran:\n%s", got)
	}
}

// TestUnitCommandLines checks what the report prints for a unit
// contender: one unit's Up and Down commands, after the Env.
func TestUnitCommandLines(t *testing.T) {
	u := &Unit{
		ID:   func() string { return "pb-prison-1" },
		Up:   func(id string) []Step { return []Step{{"create", []string{"/bin/prison", "create", id}}} },
		Down: func(id string) []Step { return []Step{{"delete", []string{"/bin/prison", "delete", id}}} },
	}
	c := &Contender{Name: "p", Unit: u, Env: []string{"A=1"}}
	var got []string
	for _, l := range c.commandLines() {
		got = append(got, ShellQuote(l))
	}
	if s := strings.Join(got, "\n"); s != "A=1 /bin/prison create pb-prison-1\nA=1 /bin/prison delete pb-prison-1" {
		t.Errorf("command lines:\n%s", s)
	}
	// A Foreground unit is killed: nothing to print for its removal.
	u.Down, u.Foreground = nil, true
	if l := (&Contender{Unit: u}).commandLines(); len(l) != 1 {
		t.Errorf("foreground unit: %q", l)
	}
}

// TestIdleMemory runs the memory section's measure on units that need no
// root: `sleep 60` in the foreground, three at once. Each is one process
// of a few hundred KiB, and all of them are gone afterwards.
func TestIdleMemory(t *testing.T) {
	sleep := "/bin/sleep"
	if _, err := os.Stat(sleep); err != nil {
		t.Skip("no /bin/sleep")
	}
	n := 0
	u := &Unit{
		ID:         func() string { n++; return "pb-test-" + strconv.Itoa(n) },
		Up:         func(string) []Step { return []Step{{"start", []string{sleep, "60"}}} },
		Foreground: true,
		Idle:       "sleep",
	}
	seen := &UnitProcesses{}
	c := &Contender{Name: "sleep", Unit: u}
	smp, err := IdleMemory(3, seen)(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	pss, _ := smp.Get(keyPss)
	private, _ := smp.Get(keyPrivate)
	kernel, _ := smp.Get(keyKernel)
	if _, ok := smp.Get(keyDelta); !ok || smp[0].Key != keyPss {
		t.Errorf("sample %v: want Pss first and a kernel Δ", smp)
	}
	if pss <= 0 || private <= 0 || private > pss || pss > 10<<10 || kernel < kernelStackKiB {
		t.Errorf("per unit: Pss %v, private %v, kernel %v KiB", pss, private, kernel)
	}
	if got := seen.Remark([]string{"sleep"}); !strings.Contains(got, "sleep: 1 (sleep)") {
		t.Errorf("remark: %s", got)
	}
	tab, err := readProcTable()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range tab.byPID {
		if p.ppid == os.Getpid() && p.comm == "sleep" {
			t.Errorf("sleep %d left running", p.pid)
		}
	}

	// A unit that cannot come up fails the measure, and what came up
	// before it goes too.
	u.Up = func(id string) []Step {
		if id == "pb-test-5" {
			return []Step{{"start", []string{"/nonexistent/sleep"}}}
		}
		return []Step{{"start", []string{sleep, "60"}}}
	}
	if _, err := IdleMemory(3, nil)(context.Background(), c); err == nil || !strings.Contains(err.Error(), "unit 2 of 3") {
		t.Errorf("err = %v, want the second unit's failure", err)
	}
	if tab, err = readProcTable(); err != nil {
		t.Fatal(err)
	}
	for _, p := range tab.byPID {
		if p.ppid == os.Getpid() && p.comm == "sleep" {
			t.Errorf("sleep %d left running after a failed batch", p.pid)
		}
	}
}

// TestKillTree checks that removing a Foreground unit ends its whole tree,
// not only the process started: a child that would outlive it is killed
// and waited for.
func TestKillTree(t *testing.T) {
	u := &Unit{
		ID:         func() string { return "pb-tree" },
		Up:         func(string) []Step { return []Step{{"start", []string{"/bin/sh", "-c", "sleep 60 & wait"}}} },
		Foreground: true,
		Idle:       "sleep",
	}
	ctx := context.Background()
	h, _, err := u.up(ctx, "pb-tree")
	if err != nil {
		t.Fatal(err)
	}
	pid := h.fg.Process.Pid
	tab, err := waitIdle(ctx, u, []*upUnit{h}, map[string]int{"pb-tree": pid})
	if err != nil {
		t.Fatal(err)
	}
	tree := tab.tree(pid)
	if len(tree) != 2 || tree[1].comm != "sleep" {
		t.Fatalf("tree %+v, want sh and its sleep", tree)
	}
	if _, err := u.remove(ctx, h); err != nil {
		t.Fatal(err)
	}
	if p, ok := readProc(tree[1].pid); ok && !p.dead() && p.comm == "sleep" {
		t.Errorf("the unit's sleep %d outlived its removal: %+v", p.pid, p)
	}
}
