package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/containerd/cgroups/v3/cgroup1"
)

// ErrNoFreezer is returned to pause a group on cgroup v1 that was made
// without the freezer hierarchy (one without device rules: New).
var ErrNoFreezer = errors.New("the group has no freezer: on cgroup v1, only a container with device rules gets one")

// Freeze stops every process of the group (OCI pause), and returns once
// they are stopped.
func (g *Group) Freeze() error {
	switch {
	case g.v2m != nil:
		return g.wrap("freeze", g.v2m.Freeze())
	case g.v1c != nil && g.hasFreezer():
		return g.wrap("freeze", g.v1c.Freeze())
	}
	return fmt.Errorf("cgroup %s: %w", g.path, ErrNoFreezer)
}

// Thaw lets the group's processes run again (OCI resume).
func (g *Group) Thaw() error {
	switch {
	case g.v2m != nil:
		return g.wrap("thaw", g.v2m.Thaw())
	case g.v1c != nil && g.hasFreezer():
		return g.wrap("thaw", g.v1c.Thaw())
	}
	return fmt.Errorf("cgroup %s: %w", g.path, ErrNoFreezer)
}

// Frozen tells whether the group is frozen, or being frozen.
func (g *Group) Frozen() bool {
	var f string
	if g.v2 != "" {
		b, err := os.ReadFile(filepath.Join(g.v2, g.path, "cgroup.freeze"))
		return err == nil && strings.TrimSpace(string(b)) == "1"
	}
	b, err := os.ReadFile(filepath.Join(Mountpoint, string(cgroup1.Freezer), g.path, "freezer.state"))
	if err == nil {
		f = strings.TrimSpace(string(b))
	}
	// The file says FROZEN, the library's names are lower case.
	return strings.EqualFold(f, string(cgroup1.Frozen)) || strings.EqualFold(f, string(cgroup1.Freezing))
}

func (g *Group) hasFreezer() bool {
	for _, s := range g.v1c.Subsystems() {
		if s.Name() == cgroup1.Freezer {
			return true
		}
	}
	return false
}

func (g *Group) wrap(what string, err error) error {
	if err != nil {
		return fmt.Errorf("cgroup %s: %s: %w", g.path, what, err)
	}
	return nil
}
