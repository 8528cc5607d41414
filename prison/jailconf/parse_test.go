package jailconf

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// parseCases are jail.conf(5)'s features, one per case, with the jails
// they resolve to. They seed the fuzz targets too.
var parseCases = []struct {
	name, src string
	want      string // dumpAll's rendering
}{
	{
		"bare boolean", `foo { persist; }`,
		"foo: name=foo; persist=true\n",
	},
	{
		"no forms after the last dot", `foo { nopersist; allow.noraw_sockets; mount.nodevfs; allow.mount.nozfs; }`,
		"foo: name=foo; persist=false; allow.raw_sockets=false; mount.devfs=false; allow.mount.zfs=false\n",
	},
	{
		"boolean values", `foo { persist = "FALSE"; allow.raw_sockets = 1; exec.clean = 0; allow.chflags = True; allow.sysvipc = ""; }`,
		"foo: name=foo; persist=false; allow.raw_sockets=true; exec.clean=false; allow.chflags=true; allow.sysvipc=false\n",
	},
	{
		"a no form inverts a value", `foo { nopersist = false; allow.nochflags = 1; }`,
		"foo: name=foo; persist=true; allow.chflags=false\n",
	},
	{
		"the last of no and yes wins", `foo { persist; nopersist; exec.noclean; exec.clean; }`,
		"foo: name=foo; persist=false; exec.clean=true\n",
	},
	{
		"list", `foo { ip4.addr = 10.1.1.1, 10.1.1.2, 10.1.1.3; }`,
		"foo: name=foo; ip4.addr=10.1.1.1|10.1.1.2|10.1.1.3\n",
	},
	{
		"+= appends", "foo {\nip4.addr = 10.1.1.1;\nip4.addr += 10.1.1.2;\nip4.addr += 10.1.1.3;\n}",
		"foo: name=foo; ip4.addr=10.1.1.1|10.1.1.2|10.1.1.3\n",
	},
	{
		"+= with nothing before sets", `foo { exec.start += "a"; }`,
		"foo: name=foo; exec.start=a\n",
	},
	{
		"= after += replaces", `foo { mount += a; mount += b; mount = c; }`,
		"foo: name=foo; mount=c\n",
	},
	{
		"a bare name replaces a list", `ip4.addr = 10.0.0.1; foo { ip4.addr; }`,
		"foo: name=foo; ip4.addr=\n",
	},
	{
		"a scalar keeps its last value", `foo { path = /a, /b; securelevel = 1, 2; }`,
		"foo: name=foo; path=/b; securelevel=2\n",
	},
	{
		"name value without =", `foo { host.hostname foo.example; ip4.addr 10.0.0.1, 10.0.0.2; }`,
		"foo: name=foo; host.hostname=foo.example; ip4.addr=10.0.0.1|10.0.0.2\n",
	},
	{
		"no spaces", `foo{persist=true;exec.start+="x";exec.start+='y';}`,
		"foo: name=foo; persist=true; exec.start=x|y\n",
	},
	{
		"empty statements and blocks", `;; foo { ; } ; bar {}`,
		"foo: name=foo\nbar: name=bar\n",
	},
	{
		"jailsys values", `foo { vnet; ip4 = inherit; ip6 = DISABLE; sysvmsg = 1; sysvsem = ""; sysvshm = 2; }`,
		"foo: name=foo; vnet=new; ip4=inherit; ip6=disable; sysvmsg=new; sysvsem=new; sysvshm=inherit\n",
	},
	{
		"integers are normalised", `foo { securelevel = " +3"; exec.timeout = -0; children.max = 010; }`,
		"foo: name=foo; securelevel=3; exec.timeout=0; children.max=10\n",
	},
	{
		"a string or list without a value", `foo { exec.consolelog; depend; securelevel; }`,
		"foo: name=foo; exec.consolelog=; depend=; securelevel=\n",
	},
	{
		"a numeric name is a jid", `5 { persist; }`,
		"5: jid=5; persist=true; name=5\n",
	},
	{
		"a numeric name with a name", `5 { name = web; }`,
		"5: jid=5; name=web\n",
	},
	{
		"zero is a name", `0 { }`,
		"0: name=0\n",
	},
	{
		"restating the name changes nothing", `t1 { name = "t1"; jid = "10"; jid = 10; }`,
		"t1: name=t1; jid=10\n",
	},
	{
		"families", `foo { allow.mount.fusefs; allow.mount.nonullfs; meta = "a=b"; env.x = y; }`,
		"foo: name=foo; allow.mount.fusefs=true; allow.mount.nullfs=false; meta=a=b; env.x=y\n",
	},

	// Precedence: config.c's load_config.
	{
		"a global applies to every jail", `exec.clean; a { } b { }`,
		"a: name=a; exec.clean=true\nb: name=b; exec.clean=true\n",
	},
	{
		"a jail overrides a global above it", `path = /g; foo { path = /f; }`,
		"foo: name=foo; path=/f\n",
	},
	{
		"a wildcard below a jail overrides it", `foo { path = /f; } * { path = /w; }`,
		"foo: name=foo; path=/w\n",
	},
	{
		"all globals sit where the first one is", `securelevel = 1; foo { path = /f; } path = /g;`,
		"foo: name=foo; securelevel=1; path=/f\n",
	},
	{
		"globals after a jail override it", `foo { path = /f; } path = /g; bar { path = /b; }`,
		"foo: name=foo; path=/g\nbar: name=bar; path=/b\n",
	},
	{
		"a jail's += appends to a global", `ip4.addr = 10.0.0.1; foo { ip4.addr += 10.0.0.2; } bar { }`,
		"foo: name=foo; ip4.addr=10.0.0.1|10.0.0.2\nbar: name=bar; ip4.addr=10.0.0.1\n",
	},
	{
		"a wildcard's += appends to a jail", `foo { exec.start = a; } * { exec.start += b; }`,
		"foo: name=foo; exec.start=a|b\n",
	},
	{
		"wildcard blocks in file order", `* { path = /1; } foo { } * { path = /2; } * { securelevel = 3; }`,
		"foo: name=foo; path=/2; securelevel=3\n",
	},
	{
		"a partial wildcard", `"web.*" { persist; } web { } web.a { } web.a.b { } db.a { }`,
		"web: name=web\nweb.a: name=web.a; persist=true\nweb.a.b: name=web.a.b; persist=true\ndb.a: name=db.a\n",
	},
	{
		"a middle wildcard matches one component", `"*.x" { persist; } a.x { } a.b.x { }`,
		"a.x: name=a.x; persist=true\na.b.x: name=a.b.x\n",
	},
	{
		"nested blocks name sub-jails", `a { path = /a; b { path = /b; c { } } securelevel = 1; }`,
		"a: name=a; path=/a; securelevel=1\na.b: name=a.b; path=/b\na.b.c: name=a.b.c\n",
	},

	// Variables.
	{
		"a global variable", `$parentdir = "/var/jail"; foo { path = "$parentdir/$name"; }`,
		"foo: name=foo; path=/var/jail/foo\n",
	},
	{
		"a braced parameter", `foo { host.hostname = foo.com; path = "/j/${host.hostname}"; }`,
		"foo: name=foo; host.hostname=foo.com; path=/j/foo.com\n",
	},
	{
		"a global with each jail's variable", `path = /j/$x; a { $x = 1; } b { ${x} = 2; }`,
		"a: name=a; path=/j/1\nb: name=b; path=/j/2\n",
	},
	{
		"a variable defined after its use", `foo { path = $p; $p = $q/x; $q = /r; }`,
		"foo: name=foo; path=/r/x\n",
	},
	{
		"a variable seen through the last value", `$v = 1; foo { $v = 2; securelevel = $v; }`,
		"foo: name=foo; securelevel=2\n",
	},
	{
		"a list variable alone expands", `$addrs = 10.0.0.1, 10.0.0.2; foo { ip4.addr = $addrs, "$addrs", 10.0.0.3; }`,
		"foo: name=foo; ip4.addr=10.0.0.1|10.0.0.2|10.0.0.1|10.0.0.2|10.0.0.3\n",
	},
	{
		"a variable sees a parameter's list", `foo { ip4.addr = a, b; ip6.addr = ${ip4.addr}; }`,
		"foo: name=foo; ip4.addr=a|b; ip6.addr=a|b\n",
	},
	{
		"single quotes do not substitute", `foo { exec.start = '$name \'q\''; }`,
		"foo: name=foo; exec.start=$name 'q'\n",
	},
	{
		"escapes", `foo { exec.start = "a\tb\101\x41\\\"\$"; }`,
		"foo: name=foo; exec.start=a\tbAA\\\"$\n",
	},
	{
		"pieces join", `foo { path = /j/"a b"/$name'/x'; }`,
		"foo: name=foo; path=/j/a b/foo/x\n",
	},
	{
		"literal dollars", `foo { exec.start = "echo $ $5", $; }`,
		"foo: name=foo; exec.start=echo $ $5|$\n",
	},
	{
		"backslash-newline continues a string", "foo { exec.start = \"a \\\nb\"; }",
		"foo: name=foo; exec.start=a b\n",
	},
	{
		"comments anywhere", "foo { /* c */ path = /a; // x\n # y\n persist /* z */ ; }",
		"foo: name=foo; path=/a; persist=true\n",
	},
	{
		"quoted names", `"my jail" { "host.hostname" = x; }`,
		"my jail: name=my jail; host.hostname=x\n",
	},
	{"globals only", `persist; exec.clean;`, ""},
}

