package jailconf

import (
	"sort"
	"strings"
)

// Kind is the type of a parameter's value.
type Kind int

const (
	// KindString is a single string; a list keeps only its last item, as
	// jail(8) does for scalar parameters.
	KindString Kind = iota + 1
	// KindBool is "true" or "false"; a bare name means true, and a "no"
	// after the name's last dot (allow.noraw_sockets) means false.
	KindBool
	// KindInt is a decimal integer.
	KindInt
	// KindList keeps every item: addresses, commands, mounts, jail names.
	KindList
	// KindSys is a jailsys switch: "disable", "new" or "inherit"; a bare
	// name means "new" (libjail's jailparam_import).
	KindSys
)

func (k Kind) String() string {
	switch k {
	case KindString:
		return "string"
	case KindBool:
		return "bool"
	case KindInt:
		return "int"
	case KindList:
		return "list"
	case KindSys:
		return "jailsys"
	}
	return "invalid"
}

// Spec describes a parameter jail(8) knows.
type Spec struct {
	Name string
	Kind Kind
	// Linux says prison gives the parameter a meaning. A parameter without
	// one is accepted with a Warning and ignored.
	Linux bool
	// Internal marks jail(8)'s own pseudo-parameters (exec.*, mount.*,
	// depend ...), which FreeBSD never passes to the kernel.
	Internal bool
	// ReadOnly parameters are reported by the kernel and cannot be set.
	ReadOnly bool
	// intparam marks the names in config.c's intparams table, which a
	// variable may not take.
	intparam bool
}

// Table flags, to keep the table one line per parameter.
const (
	linux    = 1 << iota // prison gives it a meaning
	internal             // a jail(8) pseudo-parameter
	readOnly             // set by the kernel only
	intparam             // in config.c's intparams
)

// params lists every parameter of jail(8) (usr.sbin/jail/config.c
// intparams and jail.8) and of the kernel (sys/kern/kern_jail.c, and the
// modules that register SYSCTL_JAIL_PARAMs: sysv*, linux, vmm, zfs) as of
// FreeBSD 15.
var params = map[string]struct {
	kind  Kind
	flags int
}{
	// Core kernel parameters.
	"jid":             {KindInt, linux | intparam},
	"name":            {KindString, linux | intparam},
	"path":            {KindString, linux | intparam},
	"ip4.addr":        {KindList, linux | intparam},
	"ip4.saddrsel":    {KindBool, 0},
	"ip4":             {KindSys, linux},
	"ip6.addr":        {KindList, linux | intparam},
	"ip6.saddrsel":    {KindBool, 0},
	"ip6":             {KindSys, linux},
	"vnet":            {KindSys, linux | intparam},
	"host.hostname":   {KindString, linux | intparam},
	"host":            {KindSys, 0},
	"host.domainname": {KindString, 0},
	"host.hostuuid":   {KindString, 0},
	"host.hostid":     {KindInt, 0},
	"securelevel":     {KindInt, intparam},
	"devfs_ruleset":   {KindInt, intparam},
	"children.max":    {KindInt, 0},
	"children.cur":    {KindInt, readOnly},
	"enforce_statfs":  {KindInt, 0},
	"persist":         {KindBool, linux | intparam},
	"cpuset.id":       {KindInt, readOnly},
	"dying":           {KindBool, readOnly},
	"parent":          {KindInt, readOnly},
	"osrelease":       {KindString, 0},
	"osreldate":       {KindInt, 0},
	"meta":            {KindString, 0},
	"env":             {KindString, 0},

	// allow.* (kern_jail.c pr_flag_allow, plus vmm(4)); allow.mount.<fs>
	// is a family, see families.
	"allow.set_hostname":                  {KindBool, linux | intparam},
	"allow.sysvipc":                       {KindBool, linux | intparam},
	"allow.raw_sockets":                   {KindBool, linux | intparam},
	"allow.chflags":                       {KindBool, linux | intparam},
	"allow.mount":                         {KindBool, intparam},
	"allow.quotas":                        {KindBool, 0},
	"allow.socket_af":                     {KindBool, linux | intparam},
	"allow.mlock":                         {KindBool, 0},
	"allow.reserved_ports":                {KindBool, 0},
	"allow.read_msgbuf":                   {KindBool, 0},
	"allow.unprivileged_proc_debug":       {KindBool, 0},
	"allow.suser":                         {KindBool, 0},
	"allow.nfsd":                          {KindBool, 0},
	"allow.extattr":                       {KindBool, 0},
	"allow.adjtime":                       {KindBool, 0},
	"allow.settime":                       {KindBool, 0},
	"allow.routing":                       {KindBool, 0},
	"allow.unprivileged_parent_tampering": {KindBool, 0},
	"allow.vmm":                           {KindBool, 0},

	// Module parameters.
	"sysvmsg":            {KindSys, linux},
	"sysvsem":            {KindSys, linux},
	"sysvshm":            {KindSys, linux},
	"linux":              {KindSys, 0},
	"linux.osname":       {KindString, 0},
	"linux.osrelease":    {KindString, 0},
	"linux.oss_version":  {KindInt, 0},
	"zfs.mount_snapshot": {KindInt, 0},

	// jail(8) pseudo-parameters (config.c intparams).
	"allow.dying":           {KindBool, internal | intparam},
	"command":               {KindList, linux | internal | intparam},
	"depend":                {KindList, linux | internal | intparam},
	"exec.clean":            {KindBool, linux | internal | intparam},
	"exec.consolelog":       {KindString, linux | internal | intparam},
	"exec.created":          {KindList, linux | internal | intparam},
	"exec.fib":              {KindInt, internal | intparam},
	"exec.jail_user":        {KindString, linux | internal | intparam},
	"exec.poststart":        {KindList, linux | internal | intparam},
	"exec.poststop":         {KindList, linux | internal | intparam},
	"exec.prepare":          {KindList, internal | intparam},
	"exec.prestart":         {KindList, linux | internal | intparam},
	"exec.prestop":          {KindList, linux | internal | intparam},
	"exec.release":          {KindList, internal | intparam},
	"exec.start":            {KindList, linux | internal | intparam},
	"exec.stop":             {KindList, linux | internal | intparam},
	"exec.system_jail_user": {KindBool, internal | intparam},
	"exec.system_user":      {KindString, linux | internal | intparam},
	"exec.timeout":          {KindInt, linux | internal | intparam},
	"interface":             {KindString, linux | internal | intparam},
	"ip_hostname":           {KindBool, internal | intparam},
	"mount":                 {KindList, linux | internal | intparam},
	"mount.devfs":           {KindBool, linux | internal | intparam},
	"mount.fdescfs":         {KindBool, internal | intparam},
	"mount.fstab":           {KindList, linux | internal | intparam},
	"mount.procfs":          {KindBool, linux | internal | intparam},
	"stop.timeout":          {KindInt, internal | intparam},
	"vnet.interface":        {KindList, linux | internal | intparam},
	"zfs.dataset":           {KindList, internal | intparam},

	// prison's own: resource limits under rctl(8)'s resource names, which
	// FreeBSD sets with rctl -a jail:NAME:RESOURCE:deny=VALUE rather than
	// in jail.conf, and the cgroup's knobs rctl has no name for.
	"memoryuse":  {KindString, linux},
	"swapuse":    {KindString, linux},
	"maxproc":    {KindString, linux},
	"pcpu":       {KindString, linux},
	"openfiles":  {KindString, linux},
	"cpu.weight": {KindString, linux},
	"io.weight":  {KindString, linux},
	"io.max":     {KindList, linux},
	"cgroup":     {KindString, linux},

	// prison's own: the jail's writable layer over a shared base
	// (prison/image.go).
	"image":     {KindString, linux},
	"ephemeral": {KindBool, linux},
	"disk":      {KindString, linux},
	"userns":    {KindString, linux},
}

