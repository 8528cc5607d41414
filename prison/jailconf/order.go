package jailconf

import (
	"fmt"
	"strings"
)

// Order returns the named jails (all when names is empty) with every jail
// they depend on first, as jail(8) creates them; stop them in the reverse
// order. A name may be a wildcard ("*", "web.*") as on jail(8)'s command
// line. A dependency cycle, a depend naming no jail of the configuration,
// a name matching no jail, or a jail in the result that failed to resolve
// (its Err) is an error. Order(nil) checks the whole configuration.
func (c *Config) Order(names []string) ([]*Jail, error) {
	byName := make(map[string]*Jail, len(c.Jails))
	for _, j := range c.Jails {
		byName[j.Name] = j
	}
	roots := c.Jails
	if len(names) > 0 {
		roots = nil
		for _, n := range names {
			if isWild(n) {
				for _, j := range c.Jails {
					if wildMatch(j.Name, n) {
						roots = append(roots, j)
					}
				}
				continue
			}
			j := byName[n]
			if j == nil {
				return nil, &Error{Msg: fmt.Sprintf("no jail %q in the configuration", n)}
			}
			roots = append(roots, j)
		}
	}
	o := orderer{byName: byName, state: map[*Jail]int{}}
	for _, j := range roots {
		if err := o.visit(j); err != nil {
			return nil, err
		}
	}
	return o.out, nil
}

type orderer struct {
	byName map[string]*Jail
	state  map[*Jail]int // 1: on the path being walked, 2: placed
	path   []*Jail
	out    []*Jail
}

func (o *orderer) visit(j *Jail) error {
	switch o.state[j] {
	case 2:
		return nil
	case 1:
		return o.cycle(j)
	}
	if j.Err != nil {
		return j.Err
	}
	o.state[j] = 1
	o.path = append(o.path, j)
	dep, _ := j.Get("depend")
	for _, name := range dep.Values {
		d := o.byName[name]
		if d == nil {
			return errorAt(dep.Pos, name, fmt.Sprintf("jail %q depends on a jail the configuration does not define", j.Name))
		}
		if err := o.visit(d); err != nil {
			return err
		}
	}
	o.path = o.path[:len(o.path)-1]
	o.state[j] = 2
	o.out = append(o.out, j)
	return nil
}

// cycle reports the dependency loop that ends at j, at the depend that
// closes it.
func (o *orderer) cycle(j *Jail) error {
	i := len(o.path) - 1
	for o.path[i] != j {
		i--
	}
	names := make([]string, 0, len(o.path)-i+1)
	for _, p := range o.path[i:] {
		names = append(names, p.Name)
	}
	names = append(names, j.Name)
	last := o.path[len(o.path)-1]
	dep, _ := last.Get("depend")
	return errorAt(dep.Pos, j.Name, "dependency loop: "+strings.Join(names, " -> "))
}
