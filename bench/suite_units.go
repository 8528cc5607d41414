package bench

import (
	"cmp"
	"context"
	"fmt"
	"strconv"
)

// The suite's persistent jails and long-lived containers, as Units, and
// the contenders made of them (see the exec, create and memory sections).

// unitID returns a Unit.ID that hands out IDPrefix, kind, "-" and a counter.
func (e *Env) unitID(kind string) func() string {
	return func() string { return e.IDPrefix + kind + "-" + strconv.FormatUint(e.nextID(), 10) }
}

// binary returns the path of tool, prison or one of Tools, or why there
// is none.
func (e *Env) binary(tool string) (bin, na string) {
	if tool == "prison" {
		if e.Prison == "" {
			return "", cmp.Or(e.PrisonNA, "no prison binary")
		}
		return e.Prison, e.PrisonNA
	}
	if b := e.Tools[tool]; b != "" {
		return b, ""
	}
	return "", cmp.Or(e.ToolNA[tool], tool+" not found")
}

// unit returns a contender whose invocations bring up and remove units
// that mk makes from the path of tool; n/a without the tool.
func (e *Env) unit(name, tool string, mk func(tool, bin string) *Unit) *Contender {
	bin, na := e.binary(tool)
	if na != "" {
		return &Contender{Name: name, NA: na}
	}
	return &Contender{Name: name, Unit: mk(tool, bin)}
}

// execIn returns a contender that runs /bin/true in a unit of tool made
// for it: its Setup brings the unit up before the section, and removes it
// after.
func (e *Env) execIn(name, tool string, mk func(tool, bin string) *Unit) *Contender {
	bin, na := e.binary(tool)
	if na != "" {
		return &Contender{Name: name, NA: na}
	}
	u := mk(tool, bin)
	id := u.ID()
	c := &Contender{Name: name, Setup: u.Fixture(id), Start: u.Start}
	if tool == "prison" {
		// Without a daemon unless viaDaemon says otherwise; said, as for
		// every prison row.
		c.Env = []string{SocketEnv + "=none"}
		c.Args = func() []string { return []string{bin, "exec", "-T", id, "/bin/true"} }
	} else {
		c.Args = func() []string { return []string{bin, "--root", e.State + "/" + tool, "exec", id, "/bin/true"} }
	}
	return c
}

// prisonUnit is a persistent jail on the busybox root without a network,
// as prison run --net none makes it. prison delete -t 0 gives its processes
// no grace period: SIGKILL, as crun delete -f.
func (e *Env) prisonUnit(_, bin string) *Unit {
	return &Unit{
		ID: e.unitID("prison"),
		Up: func(id string) []Step {
			e.jails.Store(true)
			return []Step{{"create", []string{bin, "create", "--root", e.Root, "--net", "none", id}}}
		},
		Down: func(id string) []Step { return []Step{{"delete", []string{bin, "delete", "-t", "0", id}}} },
		PIDs: func(ctx context.Context, _ []string) (map[string]int, error) {
			b, err := runOutput(ctx, nil, bin, "list", "--json")
			if err != nil {
				return nil, err
			}
			return parsePrisonList(b)
		},
		Idle: "prison-init",
	}
}

// ociUnit is a container of SleepBundle, made by runtime (crun or runc)
// with its own state root: create, start, then delete -f.
func (e *Env) ociUnit(runtime, bin string) *Unit {
	root := e.State + "/" + runtime
	u := &Unit{
		ID: e.unitID(runtime),
		Up: func(id string) []Step {
			return []Step{
				{"create", []string{bin, "--root", root, "create", "--bundle", e.SleepBundle, id}},
				{"start", []string{bin, "--root", root, "start", id}},
			}
		},
		Down: func(id string) []Step { return []Step{{"delete", []string{bin, "--root", root, "delete", "-f", id}}} },
		Idle: "sleep",
	}
	if runtime == "crun" {
		u.Start = e.CrunStart
	}
	u.PIDs = func(ctx context.Context, ids []string) (map[string]int, error) {
		m := map[string]int{}
		for _, id := range ids {
			b, err := runOutput(ctx, u.Start, bin, "--root", root, "state", id)
			if err != nil {
				return nil, err
			}
			if m[id], err = parseStatePID(b); err != nil {
				return nil, fmt.Errorf("%s: %w", id, err)
			}
		}
		return m, nil
	}
	return u
}

// bwrapUnit is a bwrap sandbox of the start-up section's command line,
// running `/bin/sleep infinity` in the foreground until it is killed.
// --die-with-parent ends it with the driver, should the driver die first.
func (e *Env) bwrapUnit(_, bin string) *Unit {
	return &Unit{
		ID: e.unitID("bwrap"),
		Up: func(string) []Step {
			return []Step{{"start", []string{
				bin, "--unshare-all", "--die-with-parent", "--ro-bind", e.Root, "/", "--proc", "/proc", "--dev", "/dev",
				"/bin/sleep", "infinity",
			}}}
		},
		Foreground: true,
		Idle:       "sleep",
	}
}
