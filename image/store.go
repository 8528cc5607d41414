package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// DefaultDir is where prison keeps its images.
const DefaultDir = "/var/lib/prison/images"

// DirEnv names the environment variable that moves the store elsewhere
// (the tests give each their own). DirFromEnv reads it.
const DirEnv = "PRISON_IMAGE_DIR"

// DirFromEnv returns the store's directory: $PRISON_IMAGE_DIR, or DefaultDir.
func DirFromEnv() string {
	if d := os.Getenv(DirEnv); d != "" {
		return d
	}
	return DefaultDir
}

// ErrNotFound is returned when an image is not in the store.
var ErrNotFound = errors.New("not in the image store")

// Image is an image of the store, ready to be a jail's root.
type Image struct {
	Ref    string // its reference, normalized (docker.io/library/alpine:latest)
	Digest string // its manifest's digest (sha256:…)
	// Layers are the extracted layer directories, lowest first, usable as
	// overlayfs lowerdirs (a lowerdir option lists them top first).
	Layers []string
	// What the image's configuration says to run, and how.
	Env, Entrypoint, Cmd []string
	WorkingDir, User     string

	Config   string    // its configuration's digest
	Platform string    // os/architecture, as the configuration has it
	Created  time.Time // when it was built, as the configuration says
	Size     int64     // bytes of its layers' (uncompressed) archives
}

// Store is a directory of images: their manifests and configurations,
// and their layers, each stored once however many images share it,
// extracted into a directory of its own. Its layout:
//
//	DIR/                       0700: a layer's files may be a tenant's setuid programs
//	  index.json               references → images (manifest, configuration, layers)
//	  blobs/sha256/HEX         manifests and configurations, as fetched
//	  layers/sha256/HEX/root   a layer's files, by diff-id, with overlayfs whiteouts
//	  layers/sha256/HEX/size   the length of its archive
//	  tmp/                     extractions under way
//	  lock, index.lock         flock(2) files
//
// A Store may be used by many processes at once: Add holds the store's
// lock shared while it extracts (a layer is renamed into place once
// complete, and a layer that two Adds extract is kept once); index.json is
// replaced by rename under index.lock; and garbage (layers and blobs no
// image uses, leftovers in tmp/) is removed only under the store's lock
// held exclusively, which no Add in progress lets happen.
type Store struct {
	dir string
}

