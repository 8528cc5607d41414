package mountinfo

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		"/plain":          "/plain",
		`/a\040b`:         "/a b",
		`/a\011b`:         "/a\tb",
		`/a\012b`:         "/a\nb",
		`/a\134b`:         `/a\b`,
		`\040`:            " ",
		`/end\040`:        "/end ",
		`/a\040\040b`:     "/a  b",
		`/lone\b`:         `/lone\b`,   // a lone backslash stays
		`/short\04`:       `/short\04`, // two digits at the end: no escape
		`/trail\`:         `/trail\`,
		`/not\08x`:        `/not\08x`, // 8 is no octal digit
		`/big\777`:        `/big\777`, // above a byte
		`/sign\+12`:       `/sign\+12`,
		`/twice\134\040x`: `/twice\ x`,
	} {
		if got := Unescape(in); got != want {
			t.Errorf("Unescape(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEscapeRoundTrip(t *testing.T) {
	for _, p := range []string{"/plain", "/a b", "/a\tb", "/a\nb", `/a\b`, `/a\040b`, "/ \t\n\\"} {
		e := Escape(p)
		if got := Unescape(e); got != p {
			t.Errorf("Unescape(Escape(%q)) = %q (escaped %q)", p, got, e)
		}
	}
	if got, want := Escape("/a b\\c"), `/a\040b\134c`; got != want {
		t.Errorf("Escape = %q, want %q", got, want)
	}
}

const table = "22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw\n" +
	"23 22 0:21 / /proc rw - proc proc rw\n" +
	"40 22 0:40 / /srv/with\\040space rw - tmpfs tmpfs rw\n" +
	"41 22 0:41 / /usr rw - xfs /dev/vdb rw\n" +
	"42 41 0:42 / /usr rw - tmpfs tmpfs rw\n" +
	"43 22 0:43 / /d/x rw master:3 - overlay overlay rw,lowerdir=/l\n" +
	"44 43 0:44 / /d/x/y\\011z rw - tmpfs tmpfs rw\n" +
	"45 22 0:45 / /dx rw - tmpfs tmpfs rw\n" +
	"46 22 0:46 / /d rw - tmpfs tmpfs rw\n" +
	"47 22 0:47 / /truncat"

func TestParse(t *testing.T) {
	got := Parse([]byte(table))
	want := []Mount{
		{"/", "ext4"},
		{"/proc", "proc"},
		{"/srv/with space", "tmpfs"},
		{"/usr", "xfs"},
		{"/usr", "tmpfs"},
		{"/d/x", "overlay"},
		{"/d/x/y\tz", "tmpfs"},
		{"/dx", "tmpfs"},
		{"/d", "tmpfs"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Parse =\n%q\nwant\n%q", got, want)
	}
	if got := Parse(nil); got != nil {
		t.Errorf("Parse(nil) = %q", got)
	}
}

func TestUnder(t *testing.T) {
	for _, c := range []struct {
		dir  string
		want []string
	}{
		{"/d", []string{"/d/x", "/d/x/y\tz", "/d"}}, // not /dx
		{"/d/x", []string{"/d/x", "/d/x/y\tz"}},
		{"/srv/with space", []string{"/srv/with space"}},
		{"/srv/with", nil},
		{"/none", nil},
	} {
		if got := Under([]byte(table), c.dir); !slices.Equal(got, c.want) {
			t.Errorf("Under(%s) = %q, want %q", c.dir, got, c.want)
		}
	}
}

// The machine's own table parses, and has the root mounted.
func TestParseSelf(t *testing.T) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Skipf("no mount table: %v", err)
	}
	ms := Parse(b)
	if !slices.ContainsFunc(ms, func(m Mount) bool { return m.Point == "/" }) {
		t.Errorf("/proc/self/mountinfo: no mount on /: %q", ms)
	}
	for _, m := range ms {
		if !filepath.IsAbs(m.Point) || m.FSType == "" {
			t.Errorf("mount %q", m)
		}
	}
}
