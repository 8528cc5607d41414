package bench

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

// fakeSection returns a section whose measure records the order of calls
// and returns each contender's fixed value; a contender named "broken"
// always fails.
func fakeSection(values map[string]float64, calls *[]string) *Section {
	s := &Section{ID: "fake", Unit: "ms", Rounds: 4, Warmup: 1}
	s.Measure = func(_ context.Context, c *Contender) (Sample, error) {
		*calls = append(*calls, c.Name)
		if c.Name == "broken" {
			return nil, errors.New("exit status 125: prison: boom")
		}
		return Sample{{"wall", values[c.Name]}}, nil
	}
	for _, name := range []string{"a", "b", "c", "broken"} {
		s.Contenders = append(s.Contenders, &Contender{Name: name, Args: func() []string { return []string{"/bin/" + name} }})
	}
	return s
}

func TestRunnerAlternates(t *testing.T) {
	var calls []string
	s := fakeSection(map[string]float64{"a": 1, "b": 2, "c": 4}, &calls)
	r := &Runner{Warmup: -1, Rand: rand.New(rand.NewPCG(1, 2))}
	res := r.Run(context.Background(), s)

	// Preflight: every contender once, in declaration order.
	if got := strings.Join(calls[:4], ","); got != "a,b,c,broken" {
		t.Errorf("preflight order = %s", got)
	}
	rounds := calls[4:]
	if len(rounds) != 3*(4+1) {
		t.Fatalf("got %d calls after preflight, want 15 (3 contenders × 5 rounds)", len(rounds))
	}
	shuffled := false
	for i := 0; i < len(rounds); i += 3 {
		round := rounds[i : i+3]
		seen := map[string]bool{}
		for _, n := range round {
			seen[n] = true
		}
		if len(seen) != 3 {
			t.Errorf("round %d = %v, want each contender once", i/3, round)
		}
		if strings.Join(round, "") != "abc" {
			shuffled = true
		}
	}
	if !shuffled {
		t.Errorf("no round was shuffled: %v", rounds)
	}
	if res.Rounds != 4 {
		t.Errorf("Rounds = %d, want 4 (the warm-up is not counted)", res.Rounds)
	}
	if got := len(res.Get("a").Samples); got != 4 {
		t.Errorf("a has %d samples, want 4", got)
	}
	if na := s.Contender("broken").NA; !strings.Contains(na, "preflight failed") || !strings.Contains(na, "boom") {
		t.Errorf("broken.NA = %q, want the preflight error", na)
	}
	if cmds := res.Get("a").Commands; len(cmds) != 1 || len(cmds[0]) != 1 || cmds[0][0] != "/bin/a" {
		t.Errorf("a.Commands = %q", cmds)
	}
}

func TestRunnerOverridesRounds(t *testing.T) {
	var calls []string
	s := fakeSection(map[string]float64{}, &calls)
	r := &Runner{Rounds: 2, Warmup: 0, Rand: rand.New(rand.NewPCG(1, 2))}
	if res := r.Run(context.Background(), s); res.Rounds != 2 || len(calls) != 4+3*2 {
		t.Errorf("Rounds = %d after %d calls; want 2 rounds, 10 calls", res.Rounds, len(calls))
	}
}

func TestEvaluate(t *testing.T) {
	res := &Result{Section: &Section{Unit: "ms"}}
	add := func(name, na string, vals ...float64) {
		sr := &Series{Contender: &Contender{Name: name, NA: na}}
		for _, v := range vals {
			sr.Samples = append(sr.Samples, Sample{{"total", v}})
		}
		res.Series = append(res.Series, sr)
	}
	add("base", "", 10, 10, 10, 12)
	add("fast", "", 5, 5, 6, 5)
	add("ip", "", 10.5, 10.4, 10.6, 12.5)
	add("gone", "no binary")
	tests := []struct {
		name     string
		target   Target
		want     float64
		wantPass bool
		wantNA   bool
	}{
		{"ratio of medians passes", Target{Num: "fast", Den: "base", Max: 0.55}, 0.5, true, false},
		{"ratio of medians misses", Target{Num: "base", Den: "fast", Max: 1}, 2, false, false},
		{"difference of medians", Target{Num: "ip", Den: "base", Metric: "total", Diff: true, Max: 0.6}, 0.55, true, false},
		{"absolute bound passes", Target{Num: "fast", Max: 5}, 5, true, false},
		{"absolute bound misses", Target{Num: "base", Max: 5}, 10, false, false},
		{"absolute bound, n/a contender", Target{Num: "gone", Max: 5}, 0, false, true},
		{"n/a contender", Target{Num: "gone", Den: "base", Max: 1}, 0, false, true},
		{"unknown contender", Target{Num: "nope", Den: "base", Max: 1}, 0, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := res.Evaluate(tt.target)
			if (v.NA != "") != tt.wantNA {
				t.Fatalf("NA = %q, want NA %v", v.NA, tt.wantNA)
			}
			if tt.wantNA {
				return
			}
			if d := v.Value - tt.want; d > 1e-9 || d < -1e-9 || v.Pass != tt.wantPass {
				t.Errorf("Evaluate = %v (pass %v), want %v (pass %v)", v.Value, v.Pass, tt.want, tt.wantPass)
			}
		})
	}
}

