package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"time"
)

// A Unit is one runtime's long-lived jail or container: a persistent
// prison jail, a crun or runc container running `sleep infinity`, a bwrap
// sandbox running it in the foreground. The exec section enters one (see
// Fixture), the create section brings one up and removes it per invocation
// (UpDown), and the memory section keeps many up at once (IdleMemory).
type Unit struct {
	// ID returns a fresh id (a jail's name, a container's id), unique in
	// the run and starting with the suite's IDPrefix, so that Cleanup finds
	// what a failed run left.
	ID func() string
	// Up returns the commands that bring up the unit called id, run one
	// after another; each must exit 0, but a Foreground unit's last, which
	// is the unit.
	Up func(id string) []Step
	// Down returns the commands that remove the unit, run one after
	// another. A Foreground unit has none: it is killed.
	Down func(id string) []Step
	// Foreground marks a unit that is the process of its last Up command
	// (bwrap): that one is started and left running, and removing the unit
	// is killing it and its descendants (SIGKILL; see killTree).
	Foreground bool
	// PIDs returns, by id, the host pid of each unit's top process: the
	// process whose tree is the unit. Nil for a Foreground unit, whose top
	// process is the one started.
	PIDs func(ctx context.Context, ids []string) (map[string]int, error)
	// Idle is the command name (comm) of the process whose presence in its
	// tree says a unit is up and idle: prison-init, sleep.
	Idle string
	// Start starts each command; nil means cmd.Start (see MountNSRunner,
	// for crun).
	Start func(*exec.Cmd) error
}

// A Step is one command of a Unit's Up or Down. Key names its time in a
// sample: create, start, delete.
type Step struct {
	Key  string
	Args []string
}

// down returns the unit's Down commands, none for a Foreground unit.
func (u *Unit) down(id string) []Step {
	if u.Down == nil {
		return nil
	}
	return u.Down(id)
}

// upUnit is a unit that Unit.up started to bring up.
type upUnit struct {
	id string
	// fg is a Foreground unit's process, and stderr its standard error
	// (an unlinked file), read when it fails.
	fg     *exec.Cmd
	stderr *os.File
}

// up brings up the unit id and returns the time of each step, fork to
// reap, in ms. The returned unit is never nil: whatever up did, even when
// it failed part-way, remove removes it.
func (u *Unit) up(ctx context.Context, id string) (*upUnit, Sample, error) {
	h := &upUnit{id: id}
	steps := u.Up(id)
	var smp Sample
	for i, st := range steps {
		if u.Foreground && i == len(steps)-1 {
			t0 := time.Now()
			err := u.startForeground(h, st)
			return h, append(smp, Metric{st.Key, ms(time.Since(t0))}), err
		}
		d, err := u.run(ctx, st)
		if err != nil {
			return h, nil, err
		}
		smp = append(smp, Metric{st.Key, ms(d)})
	}
	return h, smp, nil
}

// remove removes the unit h and returns the time of each step in ms. It
// runs even when ctx is done: what a bench run makes, it removes.
func (u *Unit) remove(ctx context.Context, h *upUnit) (Sample, error) {
	ctx = context.WithoutCancel(ctx)
	if h.fg != nil {
		t0 := time.Now()
		err := killTree(h.fg)
		h.stderr.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h.id, err)
		}
		return Sample{{"kill", ms(time.Since(t0))}}, nil
	}
	var smp Sample
	for _, st := range u.down(h.id) {
		d, err := u.run(ctx, st)
		if err != nil {
			return nil, err
		}
		smp = append(smp, Metric{st.Key, ms(d)})
	}
	return smp, nil
}

// killTimeout bounds the wait for a killed unit's processes to die.
const killTimeout = 5 * time.Second

// killTree kills a Foreground unit's process and its descendants
// (SIGKILL), reaps the process, and waits until every descendant has died
// too: a bwrap sandbox would otherwise end after bwrap's reap, when its PID 1
// gets its parent-death signal. A dead descendant may stay a zombie until
// the host's init reaps it; it holds no memory.
func killTree(cmd *exec.Cmd) error {
	var kids []proc
	if tab, err := readProcTable(); err == nil {
		kids = tab.tree(cmd.Process.Pid)
	}
	_ = cmd.Process.Kill()
	if len(kids) > 0 {
		kids = kids[1:]
	}
	for _, p := range kids {
		// Read a moment ago: the pid is still this process, alive or a
		// zombie that keeps it from reuse.
		if q, err := os.FindProcess(p.pid); err == nil {
			_ = q.Kill()
		}
	}
	_ = cmd.Wait() // killed: its status says so and nothing else
	deadline := time.Now().Add(killTimeout)
	for _, p := range kids {
		for {
			// Gone, dead, or (reaped meanwhile) another program's pid.
			q, ok := readProc(p.pid)
			if !ok || q.dead() || q.comm != p.comm {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s %d still alive %v after SIGKILL", p.comm, p.pid, killTimeout)
			}
			time.Sleep(2 * time.Millisecond)
		}
	}
	return nil
}

// stepOutput opens the file a step's stderr goes to: unlinked at once, so
// nothing is left behind, and a file rather than a pipe, which a container
// that inherits it (crun create's) would hold open for its whole life.
func stepOutput() (*os.File, error) {
	f, err := os.CreateTemp("", "prison-bench-step-")
	if err != nil {
		return nil, err
	}
	if err := os.Remove(f.Name()); err != nil {
		f.Close()
		return nil, err
	}
	return f, nil
}

