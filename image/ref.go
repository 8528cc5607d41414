package image

import (
	"fmt"
	"strings"
)

// Docker Hub's names, as references spell it and as registries serve it.
const (
	dockerHub      = "docker.io"
	dockerHubIndex = "index.docker.io"
)

// Normalize returns ref in the store's form: registry, repository and tag
// (or digest) spelt out, as Docker names images:
//
//	alpine                  docker.io/library/alpine:latest
//	127.0.0.1:5000/x:1      127.0.0.1:5000/x:1
//	quay.io/a/b@sha256:…    quay.io/a/b@sha256:…
//
// The first component is a registry when it is localhost or has a '.' or
// a ':' (go-containerregistry's rule, which the tests hold it to); a tag
// given with a digest is dropped, the digest naming the image already.
func Normalize(ref string) (string, error) {
	if ref == "" {
		return "", fmt.Errorf("image reference %q: empty", ref)
	}
	if strings.Contains(ref, "://") {
		return "", fmt.Errorf("image reference %q: no URL scheme (a registry is host[:port])", ref)
	}
	rest, dgst, hasDigest := strings.Cut(ref, "@")
	if hasDigest {
		if err := checkDigest(dgst); err != nil {
			return "", fmt.Errorf("image reference %q: %w", ref, err)
		}
	}
	registry, repo := "", rest
	if first, after, ok := strings.Cut(rest, "/"); ok && (first == "localhost" || strings.ContainsAny(first, ".:")) {
		registry, repo = first, after
	}
	tag := ""
	if i := strings.LastIndexByte(repo, ':'); i >= 0 {
		repo, tag = repo[:i], repo[i+1:]
		if err := checkTag(tag); err != nil {
			return "", fmt.Errorf("image reference %q: %w", ref, err)
		}
	}
	if registry == "" || registry == dockerHubIndex {
		registry = dockerHub
	}
	if err := checkRegistry(registry); err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	if registry == dockerHub && !strings.Contains(repo, "/") {
		repo = "library/" + repo
	}
	if err := checkRepository(repo); err != nil {
		return "", fmt.Errorf("image reference %q: %w", ref, err)
	}
	if hasDigest {
		return registry + "/" + repo + "@" + dgst, nil
	}
	if tag == "" {
		tag = "latest"
	}
	return registry + "/" + repo + ":" + tag, nil
}

// repositoryOf is the registry and repository of a normalized reference.
func repositoryOf(norm string) string {
	if i := strings.IndexByte(norm, '@'); i >= 0 {
		return norm[:i]
	}
	if i := strings.LastIndexByte(norm, ':'); i > strings.LastIndexByte(norm, '/') {
		return norm[:i]
	}
	return norm
}

func checkDigest(d string) error {
	hex, ok := strings.CutPrefix(d, "sha256:")
	if !ok || len(hex) != 64 || !isHex(hex) {
		return fmt.Errorf("digest %q: want sha256: and 64 hex digits", d)
	}
	return nil
}

func isHex(s string) bool {
	for _, c := range []byte(s) {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func checkTag(t string) error {
	if t == "" || len(t) > 128 || !onlyChars(t, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.") {
		return fmt.Errorf("tag %q: want 1 to 128 letters, digits, '_', '-' or '.'", t)
	}
	return nil
}

func checkRepository(r string) error {
	if r == "" || len(r) > 255 || !onlyChars(r, "abcdefghijklmnopqrstuvwxyz0123456789_-./") ||
		strings.HasPrefix(r, "/") || strings.HasSuffix(r, "/") || strings.Contains(r, "//") {
		return fmt.Errorf("repository %q: want lowercase letters, digits, '_', '-', '.' and '/' between components", r)
	}
	return nil
}

func checkRegistry(r string) error {
	host, port, hasPort := strings.Cut(r, ":")
	if host == "" || !onlyChars(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.") ||
		(hasPort && (port == "" || !onlyChars(port, "0123456789"))) {
		return fmt.Errorf("registry %q: want host[:port]", r)
	}
	return nil
}

func onlyChars(s, set string) bool {
	for _, c := range s {
		if !strings.ContainsRune(set, c) {
			return false
		}
	}
	return true
}
