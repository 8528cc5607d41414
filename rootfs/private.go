package rootfs

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CheckPrivate refuses a directory that users other than root (and the
// caller) can reach, for a jail's root to go in. The jail's root owns every
// file of its root: it can make a setuid-root copy of a shell there, and
// whoever reaches the directory on the host runs it as the host's root.
// FreeBSD keeps jail roots under a directory only root can enter for this
// reason; so does prison.
//
// dir is private when some directory on its real path (symlinks resolved)
// stops every other user: it is root's (or the caller's), and neither
// others nor a group other than root's may search it. It is the rule that
// prison run --root applies (prison/config.go, checkPrivate).
func CheckPrivate(dir string) error {
	real, ok, err := Private(dir)
	if err != nil || ok {
		return err
	}
	var st unix.Stat_t
	if err := unix.Stat(real, &st); err != nil {
		return &os.PathError{Op: "stat", Path: real, Err: err}
	}
	how := "chmod 0700 " + real
	if !TrustedUID(st.Uid) {
		how = "use a directory of root's that only root may enter (mode 0700)"
	}
	return fmt.Errorf("other users can reach it through %s (%s, uid %d, gid %d), "+
		"and would run as root any setuid program that the jail's root plants there; %s",
		real, os.FileMode(st.Mode&0o777).String(), st.Uid, st.Gid, how)
}

// Private tells whether some directory on dir's real path (symlinks
// resolved: those are only other names for it) stops every other user:
// it is root's (or the caller's), and neither others nor a group other
// than root's may search it. Whoever owns a directory can chmod it, so
// another owner never stops anyone. It returns the real path too.
func Private(dir string) (real string, ok bool, err error) {
	real, err = filepath.EvalSymlinks(dir)
	if err != nil {
		return "", false, err
	}
	for d := real; ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Stat(d, &st); err != nil {
			return real, false, &os.PathError{Op: "stat", Path: d, Err: err}
		}
		if TrustedUID(st.Uid) && st.Mode&0o001 == 0 && (st.Gid == 0 || st.Mode&0o010 == 0) {
			return real, true, nil
		}
		if d == "/" {
			return real, false, nil
		}
	}
}

// TrustedUID is root, or whoever runs prison: the user the checks protect
// others from.
func TrustedUID(uid uint32) bool { return uid == 0 || int(uid) == os.Geteuid() }
