// Package ociimage writes a directory tree as a single-layer container
// image, as an OCI image layout archive (for ctr images import) and a
// docker archive (docker save's format, for podman load): what the
// integration tests and the benchmarks hand containerd and podman, since
// no registry is reachable from either.
package ociimage

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

// OCI image-spec and docker image JSON, as much of them as the image uses.
type (
	imgDescriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	imgManifest struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Config        imgDescriptor   `json:"config"`
		Layers        []imgDescriptor `json:"layers"`
	}
	imgIndex struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     []imgDescriptor `json:"manifests"`
	}
	imgHistory struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}
	imgConfig struct {
		Created      time.Time `json:"created"`
		Architecture string    `json:"architecture"`
		OS           string    `json:"os"`
		Config       struct {
			Env []string `json:"Env"`
			Cmd []string `json:"Cmd"`
		} `json:"config"`
		RootFS struct {
			Type    string   `json:"type"`
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
		History []imgHistory `json:"history"`
	}
	imgDockerManifest struct {
		Config   string   `json:"Config"`
		RepoTags []string `json:"RepoTags"`
		Layers   []string `json:"Layers"`
	}
)

const (
	mtIndex    = "application/vnd.oci.image.index.v1+json"
	mtManifest = "application/vnd.oci.image.manifest.v1+json"
	mtConfig   = "application/vnd.oci.image.config.v1+json"
	mtLayer    = "application/vnd.oci.image.layer.v1.tar" // plain tar: nothing to gain from gzip here
)

// imageEpoch is every timestamp in the image: the same bytes each run.
var imageEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Write writes root's tree as the one layer of image ref (REPO:TAG)
// whose command is cmd, to DIR/NAME-oci.tar and DIR/NAME-docker.tar (NAME
// the repository's last element), and returns their paths.
func Write(root, dir, ref string, cmd []string) (ociPath, dockerPath string, err error) {
	layer, err := Layer(root)
	if err != nil {
		return "", "", err
	}
	return WriteLayer(layer, dir, ref, cmd)
}

// Layer is root's tree as a layer (a plain tar, the same bytes each time).
func Layer(root string) ([]byte, error) {
	layer, err := tarTree(root)
	if err != nil {
		return nil, fmt.Errorf("layer of %s: %w", root, err)
	}
	return layer, nil
}

// WriteLayer is Write of a layer made already: images that share it.
func WriteLayer(layer []byte, dir, ref string, cmd []string) (ociPath, dockerPath string, err error) {
	layerDigest := sha256Hex(layer) // uncompressed: also the diff_id

	var cfg imgConfig
	cfg.Created = imageEpoch
	cfg.Architecture = runtime.GOARCH
	cfg.OS = "linux"
	cfg.Config.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = cmd
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{"sha256:" + layerDigest}
	cfg.History = []imgHistory{{imageEpoch, "prison benchmarks: busybox root (scripts/busybox-root.sh)"}}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", "", err
	}
	cfgDigest := sha256Hex(cfgJSON)

	manJSON, err := json.Marshal(imgManifest{
		SchemaVersion: 2,
		MediaType:     mtManifest,
		Config:        imgDescriptor{MediaType: mtConfig, Digest: "sha256:" + cfgDigest, Size: int64(len(cfgJSON))},
		Layers:        []imgDescriptor{{MediaType: mtLayer, Digest: "sha256:" + layerDigest, Size: int64(len(layer))}},
	})
	if err != nil {
		return "", "", err
	}
	repo, tag := splitRef(ref)
	indexJSON, err := json.Marshal(imgIndex{
		SchemaVersion: 2,
		MediaType:     mtIndex,
		Manifests: []imgDescriptor{{
			MediaType: mtManifest,
			Digest:    "sha256:" + sha256Hex(manJSON),
			Size:      int64(len(manJSON)),
			Annotations: map[string]string{
				"org.opencontainers.image.ref.name": tag,
				"io.containerd.image.name":          ref,
			},
		}},
	})
	if err != nil {
		return "", "", err
	}
	base := filepath.Join(dir, filepath.Base(repo))
	ociPath, dockerPath = base+"-oci.tar", base+"-docker.tar"
	err = writeTar(ociPath, []tarFile{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{"blobs/sha256/" + sha256Hex(manJSON), manJSON},
		{"blobs/sha256/" + cfgDigest, cfgJSON},
		{"blobs/sha256/" + layerDigest, layer},
	})
	if err != nil {
		return "", "", err
	}

	dman, err := json.Marshal([]imgDockerManifest{{
		Config:   cfgDigest + ".json",
		RepoTags: []string{ref},
		Layers:   []string{layerDigest + "/layer.tar"},
	}})
	if err != nil {
		return "", "", err
	}
	repos, err := json.Marshal(map[string]map[string]string{repo: {tag: layerDigest}})
	if err != nil {
		return "", "", err
	}
	err = writeTar(dockerPath, []tarFile{
		{"manifest.json", dman},
		{"repositories", repos},
		{cfgDigest + ".json", cfgJSON},
		{layerDigest + "/layer.tar", layer},
	})
	return ociPath, dockerPath, err
}

// splitRef splits REPO:TAG at the tag's colon (a registry's port is before
// the last slash); no tag is "latest".
func splitRef(ref string) (repo, tag string) {
	i := strings.LastIndexAny(ref, ":/")
	if i < 0 || ref[i] == '/' {
		return ref, "latest"
	}
	return ref[:i], ref[i+1:]
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type tarFile struct {
	name string
	data []byte
}

// writeTar writes files, each 0644 and owned by root, after their
// directories, as a tar at path.
func writeTar(path string, files []tarFile) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		for d := filepath.Dir(f.name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) { // parents first
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: imageEpoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: imageEpoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o600)
}

// tarTree returns root's tree as a layer: every file, directory and
// symbolic link with its mode, owned by root, with paths relative to
// root and the same timestamp.
func tarTree(root string) ([]byte, error) {
	// The files' contents are read through the root, so that a link
	// swapped in meanwhile cannot lead out of it.
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, path)
		if err != nil || rel == "." {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var link string
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		case fi.Mode().IsRegular(), fi.IsDir():
		default:
			return fmt.Errorf("%s: unexpected file type %v in the image's root", path, fi.Mode().Type())
		}
		hdr, err := tar.FileInfoHeader(fi, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(rel)
		if fi.IsDir() {
			hdr.Name += "/"
		}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "root", "root"
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = imageEpoch, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if !fi.Mode().IsRegular() {
			return nil
		}
		f, err := r.Open(rel)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
