package jailconf

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Resolution follows config.c's load_config: each real jail collects,
// in order, its implied name, then the statements of every wildcard block
// (the global pseudo-jail among them) that comes before it in the file,
// then its own, then those of the wildcard blocks after it. A later
// statement replaces an earlier one of the same parameter; += appends to
// it. Variables are substituted per jail once everything is collected, so
// a global "path = /jails/$name" gets each jail's name.

// entry is a parameter or variable of one jail while it is resolved.
// jailState.byKey finds it by its canonical name, or "$name" for a
// variable.
type entry struct {
	written  string // the name as last written: what $written finds
	isVar    bool
	spec     Spec
	negated  bool
	values   []value
	pos      Pos
	state    int // unresolved (0), resolving, resolved
	resolved []string
}

const (
	resolving = iota + 1
	resolved
)

type jailState struct {
	name    string
	entries []*entry
	byKey   map[string]*entry
	budget  *int // bytes substitution may still produce, for all jails
}

// maxSubstituted bounds what substitution produces over the whole file:
// "$b = "$a$a"; $c = "$b$b"; ..." doubles at every line.
const maxSubstituted = 64 << 20

// itemCost is what a value costs the budget beyond its bytes.
const itemCost = 16

func (p *parser) resolve() ([]*Jail, error) {
	var wild []*block
	for _, b := range p.blocks {
		if isWild(b.name) {
			wild = append(wild, b)
		}
	}
	var jails []*Jail
	defined := map[string]*block{}
	budget := maxSubstituted
	for _, b := range p.blocks {
		if isWild(b.name) {
			continue
		}
		if first := defined[b.name]; first != nil {
			return nil, errorAt(b.pos, b.name, fmt.Sprintf("jail defined twice (first on line %d of %s)", first.pos.Line, first.pos.File))
		}
		defined[b.name] = b
		j := &Jail{Name: b.name, Pos: b.pos}
		if params, err := resolveJail(b, wild, &budget); err != nil {
			j.Err = err
		} else {
			j.Params = params
		}
		jails = append(jails, j)
	}
	return jails, nil
}

func resolveJail(b *block, wild []*block, budget *int) ([]Param, error) {
	js := &jailState{name: b.name, byKey: map[string]*entry{}, budget: budget}
	implied := "name"
	if isNumeric(b.name) {
		// config.c: a numeric jail name is its jid.
		implied = "jid"
	}
	js.addImplied(implied, b)
	self := false
	for _, w := range wild {
		if b.seq < w.seq && !self {
			if err := js.addAll(b.stmts); err != nil {
				return nil, err
			}
			self = true
		}
		if wildMatch(b.name, w.name) {
			if err := js.addAll(w.stmts); err != nil {
				return nil, err
			}
		}
	}
	if !self {
		if err := js.addAll(b.stmts); err != nil {
			return nil, err
		}
	}
	if js.byKey["name"] == nil {
		js.addImplied("name", b)
	}
	for _, e := range js.entries {
		if err := js.resolveEntry(e); err != nil {
			return nil, err
		}
	}
	var params []Param
	for _, e := range js.entries {
		if e.isVar {
			continue
		}
		vals, err := canonical(e)
		if err != nil {
			return nil, err
		}
		params = append(params, Param{Name: e.spec.Name, Values: vals, Pos: e.pos})
	}
	return params, nil
}

func (js *jailState) addImplied(name string, b *block) {
	spec, _ := Lookup(name)
	e := &entry{
		written: name, spec: spec, pos: b.pos,
		values: []value{{parts: []part{{text: b.name, raw: b.name}}, pos: b.pos}},
	}
	js.entries = append(js.entries, e)
	js.byKey[name] = e
}

func (js *jailState) addAll(stmts []*stmt) error {
	for _, st := range stmts {
		if err := js.add(st); err != nil {
			return err
		}
	}
	return nil
}

