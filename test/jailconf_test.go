package test

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// corpusDir holds real jail.conf files from outside the project
// (../shared/testdata/jailconf, whose README says where each comes from).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("JAILCONF_CORPUS")
	if dir == "" {
		dir = "../../shared/testdata/jailconf"
	}
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("jail.conf corpus not found at %s (set JAILCONF_CORPUS): %v", dir, err)
	}
	return dir
}

// TestConfigCorpus: every file FreeBSD's jail(8) accepts passes prison
// config; the one it refuses fails with its line.
func TestConfigCorpus(t *testing.T) {
	dir := corpusDir(t)
	files, _ := filepath.Glob(filepath.Join(dir, "*.conf"))
	if len(files) == 0 {
		t.Fatalf("no .conf files in %s", dir)
	}
	expectRe := regexp.MustCompile(`^# expect: (ok|error)\b(.*)`)
	lineRe := regexp.MustCompile(`line (\d+)`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			expect, detail := "", ""
			fh, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			s := bufio.NewScanner(fh)
			for s.Scan() {
				if m := expectRe.FindStringSubmatch(s.Text()); m != nil {
					expect, detail = m[1], m[2]
					break
				}
			}
			fh.Close()
			r := prison(t, nil, "config", "-f", f)
			switch expect {
			case "ok":
				// "ok for the grammar" where an .include names a file of
				// another machine: jail(8) fails on the missing file, and so
				// must prison, at that line.
				missing := strings.Contains(detail, "does not exist") &&
					strings.Contains(r.stderr, "include") && strings.Contains(r.stderr, "no such file")
				if r.code != 0 && !missing {
					t.Errorf("prison config: exit %d: %s", r.code, r.stderr)
				}
			case "error":
				if r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
					t.Errorf("prison config: exit %d, %q; want 125 and one line", r.code, r.stderr)
				}
				if m := lineRe.FindStringSubmatch(detail); m != nil && !strings.Contains(r.stderr, ":"+m[1]+":") {
					t.Errorf("prison config: %q does not name line %s", r.stderr, m[1])
				}
			default:
				t.Fatalf("%s has no '# expect:' line", f)
			}
		})
	}
}

