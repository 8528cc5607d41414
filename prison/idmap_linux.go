package prison

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// IDMap is the host ids a jail's user namespace maps, as its uid_map and
// gid_map hold them: runtime-spec's linux.uidMappings and gidMappings.
// prison's own jails map one range from 0 (IDRange.Map); a spec may give
// several extents each, and users and groups maps of their own. A map
// with no extent asks the claim to choose one (--userns auto).
type IDMap struct {
	UIDs []specs.LinuxIDMapping `json:"uidMappings"`
	GIDs []specs.LinuxIDMapping `json:"gidMappings"`

	// param names what gave the map, in errors: "linux.uidMappings and
	// gidMappings" for a spec's own; empty for prison's --userns.
	param string
}

// maxExtents is the most lines a uid_map or gid_map takes
// (UID_GID_MAP_MAX_EXTENTS, include/linux/user_namespace.h).
const maxExtents = 340

// Map is r as a user namespace's maps: jail ids 0..Size-1.
func (r IDRange) Map() IDMap {
	return IDMap{
		UIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: r.UID, Size: r.Size}},
		GIDs: []specs.LinuxIDMapping{{ContainerID: 0, HostID: r.GID, Size: r.Size}},
	}
}

// auto tells whether m asks the claim to choose the jail's ids.
func (m IDMap) auto() bool { return len(m.UIDs) == 0 && len(m.GIDs) == 0 }

// single returns m as one range, when it is one: one extent each from 0,
// of one size.
func (m IDMap) single() (IDRange, bool) {
	if len(m.UIDs) != 1 || len(m.GIDs) != 1 {
		return IDRange{}, false
	}
	u, g := m.UIDs[0], m.GIDs[0]
	if u.ContainerID != 0 || g.ContainerID != 0 || u.Size != g.Size {
		return IDRange{}, false
	}
	return IDRange{UID: u.HostID, GID: g.HostID, Size: u.Size}, true
}

// Root returns the host uid and gid of the jail's root: the owner of its
// user namespace, whose per-user counts the kernel charges (asOwner), and
// of the pipes it gets as stdio. Preconditions: m passed check, which
// wants container id 0 mapped.
func (m IDMap) Root() (uid, gid uint32) {
	uid, _ = hostID(m.UIDs, 0)
	gid, _ = hostID(m.GIDs, 0)
	return uid, gid
}

// hostID is the host id that container id id maps to.
func hostID(ms []specs.LinuxIDMapping, id uint32) (uint32, bool) {
	for _, e := range ms {
		if id >= e.ContainerID && uint64(id) < uint64(e.ContainerID)+uint64(e.Size) {
			return e.HostID + (id - e.ContainerID), true
		}
	}
	return 0, false
}

// equal tells whether m and o map the same ids, extent by extent.
func (m IDMap) equal(o IDMap) bool {
	return slices.Equal(m.UIDs, o.UIDs) && slices.Equal(m.GIDs, o.GIDs)
}

// String formats m as ParseIDRange reads it when it is one range, else as
// the kernel's files: "uid_map 0 1000 2000; gid_map 0 1000 3000", the
// extents of a map separated by commas.
func (m IDMap) String() string {
	if r, ok := m.single(); ok {
		return r.String()
	}
	return "uid_map " + mapLines(m.UIDs, ", ") + "; gid_map " + mapLines(m.GIDs, ", ")
}

// describe names m in errors: what gave it, and its extents.
func (m IDMap) describe() string {
	if m.param == "" {
		return "--userns " + m.String()
	}
	return m.param + " (" + m.String() + ")"
}

// mapLines writes extents as the kernel reads them, "CONTAINER HOST
// SIZE", separated by sep.
func mapLines(ms []specs.LinuxIDMapping, sep string) string {
	lines := make([]string, len(ms))
	for i, e := range ms {
		lines[i] = fmt.Sprintf("%d %d %d", e.ContainerID, e.HostID, e.Size)
	}
	return strings.Join(lines, sep)
}

// mapFile is the contents of a uid_map or gid_map that maps ms.
func mapFile(ms []specs.LinuxIDMapping) string { return mapLines(ms, "\n") + "\n" }

// sysProcIDMaps is ms as syscall.ForkExec writes it.
func sysProcIDMaps(ms []specs.LinuxIDMapping) []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(ms))
	for i, e := range ms {
		out[i] = syscall.SysProcIDMap{ContainerID: int(e.ContainerID), HostID: int(e.HostID), Size: int(e.Size)}
	}
	return out
}

// hostSpans are the host ids of ms.
func hostSpans(ms []specs.LinuxIDMapping) []span {
	out := make([]span, len(ms))
	for i, e := range ms {
		out[i] = span{uint64(e.HostID), uint64(e.HostID) + uint64(e.Size)}
	}
	return out
}

// check tells why m cannot be a jail's maps, naming the spec field: what
// the kernel would refuse (map_write in kernel/user_namespace.c), with
// the extent at fault, and what would make a jail's id the host's root.
func (m IDMap) check() error {
	if err := checkExtents("linux.uidMappings", "uid", m.UIDs); err != nil {
		return err
	}
	return checkExtents("linux.gidMappings", "gid", m.GIDs)
}

