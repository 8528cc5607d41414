package image

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// fakeSource is an image made by hand, whose layer may not be what its
// configuration says.
type fakeSource struct {
	manifest, config []byte
	digest           string
	layer            []byte
}

func (f *fakeSource) Manifest() ([]byte, string, error) { return f.manifest, f.digest, nil }
func (f *fakeSource) Config() ([]byte, error)           { return f.config, nil }
func (f *fakeSource) Layer(int) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(f.layer)), nil
}

func newFakeSource(t *testing.T, diffID string, layer []byte) *fakeSource {
	t.Helper()
	cfg, _ := json.Marshal(map[string]any{
		"os": "linux", "architecture": runtime.GOARCH,
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	m, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": map[string]any{"digest": sha256Digest(cfg)},
		"layers": []any{map[string]any{"digest": diffID}},
	})
	return &fakeSource{manifest: m, config: cfg, digest: sha256Digest(m), layer: layer}
}

// TestAddChecksDigests gives Add images whose parts are not what their
// digests say: each is refused, and nothing is stored.
func TestAddChecksDigests(t *testing.T) {
	requireRoot(t)
	good := tarOf(t, entry{name: "f", body: "good"})
	bad := tarOf(t, entry{name: "f", body: "evil"})
	s, err := Open(filepath.Join(t.TempDir(), "images"))
	if err != nil {
		t.Fatal(err)
	}

	altered := newFakeSource(t, sha256Digest(good), bad)
	if _, err := s.Add(context.Background(), altered, "x:1"); err == nil || !strings.Contains(err.Error(), "damaged or was altered") {
		t.Errorf("Add of a layer that is not its diff-id: %v", err)
	}
	badManifest := newFakeSource(t, sha256Digest(good), good)
	badManifest.digest = sha256Digest([]byte("another manifest"))
	if _, err := s.Add(context.Background(), badManifest, "x:1"); err == nil || !strings.Contains(err.Error(), "manifest's digest") {
		t.Errorf("Add of a manifest that is not its digest: %v", err)
	}
	badConfig := newFakeSource(t, sha256Digest(good), good)
	badConfig.config = append(badConfig.config, ' ')
	if _, err := s.Add(context.Background(), badConfig, "x:1"); err == nil || !strings.Contains(err.Error(), "configuration's digest") {
		t.Errorf("Add of a configuration that is not its digest: %v", err)
	}
	for _, d := range []string{"layers/sha256", "blobs/sha256", "tmp"} {
		if ents, _ := os.ReadDir(filepath.Join(s.dir, d)); len(ents) != 0 {
			t.Errorf("%s: %d entries left", d, len(ents))
		}
	}

	img, err := s.Add(context.Background(), newFakeSource(t, sha256Digest(good), good), "x:1")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(img.Layers[0], "f")); err != nil || string(b) != "good" {
		t.Errorf("the layer of a sound image: %q %v", b, err)
	}
	if img.Ref != "docker.io/library/x:1" || img.Size != int64(len(good)) {
		t.Errorf("Add: ref %q size %d, want docker.io/library/x:1 %d", img.Ref, img.Size, len(good))
	}
}
