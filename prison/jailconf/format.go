package jailconf

import (
	"strconv"
	"strings"
)

// Format prints the jail as a jail.conf block that parses back to the same
// jail: the same name and parameters, in the same order, with the same
// values. Booleans print bare or in their "no" form; every value is
// double-quoted, with '$' escaped, since substitution is done. A jail
// that failed to resolve prints as its error, in a comment, before an
// empty block.
func (j *Jail) Format() string {
	var b strings.Builder
	if j.Err != nil {
		b.WriteString("# ")
		b.WriteString(strings.ReplaceAll(j.Err.Error(), "\n", " "))
		b.WriteByte('\n')
	}
	b.WriteString(quote(j.Name, true))
	b.WriteString(" {\n")
	for _, p := range j.Params {
		if implied(j, p) {
			continue
		}
		b.WriteByte('\t')
		formatParam(&b, p)
		b.WriteString(";\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// Format prints every jail of the configuration, as Jail.Format does.
func (c *Config) Format() string {
	blocks := make([]string, len(c.Jails))
	for i, j := range c.Jails {
		blocks[i] = j.Format()
	}
	return strings.Join(blocks, "\n")
}

// implied reports whether the block's name already sets p.
func implied(j *Jail, p Param) bool {
	if len(p.Values) != 1 {
		return false
	}
	switch p.Name {
	case "name":
		return p.Values[0] == j.Name
	case "jid":
		n, _, _ := cInt(j.Name)
		return isNumeric(j.Name) && p.Values[0] == strconv.FormatInt(n, 10)
	}
	return false
}

func formatParam(b *strings.Builder, p Param) {
	if s, ok := Lookup(p.Name); ok && s.Kind == KindBool && len(p.Values) == 1 {
		switch p.Values[0] {
		case "true":
			b.WriteString(p.Name)
			return
		case "false":
			b.WriteString(noName(p.Name))
			return
		}
	}
	b.WriteString(p.Name)
	if len(p.Values) == 0 {
		return
	}
	b.WriteString(" = ")
	for i, v := range p.Values {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quote(v, false))
	}
}

// quote returns s as a jail.conf string: bare when it is a non-empty word
// and bare is allowed, else double-quoted with the escapes jaillex.l
// decodes. Octal escapes always have three digits, so a digit after one
// is not taken into it.
func quote(s string, bare bool) string {
	if bare && s != "" && isWord(s) {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"', '\\', '$':
			b.WriteByte('\\')
			b.WriteByte(c)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if c < 0x20 || c == 0x7f {
				b.WriteByte('\\')
				b.WriteByte('0' + c>>6)
				b.WriteByte('0' + c>>3&7)
				b.WriteByte('0' + c&7)
				continue
			}
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func isWord(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAtom(s[i]) {
			return false
		}
	}
	return true
}
