package prison

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// IDRange is a share of the host's user and group ids as prison hands
// them out (--userns, the pool's slots): jail ids 0..Size-1 are host uids
// UID..UID+Size-1 and host gids GID..GID+Size-1. A jail's ids are its
// IDMap, which this is the simplest of (Map).
type IDRange struct {
	UID  uint32 `json:"uid"`
	GID  uint32 `json:"gid"`
	Size uint32 `json:"size"`
}

// DefaultIDRangeSize is the size of a range given by its base alone, and
// of every range the pool hands out: the 16-bit ids a userland expects
// (nobody is 65534).
const DefaultIDRangeSize = 65536

// maxID is the highest id a range may hold: (uid_t)-1 means "no id", and
// the kernel refuses a map extent whose end wraps to it (map_write in
// kernel/user_namespace.c).
const maxID = 1<<32 - 2

// ParseIDRange parses a range as --userns takes it: "BASE" (uids and gids
// from BASE, 65536 of them), "BASE:SIZE" or "UID:GID:SIZE", in decimal.
func ParseIDRange(s string) (IDRange, error) {
	f := strings.Split(s, ":")
	if len(f) > 3 {
		return IDRange{}, fmt.Errorf("--userns %q: want BASE, BASE:SIZE or UID:GID:SIZE", s)
	}
	var n [3]uint64
	for i, x := range f {
		v, err := strconv.ParseUint(x, 10, 64)
		if errors.Is(err, strconv.ErrRange) {
			v = maxID + 1 // refused below, with the others past the end
		} else if err != nil {
			return IDRange{}, fmt.Errorf("--userns %q: want BASE, BASE:SIZE or UID:GID:SIZE, in decimal", s)
		}
		n[i] = v
	}
	uid, gid, size := n[0], n[0], uint64(DefaultIDRangeSize)
	switch len(f) {
	case 2:
		size = n[1]
	case 3:
		gid, size = n[1], n[2]
	}
	if uid > maxID || gid > maxID || size > maxID+1 {
		return IDRange{}, fmt.Errorf("--userns %q: the range reaches past %d, the highest id", s, uint64(maxID))
	}
	r := IDRange{UID: uint32(uid), GID: uint32(gid), Size: uint32(size)}
	if err := r.check(); err != nil {
		return IDRange{}, fmt.Errorf("--userns %q: %w", s, err)
	}
	return r, nil
}

// check tells why r cannot be a jail's range.
func (r IDRange) check() error {
	switch {
	case r.Size == 0:
		return errors.New("the size must be at least 1")
	case r.UID == 0 || r.GID == 0:
		// Jail root would be host root: that is what host mode is for, and
		// it should be asked for by name.
		return errors.New("the range holds host id 0, which would make the jail's root the host's (for that, use --userns host)")
	case uint64(r.UID)+uint64(r.Size)-1 > maxID || uint64(r.GID)+uint64(r.Size)-1 > maxID:
		return fmt.Errorf("the range reaches past %d, the highest id", uint64(maxID))
	}
	return nil
}

// String formats r as ParseIDRange reads it: "UID:GID:SIZE", or
// "BASE:SIZE" when the uids and the gids start at one base.
func (r IDRange) String() string {
	if r.UID == r.GID {
		return fmt.Sprintf("%d:%d", r.UID, r.Size)
	}
	return fmt.Sprintf("%d:%d:%d", r.UID, r.GID, r.Size)
}

func (r IDRange) uids() span { return span{uint64(r.UID), uint64(r.UID) + uint64(r.Size)} }
func (r IDRange) gids() span { return span{uint64(r.GID), uint64(r.GID) + uint64(r.Size)} }

// span is the ids lo..hi-1.
type span struct{ lo, hi uint64 }

func (a span) meets(b span) bool { return a.lo < b.hi && b.lo < a.hi }

// spans answers whether an interval meets any of a set, in log time: a
// claim checks thousands of slots against the index.
type spans struct {
	lo    []uint64 // sorted
	maxHi []uint64 // maxHi[i]: the highest end among the first i+1
}

func newSpans(v []span) spans {
	slices.SortFunc(v, func(a, b span) int { return cmp.Compare(a.lo, b.lo) })
	s := spans{lo: make([]uint64, len(v)), maxHi: make([]uint64, len(v))}
	var m uint64
	for i, x := range v {
		m = max(m, x.hi)
		s.lo[i], s.maxHi[i] = x.lo, m
	}
	return s
}

