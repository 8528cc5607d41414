package jailconf

import (
	"fmt"
	"strings"
)

// The grammar is usr.sbin/jail/jailparse.y's (FreeBSD 14 and later):
//
//	conf   : (jail | param ';' | ';')*
//	jail   : STR '{' conf '}'          nested blocks name sub-jails "a.b"
//	param  : name | name '=' value | name '+=' value | name value
//	name   : STR | VAR                 VAR declares a variable
//	value  : string (',' string)*
//	string : (STR | VAR) (STR1 | VAR1)*
//
// A param outside any block goes to one global pseudo-jail named "*",
// created where the first such param appears. ".include" in the
// "name value" form is a directive, handled where it stands.

// stmt is one parameter or variable statement, as written.
type stmt struct {
	name    string // a variable's without the '$'
	isVar   bool
	append  bool // +=
	nameVal bool // "name value", without '=': the .include form
	values  []value
	pos     Pos
	spec    Spec // a parameter's, filled in when it is checked
	negated bool // the "no" form of a boolean
}

// value is one item of a statement's list: literal text and variable
// references, substituted per jail later.
type value struct {
	parts []part
	pos   Pos
	src   string // as written, for errors
}

type part struct {
	text  string // literal text, or the variable's name
	isVar bool
	raw   string // as written, for errors: "${ifnum}"
}

func (v value) hasVar() bool {
	for _, p := range v.parts {
		if p.isVar {
			return true
		}
	}
	return false
}

func (v value) literal() string {
	var b strings.Builder
	for _, p := range v.parts {
		b.WriteString(p.text)
	}
	return b.String()
}

// block is a jail definition, a wildcard definition ("*", "web.*"), or the
// global pseudo-jail.
type block struct {
	name  string
	pos   Pos
	seq   int // order of creation, config.c's j->seq
	stmts []*stmt
}

// maxNesting bounds nested jail blocks; each level lengthens every name
// below it.
const maxNesting = 64

type parser struct {
	fsys     fileSystem
	blocks   []*block
	global   *block
	chain    []includer // the files being read, outermost first
	warnings []Warning
	warned   map[Warning]bool
}

// fileParser parses one file, with one token of lookahead.
type fileParser struct {
	*parser
	lex *lexer
	tok token
}

func (p *parser) parseFile(name string, src []byte, cur *block) error {
	f := &fileParser{parser: p, lex: newLexer(name, src)}
	if err := f.advance(); err != nil {
		return err
	}
	return f.conf(cur, 0)
}

func (f *fileParser) advance() error {
	t, err := f.lex.next()
	if err != nil {
		return err
	}
	f.tok = t
	return nil
}

func (f *fileParser) pos(t token) Pos { return Pos{f.lex.file, t.line} }

// syntax reports a syntax error at t.
func (f *fileParser) syntax(t token, format string, args ...any) *Error {
	msg := "syntax error: " + fmt.Sprintf(format, args...)
	if t.kind == tokBad {
		msg = "syntax error: unexpected character"
	}
	return errorAt(f.pos(t), t.raw, msg)
}

// conf parses statements into cur (nil: the global pseudo-jail) up to the
// end of the file or, at depth > 0, the '}' closing cur.
func (f *fileParser) conf(cur *block, depth int) error {
	for {
		t := f.tok
		switch {
		case t.kind == tokEOF && depth == 0:
			return nil
		case t.kind == tokEOF:
			return f.syntax(t, "end of file inside the block of %q (line %d)", cur.name, cur.pos.Line)
		case t.kind == tokRBrace && depth > 0:
			return f.advance()
		case t.kind == tokRBrace:
			return f.syntax(t, "'}' without a block to close")
		case t.kind == tokSemi:
			if err := f.advance(); err != nil {
				return err
			}
		case (t.kind == tokWord || t.kind == tokVar) && !t.joined:
			if err := f.advance(); err != nil {
				return err
			}
			var err error
			if t.kind == tokWord && f.tok.kind == tokLBrace {
				err = f.block(t, cur, depth)
			} else {
				err = f.param(t, cur)
			}
			if err != nil {
				return err
			}
		default:
			return f.syntax(t, "expected a parameter or a jail name")
		}
	}
}