func TestParse(t *testing.T) {
	for _, tt := range parseCases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseMem(tt.src, nil)
			if err != nil {
				t.Fatal(err)
			}
			if got := dumpAll(c); got != tt.want {
				t.Errorf("%s\n got %s\nwant %s", tt.src, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		token     string
		msg       string
	}{
		{"missing ;", "foo {\n\tpath = /a\n\tpersist;\n}", 3, "persist", `expected ';' after the value of "path" (line 2)`},
		{"// in an unquoted path", "foo {\n\tpath = /a//b;\n}", 3, "}", "expected ';'"},
		{"unknown parameter", "foo {\n\thost.hostnme = x;\n}", 2, "host.hostnme", `unknown parameter (did you mean "host.hostname"?)`},
		{"unknown global", "\n\nexec.strat = x;", 3, "exec.strat", `unknown parameter (did you mean "exec.start"?)`},
		{"unknown, far from anything", "foo { zzz.qqq.yyy; }", 1, "zzz.qqq.yyy", "unknown parameter"},
		{"a no form of a string", "foo { host.nohostname; }", 1, "host.nohostname", "host.hostname is not a boolean"},
		{"a no form of a jailsys", "foo { novnet; }", 1, "novnet", "vnet is not a boolean"},
		{"no before the last dot", "foo { nomount.devfs; }", 1, "nomount.devfs", "unknown parameter"},
		{"a family member is a word", `foo { "allow.mount.a b"; }`, 1, "allow.mount.a b", "unknown parameter"},
		{"a family boolean has one no", `foo { allow.mount.nonox = false; }`, 1, "allow.mount.nonox", "unknown parameter"},
		{"read-only", "foo {\n\tdying;\n}", 2, "dying", "read-only"},
		{"a value is missing", "foo { path = ; }", 1, ";", "expected a value"},
		{"a list item is missing", "foo { ip4.addr = a, ; }", 1, ";", "expected a value"},
		{"a name is one word", `foo { a"b" = 1; }`, 1, `"b"`, "a single word"},
		{"a jail name is one word", `foo"x" { }`, 1, `"x"`, "a single word"},
		{"a variable jail name", `$x { }`, 1, "{", "expected '='"},
		{"= without a name", "= 1;", 1, "=", "expected a parameter"},
		{"a stray }", "foo { }\n}", 2, "}", "without a block"},
		{"end of file in a block", "foo {\n\tpersist;\n", 3, "", `end of file inside the block of "foo" (line 1)`},
		{"end of file in a nested block", "a {\nb {\n", 3, "", `block of "a.b" (line 2)`},
		{"an unquoted partial wildcard", "web.* { }", 1, "*", "a name is a single word"},
		{"end of file after a name", "persist", 1, "", "expected '='"},
		{"a bad character", "foo { path = café; }", 1, "\xc3", "syntax error: unexpected character"},
		{"an empty jail name", `"" { }`, 1, `""`, "empty jail name"},
		{".include with =", `.include = "x";`, 1, ".include", "without '='"},
		{".include with a variable", `.include "/etc/$x.conf";`, 1, `"/etc/$x.conf"`, "variables are not permitted"},
		{"a jail defined twice", "foo { }\nbar { }\nfoo { }", 3, "foo", "jail defined twice (first on line 1 of jail.conf)"},
		{"a sub-jail defined twice", "a { b { } }\na.b { }", 2, "a.b", "defined twice"},
		{"blocks nested too deep", strings.Repeat("a {\n", 65), 65, "a", "nested more than 64 deep"},
		{"an unterminated string", "foo {\n\tpath = \"/a;\n}\n", 2, `"/a;`, "unterminated string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseMem(tt.src, nil)
			if err == nil {
				t.Fatalf("%s: no error; jails:\n%s", tt.src, dumpAll(c))
			}
			wantError(t, err, tt.line, tt.token, tt.msg)
			if !strings.HasPrefix(err.Error(), "jail.conf:") {
				t.Errorf("error %q does not start with the file name", err)
			}
		})
	}
}

