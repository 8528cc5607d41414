package prison

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// ext is an extent as config.json spells it: containerID, hostID, size.
func ext(c, h, n uint32) specs.LinuxIDMapping {
	return specs.LinuxIDMapping{ContainerID: c, HostID: h, Size: n}
}

// mappedSpec is a spec with a user namespace of its own and these maps.
func mappedSpec(uids, gids []specs.LinuxIDMapping) *specs.Spec {
	return &specs.Spec{
		Process: &specs.Process{Args: []string{"sh"}, Cwd: "/"},
		Linux: &specs.Linux{
			Namespaces:  []specs.LinuxNamespace{{Type: specs.MountNamespace}, {Type: specs.UserNamespace}},
			UIDMappings: uids,
			GIDMappings: gids,
		},
	}
}

func TestUsernsOfMappings(t *testing.T) {
	one := []specs.LinuxIDMapping{ext(0, 100000, 65536)}
	many := func(n int, host uint32) []specs.LinuxIDMapping {
		var out []specs.LinuxIDMapping
		for i := range uint32(n) {
			out = append(out, ext(i, host+i*2, 1)) // not adjacent: no two merge
		}
		return out
	}
	for _, c := range []struct {
		name       string
		uids, gids []specs.LinuxIDMapping
		user       specs.User
		want       string // "": accepted
	}{
		{"runtime-tools' linux_uid_mappings", []specs.LinuxIDMapping{ext(0, 1000, 2000)}, []specs.LinuxIDMapping{ext(0, 1000, 3000)}, specs.User{}, ""},
		{
			"two extents each",
			[]specs.LinuxIDMapping{ext(0, 1000, 1), ext(1, 200000, 65535)},
			[]specs.LinuxIDMapping{ext(1, 300000, 999), ext(0, 2000, 1)},
			specs.User{UID: 5, GID: 500, AdditionalGids: []uint32{1}},
			"",
		},
		{"340 extents", many(340, 100), one, specs.User{}, ""},
		{"341 extents", many(341, 100), one, specs.User{}, "linux.uidMappings: 341 entries, more than the kernel's 340"},
		{"a map longer than a page", many(300, 4000000000), one, specs.User{}, fmt.Sprintf("linux.uidMappings: 4990 bytes written out, more than the kernel takes in a map (%d)", os.Getpagesize()-1)},
		{"no uid map", nil, one, specs.User{}, "linux.uidMappings: empty"},
		{"no gid map", one, nil, specs.User{}, "linux.gidMappings: empty"},
		{"size 0", []specs.LinuxIDMapping{ext(0, 1000, 1), ext(1, 5000, 0)}, one, specs.User{}, "linux.uidMappings[1]: size 0"},
		{"host root", one, []specs.LinuxIDMapping{ext(0, 1000, 1), ext(1, 0, 1)}, specs.User{}, "linux.gidMappings[1]: maps host gid 0"},
		{"past the last id", []specs.LinuxIDMapping{ext(0, 4294967000, 1000)}, one, specs.User{}, "linux.uidMappings[0]: 0 4294967000 1000 reaches past 4294967294"},
		{"container ids overlap", []specs.LinuxIDMapping{ext(0, 1000, 10), ext(5, 5000, 10)}, one, specs.User{}, "linux.uidMappings[0] and [1]: their container uids overlap"},
		{"host ids overlap", one, []specs.LinuxIDMapping{ext(10, 1009, 5), ext(0, 1000, 10)}, specs.User{}, "linux.gidMappings[0] and [1]: their host gids overlap"},
		{"no container root", []specs.LinuxIDMapping{ext(1, 1000, 10)}, one, specs.User{UID: 1}, "linux.uidMappings: maps no host uid to container uid 0"},
		{"process uid unmapped", []specs.LinuxIDMapping{ext(0, 1000, 2000)}, one, specs.User{UID: 2000}, "process.user.uid 2000: not mapped by linux.uidMappings"},
		{"process gid unmapped", one, []specs.LinuxIDMapping{ext(0, 1000, 10)}, specs.User{GID: 10}, "process.user.gid 10: not mapped by linux.gidMappings"},
		{"additional gid unmapped", one, []specs.LinuxIDMapping{ext(0, 1000, 10)}, specs.User{AdditionalGids: []uint32{1, 99}}, "process.user.additionalGids 99: not mapped"},
	} {
		s := mappedSpec(c.uids, c.gids)
		s.Process.User = c.user
		m, err := usernsOf(s)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.want == "" && (m == nil || !m.equal(IDMap{UIDs: c.uids, GIDs: c.gids})):
			t.Errorf("%s: %v, want the spec's maps as given", c.name, m)
		case c.want != "" && err == nil:
			t.Errorf("%s: accepted, want %q", c.name, c.want)
		case c.want != "" && (!strings.HasPrefix(err.Error(), "spec: "+c.want) || strings.Contains(err.Error(), "\n")):
			t.Errorf("%s: %q, want one line starting %q", c.name, err, "spec: "+c.want)
		}
	}

	// Maps without the namespace would be read by nobody.
	s := mappedSpec(one, one)
	s.Linux.Namespaces = s.Linux.Namespaces[:1]
	if _, err := usernsOf(s); err == nil || !strings.Contains(err.Error(), "without a user namespace") {
		t.Errorf("maps without a user namespace: %v", err)
	}
	// prison's own auto asks the store.
	s = mappedSpec(nil, nil)
	s.Annotations = map[string]string{AnnotationUserNS: "auto"}
	if m, err := usernsOf(s); err != nil || m == nil || !m.auto() {
		t.Errorf("auto: %v, %v; want a map with no extent", m, err)
	}
}