// block parses "name { conf }"; f.tok is the '{'.
func (f *fileParser) block(name token, cur *block, depth int) error {
	if name.text == "" {
		return errorAt(f.pos(name), name.raw, "empty jail name")
	}
	if depth >= maxNesting {
		return errorAt(f.pos(name), name.raw, fmt.Sprintf("jail blocks nested more than %d deep", maxNesting))
	}
	full := name.text
	if cur != nil {
		// jailparse.y: a nested definition is a sub-jail of the one around it.
		full = cur.name + "." + full
	}
	b := &block{name: full, pos: f.pos(name), seq: len(f.blocks)}
	f.blocks = append(f.blocks, b)
	if err := f.advance(); err != nil {
		return err
	}
	return f.conf(b, depth+1)
}

// param parses the rest of a statement whose name is t.
func (f *fileParser) param(t token, cur *block) error {
	st := &stmt{name: t.text, isVar: t.kind == tokVar, pos: f.pos(t)}
	switch k := f.tok.kind; {
	case k == tokSemi:
	case k == tokAssign || k == tokAppend:
		st.append = k == tokAppend
		if err := f.advance(); err != nil {
			return err
		}
		if err := f.values(st); err != nil {
			return err
		}
	case (k == tokWord || k == tokVar) && !f.tok.joined:
		st.nameVal = true
		if err := f.values(st); err != nil {
			return err
		}
	case k == tokWord || k == tokVar:
		return f.syntax(f.tok, "a name is a single word: quote all of it")
	default:
		return f.syntax(f.tok, "expected '=', '+=', a value or ';' after %q", t.text)
	}
	if f.tok.kind != tokSemi {
		return f.syntax(f.tok, "expected ';' after the value of %q (line %d)", st.name, st.pos.Line)
	}
	if err := f.statement(st, cur); err != nil {
		return err
	}
	return f.advance()
}

// values parses a comma-separated list of strings into st.
func (f *fileParser) values(st *stmt) error {
	for {
		t := f.tok
		if t.kind != tokWord && t.kind != tokVar || t.joined {
			return f.syntax(t, "expected a value")
		}
		v := value{pos: f.pos(t)}
		off := t.off
		for {
			v.parts = append(v.parts, part{text: t.text, isVar: t.kind == tokVar, raw: t.raw})
			v.src = string(f.lex.src[off:t.end])
			if err := f.advance(); err != nil {
				return err
			}
			t = f.tok
			if t.kind != tokWord && t.kind != tokVar || !t.joined {
				break
			}
		}
		st.values = append(st.values, v)
		if f.tok.kind != tokComma {
			return nil
		}
		if err := f.advance(); err != nil {
			return err
		}
	}
}

// statement checks a complete statement and files it in its block, or
// runs it when it is an .include.
func (f *fileParser) statement(st *stmt, cur *block) error {
	if !st.isVar && st.name == ".include" {
		if !st.nameVal {
			return errorAt(st.pos, st.name, `.include takes a file name without '=' or '+=': .include "FILE";`)
		}
		return f.include(st, cur)
	}
	if !st.isVar {
		if err := f.check(st); err != nil {
			return err
		}
	}
	if cur == nil {
		if f.global == nil {
			f.global = &block{name: "*", pos: st.pos, seq: len(f.blocks)}
			f.blocks = append(f.blocks, f.global)
		}
		cur = f.global
	}
	cur.stmts = append(cur.stmts, st)
	return nil
}

// check looks a parameter's name up, and warns when prison will ignore
// it.
func (f *fileParser) check(st *stmt) error {
	spec, negated, ok := resolveName(st.name)
	if !ok {
		msg := "unknown parameter"
		if base, isNo := stripNo(st.name); isNo {
			if s, known := Lookup(base); known {
				return errorAt(st.pos, st.name, fmt.Sprintf("%s is not a boolean: it has no \"no\" form", s.Name))
			}
		}
		if s := suggest(st.name); s != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", s)
		}
		return errorAt(st.pos, st.name, msg)
	}
	if spec.ReadOnly {
		return errorAt(st.pos, st.name, "read-only parameter: the kernel sets it")
	}
	st.spec, st.negated = spec, negated
	if !spec.Linux {
		w := Warning{Pos: st.pos, Param: spec.Name, Msg: spec.Name + " has no meaning on Linux and is ignored"}
		if !f.warned[w] {
			f.warned[w] = true
			f.warnings = append(f.warnings, w)
		}
	}
	return nil
}

// include reads the files an .include statement names, into cur.
func (f *fileParser) include(st *stmt, cur *block) error {
	for _, v := range st.values {
		if v.hasVar() {
			return errorAt(v.pos, v.src, "variables are not permitted in an .include file name")
		}
		if err := f.includeGlob(f.lex.file, v.pos, v.literal(), cur); err != nil {
			return err
		}
	}
	return nil
}
