package prison

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"prison/image"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"1048576": 1 << 20, "16M": 16 << 20, "16m": 16 << 20, "2g": 2 << 30, "1T": 1 << 40, "512k": 512 << 10,
	} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "M", "16MB", "1.5G", "-1M", "12Q", "99999999999999999999", "9000000000000000T", " 1M"} {
		if got, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}

// withLayerDir points LayerDir at a fresh directory for the test.
func withLayerDir(t *testing.T) string {
	t.Helper()
	old := LayerDir
	LayerDir = filepath.Join(t.TempDir(), "jails")
	t.Cleanup(func() { LayerDir = old })
	return LayerDir
}

func TestValidateImage(t *testing.T) {
	layers := withLayerDir(t)
	base := t.TempDir()
	file := filepath.Join(base, "f")
	os.WriteFile(file, nil, 0o644)
	// A name with a kept layer on a disk of 32M, one with a layer in
	// directories.
	os.MkdirAll(filepath.Join(layers, "ondisk"), 0o700)
	os.WriteFile(filepath.Join(layers, "ondisk", "disk.img"), nil, 0o600)
	os.Truncate(filepath.Join(layers, "ondisk", "disk.img"), 32<<20)
	os.MkdirAll(filepath.Join(layers, "indir", "upper"), 0o700)
	store := filepath.Join(t.TempDir(), "images")
	t.Setenv(image.DirEnv, store)

	cases := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"image dir", func(c *Config) { c.Image = base }, ""},
		{"image missing", func(c *Config) { c.Image = "/no/such" }, `--image "/no/such": no such directory`},
		{"image relative missing", func(c *Config) { c.Image = "./no/such" }, `--image "./no/such": no such directory`},
		{"image file", func(c *Config) { c.Image = file }, `--image "` + file + `": not a directory`},
		{"image is /", func(c *Config) { c.Image = "/" }, `--image "/": the host's own root`},
		{"image unknown", func(c *Config) { c.Image = "nosuch:1" }, `--image "nosuch:1": no such directory, nor an image of that name in ` + store},
		{"image and root", func(c *Config) { c.Image, c.Root = base, base }, "--image " + `"` + base + `": cannot be combined with --root`},
		{"ephemeral alone", func(c *Config) { c.Ephemeral = true }, "--ephemeral: only with --image"},
		{"disk bad", func(c *Config) { c.Disk = "12Q" }, `--disk "12Q": want a number`},
		{"disk too small", func(c *Config) { c.Disk = "512k" }, `--disk "512k": below the minimum of 1M`},
		{"disk on --root", func(c *Config) { c.Root, c.Disk = base, "16M" }, `--disk "16M": needs a filesystem of the jail's own`},
		{"disk host-derived", func(c *Config) { c.Disk = "16M" }, ""},
		{"disk image", func(c *Config) { c.Image, c.Disk = base, "16M" }, ""},
		{"disk shrinks", func(c *Config) { c.Name, c.Image, c.Disk = "ondisk", base, "16M" }, `--disk "16M": jail ondisk's layer is on a disk of 32M, which prison does not shrink`},
		{"disk grows", func(c *Config) { c.Name, c.Image, c.Disk = "ondisk", base, "64M" }, ""},
		{"disk for a layer in directories", func(c *Config) { c.Name, c.Image, c.Disk = "indir", base, "16M" }, `--disk "16M": jail indir's layer was made without --disk`},
		{"disk ephemeral, layer in directories", func(c *Config) {
			c.Name, c.Image, c.Disk, c.Ephemeral = "indir", base, "16M", true
		}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Args = []string{"/bin/true"}
			if c.Name == "" {
				c.Name = "j"
			}
			tc.mod(&c)
			checkValidate(t, &c, tc.wantErr, strings.HasPrefix)
		})
	}
	// Looking for an image made no store, and no check made a layer.
	if _, err := os.Stat(store); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the image store was made by a lookup: %v", err)
	}
	if _, err := os.Stat(filepath.Join(layers, "j")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a layer was made by Validate: %v", err)
	}
}

