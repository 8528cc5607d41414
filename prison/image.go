package prison

// The jail's own layer (issue 11): --image puts the jail's root on an
// overlay of a read-only base that many jails share and a writable layer
// of the jail's own; --ephemeral keeps that layer in memory; --disk gives
// it (or a host-derived root) a size. This file is the configuration's
// part: checks and lowering into the spec. layer_linux.go makes the layer
// on the host when the jail starts.

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"prison/image"
	"prison/rootfs"
)

// LayerDir holds the kept layers of jails started with --image, one
// directory per jail name: upper and work (overlayfs's), or disk.img. A
// layer outlives its jail, so that the jail made again under the same
// name finds its files, and goes only with prison delete --purge NAME.
// LayerDir is made 0700: a tenant can plant setuid files in its layer,
// and other users of the host must not reach them.
var LayerDir = "/var/lib/prison/jails"

// MinDisk is the smallest disk parameter: room for an ext4 filesystem's
// own structures and some files.
const MinDisk = 1 << 20

// imageRoot is an --image as Validate resolved it.
type imageRoot struct {
	lower []string     // the layers, top first
	img   *image.Image // the store's image, or nil for a directory
}

// ParseSize reads a size: a number of bytes, with k, m, g or t for
// powers of 1024 (16M, 2g).
func ParseSize(s string) (int64, error) {
	num := strings.TrimRight(s, "kKmMgGtT")
	if len(s)-len(num) > 1 || num == "" || strings.Trim(num, "0123456789") != "" {
		return 0, errors.New("want a number of bytes, or one with k, m, g or t (512M, 2G)")
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	shift := 0
	if len(num) < len(s) {
		shift = 10 * (1 + strings.IndexByte("kmgt", s[len(s)-1]|0x20))
	}
	if n > math.MaxInt64>>shift {
		return 0, errors.New("too large")
	}
	return n << shift, nil
}

// keptLayer is the directory of the jail's kept layer, or "" when its
// layer is ephemeral: asked for, or the jail has no name of its user's
// (made again under a generated name, it could not find its layer).
func (c *Config) keptLayer() string {
	if c.Image == "" || c.Ephemeral || c.generatedName {
		return ""
	}
	return filepath.Join(LayerDir, c.Name)
}

func checkImage(c *Config) error {
	switch {
	case c.Image == "" && c.Ephemeral:
		return errors.New("--ephemeral: only with --image (a root made from the host is always ephemeral; a --root directory is the jail's own)")
	case c.Image == "":
		return nil
	case c.Root != "":
		return fmt.Errorf("--image %q: cannot be combined with --root %q: give one of them", c.Image, c.Root)
	}
	if err := overlaySupported(); err != nil {
		return fmt.Errorf("--image %q: %w", c.Image, err)
	}
	first := c.image == nil
	img, err := resolveImage(c.Image, c.SharedRoot)
	if err != nil {
		return err
	}
	for _, l := range img.lower {
		if len(l) > rootfs.MaxLayerPath {
			return fmt.Errorf("--image %q: layer %s: a path longer than %d bytes cannot be an overlay layer", c.Image, l, rootfs.MaxLayerPath)
		}
	}
	c.image = img
	if img.img == nil {
		c.Image = img.lower[0] // absolute
		return nil
	}
	if first {
		// What the image says to run, and how; the command line's
		// settings win. A persistent jail runs no command unless told
		// (exec.start, command=).
		if len(c.Args) == 0 && !c.Persist {
			c.Args = append(slices.Clone(img.img.Entrypoint), img.img.Cmd...)
		}
		c.Env = append(slices.Clone(img.img.Env), c.Env...)
		if c.Cwd == "" {
			c.Cwd = img.img.WorkingDir
		}
		if c.User == "" {
			c.User = img.img.User
		}
	}
	return nil
}

// ImageIn makes a relative Image that names a directory below cwd
// absolute: a daemon serves clients that run elsewhere.
func (c *Config) ImageIn(cwd string) {
	if c.Image == "" || filepath.IsAbs(c.Image) {
		return
	}
	if p := filepath.Join(cwd, c.Image); exists(p) {
		c.Image = p
	}
}

// resolveImage finds what --image names: a directory, or else an image of
// the store. Either must pass the checks a --root does.
func resolveImage(ref string, shared bool) (*imageRoot, error) {
	fi, err := os.Stat(ref)
	switch {
	case err == nil && !fi.IsDir():
		return nil, fmt.Errorf("--image %q: not a directory", ref)
	case err == nil:
		abs, err := filepath.Abs(ref)
		if err != nil {
			return nil, fmt.Errorf("--image %q: %w", ref, err)
		}
		if abs == "/" {
			return nil, fmt.Errorf("--image %q: the host's own root cannot be a jail's base", ref)
		}
		if err := checkBase(ref, abs, shared); err != nil {
			return nil, err
		}
		return &imageRoot{lower: []string{abs}}, nil
	case !errors.Is(err, os.ErrNotExist):
		return nil, fmt.Errorf("--image %q: %w", ref, unwrapPath(err))
	case filepath.IsAbs(ref) || ref == "." || ref == ".." ||
		strings.HasPrefix(ref, "./") || strings.HasPrefix(ref, "../"):
		return nil, fmt.Errorf("--image %q: no such directory", ref)
	}
	dir := image.DirFromEnv()
	notFound := fmt.Errorf("--image %q: no such directory, nor an image of that name in %s", ref, dir)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return nil, notFound // a look must not make the store
	}
	st, err := image.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("--image %q: %w", ref, err)
	}
	img, err := st.Lookup(ref)
	switch {
	case errors.Is(err, image.ErrNotFound):
		return nil, notFound
	case err != nil:
		return nil, fmt.Errorf("--image %q: %w", ref, err)
	case len(img.Layers) == 0:
		return nil, fmt.Errorf("--image %q: the image has no layers", ref)
	}
	r := &imageRoot{img: img}
	for i := len(img.Layers) - 1; i >= 0; i-- {
		l := img.Layers[i]
		if err := checkBase(ref, l, shared); err != nil {
			return nil, err
		}
		r.lower = append(r.lower, l)
	}
	return r, nil
}