// add applies one statement, as config.c's add_param does.
func (js *jailState) add(st *stmt) error {
	key := st.spec.Name
	if st.isVar {
		key = "$" + st.name
		spec, _, isParam := resolveName(st.name)
		if isParam && (spec.intparam || js.byKey[spec.Name] != nil) {
			return js.nameClash(st)
		}
	} else if js.byKey["$"+st.name] != nil || js.byKey["$"+key] != nil {
		return js.nameClash(st)
	}
	e := js.byKey[key]
	if e == nil {
		e = &entry{
			written: st.name, isVar: st.isVar, spec: st.spec,
			negated: st.negated, values: slices.Clone(st.values), pos: st.pos,
		}
		js.entries = append(js.entries, e)
		js.byKey[key] = e
		return nil
	}
	if key == "name" || key == "jid" {
		// config.c makes both immutable once set. prison lets a jail
		// restate the value it already has (name = "t1"; inside t1 { }),
		// which changes nothing.
		if !st.append && len(st.values) == 1 && len(e.values) == 1 &&
			!st.values[0].hasVar() && !e.values[0].hasVar() &&
			st.values[0].literal() == e.values[0].literal() {
			return nil
		}
		return errorAt(st.pos, st.name, fmt.Sprintf("cannot redefine %s of jail %q", key, js.name))
	}
	e.written, e.negated, e.pos = st.name, st.negated, st.pos
	if !st.append || len(st.values) == 0 {
		e.values = nil
	}
	e.values = append(slices.Clip(e.values), st.values...)
	return nil
}

func (js *jailState) nameClash(st *stmt) error {
	return errorAt(st.pos, st.name, fmt.Sprintf("variable $%s cannot have the name of a parameter (jail %q)", st.name, js.name))
}

// lookupVar finds what $name refers to: a variable, or a parameter by
// the name it was last written with (config.c compares names exactly).
func (js *jailState) lookupVar(name string) *entry {
	if e := js.byKey["$"+name]; e != nil {
		return e
	}
	if spec, _, ok := resolveName(name); ok {
		if e := js.byKey[spec.Name]; e != nil && e.written == name {
			return e
		}
	}
	return nil
}

func (js *jailState) resolveEntry(e *entry) error {
	if e.state == resolved {
		return nil
	}
	e.state = resolving
	var out []string
	for _, v := range e.values {
		strs, err := js.expand(v)
		if err != nil {
			return err
		}
		out = append(out, strs...)
	}
	e.resolved, e.state = out, resolved
	return nil
}

// expand substitutes the variables of one value. A variable holding a
// list expands to that list, and only when it stands alone in the value.
func (js *jailState) expand(v value) ([]string, error) {
	if !v.hasVar() {
		return []string{v.literal()}, nil
	}
	var b strings.Builder
	for i, pt := range v.parts {
		if !pt.isVar {
			b.WriteString(pt.text)
			continue
		}
		ref := js.lookupVar(pt.text)
		switch {
		case ref == nil || len(ref.values) == 0:
			return nil, errorAt(v.pos, pt.raw, fmt.Sprintf("variable %q not found (jail %q)", pt.text, js.name))
		case ref.state == resolving:
			return nil, errorAt(v.pos, pt.raw, fmt.Sprintf("variable loop (jail %q)", js.name))
		}
		if err := js.resolveEntry(ref); err != nil {
			return nil, err
		}
		if len(ref.resolved) > 1 {
			if b.Len() > 0 || !emptyRest(v.parts[i+1:]) {
				return nil, errorAt(v.pos, pt.raw, fmt.Sprintf("a list cannot be substituted inside a string (jail %q)", js.name))
			}
			n := 0
			for _, s := range ref.resolved {
				n += len(s) + itemCost
			}
			if err := js.charge(v, pt, n); err != nil {
				return nil, err
			}
			return slices.Clone(ref.resolved), nil
		}
		// Checked before the write: one value may repeat a huge variable.
		if err := js.charge(v, pt, b.Len()+len(ref.resolved[0])); err != nil {
			return nil, err
		}
		b.WriteString(ref.resolved[0])
		*js.budget += b.Len() // charged in full once it is built
	}
	*js.budget -= b.Len() + itemCost
	return []string{b.String()}, nil
}