func (s spans) meets(x span) bool {
	i, _ := slices.BinarySearch(s.lo, x.hi) // the first that starts at or after x's end
	return i > 0 && s.maxHi[i-1] > x.lo
}

// The files that say which host ids are taken. Variables, so that the
// tests can use their own.
var (
	subuidFile = "/etc/subuid"
	subgidFile = "/etc/subgid"
	passwdFile = "/etc/passwd"
	groupFile  = "/etc/group"
)

// poolUser is the user whose /etc/subuid and /etc/subgid entries, when it
// has both, are the pool: how an administrator gives prison its ids.
const poolUser = "prison"

// The default pool, when poolUser has no entries: 16384 slots above the
// ids of any account (useradd stops at 60000, LDAP and AD at a few
// million), and below 2^31, which tools that hold ids in a signed int
// cannot reach.
const (
	defaultPoolLo = 1 << 30
	defaultPoolHi = 1 << 31
)

// foreignIDs is systemd's "foreign UID range", the owner of the files of
// images that its user namespaces map (systemd.io/UIDS-GIDS): inside the
// default pool, and not prison's to hand out.
var foreignIDs = span{0x7FFE0000, 0x7FFE0000 + 0x10000}

// idPool is where --userns auto takes ranges from: slots of
// DefaultIDRangeSize ids, in the order they are handed out.
type idPool struct {
	runs  []slotRun
	slots int
	// subid: the pool is poolUser's entries; an empty one is their fault.
	subid bool
}

// slotRun is n consecutive slots: slot k is the uids from
// uid+k*DefaultIDRangeSize and the gids from gid+k*DefaultIDRangeSize.
type slotRun struct {
	uid, gid uint64
	n        int
}

func (p *idPool) add(uid, gid uint64) {
	if k := len(p.runs) - 1; k >= 0 {
		r := &p.runs[k]
		next := uint64(r.n) * DefaultIDRangeSize
		if r.uid+next == uid && r.gid+next == gid {
			r.n++
			p.slots++
			return
		}
	}
	p.runs = append(p.runs, slotRun{uid: uid, gid: gid, n: 1})
	p.slots++
}

// each calls f with the pool's slots in order, until f returns true.
func (p *idPool) each(f func(IDRange) bool) {
	for _, r := range p.runs {
		for k := range uint64(r.n) {
			off := k * DefaultIDRangeSize
			if f(IDRange{UID: uint32(r.uid + off), GID: uint32(r.gid + off), Size: DefaultIDRangeSize}) {
				return
			}
		}
	}
}

// subidEntry is a line of /etc/subuid or /etc/subgid: count ids from start,
// given to user name.
type subidEntry struct {
	name         string
	start, count uint64
}

// buildPool makes the pool from the contents of the four files.
//
// When poolUser has entries in both /etc/subuid and /etc/subgid, the pool
// is the first of each, cut into slots: slot k is uids subuid_start+k*65536
// and gids subgid_start+k*65536, as many slots as the smaller of the two
// counts holds. Further entries of poolUser are not used: one entry each
// is how usermod --add-subuids writes it, and pairing the slots of several
// is not worth its rules. A slot that holds id 0 is left out.
//
// Otherwise the pool is the slots from 1<<30 to 1<<31 that meet no entry
// of the subid files, whoever's (rootless podman and the like map those),
// no uid or gid of /etc/passwd and /etc/group, and not systemd's foreign
// range.
func buildPool(subuid, subgid []subidEntry, uids, gids []uint64) *idPool {
	p := &idPool{}
	iu := slices.IndexFunc(subuid, func(e subidEntry) bool { return e.name == poolUser })
	ig := slices.IndexFunc(subgid, func(e subidEntry) bool { return e.name == poolUser })
	if iu >= 0 && ig >= 0 {
		p.subid = true
		u, g := subuid[iu], subgid[ig]
		for off := uint64(0); off+DefaultIDRangeSize <= min(u.count, g.count); off += DefaultIDRangeSize {
			uid, gid := u.start+off, g.start+off
			if uid == 0 || gid == 0 {
				continue
			}
			if uid+DefaultIDRangeSize-1 > maxID || gid+DefaultIDRangeSize-1 > maxID {
				break
			}
			p.add(uid, gid)
		}
		return p
	}
	reserved := []span{foreignIDs}
	for _, e := range slices.Concat(subuid, subgid) {
		reserved = append(reserved, span{e.start, e.start + e.count})
	}
	for _, id := range slices.Concat(uids, gids) {
		reserved = append(reserved, span{id, id + 1})
	}
	rs := newSpans(reserved)
	for id := uint64(defaultPoolLo); id < defaultPoolHi; id += DefaultIDRangeSize {
		if !rs.meets(span{id, id + DefaultIDRangeSize}) {
			p.add(id, id)
		}
	}
	return p
}

