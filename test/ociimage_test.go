package test

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
	"sync"
	"testing"
	"time"
)

// The images the OCI tests hand to containerd and podman: one layer, the
// busybox root template (busyboxDir), and a config naming a command.
const (
	ociBusyboxRef = "localhost/prison-test/busybox:latest"
	ociPauseRef   = "localhost/prison-test/pause:latest"
)

// ociTestImage is one image written as an OCI image layout archive and as a
// docker archive, or why it could not be.
type ociTestImage struct {
	once        sync.Once
	oci, docker string
	err         error
}

var (
	ociBusyboxImg, ociPauseImg ociTestImage
	// ociLayer is the one layer both images share, built once.
	ociLayerOnce sync.Once
	ociLayer     []byte
	ociLayerErr  error
)

// ociBusyboxImage returns the paths of a single-layer busybox image named
// localhost/prison-test/busybox:latest, Cmd ["/bin/sh"], as an OCI image
// layout archive and as a docker archive (docker save's format). They are
// built once per test binary run, in TestMain's temporary directory, which
// it removes at the end of the run. Read-only for the tests.
func ociBusyboxImage(t *testing.T) (ociArchive, dockerArchive string) {
	t.Helper()
	return ociBusyboxImg.get(t, ociBusyboxRef, []string{"/bin/sh"})
}

// ociPauseImage is ociBusyboxImage's sandbox variant for CRI: the same layer,
// named localhost/prison-test/pause:latest, with a command that only
// sleeps (busybox sleep; a pod's sandbox is killed, it never exits).
func ociPauseImage(t *testing.T) (ociArchive, dockerArchive string) {
	t.Helper()
	return ociPauseImg.get(t, ociPauseRef, []string{"/bin/sleep", "2147483647"})
}

func (ti *ociTestImage) get(t *testing.T, name string, cmd []string) (string, string) {
	t.Helper()
	ti.once.Do(func() {
		// TestMain's directory: busyboxDir is in it, and it goes at the end.
		dir := filepath.Join(filepath.Dir(busyboxDir), "images")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			ti.err = err
			return
		}
		ti.oci, ti.docker, ti.err = writeOCIImage(dir, name, cmd)
	})
	if ti.err != nil {
		t.Fatalf("build image %s: %v", name, ti.err)
	}
	return ti.oci, ti.docker
}

// OCI image-spec and docker image JSON, as much of them as these images
// use (go.mod has image-spec only indirectly: the JSON is written here).
type (
	ociDescriptor struct {
		MediaType   string            `json:"mediaType"`
		Digest      string            `json:"digest"`
		Size        int64             `json:"size"`
		Annotations map[string]string `json:"annotations,omitempty"`
	}
	ociManifest struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Config        ociDescriptor   `json:"config"`
		Layers        []ociDescriptor `json:"layers"`
	}
	ociIndex struct {
		SchemaVersion int             `json:"schemaVersion"`
		MediaType     string          `json:"mediaType"`
		Manifests     []ociDescriptor `json:"manifests"`
	}
	ociImageConfig struct {
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
		History []struct {
			Created   time.Time `json:"created"`
			CreatedBy string    `json:"created_by"`
		} `json:"history"`
	}
	ociDockerManifest struct {
		Config   string   `json:"Config"`
		RepoTags []string `json:"RepoTags"`
		Layers   []string `json:"Layers"`
	}
)

const (
	ociMTIndex    = "application/vnd.oci.image.index.v1+json"
	ociMTManifest = "application/vnd.oci.image.manifest.v1+json"
	ociMTConfig   = "application/vnd.oci.image.config.v1+json"
	ociMTLayer    = "application/vnd.oci.image.layer.v1.tar" // plain tar: nothing to gain from gzip here
)