// charge takes n bytes from the budget, or fails the jail, and every jail
// after it, when they are not there.
func (js *jailState) charge(v value, pt part, n int) error {
	if n > *js.budget {
		*js.budget = -1
		return errorAt(v.pos, pt.raw, fmt.Sprintf("substitution produces more than %d MiB (jail %q)", maxSubstituted>>20, js.name))
	}
	*js.budget -= n
	return nil
}

// emptyRest reports whether parts holds only empty literal text.
func emptyRest(parts []part) bool {
	for _, p := range parts {
		if p.isVar || p.text != "" {
			return false
		}
	}
	return true
}

// canonical checks a resolved parameter's value against its kind and
// puts it in canonical form.
func canonical(e *entry) ([]string, error) {
	vals := e.resolved
	last := ""
	if len(vals) > 0 {
		last = vals[len(vals)-1]
	}
	bad := func(what string) error {
		return errorAt(e.pos, last, fmt.Sprintf("%s: %s", e.spec.Name, what))
	}
	switch e.spec.Kind {
	case KindBool:
		v := true
		if len(vals) > 0 {
			n, digits, ok := cInt(last)
			switch {
			case strings.EqualFold(last, "true"):
			case strings.EqualFold(last, "false"):
				v = false
			case ok:
				v = digits && n != 0
			default:
				return nil, bad(`not a boolean: use "true" or "false"`)
			}
		}
		return []string{strconv.FormatBool(v != e.negated)}, nil
	case KindSys:
		if last == "" {
			return []string{"new"}, nil
		}
		for i, s := range sysValues {
			if strings.EqualFold(last, s) {
				return []string{sysValues[i]}, nil
			}
		}
		if n, digits, ok := cInt(last); ok && digits && n >= 0 && n < int64(len(sysValues)) {
			return []string{sysValues[n]}, nil
		}
		return nil, bad(`not "disable", "new" or "inherit"`)
	case KindInt:
		if len(vals) == 0 {
			return nil, nil
		}
		n, digits, ok := cInt(last)
		if !ok || !digits {
			return nil, bad("not an integer")
		}
		return []string{strconv.FormatInt(n, 10)}, nil
	case KindString:
		if len(vals) == 0 {
			return nil, nil
		}
		return []string{last}, nil
	}
	if len(vals) == 0 {
		return nil, nil
	}
	return slices.Clone(vals), nil
}

// sysValues are the jailsys values by number (sys/jail.h JAIL_SYS_*).
var sysValues = []string{"disable", "new", "inherit"}

// cInt parses s as strtol(s, &end, 10) does, and says whether end would
// be at the end of s: leading white space, a sign, decimal digits. An
// empty s parses as 0 without digits. A value out of range is not ok
// (strtol would saturate; no jail parameter needs one that large).
func cInt(s string) (n int64, digits, ok bool) {
	if s == "" {
		return 0, false, true
	}
	n, err := strconv.ParseInt(strings.TrimLeft(s, " \t\n\v\f\r"), 10, 64)
	if err != nil {
		return 0, false, false
	}
	return n, true, true
}

// isNumeric reports whether config.c would take a jail name for a jid:
// strtol reads all of it, and it is not 0.
func isNumeric(name string) bool {
	n, digits, ok := cInt(name)
	return ok && digits && n != 0
}

// isWild is config.c's wild_jail_name: some component is exactly "*".
func isWild(name string) bool {
	for i := 0; i < len(name); i++ {
		if name[i] == '*' && (i == 0 || name[i-1] == '.') && (i+1 == len(name) || name[i+1] == '.') {
			return true
		}
	}
	return false
}

// wildMatch is config.c's wild_jail_match: a "*" component matches one
// component of the jail's name, and a final "*" one or more.
func wildMatch(jname, wname string) bool {
	jc, wc := jname, wname
	for {
		jd, wd := strings.IndexByte(jc, '.'), strings.IndexByte(wc, '.')
		if jd < 0 || wd < 0 {
			break
		}
		same := len(wc) > jd && jc[:jd+1] == wc[:jd+1]
		if !same && !strings.HasPrefix(wc, "*.") {
			return false
		}
		jc, wc = jc[jd+1:], wc[wd+1:]
	}
	return jc == wc || wc == "*"
}
