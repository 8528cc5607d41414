package bench

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// proc is one process of the host's table.
type proc struct {
	pid, ppid int
	comm      string
	state     byte // R, S, D, Z (a zombie) …
}

// dead reports whether p has exited: a zombie, or being reaped.
func (p proc) dead() bool { return p.state == 'Z' || p.state == 'X' || p.state == 'x' }

// parseStat reads a pid, its command name, its state and its parent from
// a /proc/PID/stat line, "PID (COMM) STATE PPID …". COMM may hold spaces
// and parentheses: it ends at the last ')'.
func parseStat(b []byte) (proc, error) {
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return proc{}, fmt.Errorf("stat %q: no (comm)", s)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(s[:open]))
	if err != nil {
		return proc{}, fmt.Errorf("stat %q: pid: %w", s, err)
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 2 {
		return proc{}, fmt.Errorf("stat %q: no parent", s)
	}
	ppid, err := strconv.Atoi(f[1])
	if err != nil {
		return proc{}, fmt.Errorf("stat %q: parent: %w", s, err)
	}
	return proc{pid: pid, ppid: ppid, comm: s[open+1 : end], state: f[0][0]}, nil
}

// procTable is the host's processes, with each one's children.
type procTable struct {
	byPID map[int]proc
	kids  map[int][]int
}

func newProcTable(ps []proc) *procTable {
	t := &procTable{byPID: map[int]proc{}, kids: map[int][]int{}}
	for _, p := range ps {
		t.byPID[p.pid] = p
		t.kids[p.ppid] = append(t.kids[p.ppid], p.pid)
	}
	for _, k := range t.kids {
		slices.Sort(k)
	}
	return t
}

// tree returns process pid and its descendants, parents before children;
// nil when pid is not in the table.
func (t *procTable) tree(pid int) []proc {
	top, ok := t.byPID[pid]
	if !ok {
		return nil
	}
	out := []proc{top}
	for i := 0; i < len(out); i++ {
		for _, k := range t.kids[out[i].pid] {
			out = append(out, t.byPID[k])
		}
	}
	return out
}

// readProc reads process pid's /proc/PID/stat; ok is false when there is
// no such process.
func readProc(pid int) (p proc, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return proc{}, false
	}
	p, err = parseStat(b)
	return p, err == nil
}

// readProcTable reads every process's /proc/PID/stat. A process that
// exits meanwhile is left out.
func readProcTable() (*procTable, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	var ps []proc
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited
		}
		p, err := parseStat(b)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return newProcTable(ps), nil
}

// mentions returns the id of ids that the NUL-separated command line
// names, or "": an argument that is the id, or holds it between
// characters that a name cannot have (a path component, a VALUE of
// KEY=VALUE). A longer id that starts with a shorter one does not count
// as the shorter one.
func mentions(cmdline []byte, ids map[string]bool) string {
	for arg := range bytes.SplitSeq(cmdline, []byte{0}) {
		for _, tok := range bytes.FieldsFunc(arg, func(r rune) bool { return !nameRune(r) }) {
			if ids[string(tok)] {
				return string(tok)
			}
		}
	}
	return ""
}

// nameRune reports whether r may be part of a unit id: the characters of
// a prison jail name and of an OCI container id.
func nameRune(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.'
}
