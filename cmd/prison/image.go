package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"prison/image"
	"prison/internal/termbar"
	"prison/prison"
)

// imageCmd is prison image: the store of images that jails' roots are
// made of (package image).
func imageCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image COMMAND",
		Short: "Pull, import, list and remove the images that jails' roots are made of",
		Long: `Keep container images for jails' roots: pull them from a registry (Docker Hub,
quay.io, a registry of your own), import docker save and OCI archives, list and
remove them. Each layer is stored once, however many images share it, and is
extracted into a directory of its own for overlayfs to stack.

The store is ` + image.DefaultDir + ` (mode 0700: a layer's setuid files are the
image's); PRISON_IMAGE_DIR names another. Registry credentials are docker's:
$DOCKER_CONFIG/config.json or ~/.docker/config.json (docker login writes it).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &prison.ParamError{Err: fmt.Errorf("%q: not a prison image command (see prison image --help)", args[0])}
			}
			return cmd.Help()
		},
	}
	cmd.AddCommand(newImagePullCmd(), newImageImportCmd(), newImageListCmd(), newImageRmCmd())
	return cmd
}

// openImageStore opens the store that PRISON_IMAGE_DIR or the default
// names. Only root may: the store holds other users' files, setuid ones
// included, and writes them with their owners.
func openImageStore() (*image.Store, error) {
	if os.Geteuid() != 0 {
		return nil, prison.ErrNotRoot
	}
	return image.Open(image.DirFromEnv())
}

func newImagePullCmd() *cobra.Command {
	var insecure bool
	cmd := &cobra.Command{
		Use:   "pull [--insecure] REF",
		Short: "Fetch an image from its registry into the store",
		Long: `Fetch an image from its registry into the store, for this host's platform
(linux/` + runtime.GOARCH + `) when the image has several. Layers the store has already are
not fetched again. REF is as docker names images: alpine is
docker.io/library/alpine:latest. On success it prints the image's reference and
digest. A registry on localhost or 127.0.0.1 is spoken to in plain HTTP;
--insecure does so for any other.`,
		Example: `  prison image pull alpine:3.20
  prison image pull quay.io/prometheus/busybox@sha256:…
  prison image pull --insecure registry.lan:5000/team/app:1`,
		Args: exactArgs(1, "REF", "prison image pull [--insecure] REF"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := image.Normalize(args[0]); err != nil {
				return &prison.ParamError{Err: err}
			}
			if _, err := openImageStore(); err != nil {
				return err
			}
			return execFetch("pull", "-insecure="+strconv.FormatBool(insecure), args[0])
		},
	}
	cmd.Flags().BoolVar(&insecure, "insecure", false, "speak plain HTTP to the registry")
	return cmd
}

func newImageImportCmd() *cobra.Command {
	var as string
	cmd := &cobra.Command{
		Use:   "import [--name REF] FILE|DIR",
		Short: "Add the images of a docker save archive or an OCI layout to the store",
		Long: `Add images to the store from a tar archive that docker save or podman save
wrote, from an OCI image layout (a directory), or from a tar archive of one
(podman save --format oci-archive, skopeo copy oci-archive:). Each image is
named as the archive names it (docker save's tags; an OCI layout's
io.containerd.image.name, or its org.opencontainers.image.ref.name when that
is a full reference), or --name REF, for an archive of one image. It prints
each image's reference and digest.`,
		Example: `  docker save -o app.tar app:1 && prison image import app.tar
  prison image import --name app:1 ./oci-layout
  podman save --format oci-archive -o app.tar app:1 && prison image import --name app:1 app.tar`,
		Args: exactArgs(1, "FILE", "prison image import [--name REF] FILE|DIR"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if as != "" {
				if _, err := image.Normalize(as); err != nil {
					return &prison.ParamError{Err: fmt.Errorf("--name: %w", err)}
				}
			}
			if _, err := openImageStore(); err != nil {
				return err
			}
			return execFetch("import", "-name="+as, args[0])
		},
	}
	cmd.Flags().StringVar(&as, "name", "", "the reference to store the image under (an archive of one image)")
	return cmd
}

