package test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"prison/internal/ociimage"
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

// writeOCIImage writes DIR/NAME-oci.tar and DIR/NAME-docker.tar for image
// ref (REPO:TAG), whose command is cmd: the busybox root as its one layer,
// built once for every image.
func writeOCIImage(dir, ref string, cmd []string) (ociPath, dockerPath string, err error) {
	ociLayerOnce.Do(func() { ociLayer, ociLayerErr = ociimage.Layer(busyboxDir) })
	if ociLayerErr != nil {
		return "", "", ociLayerErr
	}
	return ociimage.WriteLayer(ociLayer, dir, ref, cmd)
}