// Open opens the store in dir, making it (mode 0700, and its missing
// parents too) if it does not exist. A store that users other than its
// owner can enter is refused: a layer's files are a tenant's (setuid
// programs included) and must be reachable through the store by root only.
func Open(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("image store: %w", err)
	}
	if err := checkOwnDir(abs, fi); err != nil {
		return nil, err
	}
	s := &Store{dir: abs}
	for _, d := range []string{"blobs/sha256", "layers/sha256", "tmp"} {
		if err := os.MkdirAll(filepath.Join(abs, d), 0o700); err != nil {
			return nil, fmt.Errorf("image store: %w", err)
		}
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// checkOwnDir refuses a store directory that is not a directory of the
// caller's (or root's) that only it can enter.
func checkOwnDir(dir string, fi fs.FileInfo) error {
	if !fi.IsDir() {
		return fmt.Errorf("image store %s: not a directory", dir)
	}
	uid, ok := fileOwner(fi)
	if !ok || (uid != 0 && int(uid) != os.Geteuid()) {
		return fmt.Errorf("image store %s: owned by uid %d, not by root: "+
			"its owner could change the layers that jails run", dir, uid)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("image store %s: mode %s: other users could reach the layers' setuid files; chmod 0700 %s",
			dir, fi.Mode().Perm(), dir)
	}
	return nil
}

// Source is an image to add to the store, as a registry or an archive
// holds it. The store checks what it reads against the digests: the
// manifest's own, the configuration's (which the manifest names) and each
// layer's diff-id (which the configuration lists).
type Source interface {
	// Manifest returns the image's manifest, as stored, and its digest.
	Manifest() (raw []byte, digest string, err error)
	// Config returns the image's configuration, as stored.
	Config() ([]byte, error)
	// Layer opens the uncompressed archive of layer i, lowest first.
	// The store asks only for the layers it does not have.
	Layer(i int) (io.ReadCloser, error)
}

// manifest and configFile are what the store reads of an image's
// manifest and configuration (OCI image-spec manifest.md and config.md,
// Docker's schema 2 alike).
type manifest struct {
	MediaType string `json:"mediaType"`
	Config    struct {
		Digest string `json:"digest"`
	} `json:"config"`
	Layers []struct {
		Digest string `json:"digest"`
	} `json:"layers"`
}

type configFile struct {
	Created      string    `json:"created"`
	OS           string    `json:"os"`
	Architecture string    `json:"architecture"`
	Variant      string    `json:"variant"`
	Config       runConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type runConfig struct {
	Env        []string `json:"Env,omitempty"`
	Entrypoint []string `json:"Entrypoint,omitempty"`
	Cmd        []string `json:"Cmd,omitempty"`
	WorkingDir string   `json:"WorkingDir,omitempty"`
	User       string   `json:"User,omitempty"`
}

// HostPlatform is the platform the store takes images for: this host's.
func HostPlatform() string { return "linux/" + runtime.GOARCH }

// HasLayer reports whether the store has the layer diffID.
func (s *Store) HasLayer(diffID string) bool {
	_, err := os.Stat(filepath.Join(s.layerDir(diffID), "root"))
	return err == nil
}

func (s *Store) layerDir(diffID string) string {
	return filepath.Join(s.dir, "layers", "sha256", strings.TrimPrefix(diffID, "sha256:"))
}

func (s *Store) blobPath(digest string) string {
	return filepath.Join(s.dir, "blobs", "sha256", strings.TrimPrefix(digest, "sha256:"))
}

// Add stores the image src under the references refs (at least one), and
// returns it. Layers the store has already are not read again. A reference
// that named another image names this one from now on.
func (s *Store) Add(ctx context.Context, src Source, refs ...string) (*Image, error) {
	if len(refs) == 0 {
		return nil, errors.New("image: no reference to store it under")
	}
	norm := make([]string, len(refs))
	for i, r := range refs {
		n, err := Normalize(r)
		if err != nil {
			return nil, err
		}
		norm[i] = n
	}
	rawManifest, digest, err := src.Manifest()
	if err != nil {
		return nil, err
	}
	if got := sha256Digest(rawManifest); got != digest {
		return nil, fmt.Errorf("image %s: its manifest's digest is %s", digest, got)
	}
	var m manifest
	if err := json.Unmarshal(rawManifest, &m); err != nil {
		return nil, fmt.Errorf("image %s: manifest: %w", shortDigest(digest), err)
	}
	rawConfig, err := src.Config()
	if err != nil {
		return nil, err
	}
	if got := sha256Digest(rawConfig); got != m.Config.Digest {
		return nil, fmt.Errorf("image %s: its configuration's digest is %s, and its manifest says %s",
			shortDigest(digest), got, m.Config.Digest)
	}
	var cfg configFile
	if err := json.Unmarshal(rawConfig, &cfg); err != nil {
		return nil, fmt.Errorf("image %s: configuration: %w", shortDigest(digest), err)
	}
	rec, err := newRecord(digest, m, cfg)
	if err != nil {
		return nil, err
	}

	// Garbage goes while nothing is under way, if nothing is: before,
	// and after (an image that a reference named before, or the layers
	// of a failed Add).
	s.collect()
	defer s.collect()
	unlock, err := s.lock("lock", lockShared)
	if err != nil {
		return nil, err
	}
	defer unlock()
	for i := range rec.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		l := &rec.Layers[i]
		if s.HasLayer(l.DiffID) {
			l.Size = readSize(filepath.Join(s.layerDir(l.DiffID), "size"))
			continue
		}
		if l.Size, err = s.addLayer(src, i, l.DiffID); err != nil {
			return nil, err
		}
	}
	if err := s.writeBlob(digest, rawManifest); err != nil {
		return nil, err
	}
	if err := s.writeBlob(m.Config.Digest, rawConfig); err != nil {
		return nil, err
	}
	err = s.updateIndex(func(ix *index) error {
		ix.Images[digest] = rec
		for _, r := range norm {
			ix.Refs[r] = digest
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.image(norm[0], digest, rec), nil
}

func newRecord(digest string, m manifest, cfg configFile) (*record, error) {
	if cfg.OS != "" && (cfg.OS != "linux" || cfg.Architecture != runtime.GOARCH) {
		p := cfg.OS + "/" + cfg.Architecture
		return nil, fmt.Errorf("image %s: its platform is %s, and this host runs %s", shortDigest(digest), p, HostPlatform())
	}
	if cfg.RootFS.Type != "layers" || len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("image %s: its configuration lists %d layers (rootfs type %q), its manifest %d",
			shortDigest(digest), len(cfg.RootFS.DiffIDs), cfg.RootFS.Type, len(m.Layers))
	}
	rec := &record{Config: m.Config.Digest, Run: cfg.Config}
	if cfg.OS != "" {
		rec.Platform = cfg.OS + "/" + cfg.Architecture
	}
	if t, err := time.Parse(time.RFC3339Nano, cfg.Created); err == nil {
		rec.Created = t
	}
	for _, id := range cfg.RootFS.DiffIDs {
		if err := checkDigest(id); err != nil {
			return nil, fmt.Errorf("image %s: layer diff-id: %w", shortDigest(digest), err)
		}
		rec.Layers = append(rec.Layers, layerRecord{DiffID: id})
	}
	return rec, nil
}

// addLayer extracts layer i of src into a temporary directory and renames
// it into place, and returns the size of its archive.
func (s *Store) addLayer(src Source, i int, diffID string) (int64, error) {
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "tmp"), "layer-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	root := filepath.Join(tmp, "root")
	if err := os.Mkdir(root, 0o755); err != nil { //nolint:gosec // G301: a root's /, as a jail sees it; the store is 0700
		return 0, err
	}
	rc, err := src.Layer(i)
	if err != nil {
		return 0, err
	}
	digest, size, err := extract(rc, root, diffID)
	if cerr := rc.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("layer %s: %w", shortDigest(diffID), cerr)
	}
	if err != nil {
		return 0, err
	}
	if digest != diffID {
		return 0, fmt.Errorf("layer %s: its content's digest is %s: the image is damaged or was altered",
			shortDigest(diffID), digest)
	}
	if err := writeFileSync(filepath.Join(tmp, "size"), []byte(strconv.FormatInt(size, 10)+"\n")); err != nil {
		return 0, err
	}
	// The layer is complete on disk before its name says so.
	if err := syncFS(tmp); err != nil {
		return 0, err
	}
	if err := renameNoReplace(tmp, s.layerDir(diffID)); err != nil && !errors.Is(err, fs.ErrExist) {
		return 0, err
	}
	// Exists: another Add extracted the same layer meanwhile.
	return size, nil
}

func sha256Digest(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// writeBlob stores a manifest or configuration under its digest.
func (s *Store) writeBlob(digest string, b []byte) error {
	p := s.blobPath(digest)
	if _, err := os.Stat(p); err == nil {
		return nil
	}
	return replaceFile(p, b)
}

// replaceFile writes b to path atomically: a temporary file, synced, is
// renamed over it.
func replaceFile(path string, b []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op once renamed
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

func writeFileSync(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// readSize reads a layer's size file.
func readSize(path string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	n, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return n
}

// shortDigest is a digest as ls shows it: sha256: and 12 hex digits.
func shortDigest(d string) string {
	if len(d) > len("sha256:")+12 {
		return d[:len("sha256:")+12]
	}
	return d
}

// ShortDigest is a digest as prison image ls shows it: sha256: and 12 hex
// digits, which Lookup and Remove take as well.
func ShortDigest(d string) string { return shortDigest(d) }

// Lookup finds an image by reference (alpine, docker.io/library/alpine:latest,
// name@sha256:…) or by digest (sha256: and 12 or more hex digits of it);
// ErrNotFound when it is not in the store.
func (s *Store) Lookup(ref string) (*Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	norm, digest, err := ix.resolve(ref)
	if err != nil {
		return nil, err
	}
	return s.image(norm, digest, ix.Images[digest]), nil
}

// List returns the store's images, one per reference, by reference.
func (s *Store) List() ([]*Image, error) {
	ix, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var imgs []*Image
	for _, r := range slices.Sorted(maps.Keys(ix.Refs)) {
		d := ix.Refs[r]
		if rec := ix.Images[d]; rec != nil {
			imgs = append(imgs, s.image(r, d, rec))
		}
	}
	return imgs, nil
}

// Remove removes a reference from the store, or with a digest the image
// and every reference to it, and returns the references removed. An image
// no reference names is removed, and so are the layers no other image
// uses, unless a jail has them mounted (they go with the first Add or
// Remove after the last such jail), or an Add is under way (they go with
// the next Remove, or the next Add that starts while none is).
func (s *Store) Remove(ref string) ([]string, error) {
	var removed []string
	err := s.updateIndex(func(ix *index) error {
		norm, digest, err := ix.resolve(ref)
		if err != nil {
			return err
		}
		if strings.HasPrefix(ref, "sha256:") {
			for r, d := range ix.Refs {
				if d == digest {
					removed = append(removed, r)
				}
			}
		} else if _, ok := ix.Refs[norm]; ok {
			removed = []string{norm}
		} else { // name@digest of an image pulled by tag: its references there
			for r, d := range ix.Refs {
				if d == digest && repositoryOf(r) == repositoryOf(norm) {
					removed = append(removed, r)
				}
			}
		}
		for _, r := range removed {
			delete(ix.Refs, r)
		}
		if !slices.Contains(slices.Collect(maps.Values(ix.Refs)), digest) {
			delete(ix.Images, digest)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.Sort(removed)
	s.collect()
	return removed, nil
}

// image is the Image that rec describes.
func (s *Store) image(ref, digest string, rec *record) *Image {
	img := &Image{
		Ref: ref, Digest: digest, Config: rec.Config, Platform: rec.Platform, Created: rec.Created,
		Env: rec.Run.Env, Entrypoint: rec.Run.Entrypoint, Cmd: rec.Run.Cmd,
		WorkingDir: rec.Run.WorkingDir, User: rec.Run.User,
	}
	for _, l := range rec.Layers {
		img.Layers = append(img.Layers, filepath.Join(s.layerDir(l.DiffID), "root"))
		img.Size += l.Size
	}
	return img
}

// TempDir makes a private directory in the store for an import to unpack
// an archive into; release removes it. The store collects no garbage
// while it exists.
func (s *Store) TempDir() (dir string, release func(), err error) {
	unlock, err := s.lock("lock", lockShared)
	if err != nil {
		return "", nil, err
	}
	dir, err = os.MkdirTemp(filepath.Join(s.dir, "tmp"), "import-")
	if err != nil {
		unlock()
		return "", nil, err
	}
	return dir, func() { os.RemoveAll(dir); unlock() }, nil
}
