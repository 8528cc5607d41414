package cachefile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestWriteRead(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "cache")
	p := filepath.Join(dir, "x")
	if err := Write(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two")); err != nil {
		t.Fatal(err)
	}
	if b, ok := Read(p); !ok || string(b) != "two" {
		t.Errorf("Read = %q, %v; want the last write", b, ok)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("the cache directory holds %d entries, want only the file", len(ents))
	}
	// Writable by others: whoever could write it would choose what jails
	// get, so it is not read.
	if err := os.Chmod(p, 0o622); err != nil {
		t.Fatal(err)
	}
	if _, ok := Read(p); ok {
		t.Errorf("a cache file others may write was read")
	}
	if err := os.Chmod(p, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if _, ok := Read(p); ok {
		t.Errorf("a cache file in a directory others may write was read")
	}
	if _, ok := Read(filepath.Join(dir, "missing")); ok {
		t.Errorf("a missing file was read")
	}
}
