package jailconf

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return fsys
}

func TestInclude(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string // etc/jail.conf is parsed
		want  string
	}{
		{"a glob, in sorted order, relative to the including file", map[string]string{
			"etc/jail.conf":          `path = /j/$name; .include "jail.conf.d/*.conf";`,
			"etc/jail.conf.d/b.conf": `b { }`,
			"etc/jail.conf.d/a.conf": `a { persist; }`,
			"etc/jail.conf.d/a.txt":  `txt { }`,
		}, "a: name=a; path=/j/a; persist=true\nb: name=b; path=/j/b\n"},
		{"a glob matching nothing", map[string]string{
			"etc/jail.conf": `.include "/etc/jail.conf.d/*.conf"; .include "/usr/local/etc/jail[.]conf"; a { }`,
		}, "a: name=a\n"},
		{"an absolute name", map[string]string{
			"etc/jail.conf":           `.include "/usr/local/etc/jail.conf"; a { }`,
			"usr/local/etc/jail.conf": `exec.clean;`,
		}, "a: name=a; exec.clean=true\n"},
		{"globals in an included file are the same global", map[string]string{
			"etc/jail.conf": `.include "g.conf"; a { path = /a; } securelevel = 1;`,
			"etc/g.conf":    `path = /g;`,
		}, "a: name=a; path=/a; securelevel=1\n"},
		{"inside a block, into that block", map[string]string{
			"etc/jail.conf": "web {\n\t.include \"web.inc\";\n\tpath = /w;\n}",
			"etc/web.inc":   `persist; path = /inc; sub { }`,
		}, "web: name=web; persist=true; path=/w\nweb.sub: name=web.sub\n"},
		{"several names in one .include", map[string]string{
			"etc/jail.conf": `.include "a.conf", "b.conf";`,
			"etc/a.conf":    `a { }`,
			"etc/b.conf":    `b { }`,
		}, "a: name=a\nb: name=b\n"},
		{"a file included twice", map[string]string{
			"etc/jail.conf": `.include "p.conf"; a { .include "p.conf"; } .include "p.conf";`,
			"etc/p.conf":    `exec.start += x;`,
		}, "a: name=a; exec.start=x|x|x\n"},
		{"glob(3)'s negation", map[string]string{
			"etc/jail.conf": `.include "d/[!b]*.conf";`,
			"etc/d/a.conf":  `a { }`,
			"etc/d/b.conf":  `b { }`,
		}, "a: name=a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseFS(mapFS(tt.files), "etc/jail.conf")
			if err != nil {
				t.Fatal(err)
			}
			if got := dumpAll(c); got != tt.want {
				t.Errorf("\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestIncludeErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		file  string // where the error is
		line  int
		token string
		msg   string
		is    error
	}{
		{"a missing file", map[string]string{
			"etc/jail.conf": "a { }\n.include \"/etc/missing.conf\";",
		}, "etc/jail.conf", 2, "/etc/missing.conf", "include: open: file does not exist", fs.ErrNotExist},
		{"a missing relative file names where it looked", map[string]string{
			"etc/jail.conf": `.include "x.conf";`,
		}, "etc/jail.conf", 1, "x.conf", "include etc/x.conf: open: file does not exist", fs.ErrNotExist},
		{"an error in an included file", map[string]string{
			"etc/jail.conf": `.include "bad.conf";`,
			"etc/bad.conf":  "a {\n\tpath = /x\n}",
		}, "etc/bad.conf", 3, "}", "expected ';'", nil},
		{"a file including itself", map[string]string{
			"etc/jail.conf": `.include "jail.conf";`,
		}, "etc/jail.conf", 1, "jail.conf", "include loop: etc/jail.conf -> etc/jail.conf", nil},
		{"a loop through two files", map[string]string{
			"etc/jail.conf": `.include "a.conf";`,
			"etc/a.conf":    "\n.include \"/etc/jail.conf\";",
		}, "etc/a.conf", 2, "/etc/jail.conf", "include loop: etc/jail.conf -> etc/a.conf -> /etc/jail.conf", nil},
		{"a glob including itself", map[string]string{
			"etc/jail.conf":   `.include "d/*.conf";`,
			"etc/d/self.conf": `.include "*.conf";`,
		}, "etc/d/self.conf", 1, "*.conf", "include loop", nil},
		{"a block cannot end in an included file", map[string]string{
			"etc/jail.conf":  `a { .include "close.conf";`,
			"etc/close.conf": `}`,
		}, "etc/close.conf", 1, "}", "without a block", nil},
		{"a directory", map[string]string{
			"etc/jail.conf": `.include "/etc/d";`,
			"etc/d/x.conf":  ``,
		}, "etc/jail.conf", 1, "/etc/d", "not a regular file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFS(mapFS(tt.files), "etc/jail.conf")
			wantError(t, err, tt.line, tt.token, tt.msg)
			var e *Error
			errors.As(err, &e)
			if e.File != tt.file {
				t.Errorf("error in %s, want %s", e.File, tt.file)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tt.is)
			}
		})
	}
}