// TestRunnerAround checks that a contender's Around wraps its preflight,
// warm-ups and rounds, that its failures count as failed rounds, and that
// the printed command carries the contender's environment.
func TestRunnerAround(t *testing.T) {
	var calls []string
	s := fakeSection(map[string]float64{"a": 1, "b": 2, "c": 3}, &calls)
	s.Contenders = s.Contenders[:3]
	wrapped := 0
	b := s.Contender("b")
	b.Env = []string{SocketEnv + "=/tmp/d.sock"}
	b.Around = func(measure func() (Sample, error)) (Sample, error) {
		wrapped++
		smp, err := measure()
		if wrapped == 3 { // after the preflight and the warm-up: the first round
			return nil, errors.New("not served by the prison daemon, which wrote: launches on its own")
		}
		return smp, err
	}
	res := (&Runner{Warmup: -1, Rand: rand.New(rand.NewPCG(1, 2))}).Run(context.Background(), s)
	if want := 1 + s.Warmup + s.Rounds; wrapped != want {
		t.Errorf("Around ran %d times, want %d (preflight, warm-up, rounds)", wrapped, want)
	}
	sr := res.Get("b")
	if sr.Failures != 1 || !strings.Contains(sr.FirstErr, "launches on its own") || sr.Samples[0] != nil {
		t.Errorf("b: %d failures, first %q, samples %v; want the first round failed", sr.Failures, sr.FirstErr, sr.Samples)
	}
	if got := ShellQuote(sr.Commands[0]); got != "PRISON_SOCKET=/tmp/d.sock /bin/b" {
		t.Errorf("b's command = %s", got)
	}
	if got := ShellQuote(res.Get("a").Commands[0]); got != "/bin/a" {
		t.Errorf("a's command = %s", got)
	}
}

// TestRunnerSetup checks a contender's Setup: run once before its
// preflight, its teardown once after the last round, even when the run is
// cancelled; a failed Setup makes the contender n/a, and a failed teardown
// is reported.
func TestRunnerSetup(t *testing.T) {
	var calls []string
	s := fakeSection(map[string]float64{"a": 1, "b": 2, "c": 3}, &calls)
	s.Contenders = s.Contenders[:3]
	var events []string
	measure := s.Measure
	s.Measure = func(ctx context.Context, c *Contender) (Sample, error) {
		if c.Name == "a" {
			events = append(events, "measure")
		}
		return measure(ctx, c)
	}
	s.Contender("a").Setup = func(context.Context) (func() error, error) {
		events = append(events, "setup")
		return func() error {
			events = append(events, "teardown")
			return errors.New("prison: no such jail")
		}, nil
	}
	s.Contender("b").Setup = func(context.Context) (func() error, error) {
		return nil, errors.New("crun: exit status 1")
	}
	res := (&Runner{Warmup: -1, Rand: rand.New(rand.NewPCG(1, 2))}).Run(context.Background(), s)
	want := []string{"setup"}
	for range 1 + s.Warmup + s.Rounds {
		want = append(want, "measure")
	}
	want = append(want, "teardown")
	if got := strings.Join(events, " "); got != strings.Join(want, " ") {
		t.Errorf("events: %s\nwant:   %s", got, strings.Join(want, " "))
	}
	if na := s.Contender("b").NA; na != "setup failed: crun: exit status 1" || len(res.Get("b").Samples) != 0 {
		t.Errorf("b: NA %q, %d samples", na, len(res.Get("b").Samples))
	}
	if td := res.Get("a").Teardown; td != "prison: no such jail" {
		t.Errorf("a.Teardown = %q", td)
	}
	if md := res.Markdown(); !strings.Contains(md, "- a: teardown failed: prison: no such jail") {
		t.Errorf("Markdown lacks the teardown failure:\n%s", md)
	}

	// Interrupted: no rounds, but the teardown still runs.
	events = nil
	s.Contender("b").NA = ""
	s.Contender("b").Setup = nil
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	(&Runner{Warmup: -1, Rand: rand.New(rand.NewPCG(1, 2))}).Run(ctx, s)
	if got := strings.Join(events, " "); got != "setup measure teardown" {
		t.Errorf("cancelled run: %s, want the preflight only, then the teardown", got)
	}
}