// TestJailErrors covers what fails one jail, not the file: jail(8) marks
// such a jail failed (JF_FAILED) and goes on.
func TestJailErrors(t *testing.T) {
	tests := []struct {
		name, src string
		line      int
		token     string
		msg       string
	}{
		{"variable not found", "path = /j/$x;\na { $x = 1; }\nbad { }", 1, "$x", `variable "x" not found (jail "bad")`},
		{"a boolean set bare is not a variable", "bad { persist; path = /$persist; }", 1, "$persist", "not found"},
		{"a variable loop", "bad {\n$a = $b;\n$b = x$a;\n}", 3, "$a", "variable loop"},
		{"a parameter using itself", "bad {\npath = ${path}/x;\n}", 2, "${path}", "variable loop"},
		{"a list inside a string", "bad {\n$l = a, b;\npath = /x/$l;\n}", 3, "$l", "a list cannot be substituted"},
		{"a list after empty text", "bad {\n$l = a, b;\n$e = \"\";\npath = \"$l$e\";\n}", 4, "$l", "a list cannot be substituted"},
		{"a variable named like a parameter", "bad {\npath = /x;\n$path = y;\n}", 3, "path", "cannot have the name of a parameter"},
		{"a variable named like jail(8)'s own", "bad {\n${exec.start} = y;\n}", 2, "exec.start", "cannot have the name of a parameter"},
		{"a parameter named like a variable", "$securelevel = 1;\nbad {\nsecurelevel = 2;\n}", 1, "securelevel", "cannot have the name"},
		{"renaming a jail", "bad {\nname = other;\n}", 2, "name", `cannot redefine name of jail "bad"`},
		{"a second jid", "jid = 3;\nbad {\njid = 4;\n}", 3, "jid", "cannot redefine jid"},
		{"a bad boolean", "bad {\npersist = yes;\n}", 2, "yes", `persist: not a boolean`},
		{"a bad integer", "bad {\nsecurelevel = two;\n}", 2, "two", "securelevel: not an integer"},
		{"an empty integer", "bad {\nexec.timeout = \"\";\n}", 2, "", "exec.timeout: not an integer"},
		{"an integer too large", "bad {\nexec.timeout = 9223372036854775808;\n}", 2, "9223372036854775808", "not an integer"},
		{"a bad jailsys", "bad {\nvnet = yes;\n}", 2, "yes", `vnet: not "disable", "new" or "inherit"`},
		{"a jailsys number out of range", "bad {\nip4 = 3;\n}", 2, "3", "ip4: not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseMem(tt.src, nil)
			if err != nil {
				t.Fatalf("the file failed, not the jail: %v", err)
			}
			j := c.Jail("bad")
			if j == nil {
				t.Fatalf("no jail bad:\n%s", dumpAll(c))
			}
			wantError(t, j.Err, tt.line, tt.token, tt.msg)
			if len(j.Params) != 0 {
				t.Errorf("a failed jail has parameters: %s", dump(j))
			}
			if _, err := c.Order([]string{"bad"}); !errors.Is(err, j.Err) {
				t.Errorf("Order(bad) = %v, want the jail's error", err)
			}
			for _, other := range c.Jails {
				if other.Name != "bad" && other.Err != nil {
					t.Errorf("jail %s failed too: %v", other.Name, other.Err)
				}
			}
		})
	}
}

