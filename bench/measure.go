package bench

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
)

// InvocationTimeout bounds one invocation, so that a contender that hangs
// costs a failed sample instead of the whole run.
const InvocationTimeout = 2 * time.Minute

// output is what one finished invocation left behind.
type output struct {
	stdout, stderr bytes.Buffer
	wall           time.Duration
	// startNS and endNS are monotonic clock readings (CLOCK_MONOTONIC, in
	// ns) around the invocation, comparable with a reading the command
	// takes itself.
	startNS, endNS int64
}

// invoke runs one invocation of c and times it from just before the fork to
// just after the reap. The command's output goes to memory and is read only
// afterwards.
func invoke(ctx context.Context, c *Contender, args []string) (*output, error) {
	ctx, cancel := context.WithTimeout(ctx, InvocationTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	out := &output{}
	cmd.Stdout, cmd.Stderr = &out.stdout, &out.stderr
	if len(c.Env) > 0 {
		// A later duplicate wins: the contender's value, not the driver's.
		cmd.Env = append(os.Environ(), c.Env...)
	}
	// A process left behind holding the output pipes must not stall the
	// measurement past its end.
	cmd.WaitDelay = time.Second
	start := cmd.Start
	if c.Start != nil {
		start = func() error { return c.Start(cmd) }
	}
	out.startNS = monotonicNS()
	t0 := time.Now()
	err := start()
	if err == nil {
		err = cmd.Wait()
	}
	out.wall = time.Since(t0)
	out.endNS = monotonicNS()
	if err != nil {
		return out, fmt.Errorf("%s: %w%s", filepath.Base(args[0]), err, tail(out.stderr.String()))
	}
	return out, nil
}

// tail formats the end of a command's stderr for an error message.
func tail(stderr string) string {
	s := strings.TrimSpace(stderr)
	if s == "" {
		return ""
	}
	const keep = 400
	if len(s) > keep {
		s = "…" + s[len(s)-keep:]
	}
	return ": " + strings.ReplaceAll(s, "\n", " | ")
}

// WallTime measures an invocation's wall time, fork to reap, in ms.
func WallTime(ctx context.Context, c *Contender) (Sample, error) {
	out, err := invoke(ctx, c, c.Args())
	if err != nil {
		return nil, err
	}
	return Sample{{"wall", ms(out.wall)}}, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

var nsPerOpRE = regexp.MustCompile(`([0-9.]+) ns/op`)

// NsPerOp takes the "N ns/op" the command prints (the loop program's
// report) as the sample. The jail's start-up stays out of the number: the
// loop times itself.
func NsPerOp(ctx context.Context, c *Contender) (Sample, error) {
	out, err := invoke(ctx, c, c.Args())
	if err != nil {
		return nil, err
	}
	v, err := ParseNsPerOp(out.stdout.String())
	if err != nil {
		return nil, err
	}
	return Sample{{"ns/op", v}}, nil
}

// ParseNsPerOp finds the last "N ns/op" in s.
func ParseNsPerOp(s string) (float64, error) {
	m := nsPerOpRE.FindAllStringSubmatch(s, -1)
	if m == nil {
		return 0, fmt.Errorf("no \"ns/op\" in output %q", s)
	}
	return strconv.ParseFloat(m[len(m)-1][1], 64)
}

// Batch returns a Measure that runs n invocations of a contender, all at
// once or one after another, and takes the wall time of the whole batch in
// ms. Any failed invocation fails the batch.
func Batch(n int, parallel bool) Measure {
	return func(ctx context.Context, c *Contender) (Sample, error) {
		argv := make([][]string, n)
		for i := range argv {
			argv[i] = c.Args()
		}
		t0 := time.Now()
		if !parallel {
			for _, a := range argv {
				if _, err := invoke(ctx, c, a); err != nil {
					return nil, err
				}
			}
			return Sample{{"wall", ms(time.Since(t0))}}, nil
		}
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i, a := range argv {
			wg.Go(func() { _, errs[i] = invoke(ctx, c, a) })
		}
		wg.Wait()
		wall := time.Since(t0)
		// One jail's error says it all; fifty copies of it say nothing more.
		var first error
		failed := 0
		for _, err := range errs {
			if err != nil {
				first = cmp.Or(first, err)
				failed++
			}
		}
		if failed > 0 {
			return nil, fmt.Errorf("%d of %d jails failed, first: %w", failed, n, first)
		}
		return Sample{{"wall", ms(wall)}}, nil
	}
}

// StartExit measures where an invocation's time goes from the outside. The
// command must print a CLOCK_MONOTONIC reading in ns as its first action
// (the loop program's "stamp" mode): "start" is fork to that reading,
// "exit" is that reading to reap, "total" their sum, in ms. The command's
// own start-up (a static Go binary's runtime init) lands in "start" for
// every contender alike, so differences between contenders are still
// exact.
func StartExit(ctx context.Context, c *Contender) (Sample, error) {
	out, err := invoke(ctx, c, c.Args())
	if err != nil {
		return nil, err
	}
	stamp, err := strconv.ParseInt(strings.TrimSpace(out.stdout.String()), 10, 64)
	if err != nil {
		return nil, fmt.Errorf("parse stamp: %w", err)
	}
	if stamp < out.startNS || stamp > out.endNS {
		return nil, fmt.Errorf("stamp %d outside the invocation [%d, %d]: not CLOCK_MONOTONIC?", stamp, out.startNS, out.endNS)
	}
	start := time.Duration(stamp - out.startNS)
	exit := time.Duration(out.endNS - stamp)
	return Sample{{"start", ms(start)}, {"exit", ms(exit)}, {"total", ms(start + exit)}}, nil
}

// TimingPrefix starts the line that `prison run --timing` writes to stderr.
const TimingPrefix = "prison-timing: "

// PrisonTiming measures an invocation's wall time and prison's own account
// of its phases (the --timing line), all in µs. The phases come in the
// order prison prints them, after "wall".
func PrisonTiming(ctx context.Context, c *Contender) (Sample, error) {
	out, err := invoke(ctx, c, c.Args())
	if err != nil {
		return nil, err
	}
	phases, err := ParseTiming(out.stderr.String())
	if err != nil {
		return nil, err
	}
	return append(Sample{{"wall", us(out.wall)}}, phases...), nil
}

// ParseTiming finds the prison-timing line in stderr and returns its
// key/value pairs in the order they appear. Keys are not fixed: whatever
// phases prison reports are kept.
func ParseTiming(stderr string) (Sample, error) {
	return parseSampleLine(stderr, TimingPrefix, "stderr")
}

// parseSampleLine finds the last line of out (a command's stream, named
// where) that starts with prefix and returns the key/value pairs of the
// JSON object that follows it, in the order they appear, every value a
// number.
func parseSampleLine(out, prefix, where string) (Sample, error) {
	name := strings.TrimSuffix(strings.TrimSpace(prefix), ":")
	var line string
	for l := range strings.Lines(out) {
		if rest, ok := strings.CutPrefix(l, prefix); ok {
			line = rest
		}
	}
	if line == "" {
		return nil, fmt.Errorf("no %q line on %s%s", name, where, tail(out))
	}
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, fmt.Errorf("parse %s line %q: not a JSON object", name, line)
	}
	var smp Sample
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", name, line, err)
		}
		vt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", name, line, err)
		}
		num, ok := vt.(json.Number)
		if !ok {
			return nil, fmt.Errorf("parse %s line %q: %v is not a number", name, line, kt)
		}
		v, err := num.Float64()
		if err != nil {
			return nil, fmt.Errorf("parse %s line %q: %w", name, line, err)
		}
		smp = append(smp, Metric{kt.(string), v})
	}
	return smp, nil
}
