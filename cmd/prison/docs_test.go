package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// prisonOut runs prison with args and returns its stdout, failing the test
// unless it exits 0.
func prisonOut(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), args, strings.NewReader(""), &stdout, &stderr); code != 0 {
		t.Fatalf("prison %s: exit %d: %s", strings.Join(args, " "), code, stderr.String())
	}
	return stdout.String()
}

// documented is every command that the help lists, and so gets a page.
func documented(cmd *cobra.Command) []*cobra.Command {
	if cmd.HasParent() && !cmd.IsAvailableCommand() {
		return nil
	}
	cmds := []*cobra.Command{cmd}
	for _, c := range cmd.Commands() {
		cmds = append(cmds, documented(c)...)
	}
	return cmds
}

// The man pages are written by this test's binary, not by prison: cobra/doc
// brings md2man and blackfriday, whose package initialisation would cost
// every prison start 0.3-0.8 ms (GODEBUG=inittrace=1), on a start path
// measured in steps of 100 µs (docs/startpath.md). Nor by a program of its
// own under cmd/: the command tree is built in package main, which nothing
// else can import. make man runs
//
//	go test -run '^TestManPages$' ./cmd/prison -args -man DIR
//
// which also checks the pages it wrote.
var manDir = flag.String("man", "", "write the man pages to `DIR` (make man), not to a temporary directory")

// writeManPages writes the page of cmd and of every command under it that
// the help lists, named as man(1) finds them: prison.1, prison-run.1,
// prison-completion-bash.1. SOURCE_DATE_EPOCH, if set, dates them.
func writeManPages(cmd *cobra.Command, dir string) error {
	for _, c := range documented(cmd) {
		page, err := manPage(c)
		if err != nil {
			return err
		}
		name := strings.ReplaceAll(c.CommandPath(), " ", "-") + ".1"
		if err := os.WriteFile(filepath.Join(dir, name), page, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// manPage is the roff of one command's page. The help's Exit status table
// would come out of the markdown that cobra writes as one run-on
// paragraph, in the DESCRIPTION: the page has it as its own section, where
// man-pages(7) puts it, before the EXAMPLE.
func manPage(cmd *cobra.Command) ([]byte, error) {
	long := cmd.Long
	defer func() { cmd.Long = long }()
	cmd.Long = strings.TrimSuffix(long, exitStatusText(cmd))
	// No "Auto generated" HISTORY section: the date is in the header.
	cmd.DisableAutoGenTag = true

	v, _ := buildVersion()
	header := &doc.GenManHeader{Section: "1", Source: "prison " + v, Manual: "prison manual"}
	var b bytes.Buffer
	if err := doc.GenMan(cmd, header, &b); err != nil {
		return nil, fmt.Errorf("%s: %w", cmd.CommandPath(), err)
	}
	page := b.String()

	var sec strings.Builder
	sec.WriteString(".SH EXIT STATUS\n")
	for _, r := range exitStatus(cmd) {
		fmt.Fprintf(&sec, ".TP\n.B %s\n%s\n", r.status, r.meaning)
	}
	at := len(page)
	for _, next := range []string{".SH EXAMPLE\n", ".SH SEE ALSO\n"} {
		if i := strings.Index(page, next); i >= 0 {
			at = i
			break
		}
	}
	return []byte(page[:at] + sec.String() + page[at:]), nil
}

func TestManPages(t *testing.T) {
	dir := *manDir
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root := newRootCmd(nil, io.Discard, io.Discard)
	if err := writeManPages(root, dir); err != nil {
		t.Fatalf("man: %v", err)
	}

	var want []string
	for _, cmd := range documented(root) {
		name := strings.ReplaceAll(cmd.CommandPath(), " ", "-") + ".1"
		want = append(want, name)
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("%s: no page: %v", cmd.CommandPath(), err)
			continue
		}
		page := string(b)
		if !strings.Contains(page, "\n.SH EXIT STATUS\n") {
			t.Errorf("%s: no EXIT STATUS section", name)
		}
		for _, r := range exitStatus(cmd) {
			if !strings.Contains(page, ".B "+r.status+"\n"+r.meaning+"\n") {
				t.Errorf("%s: EXIT STATUS lacks %s, %s", name, r.status, r.meaning)
			}
		}
		// Once, in its own section: not again as text in the DESCRIPTION.
		if strings.Contains(page, "Exit status:") {
			t.Errorf("%s: the help's Exit status table is in the page's text", name)
		}
		if cmd.Example != "" && !strings.Contains(page, "\n.SH EXAMPLE\n") {
			t.Errorf("%s: no EXAMPLE section", name)
		}
		for line := range strings.Lines(cmd.Example) {
			// roff doubles a backslash; the rest is as typed.
			if l := strings.ReplaceAll(line, `\`, `\\`); !strings.Contains(page, l) {
				t.Errorf("%s: the example line %q is missing", name, line)
			}
		}
	}

	var got []string
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		got = append(got, e.Name())
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("pages: got %q, want %q", got, want)
	}
	// The default completion command is how make install gets the bash
	// completion: configuring cobra must not lose it.
	if !slices.Contains(got, "prison-completion-bash.1") {
		t.Errorf("no completion command: pages %q", got)
	}
}

func TestHelpEndsWithExitStatus(t *testing.T) {
	for _, cmd := range documented(newRootCmd(nil, io.Discard, io.Discard)) {
		if !strings.HasSuffix(cmd.Long, exitStatusText(cmd)) {
			t.Errorf("%s: the description does not end with the Exit status table:\n%s", cmd.CommandPath(), cmd.Long)
		}
	}
	help := prisonOut(t, "run", "--help")
	for _, s := range []string{"Run a command in a new jail", "Exit status:", "128+N  the command died of signal N", "Examples:"} {
		if !strings.Contains(help, s) {
			t.Errorf("prison run --help lacks %q:\n%s", s, help)
		}
	}
}

func TestVersion(t *testing.T) {
	out := prisonOut(t, "version")
	if opt := prisonOut(t, "--version"); opt != out {
		t.Errorf("prison --version:\n%s\nprison version:\n%s", opt, out)
	}
	if !strings.HasPrefix(out, "prison version ") || strings.Count(out, "\n") != 3 {
		t.Errorf("prison version: want three lines, the first \"prison version ...\":\n%s", out)
	}
}

func TestCompletionBash(t *testing.T) {
	if out := prisonOut(t, "completion", "bash"); !strings.Contains(out, "complete -o default -F __start_prison prison") {
		t.Errorf("prison completion bash: not a bash completion script for prison:\n%.300s", out)
	}
}
