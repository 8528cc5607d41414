package jailconf

import (
	"fmt"
	"slices"
	"testing"
)

// reparse prints j with Format and parses it back; the result must be the
// same jail.
func reparse(j *Jail) error {
	src := j.Format()
	c, err := parseMem(src, nil)
	if err != nil {
		return fmt.Errorf("Format's output does not parse: %w\n%s", err, src)
	}
	if len(c.Jails) != 1 {
		return fmt.Errorf("Format's output has %d jails\n%s", len(c.Jails), src)
	}
	back := c.Jails[0]
	if back.Name != j.Name || back.Err != nil || !sameParams(back.Params, j.Params) {
		return fmt.Errorf("Format's output parses to another jail:\n%s\nwas:  %s: %s\nnow:  %s: %s",
			src, j.Name, dump(j), back.Name, dump(back))
	}
	return nil
}

func sameParams(a, b []Param) bool {
	return slices.EqualFunc(a, b, func(p, q Param) bool {
		return p.Name == q.Name && slices.Equal(p.Values, q.Values)
	})
}

func TestFormat(t *testing.T) {
	c, err := parseMem(`
$v = "a \"quoted\" $ sign";
web {
	persist;
	allow.noraw_sockets;
	allow.mount.nozfs;
	ip4.addr = 10.0.0.1, "em0|10.0.0.2/24";
	exec.start = "/bin/sh /etc/rc", "echo '\$HOME'	tab\x01";
	exec.consolelog;
	vnet;
	securelevel = 3;
	host.hostname = $v;
	jid = 7;
}
5 { name = five; }
"my jail" { }
`, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := `web {
	persist;
	allow.noraw_sockets;
	allow.mount.nozfs;
	ip4.addr = "10.0.0.1", "em0|10.0.0.2/24";
	exec.start = "/bin/sh /etc/rc", "echo '\$HOME'\ttab\001";
	exec.consolelog;
	vnet = "new";
	securelevel = "3";
	host.hostname = "a \"quoted\" \$ sign";
	jid = "7";
}

5 {
	name = "five";
}

"my jail" {
}
`
	if got := c.Format(); got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	for _, j := range c.Jails {
		if err := reparse(j); err != nil {
			t.Error(err)
		}
	}
}

func TestFormatCases(t *testing.T) {
	for _, tt := range parseCases {
		c, err := parseMem(tt.src, nil)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		for _, j := range c.Jails {
			if err := reparse(j); err != nil {
				t.Errorf("%s: %v", tt.name, err)
			}
		}
	}
}

func TestFormatFailedJail(t *testing.T) {
	c, err := parseMem("bad { path = $x; }", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := "# jail.conf:1: \"$x\": variable \"x\" not found (jail \"bad\")\nbad {\n}\n"
	if got := c.Jails[0].Format(); got != want {
		t.Errorf("Format = %q, want %q", got, want)
	}
}