func checkExtents(field, kind string, ms []specs.LinuxIDMapping) error {
	switch {
	case len(ms) == 0:
		return fmt.Errorf("%s: empty: a user namespace of the container's own needs its %ss mapped", field, kind)
	case len(ms) > maxExtents:
		return fmt.Errorf("%s: %d entries, more than the kernel's %d", field, len(ms), maxExtents)
	}
	for i, e := range ms {
		switch {
		case e.Size == 0:
			return fmt.Errorf("%s[%d]: size 0", field, i)
		case e.HostID == 0:
			// The jail's root, or another of its users, would be the
			// host's: that is --userns host, asked for by name.
			return fmt.Errorf("%s[%d]: maps host %s 0, which would make a %s of the container the host's root; run without a user namespace instead", field, i, kind, kind)
		case uint64(e.HostID)+uint64(e.Size)-1 > maxID || uint64(e.ContainerID)+uint64(e.Size)-1 > maxID:
			return fmt.Errorf("%s[%d]: %d %d %d reaches past %d, the highest id", field, i, e.ContainerID, e.HostID, e.Size, uint64(maxID))
		}
	}
	for _, side := range []struct {
		name  string
		start func(specs.LinuxIDMapping) uint32
	}{
		{"container", func(e specs.LinuxIDMapping) uint32 { return e.ContainerID }},
		{"host", func(e specs.LinuxIDMapping) uint32 { return e.HostID }},
	} {
		order := make([]int, len(ms))
		for i := range order {
			order[i] = i
		}
		slices.SortFunc(order, func(a, b int) int { return cmp.Compare(side.start(ms[a]), side.start(ms[b])) })
		for k := 1; k < len(order); k++ {
			a, b := ms[order[k-1]], ms[order[k]]
			if uint64(side.start(a))+uint64(a.Size) > uint64(side.start(b)) {
				i, j := min(order[k-1], order[k]), max(order[k-1], order[k])
				return fmt.Errorf("%s[%d] and [%d]: their %s %ss overlap", field, i, j, side.name, kind)
			}
		}
	}
	if _, ok := hostID(ms, 0); !ok {
		// The init becomes root of the namespace before anything else.
		return fmt.Errorf("%s: maps no host %s to container %s 0, which prison's init runs as", field, kind, kind)
	}
	// The kernel takes a map in one write of less than a page.
	if n := len(mapFile(ms)); n >= os.Getpagesize() {
		return fmt.Errorf("%s: %d bytes written out, more than the kernel takes in a map (%d)", field, n, os.Getpagesize()-1)
	}
	return nil
}

// checkUser tells why the process cannot run with the spec's maps: its
// ids must be the jail's, or its setresuid fails inside.
func (m IDMap) checkUser(u specs.User) error {
	if _, ok := hostID(m.UIDs, u.UID); !ok {
		return fmt.Errorf("process.user.uid %d: not mapped by linux.uidMappings", u.UID)
	}
	for _, g := range append([]uint32{u.GID}, u.AdditionalGids...) {
		if _, ok := hostID(m.GIDs, g); !ok {
			field := "process.user.gid"
			if g != u.GID {
				field = "process.user.additionalGids"
			}
			return fmt.Errorf("%s %d: not mapped by linux.gidMappings", field, g)
		}
	}
	return nil
}

// UnmarshalJSON reads a recorded map, or the one range an earlier prison
// recorded ({"uid", "gid", "size"}): a jail it started keeps its ids
// claimed across an upgrade.
func (m *IDMap) UnmarshalJSON(b []byte) error {
	var v struct {
		UIDs []specs.LinuxIDMapping `json:"uidMappings"`
		GIDs []specs.LinuxIDMapping `json:"gidMappings"`
		UID  uint32                 `json:"uid"`
		GID  uint32                 `json:"gid"`
		Size uint32                 `json:"size"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*m = IDMap{UIDs: v.UIDs, GIDs: v.GIDs}
	if m.auto() && v.Size > 0 {
		*m = IDRange{UID: v.UID, GID: v.GID, Size: v.Size}.Map()
	}
	return nil
}

// usernsOf reads the user namespace the spec asks for: nil for none; a
// map with no extent for one the store allocates (prison's --userns
// auto); else the spec's maps, checked.
func usernsOf(s *specs.Spec) (*IDMap, error) {
	has := false
	for _, ns := range s.Linux.Namespaces {
		has = has || ns.Type == specs.UserNamespace && ns.Path == ""
	}
	mode := s.Annotations[AnnotationUserNS]
	if !has {
		if len(s.Linux.UIDMappings) > 0 || len(s.Linux.GIDMappings) > 0 {
			// Read by nobody, they would leave the container's root
			// the host's, which whoever wrote them did not mean.
			return nil, errors.New("spec: linux.uidMappings and gidMappings: given without a user namespace (linux.namespaces has no \"user\")")
		}
		return nil, nil
	}
	if mode == "auto" {
		return &IDMap{}, nil
	}
	m := &IDMap{UIDs: s.Linux.UIDMappings, GIDs: s.Linux.GIDMappings}
	if r, err := ParseIDRange(mode); err != nil || !r.Map().equal(*m) {
		// Not the maps of prison's --userns RANGE: the spec's own.
		m.param = "linux.uidMappings and gidMappings"
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("spec: %w", err)
	}
	if s.Process != nil {
		if err := m.checkUser(s.Process.User); err != nil {
			return nil, fmt.Errorf("spec: %w", err)
		}
	}
	return m, nil
}

// setMappings writes m as the spec's uid and gid mappings.
func setMappings(s *specs.Spec, m IDMap) {
	s.Linux.UIDMappings = slices.Clone(m.UIDs)
	s.Linux.GIDMappings = slices.Clone(m.GIDs)
}
