package prison

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Rootless jails (issue 12): a user who is not root runs `prison run
// --net none` in a user namespace of their own ids, as bwrap and rootless
// podman do, for CI runners and laptops without sudo. Jail root is the
// user; the other jail ids are the user's subordinate ids (/etc/subuid,
// /etc/subgid, mapped by the setuid newuidmap and newgidmap of the uidmap
// package), or there are none, and the jail has only root.
//
// What needs root, and is refused with one line naming it: a network of
// the jail's own (its veth is made on the host), limits (cgroups belong
// to root), the image store and kept layers (root's directories), idmapped
// mounts (the kernel lets only the host's root idmap), --userns host and
// the daemon. Without idmapped mounts the host's files that root owns
// show as nobody's inside, and their setuid bits do nothing: su does not
// work in a rootless jail.

// Rootless tells whether prison runs without root.
func Rootless() bool { return os.Geteuid() != 0 }

// RootlessStateDir is the state store of a user who is not root: in the
// user's runtime directory, or in /tmp, private.
func RootlessStateDir() string {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "prison")
	}
	return filepath.Join(os.TempDir(), "prison-"+strconv.Itoa(os.Geteuid()))
}

// rootlessMap is a rootless jail's ids: jail 0 is the user, jail 1..Count
// are the subordinate ids from Sub (none when Count is 0).
type rootlessMap struct {
	UID, GID       uint32
	SubUID, SubGID uint32
	Count          uint32
}

// checkRootless refuses what a jail without root cannot have.
func checkRootless(s *specs.Spec) error {
	a := s.Annotations
	switch {
	case a[AnnotationNet] != "none":
		return &ParamError{Err: errors.New("--ip, --net: a jail's network needs root (its interface is made on the host); without root, a jail has --net none")}
	case a[AnnotationUserNS] == "host":
		return &ParamError{Err: errors.New("--userns host: needs root; without root, a jail has a user namespace of the user's own ids")}
	case a[AnnotationLayer] != "" || a[AnnotationImage] != "":
		return &ParamError{Err: errors.New("--image: needs root (the image store and the jails' layers are root's); without root, use --root DIR")}
	case s.Linux.Resources != nil && explicitLimits(s.Linux.Resources):
		return &ParamError{Err: errors.New("--memory, --pids, --cpus, --io-*: limits need root (cgroups are root's)")}
	}
	return nil
}

// prepareRootless fits the jail's spec to the ids of a user without root:
// what needs root is refused, the rest is kept within the user's ids.
func (j *Jail) prepareRootless() error {
	if err := checkRootless(j.Spec); err != nil {
		return err
	}
	m, err := rootlessIDs()
	if err != nil {
		return err
	}
	j.rootless = &m
	if j.Spec.Linux.Sysctl["net.ipv4.ping_group_range"] != "" {
		j.Spec.Linux.Sysctl["net.ipv4.ping_group_range"] = "0 " + strconv.Itoa(int(m.Count))
	}
	j.Spec.Linux.Resources = nil // the default process limit: a cgroup's, root's
	if m.Count < 5 {
		// The tty group is not among the jail's ids.
		for i, mt := range j.Spec.Mounts {
			if mt.Type == "devpts" {
				j.Spec.Mounts[i].Options = slices.DeleteFunc(slices.Clone(mt.Options),
					func(o string) bool { return strings.HasPrefix(o, "gid=") })
			}
		}
	}
	return nil
}

// explicitLimits tells whether r asks for more than the default process
// limit, which a rootless jail goes without.
func explicitLimits(r *specs.LinuxResources) bool {
	pids := r.Pids != nil && (r.Pids.Limit == nil || *r.Pids.Limit != DefaultPids)
	return pids || r.Memory != nil || r.CPU != nil || r.BlockIO != nil || len(r.HugepageLimits) > 0
}

// rootlessIDs is the calling user's map: their own ids as the jail's root,
// and their subordinate ids behind when /etc/subuid and /etc/subgid give
// them some and newuidmap and newgidmap are installed.
func rootlessIDs() (rootlessMap, error) {
	m := rootlessMap{UID: uint32(os.Geteuid()), GID: uint32(os.Getegid())}
	u, err := user.LookupId(strconv.Itoa(int(m.UID)))
	names := []string{strconv.Itoa(int(m.UID))}
	if err == nil {
		names = append(names, u.Username)
	}
	su, sucount := subordinate(subuidFile, names)
	sg, sgcount := subordinate(subgidFile, names)
	n := min(sucount, sgcount, DefaultIDRangeSize-1)
	if n == 0 {
		return m, nil
	}
	for _, tool := range []string{"newuidmap", "newgidmap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return m, nil // one id only; the README says to install uidmap
		}
	}
	m.SubUID, m.SubGID, m.Count = su, sg, n
	return m, nil
}

// subordinate is the first range of a subuid(5) or subgid(5) file given
// to one of names (a user's name or uid), as newuidmap reads it.
func subordinate(file string, names []string) (start, count uint32) {
	ents, _ := readSubid(file)
	for _, e := range ents {
		if slices.Contains(names, e.name) {
			return uint32(e.start), uint32(e.count)
		}
	}
	return 0, 0
}

// mapRootless writes the maps of the init pid through newuidmap and
// newgidmap, which may map subordinate ids where the user may not.
func mapRootless(pid int, m rootlessMap) error {
	for _, t := range []struct {
		tool     string
		own, sub uint32
	}{{"newuidmap", m.UID, m.SubUID}, {"newgidmap", m.GID, m.SubGID}} {
		args := []string{
			strconv.Itoa(pid), "0", strconv.Itoa(int(t.own)), "1",
			"1", strconv.Itoa(int(t.sub)), strconv.Itoa(int(m.Count)),
		}
		out, err := exec.Command(t.tool, args...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("start init: %s %s: %w: %s", t.tool, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// rootlessIDMaps are the maps ForkExec writes itself for a user without
// subordinate ids: a user may map its own ids, and must deny setgroups.
func rootlessIDMaps(m rootlessMap) (uids, gids []syscall.SysProcIDMap) {
	return []syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.UID), Size: 1}},
		[]syscall.SysProcIDMap{{ContainerID: 0, HostID: int(m.GID), Size: 1}}
}