// TestParseConfigMappings: a bundle with runtime-tools' maps parses, and
// one the kernel would refuse is refused naming config.json's field.
func TestParseConfigMappings(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "rootfs"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := func(uids, gids string) []byte {
		return []byte(`{"ociVersion": "1.0.2", "process": {"args": ["sh"], "cwd": "/"}, "root": {"path": "rootfs"},
			"linux": {"namespaces": [{"type": "mount"}, {"type": "user"}],
			"uidMappings": ` + uids + `, "gidMappings": ` + gids + `}}`)
	}
	s, err := ParseConfig(cfg(`[{"containerID": 0, "hostID": 1000, "size": 2000}]`, `[{"containerID": 0, "hostID": 1000, "size": 3000}]`), dir)
	if err != nil {
		t.Fatal(err)
	}
	if m, err := usernsOf(s); err != nil || m.String() != "uid_map 0 1000 2000; gid_map 0 1000 3000" {
		t.Errorf("the bundle's maps: %v, %v", m, err)
	}
	_, err = ParseConfig(cfg(`[{"containerID": 1, "hostID": 1000, "size": 2000}]`, `[{"containerID": 0, "hostID": 1000, "size": 3000}]`), dir)
	if err == nil || !strings.HasPrefix(err.Error(), "config.json: linux.uidMappings: maps no host uid to container uid 0") {
		t.Errorf("a bundle without its root mapped: %v", err)
	}
}

func TestIDMapString(t *testing.T) {
	for _, c := range []struct {
		m    IDMap
		want string
	}{
		{IDRange{100000, 100000, 65536}.Map(), "100000:65536"},
		{IDRange{100000, 300000, 10}.Map(), "100000:300000:10"},
		{
			IDMap{UIDs: []specs.LinuxIDMapping{ext(0, 1000, 2000)}, GIDs: []specs.LinuxIDMapping{ext(0, 1000, 3000)}},
			"uid_map 0 1000 2000; gid_map 0 1000 3000",
		},
		{
			IDMap{UIDs: []specs.LinuxIDMapping{ext(0, 1000, 1), ext(1, 200000, 65535)}, GIDs: []specs.LinuxIDMapping{ext(0, 1000, 65536)}},
			"uid_map 0 1000 1, 1 200000 65535; gid_map 0 1000 65536",
		},
	} {
		if got := c.m.String(); got != c.want {
			t.Errorf("%#v: %q, want %q", c.m, got, c.want)
		}
	}
	m := IDMap{UIDs: []specs.LinuxIDMapping{ext(1, 200000, 65535), ext(0, 1000, 1)}, GIDs: []specs.LinuxIDMapping{ext(0, 3000, 1)}}
	if uid, gid := m.Root(); uid != 1000 || gid != 3000 {
		t.Errorf("Root of %s: %d:%d, want 1000:3000 (container root's, not the first extent's)", m, uid, gid)
	}
	if got := mapFile(m.UIDs); got != "1 200000 65535\n0 1000 1\n" {
		t.Errorf("uid_map as written: %q", got)
	}
}

