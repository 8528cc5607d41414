package bench

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// A Runner measures Sections in alternating rounds: each round runs every
// contender once, in a freshly shuffled order. Measuring one contender's
// runs back to back and then the next (as hyperfine does) lets a drift of
// the machine (another tenant, thermal state, page cache) land on one
// contender only; alternating spreads it over all of them.
type Runner struct {
	// Rounds, when > 0, overrides every Section's own Rounds.
	Rounds int
	// Warmup, when ≥ 0, overrides every Section's own Warmup.
	Warmup int
	// Rand shuffles each round's order. It must not be nil.
	Rand *rand.Rand
	// Progress, when not nil, receives a line per section and per tenth
	// of its rounds.
	Progress io.Writer
}

// Series is one contender's measurements in a Result.
type Series struct {
	Contender *Contender
	// Commands are one invocation's command lines, as printed in the
	// report, after the contender's Env assignments: one, or a unit's Up
	// and Down commands.
	Commands [][]string
	// Samples holds one entry per measured round; nil where the invocation
	// failed.
	Samples []Sample
	// Failures counts failed invocations after a successful preflight;
	// FirstErr is the first of them.
	Failures int
	FirstErr string
	// Teardown is why the contender's Setup could not be undone (see
	// Contender.Setup); empty when it was, or there was none.
	Teardown string
}

// Result is a Section after measurement.
type Result struct {
	Section *Section
	Rounds  int
	Series  []*Series
	Elapsed time.Duration
	// Teardown is why the Section's Setup could not be undone; empty when
	// it was, or there was none.
	Teardown string
}

// Run measures s. A contender whose preflight invocation fails gets its NA
// set (with the error) and is left out of the rounds; nothing else is fatal,
// so a broken contender never hides the others' numbers. Run stops early,
// keeping the rounds done so far, when ctx is cancelled.
func (r *Runner) Run(ctx context.Context, s *Section) *Result {
	start := time.Now()
	rounds, warmup := s.Rounds, s.Warmup
	if r.Rounds > 0 {
		rounds = r.Rounds
	}
	if r.Warmup >= 0 {
		warmup = r.Warmup
	}
	res := &Result{Section: s}
	var live []*Series
	// What the contenders' Setups made goes again, in reverse, after the
	// last round, and what the Section's made after that: whatever
	// happened, and even when ctx is done.
	var teardowns []func()
	defer func() {
		for _, td := range slices.Backward(teardowns) {
			td()
		}
	}()
	if s.Setup != nil {
		td, err := s.Setup(ctx)
		if td != nil {
			teardowns = append(teardowns, func() {
				if err := td(); err != nil {
					res.Teardown = err.Error()
					r.logf("%s: teardown: %v\n", s.ID, err)
				}
			})
		}
		if err != nil {
			na := "setup failed: " + err.Error()
			r.logf("%s: %s\n", s.ID, na)
			for _, c := range s.Contenders {
				if c.NA == "" {
					c.NA = na
				}
			}
		}
	}
	for _, c := range s.Contenders {
		sr := &Series{Contender: c}
		res.Series = append(res.Series, sr)
		if c.NA != "" {
			continue
		}
		sr.Commands = c.commandLines()
		if c.Setup != nil {
			td, err := c.Setup(ctx)
			if td != nil {
				teardowns = append(teardowns, func() {
					if err := td(); err != nil {
						sr.Teardown = err.Error()
						r.logf("%s: %s: teardown: %v\n", s.ID, c.Name, err)
					}
				})
			}
			if err != nil {
				c.NA = "setup failed: " + err.Error()
				r.logf("%s: %s: %s\n", s.ID, c.Name, c.NA)
				continue
			}
		}
		// The preflight doubles as the first warm-up: it pulls binaries
		// and the root into the page cache.
		if _, err := s.measure(ctx, c); err != nil {
			c.NA = "preflight failed: " + err.Error()
			r.logf("%s: %s: %s\n", s.ID, c.Name, c.NA)
			continue
		}
		live = append(live, sr)
	}
	r.logf("%s: %d contenders, %d warm-up + %d rounds\n", s.ID, len(live), warmup, rounds)

	order := make([]int, len(live))
	for i := range order {
		order[i] = i
	}
	for round := -warmup; round < rounds; round++ {
		if ctx.Err() != nil {
			break
		}
		r.Rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		for _, k := range order {
			sr := live[k]
			smp, err := s.measure(ctx, sr.Contender)
			if round < 0 {
				continue
			}
			if err != nil {
				sr.Failures++
				if sr.FirstErr == "" {
					sr.FirstErr = err.Error()
				}
				smp = nil
			}
			sr.Samples = append(sr.Samples, smp)
		}
		if round >= 0 {
			res.Rounds = round + 1
			if tenth := max(rounds/10, 1); (round+1)%tenth == 0 {
				r.logf("%s: round %d/%d\n", s.ID, round+1, rounds)
			}
		}
	}
	res.Elapsed = time.Since(start)
	return res
}