// checkBase applies checkPrivate to a base layer: a base is a jail's
// root, whose setuid files are reachable through any directory on its
// path.
func checkBase(ref, dir string, shared bool) error {
	if shared {
		return nil
	}
	if err := checkPrivate(dir); err != nil {
		return fmt.Errorf("--image %q: %w", ref, err)
	}
	return nil
}

func checkDisk(c *Config) error {
	layer := c.keptLayer()
	var have int64 = -1 // the size of the kept layer's disk; -1: none
	if layer != "" {
		if fi, err := os.Lstat(filepath.Join(layer, "disk.img")); err == nil {
			have = fi.Size()
		}
	}
	if c.Disk == "" {
		// A kept layer made with a disk keeps it, and its size.
		c.disk = max(have, 0)
		return nil
	}
	n, err := ParseSize(c.Disk)
	switch {
	case err != nil:
		return fmt.Errorf("--disk %q: %w", c.Disk, err)
	case n < MinDisk:
		return fmt.Errorf("--disk %q: below the minimum of %dM", c.Disk, MinDisk>>20)
	case c.Root != "":
		return fmt.Errorf("--disk %q: needs a filesystem of the jail's own, which a --root directory is not: "+
			"use --image DIR, whose layer then gets one", c.Disk)
	case have > n:
		return fmt.Errorf("--disk %q: jail %s's layer is on a disk of %s, which prison does not shrink: "+
			"give at least that, or remove the layer (prison delete --purge %s)", c.Disk, c.Name, sizeString(have), c.Name)
	case have < 0 && layer != "" && exists(filepath.Join(layer, "upper")):
		return fmt.Errorf("--disk %q: jail %s's layer was made without --disk and keeps its files on the host's filesystem: "+
			"run without --disk, or remove the layer (prison delete --purge %s)", c.Disk, c.Name, c.Name)
	}
	c.disk = n
	return nil
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

// sizeString writes n bytes as ParseSize reads it, in the largest unit
// that divides it.
func sizeString(n int64) string {
	for _, u := range []struct {
		shift uint
		s     string
	}{{40, "T"}, {30, "G"}, {20, "M"}, {10, "K"}} {
		if n > 0 && n%(1<<u.shift) == 0 {
			return strconv.FormatInt(n>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatInt(n, 10)
}

// imageLookupRoot is where --user finds the jail's passwd: the topmost
// layer of the base that has one. A kept layer is not read: its files
// are the tenant's (a user the jail added itself is named by number).
func (c *Config) imageLookupRoot() string {
	for _, l := range c.image.lower {
		if exists(filepath.Join(l, "etc", "passwd")) {
			return l
		}
	}
	return c.image.lower[0]
}

// specLayer lowers --image, --ephemeral and --disk into the spec: the
// root is the mount point in the jail's state directory (made by the
// claim, as a host-derived root's), and the annotations say what the init
// mounts on it.
func (c *Config) specLayer(s *specs.Spec) error {
	if c.disk > 0 {
		s.Annotations[AnnotationDisk] = strconv.FormatInt(c.disk, 10)
	}
	if c.Image == "" {
		return nil
	}
	if c.image == nil {
		if err := checkImage(c); err != nil {
			return err
		}
	}
	ro := s.Root != nil && s.Root.Readonly
	s.Root = &specs.Root{Path: filepath.Join(StateDir, c.Name, "root"), Readonly: ro}
	s.Annotations[AnnotationImage] = rootfs.JoinLower(c.image.lower)
	if i := c.image.img; i != nil {
		s.Annotations[AnnotationImageRef] = i.Ref + "@" + i.Digest
	}
	layer := c.keptLayer()
	if layer == "" {
		layer = "tmpfs"
	}
	s.Annotations[AnnotationLayer] = layer
	return nil
}

// overlayOf reads the root's overlay and the root's size out of the
// spec's annotations.
func overlayOf(s *specs.Spec) (*rootfs.Overlay, int64) {
	size, _ := strconv.ParseInt(s.Annotations[AnnotationDisk], 10, 64)
	lower := s.Annotations[AnnotationImage]
	if lower == "" {
		return nil, size
	}
	o := &rootfs.Overlay{Lower: rootfs.SplitLower(lower), Size: size}
	if l := s.Annotations[AnnotationLayer]; l != "tmpfs" {
		o.Dir, o.Disk = l, size > 0
	}
	return o, size
}

// layerParams adds the layer's parameters, in jail.conf's names, to a
// running jail's (prison list -v).
func layerParams(s *specs.Spec, p map[string]string) {
	if ref := s.Annotations[AnnotationImageRef]; ref != "" {
		p["image"] = ref
	} else if lower := s.Annotations[AnnotationImage]; lower != "" {
		p["image"] = rootfs.SplitLower(lower)[0]
	}
	if p["image"] != "" {
		delete(p, "path") // the mount point, which shows nothing of the host's
		p["ephemeral"] = strconv.FormatBool(s.Annotations[AnnotationLayer] == "tmpfs")
	}
	if n, err := strconv.ParseInt(s.Annotations[AnnotationDisk], 10, 64); err == nil && n > 0 {
		p["disk"] = sizeString(n)
	}
}
