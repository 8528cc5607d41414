package rootfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"prison/internal/roottest"
)

func requireRoot(t *testing.T) {
	t.Helper()
	roottest.Require(t)
	if _, err := lookTool("mkfs.ext4"); err != nil {
		t.Skip(err)
	}
}

func TestMakeDiskGrowsNeverShrinks(t *testing.T) {
	requireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := MakeDisk(img, 4<<20); err != nil {
		t.Fatal(err)
	}
	size := func() int64 {
		fi, err := os.Stat(img)
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	if got := size(); got != 4<<20 {
		t.Fatalf("made %d bytes, want %d", got, 4<<20)
	}
	if err := run("e2fsck", "-f", "-n", img); err != nil {
		t.Fatalf("made filesystem does not check clean: %v", err)
	}
	if err := MakeDisk(img, 8<<20); err != nil {
		t.Fatal(err)
	}
	if got := size(); got != 8<<20 {
		t.Errorf("grown to %d bytes, want %d", got, 8<<20)
	}
	if err := run("e2fsck", "-f", "-n", img); err != nil {
		t.Errorf("grown filesystem does not check clean: %v", err)
	}
	err := MakeDisk(img, 4<<20)
	if err == nil || !strings.Contains(err.Error(), "never shrunk") {
		t.Errorf("shrink: %v, want a refusal", err)
	}
	if got := size(); got != 8<<20 {
		t.Errorf("after a refused shrink: %d bytes", got)
	}
}

func TestAttachLoopAutoclear(t *testing.T) {
	requireRoot(t)
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := MakeDisk(img, 2<<20); err != nil {
		t.Fatal(err)
	}
	f, dev, err := AttachLoop(img)
	if err != nil {
		t.Fatal(err)
	}
	if got := LoopOf(img); got != dev {
		f.Close()
		t.Fatalf("LoopOf: %q, want %q", got, dev)
	}
	if err := WaitDetached(img, 50*time.Millisecond); err == nil {
		t.Errorf("WaitDetached returned while %s holds the image", dev)
	}
	// Closing the last handle of an unmounted device detaches it.
	f.Close()
	if err := WaitDetached(img, 5*time.Second); err != nil {
		t.Error(err)
	}
}
