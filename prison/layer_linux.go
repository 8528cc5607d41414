package prison

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"prison/internal/nsinit"
	"prison/rootfs"
)

// A kept layer (--image without --ephemeral) is a directory of the host's,
// LayerDir/NAME, that the init mounts as the overlay's writable layer:
//
//	LayerDir/             0700, root's
//	  NAME/               0700
//	    upper/ work/      overlayfs's upper and work directories, or
//	    disk.img          an ext4 filesystem holding them (--disk)
//
// Only one jail may use a layer at a time: the jail of that name, which
// holds the name's claim from before the layer is touched until its init
// is gone (state.go). Everything here runs on the host, in the launcher.

// detachWait bounds the wait for the loop device of the name's previous
// jail, which the kernel detaches once that jail's mount namespace is torn
// down, a moment after its init died.
const detachWait = 10 * time.Second

// layerHold is what Start holds of the jail's layer until the init has
// mounted it.
type layerHold struct {
	dir   string   // the kept layer's directory
	fresh bool     // made by this start: removed again if the start fails
	loop  *os.File // the disk's loop device, open until the jail's mount holds it
}

// prepareLayer makes the jail's kept layer ready and attaches its disk,
// then plans the root again with the disk's device.
//
// Preconditions: the jail's name is claimed; the init has not been sent
// the plan.
func (j *Jail) prepareLayer(plan *nsinit.Plan) (err error) {
	l := j.layout()
	o := l.Overlay
	if o == nil || o.Dir == "" {
		return nil // no overlay, or an ephemeral layer: all of it is the jail's mount namespace's
	}
	if want := filepath.Join(LayerDir, j.Name); o.Dir != want {
		return fmt.Errorf("spec: annotation %s %q: the layer of a jail named %s is %s", AnnotationLayer, o.Dir, j.Name, want)
	}
	fresh, err := makeLayerDir(o.Dir)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	j.layer = &layerHold{dir: o.Dir, fresh: fresh}
	defer func() {
		if err != nil {
			j.layerDone(err)
		}
	}()
	disk := filepath.Join(o.Dir, "disk.img")
	upper := filepath.Join(o.Dir, "upper")
	if !o.Disk {
		if exists(disk) {
			return fmt.Errorf("layer %s: holds a disk (disk.img), and the jail has no disk parameter", o.Dir)
		}
		if err := mkdirNoFollow(upper, 0o755); err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		if err := mkdirNoFollow(filepath.Join(o.Dir, "work"), 0o700); err != nil {
			return fmt.Errorf("layer: %w", err)
		}
		return nil
	}
	if exists(upper) {
		return fmt.Errorf("layer %s: keeps its files in a directory (made without a disk); it cannot be given one", o.Dir)
	}
	if err := rootfs.WaitDetached(disk, detachWait); err != nil {
		return fmt.Errorf("layer: %w (is a jail named %s still going away?)", err, j.Name)
	}
	if err := rootfs.MakeDisk(disk, o.Size); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	f, dev, err := rootfs.AttachLoop(disk)
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	j.layer.loop = f
	o.Device = dev
	ops, err := rootfs.Plan(l)
	if err != nil {
		return err
	}
	plan.Ops = ops
	return nil
}

// layerDone lets go of the layer when Start is over: of the loop device,
// which from then on only the jail's mount holds (or nobody, when the
// start failed: it detaches), and of a layer that a failed start made.
func (j *Jail) layerDone(err error) {
	h := j.layer
	if h == nil {
		return
	}
	j.layer = nil
	if h.loop != nil {
		h.loop.Close()
	}
	if err != nil && h.fresh {
		_ = os.RemoveAll(h.dir)
	}
}

// makeLayerDir makes dir, and LayerDir above it, 0700; fresh says dir is
// new.
func makeLayerDir(dir string) (fresh bool, err error) {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(filepath.Dir(parent), 0o700); err != nil {
		return false, err
	}
	if err := unix.Mkdir(parent, 0o700); err != nil && err != unix.EEXIST {
		return false, &os.PathError{Op: "mkdir", Path: parent, Err: err}
	}
	if err := privateDir(parent); err != nil {
		return false, err
	}
	switch err := unix.Mkdir(dir, 0o700); err {
	case nil:
		return true, nil
	case unix.EEXIST:
		return false, mkdirNoFollow(dir, 0o700)
	default:
		return false, &os.PathError{Op: "mkdir", Path: dir, Err: err}
	}
}

// privateDir makes sure that dir is a directory of root's that only root
// may enter, and closes one of root's that others could.
func privateDir(dir string) error {
	var st unix.Stat_t
	if err := unix.Lstat(dir, &st); err != nil {
		return &os.PathError{Op: "stat", Path: dir, Err: err}
	}
	switch {
	case st.Mode&unix.S_IFMT != unix.S_IFDIR:
		return fmt.Errorf("%s: not a directory", dir)
	case !rootfs.TrustedUID(st.Uid):
		return fmt.Errorf("%s: owned by uid %d, who could reach every jail's layer", dir, st.Uid)
	case st.Mode&0o077 != 0:
		if err := unix.Chmod(dir, 0o700); err != nil {
			return &os.PathError{Op: "chmod", Path: dir, Err: err}
		}
	}
	return nil
}

// mkdirNoFollow makes directory p, or accepts the directory that is there
// (and not a link to one).
func mkdirNoFollow(p string, mode uint32) error {
	switch err := unix.Mkdir(p, mode); err {
	case nil:
		return nil
	case unix.EEXIST:
	default:
		return &os.PathError{Op: "mkdir", Path: p, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return &os.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("%s: not a directory", p)
	}
	return nil
}

// ErrNoLayer is returned by RemoveLayer for a name that has no kept layer.
var ErrNoLayer = errors.New("no kept layer")

// RemoveLayer removes the kept layer of the jail named name, with every
// file the jail wrote: prison delete --purge. The layer of a running jail
// is not removed.
func RemoveLayer(name string) error {
	if err := checkName(&Config{Name: name}); err != nil || name == "" {
		return &ParamError{Err: fmt.Errorf("jail name %q: not a valid name", name)}
	}
	dir := filepath.Join(LayerDir, name)
	// Under the store's lock, which a claim of the name takes too: no
	// jail of that name starts while its layer goes.
	st, err := openStore()
	if err != nil {
		return err
	}
	defer st.Close()
	if alive(name) {
		return &ParamError{Err: fmt.Errorf("%q: a jail of that name is running; stop it first", name)}
	}
	if _, err := os.Lstat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%q: %w", name, ErrNoLayer)
	}
	if err := rootfs.WaitDetached(filepath.Join(dir, "disk.img"), detachWait); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	// Out of the name's way at once; the files go after the lock.
	gone := filepath.Join(LayerDir, ".purge-"+name)
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	if err := os.Rename(dir, gone); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	st.Close()
	if err := os.RemoveAll(gone); err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	return nil
}

// overlaySupported tells whether the kernel takes an overlay's layers one
// by one (fsconfig's lowerdir+, Linux 6.8): the init mounts it so, since
// mount(2)'s data is limited to a page and fsconfig's strings to 256
// bytes.
func overlaySupported() error {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return nil // let the mount say
	}
	rel := unix.ByteSliceToString(u.Release[:])
	var major, minor int
	if n, _ := fmt.Sscanf(rel, "%d.%d", &major, &minor); n == 2 && (major < 6 || major == 6 && minor < 8) {
		return fmt.Errorf("needs Linux 6.8 or later (overlayfs's lowerdir+), and this kernel is %s", rel)
	}
	return nil
}
