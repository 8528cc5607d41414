// Package rootfs plans a jail's filesystem: the root (made from the host on
// the fly, or a directory), the kernel filesystems every jail has (/proc,
// a minimal /dev with its own devpts), masked and read-only paths, and
// pivot_root.
//
// Planning is pure apart from looking at the host's files; the plan runs in
// the jail's init (internal/nsinit), which executes each Op in order inside
// the jail's mount namespace:
//
//	ops, err := rootfs.Plan(rootfs.Layout{Path: "/srv/jails/www", Mounts: mounts})
package rootfs
