package prison

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"
)

func TestParseIDRange(t *testing.T) {
	good := []struct {
		in   string
		want IDRange
	}{
		{"100000", IDRange{100000, 100000, 65536}},
		{"100000:1", IDRange{100000, 100000, 1}},
		{"100000:300000:65536", IDRange{100000, 300000, 65536}},
		{"4294901759:65536", IDRange{4294901759, 4294901759, 65536}}, // ends at maxID
		{"1:4294967294", IDRange{1, 1, 4294967294}},
	}
	for _, c := range good {
		got, err := ParseIDRange(c.in)
		if err != nil || got != c.want {
			t.Errorf("ParseIDRange(%q) = %+v, %v; want %+v", c.in, got, err, c.want)
			continue
		}
		if back, err := ParseIDRange(got.String()); err != nil || back != got {
			t.Errorf("ParseIDRange(%q.String() = %q) = %+v, %v", c.in, got.String(), back, err)
		}
	}
	bad := []struct{ in, wantErr string }{
		{"", "want BASE"},
		{"abc", "want BASE"},
		{"1:2:3:4", "want BASE"},
		{"-1", "want BASE"},
		{" 1", "want BASE"},
		{"1:", "want BASE"},
		{"0x10", "want BASE"},
		{"0", "use --userns host"},
		{"0:65536", "use --userns host"},
		{"100000:0:65536", "use --userns host"},
		{"100000:0", "at least 1"},
		{"4294967296", "past 4294967294"},
		{"99999999999999999999999", "past 4294967294"},
		{"4294901760:65536", "past 4294967294"}, // would hold (uid_t)-1
		{"1:4294967295", "past 4294967294"},
		{"1:2:18446744073709551615", "past 4294967294"},
	}
	for _, c := range bad {
		_, err := ParseIDRange(c.in)
		if err == nil {
			t.Errorf("ParseIDRange(%q) succeeded", c.in)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, fmt.Sprintf("--userns %q: ", c.in)) || !strings.Contains(msg, c.wantErr) || strings.Contains(msg, "\n") {
			t.Errorf("ParseIDRange(%q): %q, want one line naming --userns, the value and %q", c.in, msg, c.wantErr)
		}
	}
}

func TestIDRangeString(t *testing.T) {
	for r, want := range map[IDRange]string{
		{5, 5, 65536}: "5:65536",
		{5, 6, 7}:     "5:6:7",
	} {
		if got := r.String(); got != want {
			t.Errorf("%+v.String() = %q, want %q", r, got, want)
		}
	}
}

// usePoolFiles points the pool at files with these contents.
func usePoolFiles(t *testing.T, subuid, subgid, passwd, group string) {
	t.Helper()
	dir := t.TempDir()
	vars := []*string{&subuidFile, &subgidFile, &passwdFile, &groupFile}
	old := make([]string, len(vars))
	for i, text := range []string{subuid, subgid, passwd, group} {
		old[i] = *vars[i]
		*vars[i] = filepath.Join(dir, filepath.Base(old[i]))
		if err := os.WriteFile(*vars[i], []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		for i, v := range vars {
			*v = old[i]
		}
	})
}

func slotsOf(p *idPool) []IDRange {
	var out []IDRange
	p.each(func(r IDRange) bool {
		out = append(out, r)
		return false
	})
	return out
}

func TestPoolFromSubids(t *testing.T) {
	usePoolFiles(t,
		"# delegated\nalice:100000:65536\nprison:200000:196608\nprison:900000:65536\n",
		"prison:300000:131072\n",
		"root:x:0:0::/root:/bin/sh\n", "root:x:0:\n")
	p, err := loadPool()
	if err != nil {
		t.Fatal(err)
	}
	// The smaller count, 131072, holds two slots; the second prison
	// line of subuid is not used.
	want := []IDRange{{200000, 300000, 65536}, {265536, 365536, 65536}}
	if got := slotsOf(p); !slices.Equal(got, want) || p.slots != 2 {
		t.Errorf("pool = %v (%d slots), want %v", got, p.slots, want)
	}

	// A slot that holds id 0 is left out.
	p = buildPool([]subidEntry{{"prison", 0, 131072}}, []subidEntry{{"prison", 500000, 131072}}, nil, nil)
	if got := slotsOf(p); !slices.Equal(got, []IDRange{{65536, 565536, 65536}}) {
		t.Errorf("pool from a range at 0 = %v", got)
	}

	// prison in one file only, or uid 0 by number: not prison's pool.
	for _, c := range [][2]string{
		{"prison:200000:65536\n", "alice:200000:65536\n"},
		{"0:200000:65536\n", "prison:200000:65536\n"},
	} {
		usePoolFiles(t, c[0], c[1], "", "")
		p, err := loadPool()
		if err != nil {
			t.Fatal(err)
		}
		if p.subid || p.slots < 16000 {
			t.Errorf("subuid %q, subgid %q: not the default pool: %d slots", c[0], c[1], p.slots)
		}
	}
}

