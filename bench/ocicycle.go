package bench

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// The OCI section drives each runtime with runc's command line the way a
// container manager does: create a container of a bundle, start it, wait
// for its process, delete it. The process to wait for is the one whose
// pid `create --pid-file` writes; once create has exited, that process is
// no child of the caller (runc's and crun's container, prison's init were
// children of the runtime's create), so only a child subreaper
// (PR_SET_CHILD_SUBREAPER) can wait for it, as containerd's shim and
// podman's conmon do. The driver cannot be one itself (every jail and
// container of the other sections would become its children), so a small
// program does it, once per invocation: bench/cmd/ocicycle, which prints
// each step's time on a line of its own (CyclePrefix and a JSON object),
// read by CycleSteps. Its own start-up is in none of the steps.

// orphanTimeout bounds RunCycle's wait for the processes reparented to
// it to end. A variable for the tests.
var orphanTimeout = killTimeout

// CyclePrefix starts the line that ocicycle writes to stdout.
const CyclePrefix = "ocicycle: "

// CycleSpec is one container's cycle: Runtime (an absolute path) with
// --root Root, the container ID of Bundle, its pid file at PIDFile.
type CycleSpec struct {
	Runtime, Root, Bundle, ID, PIDFile string
}

// Args returns ocicycle's command line for c, the program being bin.
func (c CycleSpec) Args(bin string) []string {
	return []string{bin, "-runtime", c.Runtime, "-root", c.Root, "-bundle", c.Bundle, "-pid-file", c.PIDFile, c.ID}
}

// Cycle step keys, in the order they run, after the total.
const (
	keyTotal  = "total"
	keyCreate = "create"
	keyStart  = "start"
	keyWait   = "wait"
	keyDelete = "delete"
)

// FormatCycle renders a cycle's sample as ocicycle's report line, without
// the newline: CyclePrefix and a JSON object of the metrics, in order, in
// ms with µs precision.
func FormatCycle(smp Sample) string {
	var b strings.Builder
	b.WriteString(CyclePrefix + "{")
	for i, m := range smp {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(strconv.Quote(m.Key) + ":" + strconv.FormatFloat(m.Value, 'f', 3, 64))
	}
	b.WriteString("}")
	return b.String()
}

// ParseCycle reads the report line of ocicycle's stdout: the total, then
// each step, in ms. It fails unless every step is there, total first.
func ParseCycle(stdout string) (Sample, error) {
	smp, err := parseSampleLine(stdout, CyclePrefix, "stdout")
	if err != nil {
		return nil, err
	}
	want := []string{keyTotal, keyCreate, keyStart, keyWait, keyDelete}
	if len(smp) != len(want) {
		return nil, fmt.Errorf("ocicycle reported %d values, want %s", len(smp), strings.Join(want, ", "))
	}
	for i, k := range want {
		if smp[i].Key != k {
			return nil, fmt.Errorf("ocicycle reported %q where %q belongs", smp[i].Key, k)
		}
		if smp[i].Value < 0 {
			return nil, fmt.Errorf("ocicycle reported %s %v ms", k, smp[i].Value)
		}
	}
	return smp, nil
}

// CycleSteps measures one cycle of an ocicycle contender: the times it
// reports, in ms, total first (the sum of the steps).
func CycleSteps(ctx context.Context, c *Contender) (Sample, error) {
	out, err := invoke(ctx, c, c.Args())
	if err != nil {
		return nil, err
	}
	return ParseCycle(out.stdout.String())
}
