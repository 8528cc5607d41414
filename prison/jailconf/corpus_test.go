package jailconf

import (
	"bufio"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
)

// The corpus is real-world jail.conf files, kept outside the project
// (its README says where each comes from). JAILCONF_CORPUS overrides
// where to find it.
func corpusDir(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("JAILCONF_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "shared", "testdata", "jailconf")
	}
	if _, err := os.Stat(filepath.Join(dir, "README.md")); err != nil {
		t.Skipf("no jail.conf corpus at %s (set JAILCONF_CORPUS): %v", dir, err)
	}
	return dir
}

type corpusFile struct {
	name   string
	src    []byte
	expect string // the "# expect:" header
}

func readCorpus(t testing.TB) []corpusFile {
	dir := corpusDir(t)
	paths, err := filepath.Glob(filepath.Join(dir, "*.conf"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no *.conf in %s: %v", dir, err)
	}
	var files []corpusFile
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		f := corpusFile{name: filepath.Base(p), src: src}
		sc := bufio.NewScanner(bytes.NewReader(src))
		for sc.Scan() {
			if e, ok := strings.CutPrefix(sc.Text(), "# expect: "); ok {
				f.expect = e
				break
			}
		}
		if f.expect == "" {
			t.Fatalf("%s has no \"# expect:\" header", p)
		}
		files = append(files, f)
	}
	return files
}

// includeRE finds .include lines, to supply their targets.
var includeRE = regexp.MustCompile(`(?m)^\s*\.include\s+"([^"]*)"`)

// corpusFS holds a corpus file, and an empty file for every plain name it
// includes: those are other files of the project it comes from (jail(8)
// would fail on the missing file, not on the grammar). Globs match
// nothing, rather than the host's /etc.
func corpusFS(f corpusFile) fstest.MapFS {
	fsys := fstest.MapFS{f.name: {Data: f.src}}
	for _, m := range includeRE.FindAllSubmatch(f.src, -1) {
		if name := string(m[1]); !hasMagic(name) {
			fsys[fsName(name)] = &fstest.MapFile{}
		}
	}
	return fsys
}

// corpusJailErrors are the jails of ok files that jail(8) would fail when
// asked to create them, and why.
var corpusJailErrors = map[string]map[string]string{
	// The man page's snippet uses ${host.hostname} in a jail without one.
	"02-freebsd-jail.conf.5-syntax-snippets.conf": {"s3": `variable "host.hostname" not found`},
}

func TestCorpus(t *testing.T) {
	for _, f := range readCorpus(t) {
		t.Run(f.name, func(t *testing.T) {
			c, err := ParseFS(corpusFS(f), f.name)
			if !strings.HasPrefix(f.expect, "ok") {
				checkCorpusError(t, f, err)
				return
			}
			if err != nil {
				t.Fatalf("FreeBSD accepts it: %v", err)
			}
			for _, j := range c.Jails {
				want := corpusJailErrors[f.name][j.Name]
				switch {
				case j.Err == nil && want != "":
					t.Errorf("jail %s resolved; jail(8) fails it: %s", j.Name, want)
				case j.Err != nil && (want == "" || !strings.Contains(j.Err.Error(), want)):
					t.Errorf("jail %s: %v", j.Name, j.Err)
				case j.Err == nil:
					if err := reparse(j); err != nil {
						t.Error(err)
					}
				}
			}
			if _, err := c.Order(nil); err != nil && corpusJailErrors[f.name] == nil {
				t.Errorf("Order: %v", err)
			}
			for _, w := range c.Warnings {
				if s, _ := Lookup(w.Param); s.Linux || w.Pos.File != f.name {
					t.Errorf("warning %v", w)
				}
			}
		})
	}
}