// families are parameter names with an open last component: the kernel
// adds allow.mount.<fs> for every file system registered as jail-friendly
// (vfs_register, prison_add_vfs), and FreeBSD 15's meta and env take
// per-key parameters.
var families = []struct {
	prefix string
	kind   Kind
}{
	{"allow.mount.", KindBool},
	{"meta.", KindString},
	{"env.", KindString},
}

// Lookup tells whether name is a parameter jail(8) knows, its kind, and
// whether prison gives it a meaning on Linux. Name is canonical: the "no"
// form of a boolean (allow.noraw_sockets) is not looked up here.
func Lookup(name string) (Spec, bool) {
	if s, ok := lookupExact(name); ok {
		return s, true
	}
	return lookupFamily(name)
}

func lookupExact(name string) (Spec, bool) {
	p, ok := params[name]
	if !ok {
		return Spec{}, false
	}
	return Spec{
		Name:     name,
		Kind:     p.kind,
		Linux:    p.flags&linux != 0,
		Internal: p.flags&internal != 0,
		ReadOnly: p.flags&readOnly != 0,
		intparam: p.flags&intparam != 0,
	}, true
}

func lookupFamily(name string) (Spec, bool) {
	for _, f := range families {
		rest, ok := strings.CutPrefix(name, f.prefix)
		// A boolean's own name cannot start with "no": that is its false
		// form (libjail's nononame), and no file system is called so.
		if ok && isWordName(rest) && (f.kind != KindBool || !strings.HasPrefix(rest, "no")) {
			return Spec{Name: name, Kind: f.kind}, true
		}
	}
	return Spec{}, false
}

// isWordName reports whether s can be the open component of a family name:
// the kernel's file system and key names are plain words.
func isWordName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isVarChar(s[i]) {
			return false
		}
	}
	return true
}

// resolveName maps a parameter name as written to its Spec and says
// whether it was the "no" form of a boolean. Like libjail's nononame, only
// a "no" at the start of the last component negates, and only a boolean.
// An exact name wins over a negation, and a negation over a family member,
// so allow.mount.nozfs is allow.mount.zfs = false, not a file system
// called "nozfs".
func resolveName(name string) (spec Spec, negated, ok bool) {
	if s, ok := lookupExact(name); ok {
		return s, false, true
	}
	if base, ok := stripNo(name); ok {
		if s, ok := Lookup(base); ok && s.Kind == KindBool {
			return s, true, true
		}
	}
	if s, ok := lookupFamily(name); ok {
		return s, false, true
	}
	return Spec{}, false, false
}

// stripNo removes a "no" from the start of name's last component.
func stripNo(name string) (string, bool) {
	i := strings.LastIndexByte(name, '.') + 1
	if !strings.HasPrefix(name[i:], "no") || len(name) == i+2 {
		return "", false
	}
	return name[:i] + name[i+2:], true
}

// noName is the "no" form of a boolean's canonical name.
func noName(name string) string {
	i := strings.LastIndexByte(name, '.') + 1
	return name[:i] + "no" + name[i:]
}

// suggest returns the known parameter closest to an unknown name, for a
// "did you mean" hint, or "" when nothing is close.
func suggest(name string) string {
	best, bestDist := "", 3 // more than two edits is not a typo
	names := make([]string, 0, len(params))
	for n := range params {
		names = append(names, n)
	}
	sort.Strings(names) // a deterministic winner among equals
	for _, n := range names {
		if d := editDistance(name, n, bestDist); d < bestDist {
			best, bestDist = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, or limit when it is
// at least limit (long unknown names cost nothing to reject).
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
