package jailconf

import (
	"fmt"
	"strings"
	"testing"
)

// lexAll lexes src into "KIND:text" strings; a joined piece is marked
// "+", and a token on a later line than the first is prefixed "LINE@".
func lexAll(src string) ([]string, error) {
	l := newLexer("t.conf", []byte(src))
	var out []string
	for {
		t, err := l.next()
		if err != nil {
			return out, err
		}
		if t.kind == tokEOF {
			return out, nil
		}
		s := map[tokKind]string{
			tokWord: "W", tokVar: "V", tokAssign: "=", tokAppend: "+=", tokComma: ",",
			tokSemi: ";", tokLBrace: "{", tokRBrace: "}", tokBad: "BAD",
		}[t.kind]
		if t.kind == tokWord || t.kind == tokVar {
			s += ":" + t.text
		}
		if t.joined {
			s = "+" + s
		}
		if t.line > 1 {
			s = fmt.Sprint(t.line, "@", s)
		}
		out = append(out, s)
	}
}

func TestLex(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{
			"words and punctuation", `a.b = c, d; e += f { }`,
			[]string{"W:a.b", "=", "W:c", ",", "W:d", ";", "W:e", "+=", "W:f", "{", "}"},
		},
		{
			"no spaces", `exec.start+="x";p=1;`,
			[]string{"W:exec.start", "+=", "W:x", ";", "W:p", "=", "W:1", ";"},
		},
		{
			"atom characters", "a-b.c:d<e>f?g@h[i]j^k`l|m~n!o%p&q(r)s_t",
			[]string{"W:a-b.c:d<e>f?g@h[i]j^k`l|m~n!o%p&q(r)s_t"},
		},
		{
			"slashes join an unquoted path", `/usr/jails/$name/x`,
			[]string{"W:/", "+W:usr", "+W:/", "+W:jails", "+W:/", "+V:name", "+W:/", "+W:x"},
		},
		{
			"// starts a comment inside a path", "/a//b;\nc",
			[]string{"W:/", "+W:a", "2@W:c"},
		},
		{
			"comments", "a # x\nb // y\n/* z\n */ c",
			[]string{"W:a", "2@W:b", "4@W:c"},
		},
		{
			"a comment ends a word", "a/* */b",
			[]string{"W:a", "W:b"},
		},
		{
			"star and plus are words", `* a+b`,
			[]string{"W:*", "W:a", "+W:+", "+W:b"},
		},
		{
			"variables", `$a ${b.c} $_x9 ${}`,
			[]string{"V:a", "V:b.c", "V:_x9", "V:"},
		},
		{
			"a lone dollar is literal", `$ $5 $-`,
			[]string{"W:$", "W:$", "+W:5", "W:$", "+W:-"},
		},
		{
			"single quotes: escapes, no variables", `'a $b \'c\' \n'`,
			[]string{"W:a $b 'c' \n"},
		},
		{
			"single quotes span lines", "'a\nb' c",
			[]string{"W:a\nb", "2@W:c"},
		},
		{
			"double quotes: variables", `"/j/$name/${x}!"`,
			[]string{"W:/j/", "+V:name", "+W:/", "+V:x", "+W:!"},
		},
		{
			"a string that is one variable", `"$x"`,
			[]string{"W:", "+V:x"},
		},
		{
			"escaped dollar", `"a\$b"`,
			[]string{"W:a$b"},
		},
		{
			"dollar at the end of a string", `"a$"`,
			[]string{"W:a", "+W:$"},
		},
		{
			"quoted pieces join", `a"b c"'d'e`,
			[]string{"W:a", "+W:b c", "+W:d", "+W:e"},
		},
		{
			"C escapes", `"\a\b\f\n\r\t\v\q\\\""`,
			[]string{"W:\a\b\f\n\r\t\vq\\\""},
		},
		{
			"octal and hex", `"\101\60\1010\x41\x4a4\xg"`,
			[]string{"W:A0A0AJ4"},
		},
		{
			"an octal escape wraps like a C char", `"\777"`,
			[]string{"W:\xff"},
		},
		{
			"a NUL ends its piece", `"ab\0cd" "x\x00y"`,
			[]string{"W:ab", "W:x"},
		},
		{
			"a NUL after a variable ends only its own piece", `"$v\0ab"`,
			[]string{"W:", "+V:v", "+W:", "+W:ab"},
		},
		{
			"backslash-newline vanishes", "\"a\\\nb\" c\\\nd",
			[]string{"W:ab", "2@W:c", "2@+W:", "3@+W:d"},
		},
		{
			"unquoted escapes", `a\;b \x41`,
			[]string{"W:a", "+W:;", "+W:b", "W:A"},
		},
		{
			"lines after a multi-line string", "\"a\nb\nc\" d",
			[]string{"W:a\nb\nc", "3@W:d"},
		},
		{
			"bad characters", "é\x01",
			[]string{"BAD", "BAD", "BAD"},
		},
		{
			"braces in an unquoted variable", `${a"b}`,
			[]string{`V:a"b`},
		},
		{
			"CRLF", "a;\r\nb;\r\n",
			[]string{"W:a", ";", "2@W:b", "2@;"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := lexAll(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("lex(%q)\n got %q\nwant %q", tt.src, got, tt.want)
			}
		})
	}
}

func TestLexErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		token     string
		msg       string
	}{
		{"unterminated comment", "a;\n/* x\ny", 2, "/*", "unterminated comment"},
		{"unterminated double quote", "a = \"abc;\n}", 1, `"abc;`, "unterminated string"},
		{"unterminated single quote", "\n'abc\\'", 2, `'abc\'`, "unterminated string"},
		{"unterminated variable", "a = ${abc;\n}", 1, "${abc;", "unterminated variable"},
		{"newline in a variable", "a = ${ab\nc};", 1, "${ab", "unterminated variable"},
		{"brace in a variable", "a = ${a{b}};", 1, "${a{b}};", "unterminated variable"},
		{"unterminated variable in a string", `a = "x${ab";`, 1, `${ab`, "unterminated variable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := lexAll(tt.src)
			wantError(t, err, tt.line, tt.token, tt.msg)
		})
	}
}

func TestLexQuoteRoundTrip(t *testing.T) {
	for _, s := range []string{"", "plain", "a b", `$x ${y}`, `"q" 'q' \`, "tab\tnl\ncr\r", "\x01\x7f\x1f9", "é", "/*x*/ //y #z"} {
		got, err := lexAll(quote(s, false))
		if err != nil {
			t.Fatalf("quote(%q) = %s: %v", s, quote(s, false), err)
		}
		if len(got) != 1 || got[0] != "W:"+s {
			t.Errorf("quote(%q) = %s lexes as %q", s, quote(s, false), got)
		}
	}
}