// TestHostingSetup: the README's small hosting setup, three jails from one
// jail.conf with a wildcard, variables, a dependency and hooks, on one
// shared base with a layer, a disk and limits each.
func TestHostingSetup(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "srv")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, "base")
	if err := os.Rename(probeRoot(t), base); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(base, "etc", "rc"), []byte("echo up > /tmp/rc.ran\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	shared := t.TempDir()
	if err := os.WriteFile(filepath.Join(shared, "motd"), []byte("welcome\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	names := []string{jailName(t), jailName(t), jailName(t)} // db, web1, web2
	for _, n := range names {
		// The layers outlive delete: --purge removes them too.
		t.Cleanup(func() { prison(t, nil, "delete", "--purge", "-t", "0", n) })
	}
	trace := filepath.Join(t.TempDir(), "trace")
	conf := filepath.Join(t.TempDir(), "prison.conf")
	text := fmt.Sprintf(`# a hosting provider's jails
image = "%s";
disk = 16M;
memoryuse = 128M;
maxproc = 256;
pcpu = 100;
host.hostname = "$name.example.net";
exec.start = "/bin/sh /etc/rc";
exec.poststop += "echo stopped $name >> %s";
exec.timeout = 5;
securelevel = 3;   // no meaning on Linux: a warning
mount += "%s /shared nullfs ro 0 0";
userns = auto;

%[4]s { ip4.addr = 10.254.61.10; allow.sysvipc; memoryuse = 256M; disk = 32M; userns = host; }
%[5]s { ip4.addr = 10.254.61.11; depend = %[4]s; }
%[6]s {
	ip4.addr = 10.254.61.12;
	depend = %[4]s;
	mount += "tmpfs /scratch tmpfs size=1m 0 0";
}
`, base, trace, shared, names[0], names[1], names[2])
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	r := prison(t, nil, "config", "-f", conf)
	if r.code != 0 || !strings.Contains(r.stderr, "securelevel") || strings.Count(r.stdout, "{") != 3 {
		t.Fatalf("prison config: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	mustRun(t, "create", "-f", conf)
	jids := map[string]int{}
	for _, j := range ownJails(t, names, "-f", conf) {
		jids[j.Name] = j.JID
		if j.Status != "running" {
			t.Errorf("%s: %s", j.Name, j.Status)
		}
	}
	if len(jids) != 3 || jids[names[0]] > jids[names[1]] || jids[names[0]] > jids[names[2]] {
		t.Errorf("JIDs %v: the database, which the others depend on, was not created first", jids)
	}
	for i, n := range names {
		got := mustRun(t, "exec", n, "sh", "-c", "hostname; cat /tmp/rc.ran /shared/motd; echo x > /shared/y 2>/dev/null || echo ro")
		want := fmt.Sprintf("%s.example.net\nup\nwelcome\nro\n", n)
		if got != want {
			t.Errorf("jail %d: %q, want %q", i, got, want)
		}
	}
	// The database runs as on FreeBSD (userns = host), the web jails with
	// ids of their own.
	for i, n := range names {
		m := strings.Fields(mustRun(t, "exec", n, "cat", "/proc/self/uid_map"))
		if host := len(m) == 3 && m[1] == "0"; host != (i == 0) {
			t.Errorf("%s: uid_map %v", n, m)
		}
	}
	// One base, a layer each: web1's change is web1's.
	mustRun(t, "exec", names[1], "sh", "-c", "echo web1 > /etc/owner")
	if out := prison(t, nil, "exec", names[2], "cat", "/etc/owner"); out.code == 0 {
		t.Errorf("web2 sees web1's file: %q", out.stdout)
	}
	if _, err := os.Stat(filepath.Join(base, "etc", "owner")); err == nil {
		t.Error("web1's write reached the shared base")
	}
	if out := mustRun(t, "exec", names[2], "sh", "-c", "dd if=/dev/zero of=/scratch/f bs=1k count=2048 2>/dev/null || echo full"); out != "full\n" {
		t.Errorf("web2's 1m tmpfs: %q", out)
	}
	if out := mustRun(t, "exec", names[1], "/probe", "fill", "/var/fill"); !strings.HasSuffix(strings.TrimSpace(out), "ENOSPC") {
		t.Errorf("web1's 16M disk: %q", out)
	}
	// The limits, the jail's own where it sets one; a customer upgraded.
	mustRun(t, "set", names[2], "memoryuse=192M")
	for n, want := range map[string]uint64{names[0]: 256 << 20, names[1]: 128 << 20, names[2]: 192 << 20} {
		if s := statsOf(t, n); s.MemoryLimit != want || s.PidsLimit != 256 {
			t.Errorf("%s: memory limit %d, tasks %d; want %d and 256", n, s.MemoryLimit, s.PidsLimit, want)
		}
	}
	mustRun(t, "stop", "-f", conf)
	got, _ := os.ReadFile(trace)
	lines := strings.Split(strings.TrimSpace(string(got)), "\n")
	if len(lines) != 3 || lines[2] != "stopped "+names[0] {
		t.Errorf("stop order %q: the database must stop last", lines)
	}
	for _, j := range ownJails(t, names, "-f", conf) {
		if j.Status != "stopped" {
			t.Errorf("after stop -f, %s is %s", j.Name, j.Status)
		}
	}
	// Made again, web1 finds its files.
	mustRun(t, "create", "-f", conf, names[1])
	if out := mustRun(t, "exec", names[1], "cat", "/etc/owner"); out != "web1\n" {
		t.Errorf("web1 made again: /etc/owner %q", out)
	}
	assertOneLine(t, prison(t, nil, "create", "-f", conf, "nosuchjail"), "nosuchjail")
}

// ownJails is prison list --json args, of the jails named only: the
// machine may run others (an admin's, another test's).
func ownJails(t *testing.T, names []string, args ...string) []listed {
	t.Helper()
	var out []listed
	for _, j := range listJSON(t, args...) {
		if slices.Contains(names, j.Name) {
			out = append(out, j)
		}
	}
	return out
}