// TestIDMapJSON: the state records a map as config.json spells it, and
// reads the one range an earlier prison recorded.
func TestIDMapJSON(t *testing.T) {
	m := IDMap{UIDs: []specs.LinuxIDMapping{ext(0, 1000, 2000)}, GIDs: []specs.LinuxIDMapping{ext(0, 1000, 3000)}}
	b, err := json.Marshal(&m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"uidMappings":[{"containerID":0,"hostID":1000,"size":2000}],"gidMappings":[{"containerID":0,"hostID":1000,"size":3000}]}`
	if string(b) != want {
		t.Errorf("recorded as %s, want %s", b, want)
	}
	var back IDMap
	if err := json.Unmarshal(b, &back); err != nil || !back.equal(m) {
		t.Errorf("read back %v, %v", back, err)
	}
	var old State
	if err := json.Unmarshal([]byte(`{"name": "x", "ids": {"uid": 1073741824, "gid": 1073807360, "size": 65536}}`), &old); err != nil ||
		old.IDs == nil || !old.IDs.equal(IDRange{1073741824, 1073807360, 65536}.Map()) {
		t.Errorf("an earlier prison's record: %v, %v", old.IDs, err)
	}
}

// TestIDsClaimMaps: a spec's maps of several extents are claimed extent
// by extent; one that meets another jail's ids, by any extent, is
// refused naming that jail; auto goes round them; all go at release.
func TestIDsClaimMaps(t *testing.T) {
	useStore(t)
	usePoolFiles(t, "", "", "", "")
	spec := func(u, g []specs.LinuxIDMapping) *IDMap {
		return &IDMap{UIDs: u, GIDs: g, param: "linux.uidMappings and gidMappings"}
	}
	a, err := claimJail(t, "a", spec(
		[]specs.LinuxIDMapping{ext(0, 1000, 1), ext(1, defaultPoolLo, 65535)},
		[]specs.LinuxIDMapping{ext(0, 1000, 3000)}))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"u-1000-1": "a", fmt.Sprintf("u-%d-65535", defaultPoolLo): "a", "g-1000-3000": "a"}
	if got := idLinks(t); !mapsEqual(got, want) {
		t.Errorf("index %v, want %v", got, want)
	}
	if rec, err := readState("a"); err != nil || rec.IDs == nil || !rec.IDs.equal(*a.IDs) {
		t.Errorf("state.json of a records %v (%v), want %v", rec.IDs, err, a.IDs)
	}

	// Its second uid extent holds the pool's first slot.
	b, err := claimJail(t, "b", &IDMap{})
	if err != nil {
		t.Fatal(err)
	}
	if overlap(*a.IDs, *b.IDs) || !b.IDs.equal(IDRange{defaultPoolLo + DefaultIDRangeSize, defaultPoolLo + DefaultIDRangeSize, DefaultIDRangeSize}.Map()) {
		t.Errorf("auto beside a's maps: %v, want the pool's second slot", b.IDs)
	}

	// Meeting a's gids by a second extent only.
	_, err = claimJail(t, "x", spec(
		[]specs.LinuxIDMapping{ext(0, 900000, 10)},
		[]specs.LinuxIDMapping{ext(0, 900000, 10), ext(10, 3999, 1)}))
	var pe *ParamError
	wantMsg := `linux.uidMappings and gidMappings (uid_map 0 900000 10; gid_map 0 900000 10, 10 3999 1): overlaps the ids of jail "a" (` + a.IDs.String() + ")"
	if !errors.As(err, &pe) || err.Error() != wantMsg {
		t.Errorf("overlapping claim: %v,\nwant ParamError %q", err, wantMsg)
	}
	if _, err := os.Lstat(filepath.Join(StateDir, "x")); err == nil || len(idLinks(t)) != 5 {
		t.Errorf("a refused claim left its state or links: %v", idLinks(t))
	}
	// The same ids as users of one jail and groups of another are no
	// overlap: the kernel keeps them apart.
	if _, err := claimJail(t, "y", spec([]specs.LinuxIDMapping{ext(0, 1000+3000, 5)}, []specs.LinuxIDMapping{ext(0, 1000+3000, 5)})); err != nil {
		t.Errorf("ids next to a's: %v", err)
	}

	// Refused when given, a map the kernel would refuse is refused
	// at the claim too.
	if _, err := claimJail(t, "z", spec([]specs.LinuxIDMapping{ext(1, 5000, 5)}, []specs.LinuxIDMapping{ext(0, 5000, 5)})); !errors.As(err, &pe) ||
		!strings.Contains(err.Error(), "container uid 0") {
		t.Errorf("a map without the container's root: %v", err)
	}

	if err := a.remove(); err != nil {
		t.Fatal(err)
	}
	for l, holder := range idLinks(t) {
		if holder == "a" {
			t.Errorf("a's link %s is left after its release", l)
		}
	}
}
