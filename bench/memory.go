package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Memory metric keys, in KiB per unit. See IdleMemory.
const (
	keyPss     = "Pss"
	keyPrivate = "private"
	keyKernel  = "page tables + kernel stacks"
	keyDelta   = "kernel Δ (meminfo)"
)

// kernelStackKiB is one thread's kernel stack: THREAD_SIZE, 16 KiB on
// x86-64 (without KASAN) and on arm64.
const kernelStackKiB = 16

// idleTimeout bounds the wait for a batch's units to be up and idle.
const idleTimeout = 10 * time.Second

// IdleMemory returns a Measure that brings up n units of the contender's
// Unit, one after another, measures their memory once all of them are up
// and idle, and removes them all again, whatever happened. A unit is the
// tree of processes under its top process (Unit.PIDs), plus any process
// that appeared during the batch outside every tree and whose command line
// names one of the units (a shim such as conmon; prison and crun leave
// none). The sample holds, per unit, in KiB:
//
//   - Pss: the sum of the processes' proportional set sizes
//     (/proc/PID/smaps_rollup), which splits a page shared by k processes
//     k ways: a binary's text shared by the n units costs each 1/n of it;
//   - private: the sum of their Private_Clean + Private_Dirty, the pages
//     that only that process maps;
//   - page tables + kernel stacks: the sum of their VmPTE
//     (/proc/PID/status) and kernelStackKiB per thread, the kernel memory
//     that belongs to a process;
//   - kernel Δ (meminfo): the growth of the host's unreclaimable kernel
//     memory (SUnreclaim + KernelStack + PageTables + SecPageTables +
//     Percpu of /proc/meminfo) from before the batch to when it is idle:
//     what the units' namespaces, mounts, cgroups and processes hold in the
//     kernel. It is system-wide, so whatever else the host does meanwhile
//     lands in it too.
//
// seen, when not nil, records which processes were counted.
func IdleMemory(n int, seen *UnitProcesses) Measure {
	return func(ctx context.Context, c *Contender) (smp Sample, err error) {
		u := c.Unit
		if u == nil {
			return nil, errors.New("bug: IdleMemory on a contender without a Unit")
		}
		before, err := settledKernelKiB(ctx)
		if err != nil {
			return nil, err
		}
		old, err := readProcTable()
		if err != nil {
			return nil, err
		}
		var hs []*upUnit
		defer func() {
			if rerr := removeAll(ctx, u, hs); rerr != nil {
				smp, err = nil, errors.Join(err, rerr)
			}
		}()
		for range n {
			h, _, err := u.up(ctx, u.ID())
			hs = append(hs, h)
			if err != nil {
				return nil, fmt.Errorf("unit %d of %d: %w", len(hs), n, err)
			}
		}
		pids, err := u.pids(ctx, hs)
		if err != nil {
			return nil, err
		}
		tab, err := waitIdle(ctx, u, hs, pids)
		if err != nil {
			return nil, err
		}
		after, err := settledKernelKiB(ctx)
		if err != nil {
			return nil, err
		}
		sum, counted, err := sumTrees(tab, hs, pids)
		if err != nil {
			return nil, err
		}
		ids := map[string]bool{}
		for _, h := range hs {
			ids[h.id] = true
		}
		strays := strayProcs(tab, old, counted, ids)
		var strayNames []string
		for _, p := range strays {
			m, err := readProcMem(p.pid)
			if err != nil {
				continue // gone since: it held nothing at the end
			}
			sum = sum.add(m)
			strayNames = append(strayNames, p.comm)
		}
		if seen != nil {
			var names []string
			for _, p := range tab.tree(pids[hs[0].id]) {
				names = append(names, p.comm)
			}
			seen.record(c.Name, names, strayNames)
		}
		per := func(kib int64) float64 { return float64(kib) / float64(n) }
		return Sample{
			{keyPss, per(sum.Pss)},
			{keyPrivate, per(sum.Private)},
			{keyKernel, per(sum.Kernel)},
			{keyDelta, per(after - before)},
		}, nil
	}
}

// removeAll removes every unit of hs, even when ctx is done, and returns
// the first failure with the count of them.
func removeAll(ctx context.Context, u *Unit, hs []*upUnit) error {
	var first error
	failed := 0
	for _, h := range hs {
		if _, err := u.remove(ctx, h); err != nil {
			failed++
			if first == nil {
				first = err
			}
		}
	}
	if failed > 0 {
		return fmt.Errorf("remove: %d of %d units failed, first: %w", failed, len(hs), first)
	}
	return nil
}