// poolCache keeps the pool of the files as they were when it was read: a
// daemon makes many claims, and parsing /etc/passwd and cutting 16384
// slots each time would cost more than the rest of the claim.
var poolCache struct {
	sync.Mutex
	stamp [4]fileStamp
	pool  *idPool
}

// fileStamp tells a file's version: an editor replaces the file (a new
// inode), and an append moves the mtime and the size.
type fileStamp struct {
	path        string
	ino         uint64
	mtime, size int64
}

func stampOf(path string) fileStamp {
	st := fileStamp{path: path}
	var s unix.Stat_t
	if unix.Stat(path, &s) == nil {
		st.ino, st.mtime, st.size = s.Ino, s.Mtim.Nano(), s.Size
	}
	return st
}

// loadPool returns the pool of the files as they are now.
func loadPool() (*idPool, error) {
	paths := [4]string{subuidFile, subgidFile, passwdFile, groupFile}
	var stamp [4]fileStamp
	for i, p := range paths {
		stamp[i] = stampOf(p)
	}
	poolCache.Lock()
	defer poolCache.Unlock()
	if poolCache.pool != nil && poolCache.stamp == stamp {
		return poolCache.pool, nil
	}
	subuid, err := readSubid(subuidFile)
	if err != nil {
		return nil, err
	}
	subgid, err := readSubid(subgidFile)
	if err != nil {
		return nil, err
	}
	// passwd: name:password:UID:GID:...; group: name:password:GID:...
	// The primary gids of passwd are host gids too.
	uids, err := readIDs(passwdFile, 2, 3)
	if err != nil {
		return nil, err
	}
	gids, err := readIDs(groupFile, 2)
	if err != nil {
		return nil, err
	}
	poolCache.stamp = stamp
	poolCache.pool = buildPool(subuid, subgid, uids, gids)
	return poolCache.pool, nil
}

// eachLine calls f with the colon-separated fields of each line of path
// that is neither blank nor a comment. A missing file has no lines.
func eachLine(path string, f func(fields []string)) error {
	fh, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("userns pool: %w", err)
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		f(strings.Split(line, ":"))
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("userns pool: read %s: %w", path, err)
	}
	return nil
}

