// Package image keeps container images for jails to run on: a store of
// OCI and Docker images whose layers are extracted once each, into
// directories of their own that overlayfs stacks as a jail's root.
//
// Images come in through package image/fetch (a registry, a docker save
// archive, an OCI layout); a jail's launcher needs only this package:
//
//	s, err := image.Open(image.DirFromEnv())
//	img, err := s.Lookup("alpine") // docker.io/library/alpine:latest
//	if errors.Is(err, image.ErrNotFound) { … }
//	// lowerdir=img.Layers[n-1]:…:img.Layers[0]; run img.Entrypoint+img.Cmd
//
// A layer is written as overlayfs reads a layer: an OCI whiteout
// (.wh.NAME) becomes a 0:0 character device NAME, an opaque directory
// (.wh..wh..opq) gets trusted.overlay.opaque=y. Owners (as numbers),
// modes with their setuid, setgid and sticky bits, times, symlinks, hard
// links within the layer, FIFOs, and the extended attributes user.* and
// security.capability are kept; device nodes are skipped (a jail has its
// own /dev, and a device file would open the host's hardware to the
// jail's root), and so are other extended attributes (trusted.overlay.*
// from an archive would steer overlayfs). No entry can write outside its
// layer: an absolute name, a ".." component, a name through a symlink
// that the archive made, and a hard link to anything not already in the
// layer are refused, and the pull or import fails naming the entry
// (*EntryError).
//
// The store is only root's (mode 0700): a layer's files belong to the
// image, setuid programs included.
package image
