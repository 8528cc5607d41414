package jailconf

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// seedFuzz adds the corpus files, when present, and the tests' sources.
func seedFuzz(f *testing.F) {
	dir := os.Getenv("JAILCONF_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata", "jailconf")
	}
	paths, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	for _, p := range paths {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(src)
		}
	}
	for _, tt := range parseCases {
		f.Add([]byte(tt.src))
	}
	r := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		f.Add([]byte(randomConfig(r)))
	}
	for _, s := range []string{
		"foo {\n\tpath = /a\n\tpersist;\n}", "a { b { c { } } }", `"web.*" { persist; } web.a { }`,
		`.include "x"; .include "*.conf";`, `$a = $b; $b = $a; j { path = $a; }`,
		"a { depend = b; } b { depend = a; }", "/* x", `"\777\x4g\0" '\` + "\n" + `'`,
		`a { ip4.addr = ${x}; $x = 1, 2; }`, "5 { jid = 5; name = 5; }",
	} {
		f.Add([]byte(s))
	}
}

// lineCount is how many lines src has: an error or token is on one of
// them.
func lineCount(src []byte) int { return bytes.Count(src, []byte("\n")) + 1 }

func checkFuzzError(t *testing.T, err error, file string, lines int) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v is a %T, not an *Error", err, err)
	}
	if e.File != file || e.Line < 1 || e.Line > lines {
		t.Fatalf("error %q: at %s:%d, outside %s's %d lines", e, e.File, e.Line, file, lines)
	}
	if strings.Contains(e.Error(), "\n") {
		t.Fatalf("error %q spans lines", e)
	}
}

func FuzzLex(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := lineCount(src)
		l := newLexer("fuzz.conf", src)
		prev := 1
		for n := 0; ; n++ {
			// Every token takes at least one byte, but a string's first piece.
			if n > len(src)+1 {
				t.Fatalf("%d tokens from %d bytes", n, len(src))
			}
			tok, err := l.next()
			if err != nil {
				checkFuzzError(t, err, "fuzz.conf", lines)
				return
			}
			if tok.line < prev || tok.line > lines {
				t.Fatalf("token %q on line %d after line %d, of %d", tok.raw, tok.line, prev, lines)
			}
			if tok.off < 0 || tok.off > tok.end || tok.end > len(src) {
				t.Fatalf("token %q at [%d, %d) of %d bytes", tok.raw, tok.off, tok.end, len(src))
			}
			prev = tok.line
			switch tok.kind {
			case tokEOF:
				if l.pos != len(src) {
					t.Fatalf("EOF at %d of %d bytes", l.pos, len(src))
				}
				return
			case tokWord, tokVar:
				if strings.IndexByte(tok.text, 0) >= 0 {
					t.Fatalf("NUL in %q", tok.text)
				}
			}
			if tok.kind != tokWord {
				continue
			}
			// What Format prints for this text lexes back to it.
			q := quote(tok.text, false)
			back := newLexer("quoted", []byte(q))
			b, err := back.next()
			if err != nil || b.kind != tokWord || b.text != tok.text {
				t.Fatalf("quote(%q) = %s lexes to %q, %v", tok.text, q, b.text, err)
			}
			if b, _ := back.next(); b.kind != tokEOF {
				t.Fatalf("quote(%q) = %s lexes to more than one token", tok.text, q)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	seedFuzz(f)
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := lineCount(src)
		// An empty file system: includes find nothing, and never the host's.
		c, err := parse(ioFS{fstest.MapFS{}}, "fuzz.conf", src)
		if err != nil {
			checkFuzzError(t, err, "fuzz.conf", lines)
			return
		}
		for _, w := range c.Warnings {
			if w.Pos.File != "fuzz.conf" || w.Pos.Line < 1 || w.Pos.Line > lines {
				t.Fatalf("warning %v outside the file", w)
			}
		}
		seen := map[string]bool{}
		for _, j := range c.Jails {
			if seen[j.Name] || isWild(j.Name) || j.Name == "" {
				t.Fatalf("jail %q: a wildcard, empty or seen twice", j.Name)
			}
			seen[j.Name] = true
			if j.Err != nil {
				checkFuzzError(t, j.Err, "fuzz.conf", lines)
				continue
			}
			if len(j.Params) == 0 {
				t.Fatalf("jail %q has no name parameter", j.Name)
			}
			names := map[string]bool{}
			for _, p := range j.Params {
				s, ok := Lookup(p.Name)
				if !ok || names[p.Name] {
					t.Fatalf("jail %q: parameter %q unknown or twice", j.Name, p.Name)
				}
				names[p.Name] = true
				if s.Kind == KindBool && (len(p.Values) != 1 || p.Values[0] != "true" && p.Values[0] != "false") {
					t.Fatalf("jail %q: boolean %s = %q", j.Name, p.Name, p.Values)
				}
			}
			if v, _ := j.Value("name"); !isNumeric(j.Name) && v != j.Name {
				t.Fatalf("jail %q is named %q", j.Name, v)
			}
			if err := reparse(j); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := c.Order(nil); err != nil {
			checkFuzzError(t, err, "fuzz.conf", lines)
		}
	})
}
