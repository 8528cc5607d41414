package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// index is index.json: which image each reference names, and what each
// image is made of.
type index struct {
	Version int                `json:"version"`
	Refs    map[string]string  `json:"refs"`   // normalized reference → manifest digest
	Images  map[string]*record `json:"images"` // manifest digest → image
}

const indexVersion = 1

// record is one image of the index.
type record struct {
	Config   string        `json:"config"` // configuration's digest
	Platform string        `json:"platform,omitempty"`
	Created  time.Time     `json:"created,omitzero"`
	Layers   []layerRecord `json:"layers"` // lowest first
	Run      runConfig     `json:"run"`
}

type layerRecord struct {
	DiffID string `json:"diffID"`
	Size   int64  `json:"size"` // bytes of its uncompressed archive
}

func (s *Store) indexPath() string { return filepath.Join(s.dir, "index.json") }

// readIndex reads index.json, which is only ever replaced whole (rename):
// no lock is needed to read it.
func (s *Store) readIndex() (*index, error) {
	ix := &index{Version: indexVersion, Refs: map[string]string{}, Images: map[string]*record{}}
	b, err := os.ReadFile(s.indexPath())
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, ix); err != nil {
		return nil, fmt.Errorf("image store %s: %w", s.indexPath(), err)
	}
	if ix.Version != indexVersion {
		return nil, fmt.Errorf("image store %s: version %d, and this prison knows version %d", s.indexPath(), ix.Version, indexVersion)
	}
	if ix.Refs == nil {
		ix.Refs = map[string]string{}
	}
	if ix.Images == nil {
		ix.Images = map[string]*record{}
	}
	return ix, nil
}

// updateIndex changes index.json with fn, under index.lock: the changes
// of concurrent processes are serialized, none lost.
func (s *Store) updateIndex(fn func(*index) error) error {
	unlock, err := s.lock("index.lock", lockExclusive)
	if err != nil {
		return err
	}
	defer unlock()
	ix, err := s.readIndex()
	if err != nil {
		return err
	}
	if err := fn(ix); err != nil {
		return err
	}
	b, err := json.MarshalIndent(ix, "", "  ")
	if err != nil {
		return err
	}
	return replaceFile(s.indexPath(), append(b, '\n'))
}

// resolve finds the image that ref names: a reference, or a digest
// (sha256: and at least 12 hex digits of it, unambiguous). It returns the
// normalized reference (for a digest, the first that names the image, if
// any) and the image's digest.
func (ix *index) resolve(ref string) (norm, digest string, err error) {
	if hexPart, ok := strings.CutPrefix(ref, "sha256:"); ok {
		if len(hexPart) < 12 || len(hexPart) > 64 || !isHex(hexPart) {
			return "", "", fmt.Errorf("image %q: want sha256: and 12 to 64 hex digits of a digest", ref)
		}
		for d := range ix.Images {
			if strings.HasPrefix(d, ref) {
				if digest != "" {
					return "", "", fmt.Errorf("image %q: ambiguous: %s and %s", ref, shortDigest(digest), shortDigest(d))
				}
				digest = d
			}
		}
		if digest == "" {
			return "", "", fmt.Errorf("image %s: %w", ref, ErrNotFound)
		}
		var refs []string
		for r, d := range ix.Refs {
			if d == digest {
				refs = append(refs, r)
			}
		}
		if len(refs) > 0 {
			norm = slices.Min(refs)
		}
		return norm, digest, nil
	}
	norm, err = Normalize(ref)
	if err != nil {
		return "", "", err
	}
	if d, ok := ix.Refs[norm]; ok && ix.Images[d] != nil {
		return norm, d, nil
	}
	// name@digest of an image stored under another reference of the
	// same repository (pulled by tag) is that image.
	if _, d, ok := strings.Cut(norm, "@"); ok && ix.Images[d] != nil {
		for r, rd := range ix.Refs {
			if rd == d && repositoryOf(r) == repositoryOf(norm) {
				return norm, d, nil
			}
		}
	}
	return "", "", fmt.Errorf("image %s: %w", norm, ErrNotFound)
}
