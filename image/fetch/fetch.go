package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"prison/image"
)

// Options says how Pull reaches a registry.
type Options struct {
	// Insecure talks plain HTTP to the registry. Registries on localhost
	// and 127.0.0.1 (and RFC 1918 addresses) get it without asking, as
	// go-containerregistry's name package decides.
	Insecure bool
	// Keychain gives the credentials; nil is authn.DefaultKeychain, the
	// docker CLI's: $DOCKER_CONFIG/config.json or ~/.docker/config.json,
	// with their credential helpers.
	Keychain authn.Keychain
	// Transport carries the requests; nil is remote.DefaultTransport
	// (which honours HTTPS_PROXY and the like).
	Transport http.RoundTripper
	// Progress, if set, is called as layers arrive with the compressed
	// bytes fetched so far and the total to fetch (the layers the store
	// lacks). It is called from the goroutine that called Pull.
	Progress func(done, total int64)
}

// hostPlatform is the platform pulled from a multi-platform image.
func hostPlatform() v1.Platform {
	return v1.Platform{OS: "linux", Architecture: runtime.GOARCH}
}

// Pull fetches the image ref from its registry into s, the layers s has
// already excepted, and returns it as stored. From a multi-platform image
// it takes the host's platform (linux/amd64 here).
func Pull(ctx context.Context, s *image.Store, ref string, o Options) (*image.Image, error) {
	norm, err := image.Normalize(ref)
	if err != nil {
		return nil, err
	}
	var nopts []name.Option
	if o.Insecure {
		nopts = append(nopts, name.Insecure)
	}
	r, err := name.ParseReference(norm, nopts...)
	if err != nil {
		return nil, fmt.Errorf("image reference %q: %w", ref, err)
	}
	kc := o.Keychain
	if kc == nil {
		kc = authn.DefaultKeychain
	}
	ropts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(kc),
		remote.WithPlatform(hostPlatform()),
		remote.WithUserAgent("prison"),
	}
	if o.Transport != nil {
		ropts = append(ropts, remote.WithTransport(o.Transport))
	}
	desc, err := remote.Get(r, ropts...)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", norm, err)
	}
	img, err := desc.Image()
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", norm, err)
	}
	src, err := newSource(img)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", norm, err)
	}
	if o.Progress != nil {
		if err := src.countProgress(s, o.Progress); err != nil {
			return nil, fmt.Errorf("image %s: %w", norm, err)
		}
	}
	stored, err := s.Add(ctx, src, norm)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", norm, err)
	}
	return stored, nil
}

// source is a go-containerregistry image as an image.Source.
type source struct {
	img    v1.Image
	layers []v1.Layer
	// counted, if set, wraps a layer's compressed stream to count it.
	counted func(l v1.Layer) (v1.Layer, error)
}

func newSource(img v1.Image) (*source, error) {
	layers, err := img.Layers()
	if err != nil {
		return nil, err
	}
	return &source{img: img, layers: layers}, nil
}

func (s *source) Manifest() ([]byte, string, error) {
	raw, err := s.img.RawManifest()
	if err != nil {
		return nil, "", err
	}
	d, err := s.img.Digest()
	if err != nil {
		return nil, "", err
	}
	return raw, d.String(), nil
}

func (s *source) Config() ([]byte, error) { return s.img.RawConfigFile() }

func (s *source) Layer(i int) (io.ReadCloser, error) {
	if i < 0 || i >= len(s.layers) {
		return nil, fmt.Errorf("layer %d: the manifest has %d", i, len(s.layers))
	}
	l := s.layers[i]
	if s.counted != nil {
		var err error
		if l, err = s.counted(l); err != nil {
			return nil, err
		}
	}
	return l.Uncompressed()
}

// countProgress makes the layers that s lacks report their compressed
// bytes to progress as they are read.
func (s *source) countProgress(st *image.Store, progress func(done, total int64)) error {
	cfg, err := s.img.ConfigFile()
	if err != nil {
		return err
	}
	var total int64
	for i, l := range s.layers {
		if i < len(cfg.RootFS.DiffIDs) && st.HasLayer(cfg.RootFS.DiffIDs[i].String()) {
			continue
		}
		n, err := l.Size()
		if err != nil {
			return err
		}
		total += n
	}
	var done int64
	progress(0, total)
	s.counted = func(l v1.Layer) (v1.Layer, error) {
		return partial.CompressedToLayer(&countedLayer{Layer: l, add: func(n int64) {
			done += n
			progress(done, total)
		}})
	}
	return nil
}

// countedLayer is a layer whose compressed stream reports its bytes.
type countedLayer struct {
	v1.Layer
	add func(int64)
}

func (c *countedLayer) Compressed() (io.ReadCloser, error) {
	rc, err := c.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	return &countingReadCloser{rc: rc, add: c.add}, nil
}

func (c *countedLayer) MediaType() (types.MediaType, error) { return c.Layer.MediaType() }

type countingReadCloser struct {
	rc  io.ReadCloser
	add func(int64)
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.rc.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

func (c *countingReadCloser) Close() error { return c.rc.Close() }