// TestRunnerSectionSetup checks a Section's Setup: run before every
// contender's Setup and preflight, its teardown after theirs, even when
// the run is cancelled; a failed Setup makes every contender n/a, and a
// failed teardown is reported.
func TestRunnerSectionSetup(t *testing.T) {
	var calls, events []string
	s := fakeSection(map[string]float64{"a": 1, "b": 2}, &calls)
	s.Contenders = s.Contenders[:2]
	measure := s.Measure
	s.Measure = func(ctx context.Context, c *Contender) (Sample, error) {
		events = append(events, "measure "+c.Name)
		return measure(ctx, c)
	}
	s.Rounds, s.Warmup = 1, 0
	s.Contender("a").Setup = func(context.Context) (func() error, error) {
		events = append(events, "setup a")
		return func() error { events = append(events, "teardown a"); return nil }, nil
	}
	s.Setup = func(context.Context) (func() error, error) {
		events = append(events, "setup")
		return func() error {
			events = append(events, "teardown")
			return errors.New("leftover cgroup /x")
		}, nil
	}
	res := (&Runner{Warmup: -1, Rand: rand.New(rand.NewPCG(1, 2))}).Run(context.Background(), s)
	if got := strings.Join(events, ", "); !strings.HasPrefix(got, "setup, setup a, measure a, measure b, ") ||
		!strings.HasSuffix(got, ", teardown a, teardown") || len(events) != 8 {
		t.Errorf("events: %s", got)
	}
	if res.Teardown != "leftover cgroup /x" || !strings.Contains(res.Markdown(), "- the section's teardown failed: leftover cgroup /x\n") {
		t.Errorf("Teardown %q; Markdown:\n%s", res.Teardown, res.Markdown())
	}

	// A failed Setup: every contender n/a with its error, nothing run,
	// its (partial) teardown run all the same.
	events = nil
	s.Contender("a").Setup = nil
	s.Setup = func(context.Context) (func() error, error) {
		return func() error { events = append(events, "teardown"); return nil }, errors.New("containerd exited")
	}
	res = (&Runner{Warmup: -1, Rand: rand.New(rand.NewPCG(1, 2))}).Run(context.Background(), s)
	for _, c := range s.Contenders {
		if c.NA != "setup failed: containerd exited" || len(res.Get(c.Name).Samples) != 0 {
			t.Errorf("%s: NA %q, %d samples", c.Name, c.NA, len(res.Get(c.Name).Samples))
		}
	}
	if got := strings.Join(events, ", "); got != "teardown" {
		t.Errorf("events after a failed Setup: %s", got)
	}
}

// TestKeysMerge checks the order of metric rows when contenders have
// different steps: a key new in a later contender goes after its
// predecessor there.
func TestKeysMerge(t *testing.T) {
	res := &Result{Section: &Section{}}
	for _, keys := range [][]string{{"total", "create", "delete"}, {"total", "create", "start", "delete"}, {"total", "kill"}} {
		var smp Sample
		for _, k := range keys {
			smp = append(smp, Metric{k, 1})
		}
		res.Series = append(res.Series, &Series{Contender: &Contender{}, Samples: []Sample{nil, smp}})
	}
	if got := strings.Join(res.Keys(), ","); got != "total,kill,create,start,delete" {
		t.Errorf("Keys = %s", got)
	}
}
