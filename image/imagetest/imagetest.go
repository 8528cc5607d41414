// Package imagetest gives tests of images a registry of their own and
// images to push to it, as net/http/httptest gives tests a server: the
// store's unit tests (image) and the integration tests of prison image
// (test/image_test.go) pull from it. The registry serves on 127.0.0.1
// only: nothing leaves the machine.
package imagetest

import (
	"bytes"
	"io"
	"log"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// Registry serves an empty registry on 127.0.0.1, in memory, until the
// test ends, and returns its host:port. It speaks plain HTTP, as
// go-containerregistry expects of a registry on 127.0.0.1.
func Registry(tb testing.TB) string {
	tb.Helper()
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	tb.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// Layer is the uncompressed tar archive data as a layer.
func Layer(tb testing.TB, data []byte) v1.Layer {
	tb.Helper()
	l, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil })
	if err != nil {
		tb.Fatal(err)
	}
	return l
}

// Image is an image for linux on the host's architecture, made at
// created, whose configuration is cfg and whose layers are layers,
// lowest first.
func Image(tb testing.TB, cfg v1.Config, created time.Time, layers ...v1.Layer) v1.Image {
	tb.Helper()
	img, err := mutate.AppendLayers(empty.Image, layers...)
	if err != nil {
		tb.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		tb.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: created}
	cf.Config = cfg
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		tb.Fatal(err)
	}
	return img
}

// Push pushes img to ref (HOST:PORT/REPO:TAG, the host a Registry) and
// returns its digest.
func Push(tb testing.TB, ref string, img v1.Image) string {
	tb.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		tb.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		tb.Fatalf("push %s: %v", ref, err)
	}
	d, err := img.Digest()
	if err != nil {
		tb.Fatal(err)
	}
	return d.String()
}
