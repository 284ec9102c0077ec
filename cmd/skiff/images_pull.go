package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/skiff-project/skiff/storage"
)

// registryFlags binds the flags shared by commands that talk to registries.
type registryFlags struct {
	opts      storage.RegistryOptions
	tlsVerify bool
	stall     time.Duration
	flags     *pflag.FlagSet
}

func (r *registryFlags) bind(fs *pflag.FlagSet, withPlatform bool) {
	r.flags = fs
	fs.StringVar(&r.opts.AuthFile, "authfile", "", "path of the authentication file (default $XDG_RUNTIME_DIR/containers/auth.json)")
	fs.StringVar(&r.opts.CertDir, "cert-dir", "", "directory with certificates (*.crt, *.cert, *.key) for the registry")
	fs.BoolVar(&r.tlsVerify, "tls-verify", true, "require HTTPS and verify certificates (default true, unless registries.conf lists the registry as insecure)")
	fs.StringVar(&r.opts.Creds, "creds", "", "credentials USERNAME[:PASSWORD] for the registry")
	if withPlatform { // the commands that pull: pull, run, create
		fs.StringVar(&r.opts.Platform, "platform", "", "pull the image for OS/ARCH[/VARIANT] instead of the host's")
		fs.DurationVar(&r.stall, "stall-timeout", storage.DefaultStallTimeout, "give up a pull when the registry sends nothing for this long (0: wait forever)")
	}
}

// resolve returns the options with --tls-verify applied only when given.
func (r *registryFlags) resolve() storage.RegistryOptions {
	o := r.opts
	if r.flags != nil && r.flags.Changed("tls-verify") {
		v := r.tlsVerify
		o.TLSVerify = &v
	}
	if r.flags != nil && r.flags.Changed("stall-timeout") {
		o.StallTimeout = r.stall
		if r.stall <= 0 {
			o.StallTimeout = -1 // wait forever
		}
	}
	return o
}

// progressWriter is where progress bars go: stderr on a terminal, nowhere
// when piped or quiet.
func progressWriter(w io.Writer, quiet bool) io.Writer {
	if quiet {
		return nil
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return w
	}
	return nil
}

// pullOptions are pull's options.
type pullOptions struct {
	storage.PullOptions
	quiet bool
}

func newPullCmd(g *globalOptions) *cobra.Command {
	var reg registryFlags
	var quiet, allTags bool
	c := &cobra.Command{
		Use:   "pull [flags] IMAGE",
		Short: "Pull an image from a registry",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (pullOptions, error) {
			return pullOptions{PullOptions: storage.PullOptions{RegistryOptions: reg.resolve(), Reference: args[0], AllTags: allTags}, quiet: quiet}, nil
		}, runPull),
	}
	reg.bind(c.Flags(), true)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image id, no progress")
	c.Flags().BoolVarP(&allTags, "all-tags", "a", false, "pull every tagged image of the repository")
	return withStore(c)
}

func runPull(ctx context.Context, g *globalOptions, o pullOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	p := o.PullOptions
	p.Progress = progressWriter(g.stderr, o.quiet)
	reports, err := e.PullImage(ctx, p)
	if err != nil {
		return err
	}
	for _, r := range reports {
		fmt.Fprintln(stdout, r.ID)
	}
	return nil
}

// pushOptions are push's options.
type pushOptions struct {
	storage.PushOptions
	quiet bool
}

func newPushCmd(g *globalOptions) *cobra.Command {
	var reg registryFlags
	var quiet bool
	var format string
	c := &cobra.Command{
		Use:   "push [flags] IMAGE [DESTINATION]",
		Short: "Push an image to a registry",
		Args:  rangeArgs(1, 2),
		RunE: action(g, func(c *cobra.Command, args []string) (pushOptions, error) {
			o := pushOptions{PushOptions: storage.PushOptions{RegistryOptions: reg.resolve(), Source: args[0], Format: format}, quiet: quiet}
			if len(args) == 2 {
				o.Destination = args[1]
			}
			return o, nil
		}, runPush),
	}
	reg.bind(c.Flags(), false)
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	c.Flags().StringVarP(&format, "format", "f", "", "manifest type to push: oci or v2s2 (default: keep the image's)")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runPush(ctx context.Context, g *globalOptions, o pushOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	p := o.PushOptions
	p.Progress = progressWriter(g.stderr, o.quiet)
	return e.PushImage(ctx, p)
}