func TestPoolDefault(t *testing.T) {
	const base = defaultPoolLo
	slot := func(k uint64) uint64 { return base + k*DefaultIDRangeSize }
	usePoolFiles(t,
		fmt.Sprintf("alice:%d:131072\n", slot(0)), // slots 0 and 1
		fmt.Sprintf("bob:%d:1\n", slot(3)),
		fmt.Sprintf("root:x:0:0::/root:/bin/sh\n+nis\nsvc:x:%d:%d::/:/bin/false\n", slot(4), slot(9)+7),
		fmt.Sprintf("svc:x:%d:\n", slot(5)+65535))
	p, err := loadPool()
	if err != nil {
		t.Fatal(err)
	}
	got := slotsOf(p)
	want := []uint64{slot(2), slot(6), slot(7), slot(8), slot(10)}
	for i, w := range want {
		if got[i] != (IDRange{uint32(w), uint32(w), DefaultIDRangeSize}) {
			t.Errorf("slot %d = %v, want %d:65536", i, got[i], w)
		}
	}
	// 1<<14 slots, less the 6 above and systemd's foreign range.
	if n := 1<<14 - 6 - 1; p.slots != n || len(got) != n {
		t.Errorf("%d slots (%d listed), want %d", p.slots, len(got), n)
	}
	for _, r := range got {
		if r.uids().meets(foreignIDs) || uint64(r.UID)+uint64(r.Size) > defaultPoolHi {
			t.Errorf("slot %v is out of bounds", r)
		}
	}

	// The pool is kept while the files stay, and read again when one
	// changes.
	if again, _ := loadPool(); again != p {
		t.Errorf("the pool was built again from the same files")
	}
	if err := os.WriteFile(groupFile, []byte("svc:x:1:\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := loadPool()
	if err != nil {
		t.Fatal(err)
	}
	if again == p || again.slots != p.slots+1 {
		t.Errorf("after a change of %s: %d slots, want %d", groupFile, again.slots, p.slots+1)
	}
}

// useStore points the store at a temporary directory, and checks at the
// end of the test that the jails it made are gone from it and from the
// id index.
func useStore(t *testing.T) {
	t.Helper()
	old := StateDir
	StateDir = filepath.Join(t.TempDir(), "prison")
	t.Cleanup(func() {
		for _, dir := range []string{StateDir, idDir()} {
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("left in %s: %v", dir, ents)
			}
		}
		StateDir = old
	})
}

// claimJail claims a jail as a launcher does; the test's end removes it.
func claimJail(t *testing.T, name string, ids *IDMap) (*State, error) {
	t.Helper()
	st, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	s := &State{Name: name, IDs: ids}
	if err := st.claim(s); err != nil {
		return nil, err
	}
	t.Cleanup(func() { _ = s.remove() })
	return s, nil
}

// idLinks returns the index: link name → holder.
func idLinks(t *testing.T) map[string]string {
	t.Helper()
	ents, err := os.ReadDir(idDir())
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	m := map[string]string{}
	for _, e := range ents {
		m[e.Name()], _ = os.Readlink(filepath.Join(idDir(), e.Name()))
	}
	return m
}

// overlap tells whether two jails' maps share a host id.
func overlap(a, b IDMap) bool {
	meets := func(x, y []span) bool {
		return slices.ContainsFunc(x, func(s span) bool { return slices.ContainsFunc(y, s.meets) })
	}
	return meets(hostSpans(a.UIDs), hostSpans(b.UIDs)) || meets(hostSpans(a.GIDs), hostSpans(b.GIDs))
}

// ranged is r's map, as a claim is given it.
func ranged(r IDRange) *IDMap { m := r.Map(); return &m }

func TestIDsClaim(t *testing.T) {
	useStore(t)
	usePoolFiles(t, "", "", "", "")
	slot := func(k uint32) IDRange {
		return IDRange{defaultPoolLo + k*DefaultIDRangeSize, defaultPoolLo + k*DefaultIDRangeSize, DefaultIDRangeSize}
	}

	host, err := claimJail(t, "host", nil)
	if err != nil || host.IDs != nil || len(idLinks(t)) != 0 {
		t.Fatalf("host mode: %v, ids %v, index %v", err, host.IDs, idLinks(t))
	}
	a, err := claimJail(t, "a", &IDMap{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := claimJail(t, "b", &IDMap{})
	if err != nil {
		t.Fatal(err)
	}
	if !a.IDs.equal(slot(0).Map()) || !b.IDs.equal(slot(1).Map()) {
		t.Errorf("auto ranges %v and %v, want the two lowest slots", a.IDs, b.IDs)
	}
	if rec, err := readState("b"); err != nil || rec.IDs == nil || !rec.IDs.equal(*b.IDs) {
		t.Errorf("state.json of b records %v (%v), want %v", rec.IDs, err, b.IDs)
	}
	want := map[string]string{
		fmt.Sprintf("u-%d-65536", slot(0).UID): "a", fmt.Sprintf("g-%d-65536", slot(0).GID): "a",
		fmt.Sprintf("u-%d-65536", slot(1).UID): "b", fmt.Sprintf("g-%d-65536", slot(1).GID): "b",
	}
	if got := idLinks(t); !mapsEqual(got, want) {
		t.Errorf("index %v, want %v", got, want)
	}

	// An explicit range that meets b's on the uid side is refused,
	// and leaves nothing behind.
	_, err = claimJail(t, "x", ranged(IDRange{UID: slot(1).UID + 10, GID: 5000000, Size: 65536}))
	var pe *ParamError
	wantMsg := fmt.Sprintf(`--userns %d:5000000:65536: overlaps the ids of jail "b" (%s)`, slot(1).UID+10, b.IDs)
	if !errors.As(err, &pe) || err.Error() != wantMsg {
		t.Errorf("overlapping claim: %v, want ParamError %q", err, wantMsg)
	}
	if _, err := os.Lstat(filepath.Join(StateDir, "x")); err == nil || len(idLinks(t)) != 4 {
		t.Errorf("a refused claim left its state or links: %v", idLinks(t))
	}
	// One that meets no jail's is taken as given, and auto goes round it.
	c, err := claimJail(t, "c", ranged(IDRange{UID: slot(2).UID, GID: 5000000, Size: 10}))
	if err != nil {
		t.Fatal(err)
	}
	d, err := claimJail(t, "d", &IDMap{})
	if err != nil || !d.IDs.equal(slot(3).Map()) {
		t.Errorf("auto next to an explicit range: %v, %v; want %v", d.IDs, err, slot(3))
	}

	// A released range is the next one handed out.
	aIDs := *a.IDs
	if err := a.remove(); err != nil {
		t.Fatal(err)
	}
	e, err := claimJail(t, "e", &IDMap{})
	if err != nil || !e.IDs.equal(aIDs) {
		t.Errorf("after a's release: %v, %v; want %v", e.IDs, err, aIDs)
	}
	for _, s := range []*State{b, c, d, e} {
		for _, o := range []*State{b, c, d, e} {
			if s != o && overlap(*s.IDs, *o.IDs) {
				t.Errorf("%s %v and %s %v overlap", s.Name, s.IDs, o.Name, o.IDs)
			}
		}
	}
	// Invalid explicit ranges, as a spec might carry, are refused.
	if _, err := claimJail(t, "y", ranged(IDRange{UID: 0, GID: 1, Size: 1})); !errors.As(err, &pe) {
		t.Errorf("a range holding host root: %v", err)
	}
}

// TestIDsInotify: a jail without a user namespace that asks for an
// inotify owner gets the first ids of the lowest free slot, a range of
// one in the index, which auto ranges then go round; released with the
// jail.
func TestIDsInotify(t *testing.T) {
	useStore(t)
	usePoolFiles(t, "", "", "", "")
	slot := func(k uint32) uint32 { return defaultPoolLo + k*DefaultIDRangeSize }
	st, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	h := &State{Name: "h", Inotify: &IDRange{}}
	err = st.claim(h)
	st.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = h.remove() })
	if want := (IDRange{UID: slot(0), GID: slot(0), Size: 1}); h.IDs != nil || h.Inotify == nil || *h.Inotify != want {
		t.Fatalf("host-mode jail: ids %v, inotify %v; want none and %v", h.IDs, h.Inotify, want)
	}
	if rec, err := readState("h"); err != nil || rec.Inotify == nil || *rec.Inotify != *h.Inotify {
		t.Errorf("state.json of h records %v (%v), want %v", rec.Inotify, err, h.Inotify)
	}
	want := map[string]string{fmt.Sprintf("u-%d-1", slot(0)): "h", fmt.Sprintf("g-%d-1", slot(0)): "h"}
	if got := idLinks(t); !mapsEqual(got, want) {
		t.Errorf("index %v, want %v", got, want)
	}
	a, err := claimJail(t, "a", &IDMap{})
	if err != nil || a.IDs.UIDs[0].HostID != slot(1) {
		t.Errorf("auto beside a host-mode jail: %v, %v; want the slot from %d", a.IDs, err, slot(1))
	}
	// The entry is live: an explicit range over it is refused.
	var pe *ParamError
	over := IDRange{UID: slot(0), GID: slot(0), Size: 10}.Map()
	if _, err := claimJail(t, "x", &over); !errors.As(err, &pe) {
		t.Errorf("a range over a host-mode jail's inotify owner: %v, want refused", err)
	}
	if err := h.remove(); err != nil {
		t.Fatal(err)
	}
	if got := idLinks(t); len(got) != 2 {
		t.Errorf("after h's release, index %v, want a's alone", got)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func TestIDsStaleEntries(t *testing.T) {
	useStore(t)
	// A pool of one slot: the stale entries are all in its way.
	usePoolFiles(t, "prison:700000:65536\n", "prison:800000:65536\n", "", "")
	if err := os.MkdirAll(idDir(), 0o700); err != nil {
		t.Fatal(err)
	}
	plant := func(holder, link string) {
		if err := os.Symlink(holder, filepath.Join(idDir(), link)); err != nil {
			t.Fatal(err)
		}
	}
	// A launcher killed between its links and its state.
	plant("ghost", "u-700000-65536")
	plant("ghost", "g-800000-65536")
	s, err := claimJail(t, "s", &IDMap{})
	if err != nil {
		t.Fatalf("a stale entry blocks the pool: %v", err)
	}
	want := map[string]string{"u-700000-65536": "s", "g-800000-65536": "s"}
	if !s.IDs.equal(IDRange{700000, 800000, 65536}.Map()) || !mapsEqual(idLinks(t), want) {
		t.Errorf("claim over stale entries: %v, index %v", s.IDs, idLinks(t))
	}

	// Entries naming a live jail whose state does not record them (a
	// jail of an earlier life of the name) and an overlapping one of a
	// jail that is gone do not block an explicit range either.
	live, err := claimJail(t, "live", nil)
	if err != nil {
		t.Fatal(err)
	}
	plant(live.Name, "u-300000-65536")
	plant(live.Name, "g-300000-65536")
	plant("ghost", "u-310000-100")
	x, err := claimJail(t, "x", ranged(IDRange{UID: 300000, GID: 300000, Size: 65536}))
	if err != nil {
		t.Fatalf("stale entries block an explicit range: %v", err)
	}
	if got := idLinks(t); got["u-310000-100"] != "" || got["u-300000-65536"] != "x" {
		t.Errorf("the stale entries in the way are left: %v", got)
	}
	// Unparsable names are nobody's: left alone.
	plant("ghost", "u-junk")
	if err := x.remove(); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(idDir(), "u-junk")); err != nil {
		t.Errorf("the junk link: %v", err)
	}
}

func TestIDsConcurrentClaims(t *testing.T) {
	useStore(t)
	usePoolFiles(t, "", "", "", "")
	// The store's lock is a flock: two opens in one process exclude each
	// other, as two processes do.
	st, err := openStore()
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(StateDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); !errors.Is(err, unix.EWOULDBLOCK) {
		t.Errorf("a second open took the store's lock: %v", err)
	}
	f.Close()
	st.Close()

	const n = 20
	got := make([]*State, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			st, err := openStore()
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			s := &State{Name: fmt.Sprintf("j%d", i), IDs: &IDMap{}}
			if errs[i] = st.claim(s); errs[i] == nil {
				got[i] = s
			}
		})
	}
	wg.Wait()
	for _, s := range got {
		if s != nil {
			t.Cleanup(func() { _ = s.remove() })
		}
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("claim %d: %v", i, err)
		}
	}
	for i, s := range got {
		for _, o := range got[i+1:] {
			if overlap(*s.IDs, *o.IDs) {
				t.Errorf("%s %v and %s %v overlap", s.Name, s.IDs, o.Name, o.IDs)
			}
		}
	}
	if links := idLinks(t); len(links) != 2*n {
		t.Errorf("%d links in the index, want %d", len(links), 2*n)
	}
}

func TestIDsPoolExhausted(t *testing.T) {
	useStore(t)
	usePoolFiles(t, "prison:700000:131072\n", "prison:700000:131072\n", "", "")
	for _, name := range []string{"a", "b"} {
		if _, err := claimJail(t, name, &IDMap{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := claimJail(t, "c", &IDMap{})
	var pe *ParamError
	if !errors.As(err, &pe) || err.Error() != "--userns auto: all 2 id ranges are in use" {
		t.Errorf("third claim of two slots: %v", err)
	}
	if _, err := os.Lstat(filepath.Join(StateDir, "c")); err == nil || len(idLinks(t)) != 4 {
		t.Errorf("a refused claim left its state or links: %v", idLinks(t))
	}

	// A delegation too small for one slot says so.
	usePoolFiles(t, "prison:700000:1000\n", "prison:700000:65536\n", "", "")
	if _, err := claimJail(t, "d", &IDMap{}); err == nil || !strings.Contains(err.Error(), "fewer than 65536 ids") {
		t.Errorf("claim from a pool of no slot: %v", err)
	}
}
