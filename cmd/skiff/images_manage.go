package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/storage"
)

func newImageInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [flags] IMAGE [IMAGE...]",
		Short: "Show details of images",
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.inspectImages(c, args, format)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

// newInspectCmd is the top-level inspect; containers join it with the
// container issue, images work now.
func newInspectCmd(g *globalOptions) *cobra.Command {
	var format, kind string
	c := &cobra.Command{
		Use:   "inspect [flags] NAME [NAME...]",
		Short: "Show details of images or containers",
		Args:  minArgs(1),
		PreRunE: func(c *cobra.Command, args []string) error {
			if kind != "" && kind != "image" && kind != "container" && kind != "all" {
				return usagef("invalid --type %q: use container, image or all", kind)
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			return g.inspect(c, args, format, kind)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.Flags().StringVarP(&kind, "type", "t", "", "what to inspect: container, image or all")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

// newContainerInspectCmd is `container inspect`: inspect of containers only.
func newContainerInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [flags] CONTAINER [CONTAINER...]",
		Short: "Show details of containers",
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			return g.inspect(c, args, format, "container")
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func (g *globalOptions) inspectImages(c *cobra.Command, names []string, format string) error {
	return g.inspect(c, names, format, "image")
}

// inspect describes containers (by name or id first, as docker does) and
// images.
func (g *globalOptions) inspect(c *cobra.Command, names []string, format, kind string) error {
	if err := checkFormat(format); err != nil {
		return err
	}
	e, err := g.engine(c.Context())
	if err != nil {
		return err
	}
	var out []any
	var errs []error
	for _, n := range names {
		if kind != "image" && e.IsContainer(c.Context(), n) {
			info, err := e.InspectContainer(c.Context(), n)
			if err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, info)
			}
			continue
		}
		if kind != "image" {
			// An id prefix of several containers says so.
			if _, err := e.LookupContainer(c.Context(), n); errors.Is(err, config.ErrAmbiguousID) {
				errs = append(errs, err)
				continue
			}
		}
		if kind == "container" {
			errs = append(errs, fmt.Errorf("%w: %s", config.ErrNoSuchContainer, n))
			continue
		}
		info, err := e.InspectImage(c.Context(), n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, info)
	}
	if err := writeInspect(g.stdout, format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}

func newRmiCmd(g *globalOptions, use string) *cobra.Command {
	var force, all bool
	c := &cobra.Command{
		Use:     use + " [flags] IMAGE [IMAGE...]",
		Aliases: aliasesFor(use),
		Short:   "Remove images",
		Args: func(c *cobra.Command, args []string) error {
			if all != (len(args) == 0) {
				return usagef("%q takes image names, or --all without names (see '%s --help')", c.CommandPath(), c.CommandPath())
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if all {
				list, err := e.ListImages(c.Context(), storage.ListOptions{All: true})
				if err != nil {
					return err
				}
				for _, s := range list {
					args = append(args, s.ID)
				}
			}
			var errs []error
			for _, r := range e.RemoveImages(c.Context(), args, force || all) {
				for _, u := range r.Untagged {
					fmt.Fprintf(g.stdout, "Untagged: %s\n", u)
				}
				if r.Deleted != "" {
					fmt.Fprintf(g.stdout, "Deleted: %s\n", r.Deleted)
				}
				if r.Err != nil {
					errs = append(errs, r.Err)
				}
			}
			return errors.Join(errs...)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove an image even when it has several names")
	c.Flags().BoolVarP(&all, "all", "a", false, "remove every image")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func newTagCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "tag IMAGE TARGET [TARGET...]",
		Short: "Add names to an image",
		Args:  minArgs(2),
		PreRunE: func(c *cobra.Command, args []string) error {
			for _, t := range args[1:] {
				if _, err := storage.NormalizeName(t); err != nil {
					return usagef("%v", err)
				}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return e.TagImage(c.Context(), args[0], args[1:])
		},
	}
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func newUntagCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "untag IMAGE [NAME...]",
		Short: "Remove names from an image (all names when none is given)",
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return e.UntagImage(c.Context(), args[0], args[1:])
		},
	}
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

type historyRow struct {
	ID, Created, CreatedBy, Size, Comment string
	CreatedAt                             string
	Tags                                  []string
}

func newHistoryCmd(g *globalOptions) *cobra.Command {
	var quiet, noTrunc, human bool
	var format string
	c := &cobra.Command{
		Use:   "history [flags] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			hist, err := e.ImageHistory(c.Context(), args[0])
			if err != nil {
				return err
			}
			var rows []any
			for _, h := range hist {
				id := h.ID
				if !noTrunc && len(id) > 12 {
					id = id[:12]
				}
				if quiet {
					fmt.Fprintln(g.stdout, id)
					continue
				}
				by := strings.TrimSpace(h.CreatedBy)
				if !noTrunc && len(by) > 45 {
					by = by[:42] + "..."
				}
				r := historyRow{ID: id, CreatedBy: by, Comment: h.Comment, Tags: h.Tags,
					Created: since(h.Created), CreatedAt: h.Created.Format("2006-01-02T15:04:05Z07:00"),
					Size: humanSize(h.Size)}
				if !human {
					r.Created = r.CreatedAt
					r.Size = fmt.Sprint(h.Size)
				}
				rows = append(rows, r)
			}
			if quiet {
				return nil
			}
			return listFormat{format: format, defaultTable: "{{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
				titles: map[string]string{"ID": "IMAGE", "CreatedBy": "CREATED BY"}}.write(g.stdout, rows, hist)
		},
	}
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only ids")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate output")
	c.Flags().BoolVarP(&human, "human", "H", true, "sizes and dates in human-readable form")
	c.PreRunE = func(c *cobra.Command, args []string) error { return checkFormat(format) }
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func newSaveCmd(g *globalOptions) *cobra.Command {
	var o storage.SaveOptions
	var quiet bool
	c := &cobra.Command{
		Use:   "save [flags] IMAGE [IMAGE...]",
		Short: "Save images to an archive",
		Args:  minArgs(1),
		PreRunE: func(c *cobra.Command, args []string) error {
			if o.Format != "" && o.Format != storage.FormatDockerArchive && o.Format != storage.FormatOCIArchive {
				return usagef("invalid --format %q: use docker-archive or oci-archive", o.Format)
			}
			if o.Format == storage.FormatOCIArchive && len(args) > 1 {
				return usagef("oci-archive holds one image; use --format docker-archive to save several")
			}
			if o.Output == "" {
				if f, ok := g.stdout.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return usagef("refusing to write an archive to a terminal: use -o FILE or redirect stdout")
				}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			o.Names = args
			o.Progress = progressWriter(g.stderr, quiet)
			if o.Output == "" || o.Output == "-" {
				o.Output, o.Writer, o.Progress = "", g.stdout, nil
			}
			return e.SaveImages(c.Context(), o)
		},
	}
	c.Flags().StringVarP(&o.Output, "output", "o", "", "write to this file (default: standard output)")
	c.Flags().StringVar(&o.Format, "format", storage.FormatDockerArchive, "archive format: docker-archive or oci-archive")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func newLoadCmd(g *globalOptions) *cobra.Command {
	var input string
	var quiet bool
	c := &cobra.Command{
		Use:   "load [flags]",
		Short: "Load images from a docker-archive or oci-archive",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, args []string) error {
			if input == "" {
				if f, ok := g.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
					return usagef("no archive given: use -i FILE or pipe one to standard input")
				}
			} else if _, err := os.Stat(input); err != nil {
				return usagef("cannot read %s: %v", input, errors.Unwrap(err))
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			path := input
			if path == "" || path == "-" {
				p, cleanup, err := e.SpoolStdin(g.stdin)
				if err != nil {
					return err
				}
				defer cleanup()
				path = p
			}
			reports, err := e.LoadImages(c.Context(), path, progressWriter(g.stderr, quiet))
			if err != nil {
				return err
			}
			for _, r := range reports {
				if len(r.Names) == 0 {
					fmt.Fprintf(g.stdout, "Loaded image: sha256:%s\n", r.ID)
				}
				for _, n := range r.Names {
					fmt.Fprintf(g.stdout, "Loaded image: %s\n", n)
				}
			}
			return nil
		},
	}
	c.Flags().StringVarP(&input, "input", "i", "", "read from this file (default: standard input)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	return withStore(c)
}

func newImportCmd(g *globalOptions) *cobra.Command {
	var o storage.ImportOptions
	c := &cobra.Command{
		Use:   "import [flags] FILE|- [REFERENCE]",
		Short: "Make an image from a root filesystem tarball",
		Args:  rangeArgs(1, 2),
		PreRunE: func(c *cobra.Command, args []string) error {
			if len(args) == 2 {
				if _, err := storage.NormalizeName(args[1]); err != nil {
					return usagef("%v", err)
				}
			}
			if args[0] != "-" {
				if _, err := os.Stat(args[0]); err != nil {
					return usagef("cannot read %s: %v", args[0], errors.Unwrap(err))
				}
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			o.Path = args[0]
			if o.Path == "-" {
				p, cleanup, err := e.SpoolStdin(g.stdin)
				if err != nil {
					return err
				}
				defer cleanup()
				o.Path = p
			}
			if len(args) == 2 {
				o.Reference = args[1]
			}
			id, err := e.ImportImage(c.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, id)
			return nil
		},
	}
	c.Flags().StringVarP(&o.Message, "message", "m", "", "commit message recorded in the image history")
	return withStore(c)
}

func newImagePruneCmd(g *globalOptions) *cobra.Command {
	var all, force bool
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove dangling images (all unused ones with -a)",
		Args:  exactArgs(0),
		RunE: func(c *cobra.Command, args []string) error {
			warning := warnPruneImages
			if all {
				warning = warnPruneImagesAll
			}
			if !force && !g.confirm(warning) {
				return nil
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			ids, err := e.PruneImages(c.Context(), all)
			for _, id := range ids {
				fmt.Fprintln(g.stdout, id)
			}
			return err
		},
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "remove every image no container uses, not only dangling ones")
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return withStore(c)
}