func (r *Runner) logf(format string, args ...any) {
	if r.Progress != nil {
		fmt.Fprintf(r.Progress, format, args...)
	}
}

// Get returns the series of the contender called name, or nil.
func (res *Result) Get(name string) *Series {
	for _, s := range res.Series {
		if s.Contender.Name == name {
			return s
		}
	}
	return nil
}

// Keys returns the metric keys seen in the result, in first-seen order,
// except that a key first seen in a later contender's samples goes right
// after the key that precedes it there: prison's create, delete and
// crun's create, start, delete give create, start, delete. The first key
// is the headline metric.
func (res *Result) Keys() []string {
	var keys []string
	for _, sr := range res.Series {
		for _, smp := range sr.Samples {
			prev := -1 // where the sample's previous key is in keys
			for _, m := range smp {
				i := slices.Index(keys, m.Key)
				if i < 0 {
					i = prev + 1
					keys = slices.Insert(keys, i, m.Key)
				}
				prev = i
			}
		}
	}
	return keys
}

// Values returns the series' values of key, skipping rounds that failed or
// lack the key. An empty key means the headline (first) metric.
func (sr *Series) Values(key string) []float64 {
	var xs []float64
	for _, smp := range sr.Samples {
		if v, ok := pick(smp, key); ok {
			xs = append(xs, v)
		}
	}
	return xs
}

// Summary summarises the series' values of key.
func (sr *Series) Summary(key string) Summary { return Summarize(sr.Values(key)) }

func pick(smp Sample, key string) (float64, bool) {
	if len(smp) == 0 {
		return 0, false
	}
	if key == "" {
		return smp[0].Value, true
	}
	return smp.Get(key)
}

// PairedDiff summarises b−a over the rounds in which both contenders
// produced key. ok is false when either contender has no such round.
func (res *Result) PairedDiff(a, b, key string) (sum Summary, ok bool) {
	sa, sb := res.Get(a), res.Get(b)
	if sa == nil || sb == nil {
		return Summary{}, false
	}
	var ds []float64
	for i := 0; i < len(sa.Samples) && i < len(sb.Samples); i++ {
		va, oka := pick(sa.Samples[i], key)
		vb, okb := pick(sb.Samples[i], key)
		if oka && okb {
			ds = append(ds, vb-va)
		}
	}
	if len(ds) == 0 {
		return Summary{}, false
	}
	return Summarize(ds), true
}

// Ratio returns the ratio of the medians of the contenders num and den,
// and whether both have any.
func (res *Result) Ratio(num, den string) (float64, bool) {
	v := res.Evaluate(Target{Num: num, Den: den, Max: math.Inf(1)})
	return v.Value, v.NA == ""
}

// Verdict is a Target evaluated against a Result.
type Verdict struct {
	Target Target
	// Value is the measured ratio or difference; NA explains why there is
	// none.
	Value float64
	NA    string
	Pass  bool
}

// Evaluate measures t against res: the ratio or the difference of the two
// medians, or Num's median alone when t has no Den.
func (res *Result) Evaluate(t Target) Verdict {
	v := Verdict{Target: t}
	names := []string{t.Num, t.Den}
	if t.absolute() {
		names = names[:1]
	}
	for _, name := range names {
		sr := res.Get(name)
		switch {
		case sr == nil:
			v.NA = "no contender " + name
		case sr.Contender.NA != "":
			v.NA = name + " is n/a"
		case len(sr.Values(t.Metric)) == 0:
			v.NA = name + " has no samples"
		}
		if v.NA != "" {
			return v
		}
	}
	num := res.Get(t.Num).Summary(t.Metric).Median
	var den float64
	if !t.absolute() {
		den = res.Get(t.Den).Summary(t.Metric).Median
	}
	switch {
	case t.absolute():
		v.Value = num
	case t.Base != "":
		base := res.Get(t.Base)
		if base == nil || base.Contender.NA != "" || len(base.Values(t.Metric)) == 0 {
			v.NA = t.Base + " is n/a"
			return v
		}
		v.Value = (num - den) / base.Summary(t.Metric).Median
	case t.Diff:
		v.Value = num - den
	default:
		v.Value = num / den
	}
	if math.IsNaN(v.Value) || math.IsInf(v.Value, 0) {
		v.NA = "undefined"
		return v
	}
	v.Pass = v.Value <= t.Max
	return v
}