// checkCorpusError: the invalid file misses a ';' after exec.start's
// value. Like jail(8), the error is at the token that follows, on the
// next line, and it names exec.start's line.
func checkCorpusError(t *testing.T, f corpusFile, err error) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("FreeBSD rejects it (%s); got %v", f.expect, err)
	}
	lines := strings.Split(string(f.src), "\n")
	start := 0
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "exec.start =") {
			start = i + 1
			break
		}
	}
	if start == 0 {
		t.Fatalf("%s has no exec.start line", f.name)
	}
	if e.File != f.name || e.Line != start+1 || e.Token != "exec.stop" ||
		!strings.Contains(e.Msg, `expected ';' after the value of "exec.start" (line `) {
		t.Errorf("error %q; want it at line %d (exec.stop), naming exec.start's line %d", e, start+1, start)
	}
}

// TestCorpusSemantics checks what a few corpus files mean, beyond their
// parsing.
func TestCorpusSemantics(t *testing.T) {
	files := map[string]corpusFile{}
	for _, f := range readCorpus(t) {
		files[f.name[:2]] = f
	}
	parsed := func(num string) *Config {
		t.Helper()
		f, ok := files[num]
		if !ok {
			t.Skipf("no corpus file %s-*", num)
		}
		c, err := ParseFS(corpusFS(f), f.name)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	for _, tt := range []struct {
		num, jail, param, want string
	}{
		{"01", "foo", "path", "/var/jail/foo"},
		{"01", "bar", "mount.devfs", "false"},
		{"01", "bar", "exec.start", ""},
		{"08", "vnet", "exec.start", "/sbin/ifconfig epair154b 192.168.1.154/24 up|/sbin/route add default 192.168.1.1|/bin/sh /etc/rc"},
		{"09", "ubuntu", "mount", "devfs     /usr/local/jails/containers/ubuntu/compat/ubuntu/dev     devfs     rw  0 0"},
		{"15", "t1", "path", "/zroot/jails/t1/mnt"},
		{"15", "t1", "jid", "10"},
		{"17", "test2", "vnet.interface", "epair20b"},
		{"18", "mamad", "exec.prestop", "/usr/sbin/jexec mamad /bin/sh /etc/rc.shutdown|/sbin/ifconfig epair156b -vnet mamad"},
		{"19", "molly", "ip4.addr", "192.168.1.22"},
		{"20", "JAILNAME", "host.hostname", "JAILNAME"},
		{"20", "JAILNAME", "vnet", "new"},
		{"23", "busybox", "exec.start", ""},
		{"23", "busybox", "persist", "true"},
	} {
		j := parsed(tt.num).Jail(tt.jail)
		if j == nil {
			t.Errorf("%s: no jail %s", tt.num, tt.jail)
			continue
		}
		p, _ := j.Get(tt.param)
		got := strings.Join(p.Values, "|")
		if tt.num == "09" {
			got = p.Values[0]
		}
		if got != tt.want {
			t.Errorf("%s %s %s = %q, want %q", tt.num, tt.jail, tt.param, got, tt.want)
		}
	}
	jails, err := parsed("16").Order(nil)
	if err != nil || names(jails) != "pg01 ingress01 nginx01" {
		t.Errorf("16: Order = %s, %v", names(jails), err)
	}
}

// TestCorpusMissingInclude: without its include target, the file that
// .includes one fails as jail(8) does, at the .include line.
func TestCorpusMissingInclude(t *testing.T) {
	for _, f := range readCorpus(t) {
		if !strings.HasPrefix(f.name, "20-") {
			continue
		}
		_, err := ParseFS(fstest.MapFS{f.name: {Data: f.src}}, f.name)
		line := 1 + bytes.Count(f.src[:bytes.Index(f.src, []byte("\t.include"))], []byte("\n"))
		wantError(t, err, line, "/etc/jail.conf.d/JAILNAME.template", "include: open: file does not exist")
		if !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%v is not fs.ErrNotExist", err)
		}
		return
	}
	t.Skip("no corpus file 20-*")
}
