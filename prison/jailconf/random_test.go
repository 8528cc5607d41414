package jailconf

import (
	"math/rand/v2"
	"sort"
	"strings"
	"testing"
	"testing/fstest"
)

// randomConfig writes a jail.conf from the pieces the grammar has: every
// known parameter, "no" forms, families, variables, lists, appends, the
// three quoting styles, wildcard and nested blocks.
func randomConfig(r *rand.Rand) string {
	var names []string
	for n, p := range params {
		if p.flags&readOnly == 0 && n != "name" && n != "jid" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	names = append(names, "allow.mount.zfs", "allow.mount.nozfs", "env.k", "meta.nometa", "nopersist", "allow.noraw_sockets", "mount.nodevfs")
	words := []string{"true", "false", "0", "1", "-3", "new", "inherit", "disable", "/a/b", "x y", `q"q`, `s'q`, `b\s`, "$", "{", "é", "a,b", "\t", ""}

	val := func() string {
		var w string
		if r.IntN(5) == 0 {
			w = "$v" + string(rune('0'+r.IntN(3)))
			if r.IntN(2) == 0 {
				w = `"` + w + `/x"`
			}
			return w
		}
		w = words[r.IntN(len(words))]
		switch {
		case r.IntN(3) == 0 && w != "" && isWord(w):
			return w
		case r.IntN(2) == 0:
			return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(w) + "'"
		}
		return quote(w, false)
	}
	stmt := func(b *strings.Builder) {
		if r.IntN(6) == 0 {
			b.WriteString("$v" + string(rune('0'+r.IntN(3))) + " = " + val() + ";\n")
			return
		}
		b.WriteString(names[r.IntN(len(names))])
		switch r.IntN(4) {
		case 0:
		case 1:
			b.WriteString(" += " + val())
		default:
			b.WriteString(" = " + val())
			for r.IntN(3) == 0 {
				b.WriteString(", " + val())
			}
		}
		b.WriteString(";\n")
	}
	var b strings.Builder
	var block func(depth int)
	block = func(depth int) {
		for range r.IntN(5) {
			stmt(&b)
		}
		if depth < 2 && r.IntN(3) == 0 {
			b.WriteString("n" + string(rune('a'+r.IntN(3))) + " {\n")
			block(depth + 1)
			b.WriteString("}\n")
		}
	}
	for range 1 + r.IntN(6) {
		switch r.IntN(4) {
		case 0:
			stmt(&b)
		case 1:
			b.WriteString([]string{"*", `"j1.*"`, `"*.na"`}[r.IntN(3)] + " {\n")
			block(1)
			b.WriteString("}\n")
		default:
			b.WriteString([]string{"j1", "j2", "j3", "9"}[r.IntN(4)] + " {\n")
			block(0)
			b.WriteString("}\n")
		}
	}
	return b.String()
}

// TestRandomConfigs: generated files parse, or fail with a positioned
// error, and every jail that resolves prints back to itself.
func TestRandomConfigs(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 3000
	if testing.Short() {
		n = 300
	}
	var parsed, jails int
	for range n {
		src := randomConfig(r)
		c, err := parse(ioFS{fstest.MapFS{}}, "fuzz.conf", []byte(src))
		if err != nil {
			checkFuzzError(t, err, "fuzz.conf", lineCount([]byte(src)))
			continue
		}
		parsed++
		for _, j := range c.Jails {
			if j.Err != nil {
				continue
			}
			jails++
			if err := reparse(j); err != nil {
				t.Fatalf("%v\nfrom:\n%s", err, src)
			}
		}
	}
	if parsed < n/4 || jails < n/4 {
		t.Errorf("only %d of %d files parsed, with %d resolved jails: the generator needs work", parsed, n, jails)
	}
	t.Logf("%d of %d files parsed, %d jails resolved", parsed, n, jails)
}