// waitIdle waits until the tree of every unit holds a process called
// u.Idle, and returns the process table that shows it.
func waitIdle(ctx context.Context, u *Unit, hs []*upUnit, pids map[string]int) (*procTable, error) {
	deadline := time.Now().Add(idleTimeout)
	for {
		tab, err := readProcTable()
		if err != nil {
			return nil, err
		}
		var waiting *upUnit
		for _, h := range hs {
			pid := pids[h.id]
			if _, ok := tab.byPID[pid]; !ok {
				return nil, fmt.Errorf("%s: its process %d is gone%s", h.id, pid, h.output())
			}
			if !slices.ContainsFunc(tab.tree(pid), func(p proc) bool { return p.comm == u.Idle }) {
				waiting = h
				break
			}
		}
		if waiting == nil {
			return tab, nil
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s: no %s process under %d after %v%s", waiting.id, u.Idle, pids[waiting.id], idleTimeout, waiting.output())
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// sumTrees reads the memory of every process of the units' trees and
// returns its sum and the pids it counted.
func sumTrees(tab *procTable, hs []*upUnit, pids map[string]int) (procMem, map[int]bool, error) {
	var sum procMem
	counted := map[int]bool{}
	for _, h := range hs {
		for _, p := range tab.tree(pids[h.id]) {
			m, err := readProcMem(p.pid)
			if err != nil {
				return procMem{}, nil, fmt.Errorf("%s: %w", h.id, err)
			}
			sum = sum.add(m)
			counted[p.pid] = true
		}
	}
	return sum, counted, nil
}

// strayProcs returns the processes of tab that were not in old, are not
// counted, and whose command line names one of ids.
func strayProcs(tab, old *procTable, counted map[int]bool, ids map[string]bool) []proc {
	var strays []proc
	for pid, p := range tab.byPID {
		if _, ok := old.byPID[pid]; ok || counted[pid] {
			continue
		}
		cmdline, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
		if err != nil {
			continue // gone since
		}
		if mentions(cmdline, ids) != "" {
			strays = append(strays, p)
		}
	}
	slices.SortFunc(strays, func(a, b proc) int { return a.pid - b.pid })
	return strays
}

// settledKernelKiB returns the host's unreclaimable kernel memory (see
// kernelKiB) once it has stopped moving: the namespaces of units removed
// just before are freed by kworkers and after RCU grace periods, for a
// while after their removal returned. It gives up waiting after a few
// seconds and returns the last reading.
func settledKernelKiB(ctx context.Context) (int64, error) {
	const (
		step   = 100 * time.Millisecond
		still  = 128 // KiB between readings
		rounds = 3   // readings in a row within still
		limit  = 3 * time.Second
	)
	deadline := time.Now().Add(limit)
	prev, calm := int64(-1), 0
	for {
		b, err := os.ReadFile("/proc/meminfo")
		if err != nil {
			return 0, err
		}
		cur, err := kernelKiB(b)
		if err != nil {
			return 0, err
		}
		if prev >= 0 && abs(cur-prev) <= still {
			calm++
		} else {
			calm = 0
		}
		if calm >= rounds || time.Now().After(deadline) {
			return cur, nil
		}
		prev = cur
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(step):
		}
	}
}

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

// procMem is what one process holds, in KiB: see IdleMemory.
type procMem struct {
	Pss, Private, Kernel int64
}

func (m procMem) add(o procMem) procMem {
	return procMem{m.Pss + o.Pss, m.Private + o.Private, m.Kernel + o.Kernel}
}

// readProcMem reads the memory of process pid.
func readProcMem(pid int) (procMem, error) {
	dir := "/proc/" + strconv.Itoa(pid) + "/"
	smaps, err := os.ReadFile(dir + "smaps_rollup")
	if err != nil {
		return procMem{}, err
	}
	status, err := os.ReadFile(dir + "status")
	if err != nil {
		return procMem{}, err
	}
	m, err := parseProcMem(smaps, status)
	if err != nil {
		return procMem{}, fmt.Errorf("process %d: %w", pid, err)
	}
	return m, nil
}

// parseProcMem computes a process's memory from its smaps_rollup and its
// status: Pss, Private_Clean + Private_Dirty, and VmPTE plus a kernel
// stack per thread.
func parseProcMem(smaps, status []byte) (procMem, error) {
	sm, err := needKV(smaps, "smaps_rollup", "Pss", "Private_Clean", "Private_Dirty")
	if err != nil {
		return procMem{}, err
	}
	st, err := needKV(status, "status", "VmPTE", "Threads")
	if err != nil {
		return procMem{}, err
	}
	return procMem{
		Pss:     sm["Pss"],
		Private: sm["Private_Clean"] + sm["Private_Dirty"],
		Kernel:  st["VmPTE"] + st["Threads"]*kernelStackKiB,
	}, nil
}

// kernelKiB returns the unreclaimable kernel memory of a /proc/meminfo,
// in KiB: SUnreclaim (slab: namespaces, mounts, sockets, cgroups …),
// KernelStack, PageTables, SecPageTables (when the kernel has it) and
// Percpu (per-CPU counters of network namespaces and cgroups).
func kernelKiB(meminfo []byte) (int64, error) {
	kv, err := needKV(meminfo, "meminfo", "SUnreclaim", "KernelStack", "PageTables", "Percpu")
	if err != nil {
		return 0, err
	}
	return kv["SUnreclaim"] + kv["KernelStack"] + kv["PageTables"] + kv["SecPageTables"] + kv["Percpu"], nil
}

// needKV is parseKV that fails unless every key of need is there; what
// names the file in the error.
func needKV(b []byte, what string, need ...string) (map[string]int64, error) {
	kv := parseKV(b)
	for _, k := range need {
		if _, ok := kv[k]; !ok {
			return nil, fmt.Errorf("%s: no %s", what, k)
		}
	}
	return kv, nil
}

// parseKV reads the "Key: value [kB]" lines of /proc/meminfo,
// /proc/PID/status and /proc/PID/smaps_rollup: each key's number, as
// written (kB for the sizes). Lines whose key has a space (smaps_rollup's
// address range) or whose value does not start with a number are skipped.
func parseKV(b []byte) map[string]int64 {
	kv := map[string]int64{}
	for line := range strings.Lines(string(b)) {
		k, v, ok := strings.Cut(line, ":")
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			kv[k] = n
		}
	}
	return kv
}

// UnitProcesses records, per contender, which processes IdleMemory
// counted: the command names of one unit's tree and of the processes
// outside the trees that named a unit. The memory section's remarks print
// it. The zero value is ready to use.
type UnitProcesses struct {
	mu sync.Mutex
	m  map[string]unitProcs
}

type unitProcs struct{ tree, strays []string }

func (up *UnitProcesses) record(name string, tree, strays []string) {
	up.mu.Lock()
	defer up.mu.Unlock()
	if up.m == nil {
		up.m = map[string]unitProcs{}
	}
	up.m[name] = unitProcs{tree, strays}
}

// Remark says what was counted for each of names that has a record, in
// that order; "" when none has.
func (up *UnitProcesses) Remark(names []string) string {
	up.mu.Lock()
	defer up.mu.Unlock()
	var parts, strays []string
	for _, n := range names {
		r, ok := up.m[n]
		if !ok {
			continue
		}
		parts = append(parts, fmt.Sprintf("%s: %d (%s)", n, len(r.tree), strings.Join(r.tree, ", ")))
		if len(r.strays) > 0 {
			strays = append(strays, fmt.Sprintf("%s: %s", n, countNames(r.strays)))
		}
	}
	if len(parts) == 0 {
		return ""
	}
	s := "Processes counted per unit, by command name, in the last round: " + strings.Join(parts, "; ") + ". "
	if len(strays) == 0 {
		return s + "No other process that appeared during a batch and stayed named one of its units."
	}
	return s + "Counted as well, outside the units' trees (processes that appeared during a batch, stayed, and " +
		"name a unit on their command line), for the whole batch: " + strings.Join(strays, "; ") + "."
}

// countNames renders names as "3 × a, 1 × b", in first-seen order.
func countNames(names []string) string {
	var order []string
	n := map[string]int{}
	for _, s := range names {
		if n[s] == 0 {
			order = append(order, s)
		}
		n[s]++
	}
	parts := make([]string, len(order))
	for i, s := range order {
		parts[i] = fmt.Sprintf("%d × %s", n[s], s)
	}
	return strings.Join(parts, ", ")
}
