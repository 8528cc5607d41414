package jailconf

import "io/fs"

// Config is a parsed jail.conf.
type Config struct {
	// Jails are in file order, each fully resolved: the global parameters,
	// the matching wildcard blocks and its own block merged in jail(8)'s
	// order of precedence, and every variable substituted.
	Jails    []*Jail
	Warnings []Warning
}

// Jail is one jail definition.
type Jail struct {
	Name string // hierarchical jails are "parent.child"
	// Params holds one entry per parameter, in order of first appearance;
	// the implied "name" (or "jid", for a numeric name) comes first.
	// Variables are gone: they only serve substitution.
	Params []Param
	Pos    Pos // where its block starts
	// Err, an *Error, says why the jail cannot be resolved: a variable
	// not found, a bad boolean. jail(8) fails such a jail only when asked
	// to act on it, and so does Order; Params is then empty.
	Err error
}

// Param is one resolved parameter.
type Param struct {
	// Name is canonical: allow.noraw_sockets is allow.raw_sockets with
	// Values ["false"].
	Name string
	// Values is "true" or "false" for a bool, "disable", "new" or
	// "inherit" for a jailsys switch, a decimal number for an int, one
	// element per item for a list, and the last value given for a string;
	// it is empty for a string, int or list set without a value.
	Values []string
	Pos    Pos // where it was last set or appended to
}

// ParseFile reads the jail.conf at path, and the files its .include lines
// name (relative to the including file's directory).
func ParseFile(path string) (*Config, error) {
	src, err := osFS{}.readFile(path)
	if err != nil {
		return nil, &Error{File: path, Msg: ioMsg(err), Err: err}
	}
	return parse(osFS{}, path, src)
}

// Parse reads src as if it were the file name; its .include lines read the
// host's files, relative to name's directory.
func Parse(name string, src []byte) (*Config, error) {
	return parse(osFS{}, name, src)
}

// ParseFS reads the jail.conf name from fsys, and its includes: fsys's
// root stands for "/", so an `.include "/etc/jail.conf.d/*.conf";` reads
// etc/jail.conf.d in fsys.
func ParseFS(fsys fs.FS, name string) (*Config, error) {
	src, err := ioFS{fsys}.readFile(name)
	if err != nil {
		return nil, &Error{File: name, Msg: ioMsg(err), Err: err}
	}
	return parse(ioFS{fsys}, name, src)
}

func parse(fsys fileSystem, name string, src []byte) (*Config, error) {
	p := &parser{fsys: fsys, chain: []includer{{fsys.key(name), name}}, warned: map[Warning]bool{}}
	if err := p.parseFile(name, src, nil); err != nil {
		return nil, err
	}
	jails, err := p.resolve()
	if err != nil {
		return nil, err
	}
	return &Config{Jails: jails, Warnings: p.warnings}, nil
}

// Jail returns the jail called name, or nil.
func (c *Config) Jail(name string) *Jail {
	for _, j := range c.Jails {
		if j.Name == name {
			return j
		}
	}
	return nil
}

// Get returns the parameter with the canonical name.
func (j *Jail) Get(name string) (Param, bool) {
	for _, p := range j.Params {
		if p.Name == name {
			return p, true
		}
	}
	return Param{}, false
}

// Value returns the last value of the parameter with the canonical name;
// ok is false when it is not set or has no value.
func (j *Jail) Value(name string) (v string, ok bool) {
	p, found := j.Get(name)
	if !found || len(p.Values) == 0 {
		return "", false
	}
	return p.Values[len(p.Values)-1], true
}

// Bool returns a boolean parameter's value; set is false when the jail
// does not set it, and the caller's default applies (allow.set_hostname
// is true on FreeBSD unless set).
func (j *Jail) Bool(name string) (v, set bool) {
	s, ok := j.Value(name)
	return s == "true", ok
}
