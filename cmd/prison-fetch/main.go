// Command prison-fetch brings images into prison's image store: prison
// image pull and prison image import run it, with arguments they have
// checked:
//
//	prison-fetch pull [-insecure] REF
//	prison-fetch import [-name REF] PATH
//
// It is a program of its own so that go-containerregistry, its code and
// its package initialisation (half a millisecond: regular expressions,
// compressors, TLS), stay out of every start of prison run.
//
// Exit status: 0, or 125 with one line on stderr.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"prison/image"
	"prison/image/fetch"
	"prison/internal/termbar"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "prison:", err)
		os.Exit(125)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("prison-fetch: want pull or import (prison image pull and import run it)")
	}
	fs := flag.NewFlagSet("prison-fetch "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	insecure := fs.Bool("insecure", false, "")
	as := fs.String("name", "", "")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("prison-fetch %s: want one argument, got %d", args[0], fs.NArg())
	}
	arg := fs.Arg(0)
	s, err := image.Open(image.DirFromEnv())
	if err != nil {
		return err
	}
	switch args[0] {
	case "pull":
		o := fetch.Options{Insecure: *insecure}
		bar := termbar.New(stderr, arg)
		if bar != nil {
			o.Progress = bar.Update
		}
		img, err := fetch.Pull(ctx, s, arg, o)
		bar.Finish()
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s %s\n", img.Ref, img.Digest)
		return nil
	case "import":
		imgs, err := fetch.Import(ctx, s, arg, *as)
		for _, img := range imgs {
			fmt.Fprintf(stdout, "%s %s\n", img.Ref, img.Digest)
		}
		if errors.Is(err, fetch.ErrNoName) {
			return fmt.Errorf("%w: give it one with --name REF", err)
		}
		return err
	}
	return fmt.Errorf("prison-fetch %q: want pull or import", args[0])
}