func TestSpecImage(t *testing.T) {
	layers := withLayerDir(t)
	base := t.TempDir()
	os.MkdirAll(filepath.Join(layers, "ondisk"), 0o700)
	os.WriteFile(filepath.Join(layers, "ondisk", "disk.img"), nil, 0o600)
	os.Truncate(filepath.Join(layers, "ondisk", "disk.img"), 32<<20)

	cases := []struct {
		name      string
		mod       func(c *Config)
		layer     string // the annotation
		disk      string
		overlayOn bool
		size      int64 // the layout's
	}{
		{"kept", func(c *Config) { c.Name, c.Image = "web", base }, filepath.Join(layers, "web"), "", true, 0},
		{"kept on a disk", func(c *Config) { c.Name, c.Image, c.Disk = "web", base, "16M" }, filepath.Join(layers, "web"), "16777216", true, 16 << 20},
		{"kept disk's size", func(c *Config) { c.Name, c.Image = "ondisk", base }, filepath.Join(layers, "ondisk"), "33554432", true, 32 << 20},
		{"ephemeral", func(c *Config) { c.Name, c.Image, c.Ephemeral = "web", base, true }, "tmpfs", "", true, 0},
		{"ephemeral sized", func(c *Config) { c.Name, c.Image, c.Ephemeral, c.Disk = "web", base, true, "8M" }, "tmpfs", "8388608", true, 8 << 20},
		{"generated name", func(c *Config) { c.Image = base }, "tmpfs", "", true, 0},
		{"host-derived sized", func(c *Config) { c.Disk = "64M" }, "", "67108864", false, 64 << 20},
		{"host-derived", func(c *Config) {}, "", "", false, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			c.Args = []string{"/bin/true"}
			tc.mod(&c)
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			s, err := c.Spec()
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Annotations[AnnotationLayer]; got != tc.layer {
				t.Errorf("layer %q, want %q", got, tc.layer)
			}
			if got := s.Annotations[AnnotationDisk]; got != tc.disk {
				t.Errorf("disk %q, want %q", got, tc.disk)
			}
			l := layoutOf(s)
			if l.Size != tc.size {
				t.Errorf("layout size %d, want %d", l.Size, tc.size)
			}
			if !tc.overlayOn {
				if l.Overlay != nil || !l.HostDerived {
					t.Errorf("host-derived root: overlay %+v, host-derived %v", l.Overlay, l.HostDerived)
				}
				return
			}
			if l.HostDerived || s.Annotations[AnnotationRoot] != "" {
				t.Errorf("an image root is host-derived")
			}
			if want := filepath.Join(StateDir, c.Name, "root"); s.Root.Path != want {
				t.Errorf("root %q, want the mount point %q", s.Root.Path, want)
			}
			for _, m := range s.Mounts {
				if m.Destination == "/usr" || strings.HasPrefix(m.Destination, "/etc/") {
					t.Errorf("an image root gets the host's %s", m.Destination)
				}
			}
			o := l.Overlay
			if o == nil || !slices.Equal(o.Lower, []string{base}) {
				t.Fatalf("overlay %+v, want %s as its only layer", o, base)
			}
			if wantDir := strings.TrimPrefix(tc.layer, "tmpfs"); o.Dir != wantDir || o.Disk != (wantDir != "" && tc.disk != "") {
				t.Errorf("overlay dir %q disk %v", o.Dir, o.Disk)
			}
		})
	}
}

func TestSpecImageReadOnly(t *testing.T) {
	withLayerDir(t)
	c := DefaultConfig()
	c.Args, c.Name, c.Image, c.ReadOnly = []string{"/bin/true"}, "ro", t.TempDir(), true
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if !s.Root.Readonly || !layoutOf(s).Readonly {
		t.Errorf("--read-only lost on an image root")
	}
}

// TestPrepareLayer: a kept layer is made 0700 under a 0700 LayerDir, a
// start that fails removes a layer it made and keeps one it found, and a
// spec cannot point a jail at another name's layer.
func TestPrepareLayer(t *testing.T) {
	layers := withLayerDir(t)
	c := DefaultConfig()
	c.Args, c.Name, c.Image = []string{"/bin/true"}, "web", t.TempDir()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	s, err := c.Spec()
	if err != nil {
		t.Fatal(err)
	}
	j := &Jail{Name: "web", Spec: s}
	if err := j.prepareLayer(nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(layers, "web")
	for p, mode := range map[string]os.FileMode{layers: 0o700, dir: 0o700, dir + "/upper": 0o755, dir + "/work": 0o700} {
		if fi, err := os.Lstat(p); err != nil || !fi.IsDir() || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want a directory of mode %o", p, fi.Mode(), err, mode)
		}
	}
	j.layerDone(errors.New("start failed"))
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a failed start left the layer it made: %v", err)
	}

	os.MkdirAll(dir+"/upper", 0o755)
	os.WriteFile(dir+"/upper/kept", nil, 0o644)
	if err := j.prepareLayer(nil); err != nil {
		t.Fatal(err)
	}
	j.layerDone(errors.New("start failed"))
	if _, err := os.Stat(dir + "/upper/kept"); err != nil {
		t.Errorf("a failed start removed a layer it found: %v", err)
	}

	other := &Jail{Name: "other", Spec: s}
	if err := other.prepareLayer(nil); err == nil || !strings.Contains(err.Error(), "the layer of a jail named other is "+filepath.Join(layers, "other")) {
		t.Errorf("a jail took another name's layer: %v", err)
	}
}
