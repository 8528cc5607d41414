package jailconf

import (
	"errors"
	"strings"
	"testing"
)

func names(jails []*Jail) string {
	s := make([]string, len(jails))
	for i, j := range jails {
		s[i] = j.Name
	}
	return strings.Join(s, " ")
}

func TestOrder(t *testing.T) {
	src := `
a { depend = b, c; }
b { depend = c; }
c { }
d { }
web.x { depend = d; }
web.y { }
`
	c, err := parseMem(src, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{nil, "c b a d web.x web.y"},
		{[]string{"a"}, "c b a"},
		{[]string{"c"}, "c"},
		{[]string{"d", "a", "d"}, "d c b a"},
		{[]string{"web.*"}, "d web.x web.y"},
		{[]string{"*"}, "c b a d web.x web.y"},
		{[]string{"nomatch.*"}, ""},
	} {
		got, err := c.Order(tt.names)
		if err != nil {
			t.Errorf("Order(%q): %v", tt.names, err)
			continue
		}
		if names(got) != tt.want {
			t.Errorf("Order(%q) = %s, want %s", tt.names, names(got), tt.want)
		}
	}
}

func TestOrderErrors(t *testing.T) {
	tests := []struct {
		name, src string
		names     []string
		line      int
		token     string
		msg       string
	}{
		{"a loop", "a {\n depend = b;\n}\nb {\n depend = a;\n}", nil, 5, "a", "dependency loop: a -> b -> a"},
		{"a jail depending on itself", "a {\n depend = a;\n}", nil, 2, "a", "dependency loop: a -> a"},
		{"a longer loop, reached from outside it", "x { depend = a; }\na { depend = b; }\nb { depend = c; }\nc { depend = a; }", []string{"x"}, 4, "a", "dependency loop: a -> b -> c -> a"},
		{"an undefined dependency", "a {\n depend = b, nope;\n}\nb { }", nil, 2, "nope", `jail "a" depends on a jail the configuration does not define`},
		{"a failed dependency", "a { depend = b; }\nb {\n path = $x;\n}", []string{"a"}, 3, "$x", `variable "x" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parseMem(tt.src, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Order(tt.names)
			wantError(t, err, tt.line, tt.token, tt.msg)
		})
	}

	c, err := parseMem("a { }", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Order([]string{"b"})
	var e *Error
	if !errors.As(err, &e) || err.Error() != `jailconf: no jail "b" in the configuration` {
		t.Errorf("Order(b) = %v", err)
	}
}
