package prison

import "testing"

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"nginx: worker":          "nginx: worker",
		"evil\x1b]0;pwned\x07":   "evil?]0;pwned?",
		"a\u202eexe.txt":         "a?exe.txt",
		"caf\u00e9 \xff":         "caf\u00e9 ?",
		"tab\there\nnewline\x7f": "tab?here?newline?",
	} {
		if got := printable(in); got != want {
			t.Errorf("printable(%q) = %q, want %q", in, got, want)
		}
	}
}
