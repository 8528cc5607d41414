package ociimage

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// readTar returns a tar's entries, by name, and their contents.
func readTar(t *testing.T, path string) (map[string]*tar.Header, map[string][]byte, []string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	hdrs, data := map[string]*tar.Header{}, map[string][]byte{}
	var order []string
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		hdrs[h.Name], data[h.Name] = h, body
		order = append(order, h.Name)
	}
	return hdrs, data, order
}

// TestWrite checks both archives of an image of a small tree: the
// OCI layout's index, manifest, config and layer, each found by its
// digest; the docker archive's manifest; and the layer's entries, owned
// by root with the tree's modes and links.
const testRef = "localhost/prison-test/busybox:latest"

func TestWrite(t *testing.T) {
	root, out := t.TempDir(), t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), []byte("#!bb"), 0o755); err != nil { //nolint:gosec // G306: an executable
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/busybox", filepath.Join(root, "bin", "true")); err != nil {
		t.Fatal(err)
	}
	oci, docker, err := Write(root, out, testRef, []string{"/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(oci) != "busybox-oci.tar" || filepath.Base(docker) != "busybox-docker.tar" {
		t.Errorf("archives %s, %s", oci, docker)
	}

	_, files, order := readTar(t, oci)
	if i, j := slices.Index(order, "blobs/"), slices.Index(order, "blobs/sha256/"); i < 0 || j < i {
		t.Errorf("directories not first, parents first: %q", order)
	}
	blob := func(digest string) []byte {
		t.Helper()
		hex, ok := strings.CutPrefix(digest, "sha256:")
		b, found := files["blobs/sha256/"+hex]
		if !ok || !found || sha256Hex(b) != hex {
			t.Fatalf("no blob with digest %s", digest)
		}
		return b
	}
	var index imgIndex
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json: %v, %s", err, files["index.json"])
	}
	if a := index.Manifests[0].Annotations; a["io.containerd.image.name"] != testRef || a["org.opencontainers.image.ref.name"] != "latest" {
		t.Errorf("index annotations %v", a)
	}
	var man imgManifest
	if err := json.Unmarshal(blob(index.Manifests[0].Digest), &man); err != nil || len(man.Layers) != 1 {
		t.Fatalf("manifest: %v, %+v", err, man)
	}
	var cfg imgConfig
	if err := json.Unmarshal(blob(man.Config.Digest), &cfg); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(cfg.Config.Cmd, []string{"/bin/true"}) || cfg.OS != "linux" || len(cfg.RootFS.DiffIDs) != 1 ||
		cfg.RootFS.DiffIDs[0] != man.Layers[0].Digest {
		t.Errorf("config %+v, layer %s", cfg, man.Layers[0].Digest)
	}
	layer := blob(man.Layers[0].Digest)
	if int64(len(layer)) != man.Layers[0].Size {
		t.Errorf("layer size %d, manifest says %d", len(layer), man.Layers[0].Size)
	}

	lp := filepath.Join(t.TempDir(), "layer.tar")
	if err := os.WriteFile(lp, layer, 0o600); err != nil {
		t.Fatal(err)
	}
	hdrs, data, _ := readTar(t, lp)
	for name, want := range map[string]byte{"bin/": tar.TypeDir, "bin/busybox": tar.TypeReg, "bin/true": tar.TypeSymlink} {
		h := hdrs[name]
		switch {
		case h == nil:
			t.Errorf("layer lacks %s: %v", name, hdrs)
		case h.Typeflag != want || h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(imageEpoch):
			t.Errorf("%s: type %c, owner %d:%d, time %v", name, h.Typeflag, h.Uid, h.Gid, h.ModTime)
		}
	}
	if h := hdrs["bin/busybox"]; h != nil && (h.Mode&0o777 != 0o755 || string(data["bin/busybox"]) != "#!bb") {
		t.Errorf("bin/busybox: mode %o, %q", h.Mode, data["bin/busybox"])
	}
	if h := hdrs["bin/true"]; h != nil && h.Linkname != "/bin/busybox" {
		t.Errorf("bin/true links to %q", h.Linkname)
	}

	_, dfiles, _ := readTar(t, docker)
	var dman []imgDockerManifest
	if err := json.Unmarshal(dfiles["manifest.json"], &dman); err != nil || len(dman) != 1 {
		t.Fatalf("manifest.json: %v, %s", err, dfiles["manifest.json"])
	}
	if !slices.Equal(dman[0].RepoTags, []string{testRef}) || !bytes.Equal(dfiles[dman[0].Layers[0]], layer) ||
		dfiles[dman[0].Config] == nil {
		t.Errorf("docker manifest %+v", dman[0])
	}
}

func TestSplitRef(t *testing.T) {
	for ref, want := range map[string][2]string{
		"localhost/prison-bench/busybox:latest": {"localhost/prison-bench/busybox", "latest"},
		"localhost:5000/busybox":                {"localhost:5000/busybox", "latest"},
		"localhost:5000/busybox:1.36":           {"localhost:5000/busybox", "1.36"},
		"busybox":                               {"busybox", "latest"},
	} {
		if r, tag := splitRef(ref); r != want[0] || tag != want[1] {
			t.Errorf("splitRef(%q) = %q, %q; want %q", ref, r, tag, want)
		}
	}
}