// stepErr returns err with the end of the step's stderr.
func stepErr(args []string, err error, stderr *os.File) error {
	var out []byte
	if _, serr := stderr.Seek(0, io.SeekStart); serr == nil {
		out, _ = io.ReadAll(stderr)
	}
	return fmt.Errorf("%s: %w%s", filepath.Base(args[0]), err, tail(string(out)))
}

// run runs one step to its end, with stdin and stdout on /dev/null, and
// returns its wall time, fork to reap.
func (u *Unit) run(ctx context.Context, st Step) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, InvocationTimeout)
	defer cancel()
	stderr, err := stepOutput()
	if err != nil {
		return 0, err
	}
	defer stderr.Close()
	cmd := exec.CommandContext(ctx, st.Args[0], st.Args[1:]...)
	cmd.Stderr = stderr
	start := cmd.Start
	if u.Start != nil {
		start = func() error { return u.Start(cmd) }
	}
	t0 := time.Now()
	err = start()
	if err == nil {
		err = cmd.Wait()
	}
	d := time.Since(t0)
	if err != nil {
		return d, stepErr(st.Args, err, stderr)
	}
	return d, nil
}

// startForeground starts a Foreground unit's process and leaves it
// running; remove kills it.
func (u *Unit) startForeground(h *upUnit, st Step) error {
	stderr, err := stepOutput()
	if err != nil {
		return err
	}
	cmd := exec.Command(st.Args[0], st.Args[1:]...)
	cmd.Stderr = stderr
	start := cmd.Start
	if u.Start != nil {
		start = func() error { return u.Start(cmd) }
	}
	if err := start(); err != nil {
		stderr.Close()
		return stepErr(st.Args, err, stderr)
	}
	h.fg, h.stderr = cmd, stderr
	return nil
}

// output returns the end of a Foreground unit's stderr, formatted by tail;
// empty for other units.
func (h *upUnit) output() string {
	if h.stderr == nil {
		return ""
	}
	if _, err := h.stderr.Seek(0, io.SeekStart); err != nil {
		return ""
	}
	b, _ := io.ReadAll(h.stderr)
	return tail(string(b))
}

// pids returns the top process of each unit of hs, by id.
func (u *Unit) pids(ctx context.Context, hs []*upUnit) (map[string]int, error) {
	if u.Foreground {
		m := map[string]int{}
		for _, h := range hs {
			m[h.id] = h.fg.Process.Pid
		}
		return m, nil
	}
	ids := make([]string, len(hs))
	for i, h := range hs {
		ids[i] = h.id
	}
	m, err := u.PIDs(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, id := range ids {
		if m[id] <= 0 {
			return nil, fmt.Errorf("%s: no process (up, but not listed)", id)
		}
	}
	return m, nil
}

// Fixture returns a Contender.Setup that brings up the unit id for the
// contender's invocations to enter, and whose teardown removes it.
func (u *Unit) Fixture(id string) func(ctx context.Context) (func() error, error) {
	return func(ctx context.Context) (func() error, error) {
		h, _, err := u.up(ctx, id)
		teardown := func() error {
			_, err := u.remove(ctx, h)
			return err
		}
		if err != nil {
			// Whatever came up goes; the up's error is the one to tell.
			_ = teardown()
			return nil, err
		}
		return teardown, nil
	}
}

// UpDown measures a contender's Unit brought up and removed again under a
// fresh id: the wall time of each step, fork to reap, after their total
// ("total", the headline), in ms. The unit is removed whatever happened.
func UpDown(ctx context.Context, c *Contender) (Sample, error) {
	u := c.Unit
	if u == nil {
		return nil, errors.New("bug: UpDown on a contender without a Unit")
	}
	h, ups, err := u.up(ctx, u.ID())
	if err != nil {
		_, _ = u.remove(ctx, h)
		return nil, err
	}
	downs, err := u.remove(ctx, h)
	if err != nil {
		return nil, err
	}
	steps := slices.Concat(ups, downs)
	var total float64
	for _, m := range steps {
		total += m.Value
	}
	return append(Sample{{"total", total}}, steps...), nil
}

// runOutput runs args with start (nil: directly) and returns its stdout.
func runOutput(ctx context.Context, start func(*exec.Cmd) error, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, InvocationTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if start == nil {
		start = (*exec.Cmd).Start
	}
	err := start(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w%s", filepath.Base(args[0]), err, tail(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// parsePrisonList returns the host pid of each jail's PID 1 in the output
// of `prison list --json`, by name. No jail is "null".
func parsePrisonList(b []byte) (map[string]int, error) {
	var rows []struct {
		Name string `json:"name"`
		PID  int    `json:"pid"`
	}
	if err := json.Unmarshal(b, &rows); err != nil {
		return nil, fmt.Errorf("parse prison list --json: %w", err)
	}
	m := make(map[string]int, len(rows))
	for _, r := range rows {
		m[r.Name] = r.PID
	}
	return m, nil
}

// parseStatePID returns the pid in the output of `crun state` or `runc
// state`: the container's process.
func parseStatePID(b []byte) (int, error) {
	var st struct {
		PID int `json:"pid"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return 0, fmt.Errorf("parse state: %w", err)
	}
	if st.PID <= 0 {
		return 0, fmt.Errorf("state %s: no pid", bytes.TrimSpace(b))
	}
	return st.PID, nil
}
