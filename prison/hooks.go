package prison

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Hooks are jail(8)'s exec.* parameters. They travel with the jail's spec,
// as one annotation, so that prison stop and prison restart run what the
// jail was created with, whoever created it.
type Hooks struct {
	// Commands maps a hook (exec.prestart, exec.created, exec.start,
	// exec.poststart, exec.prestop, exec.stop, exec.poststop) to its
	// commands, each run by /bin/sh -c, in order.
	Commands map[string][]string `json:"commands,omitempty"`
	// Timeout bounds how long stop waits after SIGTERM (exec.timeout).
	Timeout time.Duration `json:"timeout,omitempty"`
	// JailUser runs the hooks inside the jail (exec.jail_user); root when
	// empty. SystemUser runs those on the host (exec.system_user).
	JailUser   string `json:"jailUser,omitempty"`
	SystemUser string `json:"systemUser,omitempty"`
	// ConsoleLog receives the hooks' output (exec.consolelog).
	ConsoleLog string `json:"consoleLog,omitempty"`
}

// DefaultStopTimeout is how long stop waits for a jail's processes after
// SIGTERM unless exec.timeout says otherwise.
const DefaultStopTimeout = 10 * time.Second

// AnnotationHooks holds a jail's Hooks as JSON.
const AnnotationHooks = "prison.hooks"

// HookNames are the exec.* hooks, in the order of a jail's life.
var HookNames = []string{
	"exec.prestart", "exec.created", "exec.start", "exec.poststart",
	"exec.prestop", "exec.stop", "exec.poststop",
}

// SetHooks records h in the spec.
func SetHooks(s *specs.Spec, h Hooks) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if s.Annotations == nil {
		s.Annotations = map[string]string{}
	}
	s.Annotations[AnnotationHooks] = string(b)
	return nil
}

// HooksOf reads the hooks recorded in the spec; a jail of prison run has
// none.
func HooksOf(s *specs.Spec) (Hooks, error) {
	h := Hooks{Timeout: DefaultStopTimeout}
	if a := s.Annotations[AnnotationHooks]; a != "" {
		if err := json.Unmarshal([]byte(a), &h); err != nil {
			return h, fmt.Errorf("spec: annotation %s: %w", AnnotationHooks, err)
		}
	}
	return h, nil
}

// Spec returns the spec the jail was started with.
func (r *Running) Spec() (*specs.Spec, error) { return readSpec(r.Name) }

// Hooks returns the jail's exec.* parameters.
func (r *Running) Hooks() (Hooks, error) {
	s, err := r.Spec()
	if err != nil {
		return Hooks{Timeout: DefaultStopTimeout}, err
	}
	return HooksOf(s)
}

// Params returns the running jail's parameters in jail(8)'s names, as
// prison list -v and --json show them.
func (r *Running) Params() (map[string]string, error) {
	s, err := r.Spec()
	if err != nil {
		return nil, err
	}
	p := map[string]string{
		"name":          r.Name,
		"jid":           strconv.Itoa(r.JID),
		"host.hostname": r.Hostname,
		"persist":       strconv.FormatBool(r.Persist),
	}
	if s.Annotations[AnnotationRoot] != "host" {
		p["path"] = s.Root.Path
	}
	p["userns"] = "host"
	if r.IDs != nil && !r.IDs.auto() {
		p["userns"] = r.IDs.String() // the host ids of the jail's 0.., or its maps
	}
	layerParams(s, p) // image, ephemeral, disk (image.go)
	limitParams(s, p) // memoryuse, maxproc… (limits.go)
	v4, v6 := AddrFamilies(r.Addrs)
	if len(v4) > 0 {
		p["ip4.addr"] = strings.Join(v4, ",")
	}
	if len(v6) > 0 {
		p["ip6.addr"] = strings.Join(v6, ",")
	}
	switch net := s.Annotations[AnnotationNet]; {
	case net == "host":
		p["vnet"], p["ip4"], p["ip6"] = "inherit", "inherit", "inherit"
	case strings.HasPrefix(net, "macvlan"):
		p["vnet"] = "new"
		if j := s.FreeBSD.Jail; j != nil && j.Interface != "" {
			p["vnet.interface"] = j.Interface
		}
	default:
		p["vnet"] = "new"
	}
	if j := s.FreeBSD.Jail; j != nil {
		p["sysvmsg"], p["sysvsem"], p["sysvshm"] = string(j.SysVMsg), string(j.SysVSem), string(j.SysVShm)
		if a := j.Allow; a != nil {
			p["allow.set_hostname"] = strconv.FormatBool(a.SetHostname)
			p["allow.raw_sockets"] = strconv.FormatBool(a.RawSockets)
			p["allow.chflags"] = strconv.FormatBool(a.Chflags)
			p["allow.socket_af"] = strconv.FormatBool(a.SocketAf)
		}
	}
	h, err := HooksOf(s)
	if err != nil {
		return nil, err
	}
	for _, name := range HookNames {
		if c := h.Commands[name]; len(c) > 0 {
			p[name] = strings.Join(quoteAll(c), ", ")
		}
	}
	p["exec.timeout"] = strconv.Itoa(int(h.Timeout / time.Second))
	if h.JailUser != "" {
		p["exec.jail_user"] = h.JailUser
	}
	if h.SystemUser != "" {
		p["exec.system_user"] = h.SystemUser
	}
	return p, nil
}

func quoteAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strconv.Quote(s)
	}
	return out
}

// AddrFamilies parts addresses into ip4.addr and ip6.addr.
func AddrFamilies(addrs []string) (v4, v6 []string) {
	for _, a := range addrs {
		if strings.Contains(a, ":") {
			v6 = append(v6, a)
		} else {
			v4 = append(v4, a)
		}
	}
	return v4, v6
}