// TestIncludeDepth: config.c allows 32 nested includes.
func TestIncludeDepth(t *testing.T) {
	chain := func(n int) map[string]string {
		files := map[string]string{}
		for i := 0; i < n; i++ {
			files["f"+strconv.Itoa(i)] = `.include "f` + strconv.Itoa(i+1) + `";`
		}
		files["f"+strconv.Itoa(n)] = `last { }`
		return files
	}
	c, err := ParseFS(mapFS(chain(32)), "f0")
	if err != nil || len(c.Jails) != 1 {
		t.Fatalf("32 nested includes: %v", err)
	}
	_, err = ParseFS(mapFS(chain(33)), "f0")
	wantError(t, err, 1, "f33", "more than 32 nested includes")
}

// TestIncludeHost reads real files: ParseFile, and Parse of a buffer
// named after a file.
func TestIncludeHost(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("jail.conf", `.include "jail.conf.d/*.conf"; .include "extra.conf";`)
	write("jail.conf.d/web.conf", `web { persist; }`)
	write("extra.conf", `db { }`)
	c, err := ParseFile(filepath.Join(dir, "jail.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := dumpAll(c), "web: name=web; persist=true\ndb: name=db\n"; got != want {
		t.Errorf("ParseFile:\n got %s\nwant %s", got, want)
	}
	c, err = Parse(filepath.Join(dir, "virtual.conf"), []byte(`.include "extra.conf";`))
	if err != nil || len(c.Jails) != 1 {
		t.Errorf("Parse with a host include: %v", err)
	}

	_, err = ParseFile(filepath.Join(dir, "nope.conf"))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, fs.ErrNotExist) || e.Line != 0 ||
		e.Error() != filepath.Join(dir, "nope.conf")+": open: no such file or directory" {
		t.Errorf("ParseFile(missing) = %v", err)
	}
	_, err = Parse("x.conf", []byte(`.include "/dev/null";`))
	wantError(t, err, 1, "/dev/null", "not a regular file")
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("%q", err)
	}
}

func TestGlobPattern(t *testing.T) {
	for _, tt := range []struct {
		pattern string
		magic   bool
		goPat   string
	}{
		{"/etc/jail.conf", false, "/etc/jail.conf"},
		{"/etc/*.conf", true, "/etc/*.conf"},
		{"/etc/jail?.conf", true, "/etc/jail?.conf"},
		{"/etc/jail[.]conf", true, "/etc/jail[.]conf"},
		{"/etc/[!a]x", true, "/etc/[^a]x"},
		{"/etc/[x", false, `/etc/\[x`},
		{"/etc/[]", false, `/etc/\[]`},
		{"/etc/[]]", true, "/etc/[]]"},
		{`/etc/\*`, false, `/etc/\*`},
	} {
		if got := hasMagic(tt.pattern); got != tt.magic {
			t.Errorf("hasMagic(%q) = %v", tt.pattern, got)
		}
		if got := goPattern(tt.pattern); got != tt.goPat {
			t.Errorf("goPattern(%q) = %q, want %q", tt.pattern, got, tt.goPat)
		}
	}
}
