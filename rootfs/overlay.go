package rootfs

import (
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// DefaultSize bounds, in bytes, what a jail can write into a root or a
// layer that lives in memory (the tmpfs of a host-derived root, an
// ephemeral layer) when the jail's disk parameter does not say: tmpfs
// pages are RAM, and a jail must not be able to fill the host's.
const DefaultSize = 1 << 30

// Overlay is a root made of read-only lower layers and a writable layer of
// the jail's own: the kernel's overlayfs, mounted by the init inside the
// jail's mount namespace (before pivot_root), so that the mount goes with
// the jail and nothing of it is left mounted on the host.
//
// The writable layer is one of:
//   - a kept layer: Dir's upper and work directories on the host's
//     filesystem (no size of its own);
//   - a kept layer on a disk: an ext4 filesystem on Device (a loop device
//     of Dir/disk.img), mounted on the root's mount point first: the
//     layer's own mountpoint, which the jail cannot write beyond;
//   - an ephemeral layer (Dir empty): a tmpfs of Size bytes mounted on the
//     root's mount point first, gone with the jail.
type Overlay struct {
	// Lower are the read-only layers, top first (overlay's lowerdir order).
	Lower []string
	// Dir is a kept layer's directory on the host; empty for an ephemeral
	// layer.
	Dir string
	// Disk says a kept layer lives on its own filesystem in Dir/disk.img.
	Disk bool
	// Device is the block device that holds a Disk layer's filesystem,
	// attached by the launcher once the jail's name is claimed; a plan
	// made before that is not executed.
	Device string
	// Size bounds an ephemeral layer's tmpfs in bytes; 0 is DefaultSize.
	Size int64
}

// Param is one fsconfig(2) parameter: a string, or a flag when Value is
// empty.
type Param struct{ Key, Value string }

// FSMount mounts a new filesystem through fsopen(2), fsconfig(2) and
// fsmount(2), then move_mount(2) on Target: each parameter travels on its
// own, where mount(2)'s data string is limited to a page. An image of many
// layers with long paths does not fit a page of lowerdir=…; overlay's
// "lowerdir+" (Linux 6.8) takes them one at a time.
type FSMount struct {
	FSType, Target string
	Params         []Param
	// Attrs are MOUNT_ATTR_* flags of the new mount.
	Attrs uint64
}

// MaxLayerPath is the longest path of an overlay layer: fsconfig(2)
// takes a string of at most 256 bytes with its NUL (fs/fsopen.c).
const MaxLayerPath = 255

func (FSMount) op() {}

func (m FSMount) String() string { return fmt.Sprintf("mount %s on %s", m.FSType, show(m.Target)) }

// overlayOptions keep the layers as overlayfs documents them safe to
// change offline: a provider upgrades the shared base while its jails are
// stopped, and every jail sees the new base with its own changes on top.
// Documentation/filesystems/overlayfs.rst ("Changes to underlying
// filesystems"): offline changes to the lower tree are allowed only if
// metacopy, index, xino and redirect_dir have not been used. nofollow also
// ignores redirects that a base might carry.
var overlayOptions = []Param{
	{"redirect_dir", "nofollow"}, {"index", "off"}, {"metacopy", "off"}, {"xino", "off"},
}

// planOverlay mounts the overlay on root, and first the filesystem of its
// writable layer when that has one of its own. st, when not nil, stages
// the layers for a jail with a user namespace of its own (userns.go).
func planOverlay(root string, o *Overlay, st *stager) ([]Op, error) {
	if len(o.Lower) == 0 {
		return nil, fmt.Errorf("rootfs: overlay on %s: no lower layer", root)
	}
	for _, l := range o.Lower {
		switch {
		case !strings.HasPrefix(l, "/"):
			return nil, fmt.Errorf("rootfs: overlay layer %q is not absolute", l)
		case len(l) > MaxLayerPath:
			return nil, fmt.Errorf("rootfs: overlay layer %q: longer than %d bytes", l, MaxLayerPath)
		}
	}
	var ops []Op
	// staged is where the init finds host path p: itself, or in the stage.
	staged := func(p string, resolve bool) (string, error) {
		if st == nil {
			return p, nil
		}
		real := p
		if resolve {
			var err error
			if real, err = resolveHost(p); err != nil {
				return "", err
			}
		}
		at, attach, err := st.tree(real)
		ops = append(ops, attach...)
		return at, err
	}
	upper, work := o.Dir+"/upper", o.Dir+"/work"
	if own := layerMount(root, o); own != nil {
		// The layer's filesystem on the mount point, the overlay over it:
		// both hold on to the one below, and both go with the namespace.
		if st != nil && o.Disk {
			// A disk is mounted by the launcher, host root.
			ops = append(ops, Attach{Source: o.Device, FSType: "ext4", Target: root, IDMap: true})
		} else {
			ops = append(ops, *own)
		}
		upper, work = root+"/upper", root+"/work"
		ops = append(ops, Mkdir{Path: upper, Mode: 0o755}, Mkdir{Path: work, Mode: 0o700})
	} else if o.Dir == "" || !strings.HasPrefix(o.Dir, "/") {
		return nil, fmt.Errorf("rootfs: overlay layer directory %q is not absolute", o.Dir)
	} else {
		var err error
		// The layer's directory is prison's, made after the claim:
		// not there yet, and with no links to follow.
		if upper, err = staged(upper, false); err != nil {
			return nil, err
		}
		if work, err = staged(work, false); err != nil {
			return nil, err
		}
	}
	params := make([]Param, 0, len(o.Lower)+4+len(overlayOptions))
	params = append(params, Param{"source", "overlay"})
	for _, l := range o.Lower {
		l, err := staged(l, true)
		if err != nil {
			return nil, err
		}
		if len(l) > MaxLayerPath {
			return nil, fmt.Errorf("rootfs: overlay layer %q: longer than %d bytes", l, MaxLayerPath)
		}
		params = append(params, Param{"lowerdir+", l})
	}
	params = append(params, Param{"upperdir", upper}, Param{"workdir", work})
	params = append(params, overlayOptions...)
	if st != nil {
		// Mounted in the jail's user namespace, overlayfs cannot use
		// trusted.* attributes: its own (opacity) are user.overlay.*,
		// which the image store sets too.
		params = append(params, Param{"userxattr", ""})
	}
	// nodev: device nodes come from the jail's own /dev only. Not nosuid:
	// su works inside, as in any root.
	return append(ops, FSMount{FSType: "overlay", Target: root, Params: params, Attrs: unix.MOUNT_ATTR_NODEV}), nil
}

// layerMount is the mount of a layer's own filesystem, or nil for a layer
// that lives in a directory of the host's.
func layerMount(root string, o *Overlay) *Mount {
	const flags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOATIME
	switch {
	case o.Dir == "":
		return &Mount{Source: "tmpfs", Target: root, FSType: "tmpfs", Flags: flags, Data: "mode=0755,size=" + sizeOf(o.Size)}
	case o.Disk:
		return &Mount{Source: o.Device, Target: root, FSType: "ext4", Flags: flags}
	}
	return nil
}

func sizeOf(n int64) string {
	if n <= 0 {
		n = DefaultSize
	}
	return strconv.FormatInt(n, 10)
}

// JoinLower writes layers (top first) as overlay's lowerdir option takes
// them: separated by ':', with ':' and '\' in a path escaped by '\'.
func JoinLower(layers []string) string {
	esc := strings.NewReplacer(`\`, `\\`, `:`, `\:`)
	out := make([]string, len(layers))
	for i, l := range layers {
		out[i] = esc.Replace(l)
	}
	return strings.Join(out, ":")
}

// SplitLower reads what JoinLower wrote.
func SplitLower(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\' && i+1 < len(s):
			i++
			b.WriteByte(s[i])
		case c == ':':
			out = append(out, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(out, b.String())
}