// ociEpoch is every timestamp in the images: the same bytes each run.
var ociEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// writeOCIImage writes DIR/NAME-oci.tar and DIR/NAME-docker.tar for image
// ref (REPO:TAG), whose command is cmd.
func writeOCIImage(dir, ref string, cmd []string) (ociPath, dockerPath string, err error) {
	ociLayerOnce.Do(func() { ociLayer, ociLayerErr = ociTarTree(busyboxDir) })
	if ociLayerErr != nil {
		return "", "", fmt.Errorf("layer: %w", ociLayerErr)
	}
	layerDigest := ociSHA256(ociLayer) // uncompressed: also the diff_id

	var cfg ociImageConfig
	cfg.Created = ociEpoch
	cfg.Architecture = runtime.GOARCH
	cfg.OS = "linux"
	cfg.Config.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Config.Cmd = cmd
	cfg.RootFS.Type = "layers"
	cfg.RootFS.DiffIDs = []string{"sha256:" + layerDigest}
	cfg.History = append(cfg.History, struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}{ociEpoch, "prison test suite: busybox root (scripts/busybox-root.sh)"})
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return "", "", err
	}
	cfgDigest := ociSHA256(cfgJSON)

	man := ociManifest{
		SchemaVersion: 2,
		MediaType:     ociMTManifest,
		Config:        ociDescriptor{MediaType: ociMTConfig, Digest: "sha256:" + cfgDigest, Size: int64(len(cfgJSON))},
		Layers:        []ociDescriptor{{MediaType: ociMTLayer, Digest: "sha256:" + layerDigest, Size: int64(len(ociLayer))}},
	}
	manJSON, err := json.Marshal(man)
	if err != nil {
		return "", "", err
	}
	repo, tag := ociSplitRef(ref)
	index := ociIndex{
		SchemaVersion: 2,
		MediaType:     ociMTIndex,
		Manifests: []ociDescriptor{{
			MediaType: ociMTManifest,
			Digest:    "sha256:" + ociSHA256(manJSON),
			Size:      int64(len(manJSON)),
			Annotations: map[string]string{
				"org.opencontainers.image.ref.name": tag,
				"io.containerd.image.name":          ref,
			},
		}},
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return "", "", err
	}
	base := filepath.Join(dir, filepath.Base(repo))
	ociPath, dockerPath = base+"-oci.tar", base+"-docker.tar"
	err = ociWriteTar(ociPath, []ociTarFile{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", indexJSON},
		{"blobs/sha256/" + ociSHA256(manJSON), manJSON},
		{"blobs/sha256/" + cfgDigest, cfgJSON},
		{"blobs/sha256/" + layerDigest, ociLayer},
	})
	if err != nil {
		return "", "", err
	}

	dman, err := json.Marshal([]ociDockerManifest{{
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
	err = ociWriteTar(dockerPath, []ociTarFile{
		{"manifest.json", dman},
		{"repositories", repos},
		{cfgDigest + ".json", cfgJSON},
		{layerDigest + "/layer.tar", ociLayer},
	})
	return ociPath, dockerPath, err
}

// ociSplitRef splits REPO:TAG at the tag's colon (a registry's port is
// before the last slash).
func ociSplitRef(ref string) (repo, tag string) {
	for i := len(ref) - 1; i >= 0 && ref[i] != '/'; i-- {
		if ref[i] == ':' {
			return ref[:i], ref[i+1:]
		}
	}
	return ref, "latest"
}

func ociSHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

type ociTarFile struct {
	name string
	data []byte
}

// ociWriteTar writes files, each 0644 and owned by root, as a tar at path.
func ociWriteTar(path string, files []ociTarFile) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dirs := map[string]bool{}
	for _, f := range files {
		// The directories first, as docker save writes them.
		for d := filepath.Dir(f.name); d != "." && !dirs[d]; d = filepath.Dir(d) {
			dirs[d] = true
		}
	}
	for _, d := range slices.Sorted(maps.Keys(dirs)) { // parents first
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: 0o755, ModTime: ociEpoch}); err != nil {
			return err
		}
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: ociEpoch}
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
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

// ociTarTree returns root's tree as a layer tar: every file, directory and
// symbolic link with its mode, owned by root, paths relative to root.
func ociTarTree(root string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
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
		hdr.ModTime, hdr.AccessTime, hdr.ChangeTime = ociEpoch, time.Time{}, time.Time{}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if fi.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			if _, err := io.Copy(tw, f); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
