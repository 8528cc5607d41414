package fetch

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"prison/image"
)

// Annotations that name an image of an OCI layout: containerd's (a full
// reference) and the image spec's (often a tag alone, then of no use).
const (
	annotationContainerdName = "io.containerd.image.name"
	annotationRefName        = "org.opencontainers.image.ref.name"
)

// ErrNoName is returned by Import for an image that its archive does not
// name and that was given no name.
var ErrNoName = errors.New("the archive gives it no name")

// Import adds the images of an archive to s and returns them: a tar
// archive of docker save or podman save (docker-archive), an OCI image
// layout (a directory), or a tar archive of one (oci-archive). Each is
// stored under the names the archive gives it (docker save's RepoTags, a
// layout's io.containerd.image.name annotation, or its
// org.opencontainers.image.ref.name when that is a full reference), or
// under as, if given, which the archive must then hold one image for.
// From a multi-platform layout the host's platform is taken.
func Import(ctx context.Context, s *image.Store, path, as string) ([]*image.Image, error) {
	if as != "" {
		if _, err := image.Normalize(as); err != nil {
			return nil, err
		}
	}
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		return importLayout(ctx, s, path, as)
	}
	kind, err := archiveKind(path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "docker":
		return importDocker(ctx, s, path, as)
	case "oci":
		dir, release, err := s.TempDir()
		if err != nil {
			return nil, err
		}
		defer release()
		if err := unpackLayout(path, dir); err != nil {
			return nil, err
		}
		return importLayout(ctx, s, dir, as)
	}
	return nil, fmt.Errorf("%s: neither a docker save archive (no manifest.json) nor an OCI layout (no oci-layout and index.json)", path)
}

// archiveKind tells a docker save archive ("docker": a manifest.json;
// docker 25 and later write an OCI layout too, whose tags are in
// manifest.json) from an OCI layout's ("oci").
func archiveKind(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	var ociLayout, ociIndex bool
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("%s: %w", path, err)
		}
		switch filepath.Clean(hdr.Name) {
		case "manifest.json":
			return "docker", nil
		case "oci-layout":
			ociLayout = true
		case "index.json":
			ociIndex = true
		}
	}
	if ociLayout && ociIndex {
		return "oci", nil
	}
	return "", nil
}

func importDocker(ctx context.Context, s *image.Store, path, as string) ([]*image.Image, error) {
	opener := func() (io.ReadCloser, error) { return os.Open(path) }
	m, err := tarball.LoadManifest(opener)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if as != "" && len(m) != 1 {
		return nil, fmt.Errorf("%s: holds %d images, and one name is given", path, len(m))
	}
	var out []*image.Image
	for i, d := range m {
		refs := d.RepoTags
		if as != "" {
			refs = []string{as}
		}
		if len(refs) == 0 {
			return out, fmt.Errorf("%s: image %d (%s): %w", path, i+1, d.Config, ErrNoName)
		}
		var tag *name.Tag
		if len(m) > 1 {
			if tag, err = parseTag(d.RepoTags[0]); err != nil {
				return out, fmt.Errorf("%s: %w", path, err)
			}
		}
		img, err := tarball.Image(opener, tag)
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		stored, err := add(ctx, s, img, refs)
		if err != nil {
			return out, fmt.Errorf("%s: %w", path, err)
		}
		out = append(out, stored)
	}
	return out, nil
}

func parseTag(s string) (*name.Tag, error) {
	t, err := name.NewTag(s)
	if err != nil {
		return nil, err
	}
	return &t, nil
}

func add(ctx context.Context, s *image.Store, img v1.Image, refs []string) (*image.Image, error) {
	src, err := newSource(img)
	if err != nil {
		return nil, err
	}
	return s.Add(ctx, src, refs...)
}

// layoutImage is an image of a layout with the names its index gives it.
type layoutImage struct {
	img  v1.Image
	refs []string
}

func importLayout(ctx context.Context, s *image.Store, dir, as string) ([]*image.Image, error) {
	idx, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	imgs, err := layoutImages(idx, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("%s: no image for %s", dir, image.HostPlatform())
	}
	if as != "" {
		if len(imgs) != 1 {
			return nil, fmt.Errorf("%s: holds %d images, and one name is given", dir, len(imgs))
		}
		imgs[0].refs = []string{as}
	}
	var out []*image.Image
	for i, li := range imgs {
		if len(li.refs) == 0 {
			d, _ := li.img.Digest()
			return out, fmt.Errorf("%s: image %d (%s): %w", dir, i+1, image.ShortDigest(d.String()), ErrNoName)
		}
		stored, err := add(ctx, s, li.img, li.refs)
		if err != nil {
			return out, fmt.Errorf("%s: %w", dir, err)
		}
		out = append(out, stored)
	}
	return out, nil
}

// layoutImages lists the images of idx for the host's platform, a nested
// index (a multi-platform image) giving one; refs are the names of the
// index entry that led there.
func layoutImages(idx v1.ImageIndex, refs []string) ([]layoutImage, error) {
	im, err := idx.IndexManifest()
	if err != nil {
		return nil, err
	}
	var out []layoutImage
	for _, d := range im.Manifests {
		names := refs
		if n := refName(d.Annotations); n != "" {
			names = []string{n}
		}
		switch {
		case d.MediaType.IsIndex():
			child, err := idx.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			imgs, err := layoutImages(child, names)
			if err != nil {
				return nil, err
			}
			// One image per name: the first of the host's platform.
			if len(imgs) > 1 && len(names) > 0 {
				imgs = imgs[:1]
			}
			out = append(out, imgs...)
		case d.MediaType.IsImage():
			if d.Platform != nil && !d.Platform.Satisfies(hostPlatform()) {
				continue
			}
			img, err := idx.Image(d.Digest)
			if err != nil {
				return nil, err
			}
			out = append(out, layoutImage{img: img, refs: names})
		}
	}
	return out, nil
}

// refName is the full reference that an index entry's annotations give,
// or "".
func refName(a map[string]string) string {
	if n := a[annotationContainerdName]; n != "" {
		return n
	}
	// A ref.name of a tag alone ("latest") names no repository.
	if n := a[annotationRefName]; strings.ContainsAny(n, "/") {
		if _, err := image.Normalize(n); err == nil {
			return n
		}
	}
	return ""
}

// unpackLayout unpacks the tar of an OCI layout into dir: directories and
// regular files only, every name inside dir.
func unpackLayout(path, dir string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil && !errors.Is(err, tar.ErrInsecurePath) {
			return fmt.Errorf("%s: %w", path, err)
		}
		rel := filepath.Clean(hdr.Name)
		if filepath.IsAbs(hdr.Name) || rel == ".." || strings.HasPrefix(rel, "../") {
			return fmt.Errorf("%s: entry %q: outside the layout: refused", path, hdr.Name)
		}
		target := filepath.Join(dir, rel)
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			// No symlink is ever made here, so none is followed.
			out, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(out, tr) //nolint:gosec // G110: a plain tar, nothing is decompressed
			if cerr := out.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("%s: entry %q: not a file or a directory: refused in an OCI layout", path, hdr.Name)
		}
	}
}