// readSubid reads a subuid(5) or subgid(5) file. Lines that do not parse
// are skipped, as shadow's own tools skip them.
func readSubid(path string) ([]subidEntry, error) {
	var out []subidEntry
	err := eachLine(path, func(f []string) {
		if len(f) != 3 {
			return
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 == nil && err2 == nil && count > 0 {
			out = append(out, subidEntry{name: f[0], start: start, count: count})
		}
	})
	return out, err
}

// readIDs reads the numeric fields cols of an account file (passwd(5),
// group(5)). Lines that do not parse (NIS "+" lines) are skipped.
func readIDs(path string, cols ...int) ([]uint64, error) {
	var out []uint64
	err := eachLine(path, func(f []string) {
		for _, c := range cols {
			if c < len(f) {
				if id, err := strconv.ParseUint(f[c], 10, 32); err == nil {
					out = append(out, id)
				}
			}
		}
	})
	return out, err
}

// idDir indexes the ids of running jails, as addrDir their addresses:
// one symlink per extent of their maps, "u-UID-SIZE" and "g-GID-SIZE"
// (host ids), naming the jail that holds it. A claim reads the directory
// once, rather than every jail's state.
func idDir() string { return StateDir + "-ids" }

func idLink(kind byte, start, size uint32) string {
	return filepath.Join(idDir(), fmt.Sprintf("%c-%d-%d", kind, start, size))
}

// idEntry is one link of the index.
type idEntry struct {
	link string // its name in idDir
	kind byte   // 'u' or 'g'
	span
}

// idIndex is the index as one claim read it.
type idIndex struct {
	ents []idEntry
	// holders: what each holder met so far maps, nil when it is not a
	// live jail; each is read once per claim.
	holders map[string][]IDMap
}

func readIDIndex() (*idIndex, error) {
	x := &idIndex{holders: map[string][]IDMap{}}
	f, err := os.Open(idDir())
	if errors.Is(err, os.ErrNotExist) {
		return x, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("state: %w", err)
	}
	for _, n := range names {
		if e, ok := parseIDLink(n); ok {
			x.ents = append(x.ents, e)
		}
	}
	return x, nil
}

// parseIDLink reads a link's name. Anything else in the directory is
// nobody's range, and is left alone.
func parseIDLink(name string) (idEntry, bool) {
	f := strings.Split(name, "-")
	if len(f) != 3 || (f[0] != "u" && f[0] != "g") {
		return idEntry{}, false
	}
	start, err1 := strconv.ParseUint(f[1], 10, 32)
	size, err2 := strconv.ParseUint(f[2], 10, 32)
	if err1 != nil || err2 != nil || size == 0 {
		return idEntry{}, false
	}
	return idEntry{link: name, kind: f[0][0], span: span{start, start + size}}, true
}

// spansOf returns the spans of the entries of kind that keep passes.
func (x *idIndex) spansOf(kind byte, keep func(idEntry) bool) spans {
	var v []span
	for _, e := range x.ents {
		if e.kind == kind && keep(e) {
			v = append(v, e.span)
		}
	}
	return newSpans(v)
}

// linksOf are the index's links of a jail's maps, one per extent.
func linksOf(m IDMap) []string {
	var out []string
	for _, s := range hostSpans(m.UIDs) {
		out = append(out, idLink('u', uint32(s.lo), uint32(s.hi-s.lo)))
	}
	for _, s := range hostSpans(m.GIDs) {
		out = append(out, idLink('g', uint32(s.lo), uint32(s.hi-s.lo)))
	}
	return out
}

// meets tells whether e meets an extent of m's map of its kind.
func (e idEntry) meets(m IDMap) bool {
	ms := m.UIDs
	if e.kind == 'g' {
		ms = m.GIDs
	}
	return slices.ContainsFunc(hostSpans(ms), e.span.meets)
}

// inWay returns the entries that meet m.
func (x *idIndex) inWay(m IDMap) []idEntry {
	var out []idEntry
	for _, e := range x.ents {
		if e.meets(m) {
			out = append(out, e)
		}
	}
	return out
}

// live tells whether e is real: its holder is a live jail whose state
// records the extent. An entry is not, when a launcher was killed between
// making its links and its state, or when the name is a later jail's.
// Returns the holder and its maps.
func (x *idIndex) live(e idEntry) (string, IDMap, bool) {
	holder, err := os.Readlink(filepath.Join(idDir(), e.link))
	if err != nil || holder == "" || holder == "." || holder == ".." || strings.ContainsRune(holder, '/') {
		return holder, IDMap{}, false
	}
	maps, ok := x.holders[holder]
	if !ok {
		if alive(holder) {
			if h, err := readState(holder); err == nil {
				maps = h.maps()
			}
		}
		x.holders[holder] = maps
	}
	for _, m := range maps {
		ms := m.UIDs
		if e.kind == 'g' {
			ms = m.GIDs
		}
		if slices.Contains(hostSpans(ms), e.span) {
			return holder, m, true
		}
	}
	return holder, IDMap{}, false
}

// clear removes the entries in m's way, all of which must be stale: a
// live one is refused, naming its jail. Two jails never share a host id:
// each one's root could signal, trace and own the other's processes and
// files. Preconditions: the store is locked.
func (x *idIndex) clear(m IDMap) error {
	way := x.inWay(m)
	for _, e := range way {
		if holder, hm, ok := x.live(e); ok {
			return &ParamError{Err: fmt.Errorf("%s: overlaps the ids of jail %q (%s)", m.describe(), holder, hm)}
		}
	}
	for _, e := range way {
		if err := os.Remove(filepath.Join(idDir(), e.link)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("state: %w", err)
		}
	}
	return nil
}

// pick chooses the lowest slot of the pool that no jail's range meets.
//
// Entries are taken at their word first, which costs no system call: the
// index holds live jails' ranges only (a dead jail's go with its state,
// when it is swept), but for those of a launcher killed between its links
// and its rename, whose slot is skipped meanwhile. Only when every slot
// meets an entry are the entries checked (one readlink each, and one
// state per live holder), and the first slot that only stale entries meet
// is taken, and cleared. Preconditions: the store is locked.
func (x *idIndex) pick(pool *idPool) (IDMap, error) {
	first := func(keep func(idEntry) bool) (IDRange, bool) {
		us, gs := x.spansOf('u', keep), x.spansOf('g', keep)
		var got IDRange
		found := false
		pool.each(func(r IDRange) bool {
			found = !us.meets(r.uids()) && !gs.meets(r.gids())
			got = r
			return found
		})
		return got, found
	}
	if r, ok := first(func(idEntry) bool { return true }); ok {
		return r.Map(), nil
	}
	r, ok := first(func(e idEntry) bool {
		_, _, live := x.live(e)
		return live
	})
	if !ok {
		if pool.subid && pool.slots == 0 {
			return IDMap{}, &ParamError{Err: fmt.Errorf("--userns auto: user %s's entries in %s and %s hold fewer than %d ids",
				poolUser, subuidFile, subgidFile, DefaultIDRangeSize)}
		}
		return IDMap{}, &ParamError{Err: fmt.Errorf("--userns auto: all %d id ranges are in use", pool.slots)}
	}
	return r.Map(), x.clear(r.Map())
}

// pickIDs chooses the jail's ids: the lowest free slot of the pool when
// IDs asks for one (no extent), or the maps IDs gives if no live jail's
// meets them. Entries in the way whose jail is gone are removed; linkIDs
// records the choice once the state does. A jail without a user
// namespace (IDs nil) may ask for Inotify instead: it gets the first ids
// of the lowest free slot, and the rest of the slot stays free for maps
// named by hand. Preconditions: the store is locked.
func (s *State) pickIDs() error {
	if s.IDs == nil && (s.Inotify == nil || s.Inotify.Size != 0) {
		return nil
	}
	x, err := readIDIndex()
	if err != nil {
		return err
	}
	if s.IDs == nil {
		pool, err := loadPool()
		if err != nil {
			return err
		}
		m, err := x.pick(pool)
		if err != nil {
			return inotifyError(err)
		}
		s.Inotify = &IDRange{UID: m.UIDs[0].HostID, GID: m.GIDs[0].HostID, Size: 1}
		return nil
	}
	var m IDMap
	if s.IDs.auto() {
		pool, err := loadPool()
		if err != nil {
			return err
		}
		if m, err = x.pick(pool); err != nil {
			return err
		}
	} else {
		m = *s.IDs
		if err := m.check(); err != nil {
			return &ParamError{Err: fmt.Errorf("%s: %w", m.describe(), err)}
		}
		if err := x.clear(m); err != nil {
			return err
		}
	}
	s.IDs = &m
	return nil
}

// linkIDs records the jail's maps in the index, once its state records
// them too: links made before the state, by a launcher killed between the
// two, would hold the ids for a jail that no sweep ever finds.
// Preconditions: the store is locked, and pickIDs chose the maps under
// the same lock.
func (s *State) linkIDs() error {
	var links []string
	for _, m := range s.maps() {
		links = append(links, linksOf(m)...)
	}
	if len(links) == 0 {
		return nil
	}
	if err := unix.Mkdir(idDir(), 0o700); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("state: %w", &os.PathError{Op: "mkdir", Path: idDir(), Err: err})
	}
	for i, l := range links {
		if err := unix.Symlink(s.Name, l); err != nil {
			for _, made := range links[:i] {
				_ = unix.Unlink(made)
			}
			return fmt.Errorf("state: %w", &os.PathError{Op: "symlink", Path: l, Err: err})
		}
	}
	return nil
}

// releaseIDs removes the jail's links from the id index, if they are still
// the jail's: a claim after the jail died may have taken them over.
func (s *State) releaseIDs() {
	for _, m := range s.maps() {
		for _, p := range linksOf(m) {
			if holder, err := os.Readlink(p); err == nil && holder == s.Name {
				_ = os.Remove(p)
			}
		}
	}
}

// maps are the ids the jail holds in the index: its user namespace's,
// and the one id its inotify instances are made as (--userns host).
func (s *State) maps() []IDMap {
	var out []IDMap
	if s.IDs != nil && !s.IDs.auto() {
		out = append(out, *s.IDs)
	}
	if s.Inotify != nil && s.Inotify.Size > 0 {
		out = append(out, s.Inotify.Map())
	}
	return out
}

// inotifyError names what a host-mode jail asked the pool for.
func inotifyError(err error) error {
	var pe *ParamError
	if errors.As(err, &pe) {
		return &ParamError{Err: fmt.Errorf("--userns host: a host uid for the jail's inotify instances: %w",
			errors.New(strings.TrimPrefix(pe.Err.Error(), "--userns auto: ")))}
	}
	return err
}