// imageRow is an image as prison image ls --json shows it.
type imageRow struct {
	Ref      string    `json:"ref"`
	Digest   string    `json:"digest"`
	Size     int64     `json:"size"`
	Created  time.Time `json:"created,omitzero"`
	Platform string    `json:"platform,omitempty"`
	Config   string    `json:"config"`
	Layers   []string  `json:"layers"`
}

func newImageListCmd() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [--json]",
		Aliases: []string{"list"},
		Short:   "List the images of the store",
		Long: `List the images of the store, one line per reference: the reference, the
short digest of its manifest (which prison image rm takes too), the size of its
layers once unpacked, and when it was built. --json gives every field, and the
layers' directories, lowest first.`,
		Example: `  prison image ls
  prison image ls --json | jq -r '.[].layers[]'`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, err := openImageStore()
			if err != nil {
				return err
			}
			imgs, err := s.List()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				rows := make([]imageRow, 0, len(imgs))
				for _, i := range imgs {
					rows = append(rows, imageRow{i.Ref, i.Digest, i.Size, i.Created, i.Platform, i.Config, i.Layers})
				}
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(rows)
			}
			w := tabwriter.NewWriter(out, 0, 8, 2, ' ', 0)
			fmt.Fprintln(w, "REF\tDIGEST\tSIZE\tCREATED")
			for _, i := range imgs {
				created := "-"
				if !i.Created.IsZero() {
					created = i.Created.UTC().Format("2006-01-02 15:04 UTC")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", i.Ref, image.ShortDigest(i.Digest), termbar.Size(i.Size), created)
			}
			return w.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "one JSON document, with the layers' directories")
	return cmd
}

func newImageRmCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "rm REF...",
		Aliases: []string{"remove"},
		Short:   "Remove images from the store",
		Long: `Remove references from the store; with a digest (sha256: and 12 or more of its
hex digits, as prison image ls shows it), the image and every reference to it.
An image no reference names is removed, and so are the layers no other image
uses. A layer that a running jail has mounted stays until that jail is gone:
the next pull, import or rm removes it then.`,
		Example: `  prison image rm alpine:3.20
  prison image rm sha256:4bcff63911fc`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return &prison.ParamError{Err: errors.New("REF: missing (usage: prison image rm REF...)")}
			}
			s, err := openImageStore()
			if err != nil {
				return err
			}
			var errs []error
			for _, ref := range args {
				if _, err := s.Remove(ref); err != nil {
					if errors.Is(err, image.ErrNotFound) {
						err = fmt.Errorf("%w (prison image ls lists them)", err)
					}
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		},
	}
}

// exactArgs is cobra.ExactArgs with prison's one-line usage error.
func exactArgs(n int, what, usage string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) < n:
			return &prison.ParamError{Err: fmt.Errorf("%s: missing (usage: %s)", what, usage)}
		case len(args) > n:
			return &prison.ParamError{Err: fmt.Errorf("%q: one %s only (usage: %s)", args[n], what, usage)}
		}
		return nil
	}
}

// execFetch runs prison-fetch, which pulls and imports (its doc says why
// it is a program of its own), in place of this process: its output, exit
// status and signals are prison image's. It is the one beside this
// binary (make install puts it there), else the one on PATH.
func execFetch(args ...string) error {
	bin := ""
	if self, err := os.Executable(); err == nil {
		if p := filepath.Join(filepath.Dir(self), "prison-fetch"); fileExists(p) {
			bin = p
		}
	}
	if bin == "" {
		p, err := exec.LookPath("prison-fetch")
		if err != nil {
			return errors.New("prison-fetch: not beside prison nor on PATH (make install puts it beside prison)")
		}
		bin = p
	}
	err := syscall.Exec(bin, append([]string{"prison-fetch"}, args...), os.Environ())
	return fmt.Errorf("prison-fetch: %w", err)
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