// TestSubstitutionBudget: a variable doubling at every line must not
// exhaust memory.
func TestSubstitutionBudget(t *testing.T) {
	var b strings.Builder
	b.WriteString("$v0 = \"0123456789abcdef\";\n")
	for i := 1; i <= 40; i++ {
		b.WriteString("$v" + strconv.Itoa(i) + " = \"$v" + strconv.Itoa(i-1) + "$v" + strconv.Itoa(i-1) + "\";\n")
	}
	b.WriteString("bad { path = $v40; }\nok { path = /ok; }\n")
	c, err := parseMem(b.String(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if j := c.Jail("bad"); j.Err == nil || !strings.Contains(j.Err.Error(), "substitution produces more than") {
		t.Errorf("bad: %v", j.Err)
	}
	if j := c.Jail("ok"); j.Err == nil {
		// Every jail resolves every variable, so ok fails the same way.
		t.Errorf("ok resolved despite the global doubling variables")
	}
}

func TestWarnings(t *testing.T) {
	c, err := parseMem("securelevel = 2;\nfoo {\n\tallow.nomount;\n\tpath = /x;\n}\nbar { }\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range c.Warnings {
		got = append(got, w.String()+" ["+w.Param+"]")
	}
	want := []string{
		"jail.conf:1: securelevel has no meaning on Linux and is ignored [securelevel]",
		"jail.conf:3: allow.mount has no meaning on Linux and is ignored [allow.mount]",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
}

func TestParamPos(t *testing.T) {
	c, err := parseMem("ip4.addr = a;\nfoo {\n\tip4.addr += b;\n\tpersist;\n}\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	j := c.Jail("foo")
	if j.Pos != (Pos{"jail.conf", 2}) {
		t.Errorf("jail at %v", j.Pos)
	}
	for name, line := range map[string]int{"name": 2, "ip4.addr": 3, "persist": 4} {
		if p, ok := j.Get(name); !ok || p.Pos.Line != line {
			t.Errorf("%s at %v, want line %d", name, p.Pos, line)
		}
	}
	if v, ok := j.Value("ip4.addr"); !ok || v != "b" {
		t.Errorf("Value(ip4.addr) = %q, %v", v, ok)
	}
	if v, set := j.Bool("persist"); !v || !set {
		t.Errorf("Bool(persist) = %v, %v", v, set)
	}
	if _, set := j.Bool("allow.raw_sockets"); set {
		t.Errorf("allow.raw_sockets is set")
	}
}
