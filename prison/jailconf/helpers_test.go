package jailconf

import (
	"errors"
	"strings"
	"testing"
	"testing/fstest"
)

// parseMem parses src as "jail.conf" in a memory file system holding
// files besides, so that no test reads the host's /etc.
func parseMem(src string, files map[string]string) (*Config, error) {
	fsys := fstest.MapFS{}
	for name, data := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(data)}
	}
	return parse(ioFS{fsys}, "jail.conf", []byte(src))
}

// dump renders a jail's parameters as "name=v1|v2; name=v": short enough
// to write expectations by hand.
func dump(j *Jail) string {
	if j.Err != nil {
		return "error: " + j.Err.Error()
	}
	parts := make([]string, len(j.Params))
	for i, p := range j.Params {
		parts[i] = p.Name + "=" + strings.Join(p.Values, "|")
	}
	return strings.Join(parts, "; ")
}

// dumpAll renders every jail as "NAME: PARAMS", one per line.
func dumpAll(c *Config) string {
	var b strings.Builder
	for _, j := range c.Jails {
		b.WriteString(j.Name + ": " + dump(j) + "\n")
	}
	return b.String()
}

// wantError checks that err is an *Error at line with token, whose
// message holds msg.
func wantError(t *testing.T, err error, line int, token, msg string) {
	t.Helper()
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want an *Error", err, err)
	}
	if e.Line != line || e.Token != token || !strings.Contains(e.Msg, msg) {
		t.Fatalf("error = %q\nwant line %d, token %q, message containing %q", e.Error(), line, token, msg)
	}
	if strings.Contains(e.Error(), "\n") {
		t.Fatalf("error %q spans lines", e.Error())
	}
}

func TestErrorString(t *testing.T) {
	for _, tt := range []struct {
		err  Error
		want string
	}{
		{Error{File: "a.conf", Line: 3, Token: "x", Msg: "m"}, `a.conf:3: "x": m`},
		{Error{File: "a.conf", Line: 3, Msg: "m"}, `a.conf:3: m`},
		{Error{File: "a.conf", Msg: "open: no such file"}, `a.conf: open: no such file`},
		{Error{Msg: "no jail"}, `jailconf: no jail`},
		{Error{File: "a", Line: 1, Token: "two\nlines", Msg: "and\nmore"}, `a:1: "two\nlines": and\nmore`},
		{Error{File: "a", Line: 1, Token: strings.Repeat("x", 50), Msg: "m"}, `a:1: "` + strings.Repeat("x", 40) + `...": m`},
	} {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %s, want %s", got, tt.want)
		}
	}
}
