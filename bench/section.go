package bench

import (
	"context"
	"os/exec"
	"slices"
)

// A Contender is one command line competing in a Section. Contenders are
// data: adding one to a report is adding one value to a Section's list.
type Contender struct {
	// Name labels the contender's row and is how Targets and Diffs refer
	// to it. Unique within a Section.
	Name string

	// Args returns the command line of one invocation. It is called once
	// per invocation, so it can hand out unique container ids or
	// addresses. Args[0] should be an absolute path: a PATH search would
	// sit inside the timed region.
	Args func() []string

	// Env holds KEY=VALUE pairs added to the driver's environment for
	// every invocation (prison's PRISON_SOCKET). The report prints them
	// before the command line.
	Env []string

	// ViaDaemon marks a contender whose invocations the suite's prison
	// daemon serves: the driver starts the daemon only when a section to
	// run has one.
	ViaDaemon bool

	// Start starts cmd. Nil means cmd.Start. It exists for contenders that
	// must be started from a prepared thread (see MountNSRunner).
	Start func(cmd *exec.Cmd) error

	// ManyMounts marks a contender that starts in the mounts section's
	// namespace (Env.MountsStart); when ViaDaemon too, the daemon in that
	// namespace serves it. The driver makes the namespace only when a
	// section to run has one.
	ManyMounts bool

	// Measure, when set, replaces the Section's Measure for this
	// contender (for example a parallel and a sequential batch side by
	// side).
	Measure Measure

	// Around, when set, wraps every measurement of the contender (the
	// preflight, the warm-ups and the rounds, a whole batch at a time): it
	// runs measure and may fail it. The daemon contenders use it to fail an
	// invocation that the daemon did not serve (see Daemon.Around).
	Around func(measure func() (Sample, error)) (Sample, error)

	// Setup, when set, prepares what the contender's invocations need
	// and what outlives them: the running jail or container that prison
	// exec and crun exec enter (see Unit.Fixture). The Runner calls it
	// before the preflight and the teardown it returns after the last
	// round, whatever happened; a failed Setup makes the contender n/a.
	Setup func(ctx context.Context) (teardown func() error, err error)

	// Unit, when set, is the long-lived jail or container that the
	// contender's invocations bring up and remove (the measures UpDown
	// and IdleMemory). Args is nil then: the report prints one unit's Up
	// and Down commands.
	Unit *Unit

	// NA, when set, is why the contender cannot run here; its rows print
	// "n/a: NA" and no invocation is attempted. The Runner also sets it
	// when the contender's preflight invocation fails.
	NA string
}

// commandLines returns one invocation's command lines as the report
// prints them, each after the contender's Env assignments: Args', or one
// unit's Up and Down commands. Nil when there is neither.
func (c *Contender) commandLines() [][]string {
	var lines [][]string
	switch {
	case c.Args != nil:
		lines = append(lines, c.Args())
	case c.Unit != nil:
		id := c.Unit.ID()
		for _, st := range slices.Concat(c.Unit.Up(id), c.Unit.down(id)) {
			lines = append(lines, st.Args)
		}
	}
	for i, l := range lines {
		lines[i] = append(slices.Clone(c.Env), l...)
	}
	return lines
}

// Metric is one named value observed by one invocation, in its Section's
// Unit.
type Metric struct {
	Key   string
	Value float64
}

// A Sample is what one invocation observed: one or more metrics, in the
// order they should be printed. The first one is the contender's headline
// number (for example the wall time).
type Sample []Metric

// Get returns the value of key and whether the sample has it.
func (s Sample) Get(key string) (float64, bool) {
	for _, m := range s {
		if m.Key == key {
			return m.Value, true
		}
	}
	return 0, false
}

// A Measure runs one invocation of c and returns what it observed. It
// decides what "the time" of an invocation is: wall time, a number the
// command prints, a batch of invocations, …
type Measure func(ctx context.Context, c *Contender) (Sample, error)

// A Target is a goal stated as a bound on a ratio or a difference between
// two contenders' medians. A missed target is reported, never fatal.
type Target struct {
	// Label says what the target is, in the words.
	Label string
	// Num and Den name the contenders compared: Num/Den for a ratio,
	// Num−Den for a difference. Without Den, the value is Num's median
	// itself, in the Section's Unit.
	Num, Den string
	// Metric is the compared sample key; empty means the headline metric.
	Metric string
	// Diff selects a difference (in the Section's Unit) instead of a ratio.
	Diff bool
	// Base, when set, makes the value (Num−Den)/Base: the cost that Num
	// adds over Den, as a share of what Base takes for the same work.
	Base string
	// Max is the bound the value must not exceed to PASS.
	Max float64
}

// absolute reports whether t bounds Num's own median (no Den), in the
// Section's Unit: a budget such as the memory of an idle jail.
func (t Target) absolute() bool { return t.Den == "" }

// A Diff asks for the difference B−A of two contenders to be reported: the
// difference of their medians, with the p10–p90 band of the per-round
// differences (every round runs both) to show how much one jail's cost
// varies.
type Diff struct {
	Label string
	A, B  string
}

// A Section is one table of the report: a set of contenders measured in
// alternating rounds under one Measure.
type Section struct {
	// ID selects the section with -only.
	ID string
	// Title heads the section in RESULTS.md.
	Title string
	// About says in a few sentences what exactly is measured.
	About string
	// Unit is the unit of every metric value, for example "ms".
	Unit string
	// Rounds is the default number of measured rounds; Warmup rounds run
	// before them and are discarded.
	Rounds, Warmup int
	Measure        Measure
	// Baseline names the contender that ratios are taken against; empty
	// means no ratio column.
	Baseline   string
	Contenders []*Contender
	Diffs      []Diff
	Targets    []Target
	// Notes are printed under the section's table.
	Notes []string
	// Remarks, when set, returns notes that depend on the measurements
	// (res) and on the other sections' results of the report (all, res
	// among them; nil when res is rendered alone). They come before Notes.
	Remarks func(res *Result, all []*Result) []string
	// Setup, when set, prepares what all the contenders share and what
	// outlives their invocations (a containerd, a podman store): the
	// Runner calls it before any contender's Setup or preflight and the
	// teardown it returns after the contenders' teardowns, whatever
	// happened. A failed Setup makes every contender n/a, with its error;
	// it must undo what it did before it returns one.
	Setup func(ctx context.Context) (teardown func() error, err error)
}

// measure runs one invocation of c under the measure that applies to it.
func (s *Section) measure(ctx context.Context, c *Contender) (Sample, error) {
	m := s.Measure
	if c.Measure != nil {
		m = c.Measure
	}
	if c.Around != nil {
		return c.Around(func() (Sample, error) { return m(ctx, c) })
	}
	return m(ctx, c)
}

// Contender returns the contender called name, or nil.
func (s *Section) Contender(name string) *Contender {
	for _, c := range s.Contenders {
		if c.Name == name {
			return c
		}
	}
	return nil
}
