package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/storage"
)

func newImageInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [flags] IMAGE [IMAGE...]",
		Short: "Show details of images",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (inspectOptions, error) {
			return inspectOptions{names: args, format: format, kind: "image"}, checkFormat(format)
		}, runInspect),
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

// newInspectCmd is the top-level inspect: containers by name or id first,
// as docker looks, then images.
func newInspectCmd(g *globalOptions) *cobra.Command {
	var format, kind string
	c := &cobra.Command{
		Use:   "inspect [flags] NAME [NAME...]",
		Short: "Show details of images or containers",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (inspectOptions, error) {
			if kind != "" && kind != "image" && kind != "container" && kind != "all" {
				return inspectOptions{}, usagef("invalid --type %q: use container, image or all", kind)
			}
			return inspectOptions{names: args, format: format, kind: kind}, checkFormat(format)
		}, runInspect),
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
		RunE: action(g, func(c *cobra.Command, args []string) (inspectOptions, error) {
			return inspectOptions{names: args, format: format, kind: "container"}, checkFormat(format)
		}, runInspect),
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// runInspect describes containers (by name or id first, as docker does)
// and images.
func runInspect(ctx context.Context, g *globalOptions, o inspectOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	var out []any
	var errs []error
	for _, n := range o.names {
		if o.kind != "image" && e.IsContainer(ctx, n) {
			info, err := e.InspectContainer(ctx, n)
			if err != nil {
				errs = append(errs, err)
			} else {
				out = append(out, info)
			}
			continue
		}
		if o.kind != "image" {
			// An id prefix of several containers says so.
			if _, err := e.LookupContainer(ctx, n); errors.Is(err, config.ErrAmbiguousID) {
				errs = append(errs, err)
				continue
			}
		}
		if o.kind == "container" {
			errs = append(errs, fmt.Errorf("%w: %s", config.ErrNoSuchContainer, n))
			continue
		}
		info, err := e.InspectImage(ctx, n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, info)
	}
	if err := writeInspect(stdout, o.format, out); err != nil {
		return err
	}
	return errors.Join(errs...)
}

// rmiOptions are rmi's options.
type rmiOptions struct {
	names      []string
	force, all bool
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
		RunE: action(g, func(c *cobra.Command, args []string) (rmiOptions, error) {
			return rmiOptions{names: args, force: force, all: all}, nil
		}, runRmi),
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove an image even when it has several names")
	c.Flags().BoolVarP(&all, "all", "a", false, "remove every image")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runRmi(ctx context.Context, g *globalOptions, o rmiOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	names := o.names
	if o.all {
		list, err := e.ListImages(ctx, storage.ListOptions{All: true})
		if err != nil {
			return err
		}
		for _, s := range list {
			names = append(names, s.ID)
		}
	}
	var errs []error
	for _, r := range e.RemoveImages(ctx, names, o.force || o.all) {
		for _, u := range r.Untagged {
			fmt.Fprintf(stdout, "Untagged: %s\n", u)
		}
		if r.Deleted != "" {
			fmt.Fprintf(stdout, "Deleted: %s\n", r.Deleted)
		}
		if r.Err != nil {
			errs = append(errs, r.Err)
		}
	}
	return errors.Join(errs...)
}

// tagOptions are tag's and untag's options.
type tagOptions struct {
	image string
	names []string // tag: the new names; untag: those to remove, or all
}

func imageAndNames(c *cobra.Command, args []string) (tagOptions, error) {
	return tagOptions{image: args[0], names: args[1:]}, nil
}

func newTagCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "tag IMAGE TARGET [TARGET...]",
		Short: "Add names to an image",
		Args:  minArgs(2),
		RunE: action(g, func(c *cobra.Command, args []string) (tagOptions, error) {
			for _, t := range args[1:] {
				if _, err := storage.NormalizeName(t); err != nil {
					return tagOptions{}, usagef("%v", err)
				}
			}
			return imageAndNames(c, args)
		}, runTag),
	}
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runTag(ctx context.Context, g *globalOptions, o tagOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return e.TagImage(ctx, o.image, o.names)
}

func newUntagCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "untag IMAGE [NAME...]",
		Short: "Remove names from an image (all names when none is given)",
		Args:  minArgs(1),
		RunE:  action(g, imageAndNames, runUntag),
	}
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runUntag(ctx context.Context, g *globalOptions, o tagOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return e.UntagImage(ctx, o.image, o.names)
}

type historyRow struct {
	ID, Created, CreatedBy, Size, Comment string
	CreatedAt                             string
	Tags                                  []string
}

// historyOptions are history's options.
type historyOptions struct {
	image                 string
	quiet, noTrunc, human bool
	format                string
}

func newHistoryCmd(g *globalOptions) *cobra.Command {
	var f historyOptions
	c := &cobra.Command{
		Use:   "history [flags] IMAGE",
		Short: "Show the history of an image",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (historyOptions, error) {
			o := f
			o.image = args[0]
			return o, checkFormat(o.format)
		}, runHistory),
	}
	c.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "print only ids")
	c.Flags().BoolVar(&f.noTrunc, "no-trunc", false, "do not truncate output")
	c.Flags().BoolVarP(&f.human, "human", "H", true, "sizes and dates in human-readable form")
	c.Flags().StringVar(&f.format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runHistory(ctx context.Context, g *globalOptions, o historyOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	hist, err := e.ImageHistory(ctx, o.image)
	if err != nil {
		return err
	}
	var rows []any
	for _, h := range hist {
		id := h.ID
		if !o.noTrunc && len(id) > 12 {
			id = id[:12]
		}
		if o.quiet {
			fmt.Fprintln(stdout, id)
			continue
		}
		by := strings.TrimSpace(h.CreatedBy)
		if !o.noTrunc && len(by) > 45 {
			by = by[:42] + "..."
		}
		r := historyRow{ID: id, CreatedBy: by, Comment: h.Comment, Tags: h.Tags,
			Created: since(h.Created), CreatedAt: h.Created.Format("2006-01-02T15:04:05Z07:00"),
			Size: humanSize(h.Size)}
		if !o.human {
			r.Created = r.CreatedAt
			r.Size = fmt.Sprint(h.Size)
		}
		rows = append(rows, r)
	}
	if o.quiet {
		return nil
	}
	return listFormat{format: o.format, defaultTable: "{{.ID}}\t{{.Created}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}",
		titles: map[string]string{"ID": "IMAGE", "CreatedBy": "CREATED BY"}}.write(stdout, rows, hist)
}

// saveOptions are save's options.
type saveOptions struct {
	storage.SaveOptions
	quiet bool
}

func newSaveCmd(g *globalOptions) *cobra.Command {
	var f saveOptions
	c := &cobra.Command{
		Use:   "save [flags] IMAGE [IMAGE...]",
		Short: "Save images to an archive",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (saveOptions, error) {
			o := f
			if o.Format != "" && o.Format != storage.FormatDockerArchive && o.Format != storage.FormatOCIArchive {
				return o, usagef("invalid --format %q: use docker-archive or oci-archive", o.Format)
			}
			if o.Format == storage.FormatOCIArchive && len(args) > 1 {
				return o, usagef("oci-archive holds one image; use --format docker-archive to save several")
			}
			if o.Output == "" && isTerminal(g.stdout) {
				return o, usagef("refusing to write an archive to a terminal: use -o FILE or redirect stdout")
			}
			o.Names = args
			return o, nil
		}, runSave),
	}
	c.Flags().StringVarP(&f.Output, "output", "o", "", "write to this file (default: standard output)")
	c.Flags().StringVar(&f.Format, "format", storage.FormatDockerArchive, "archive format: docker-archive or oci-archive")
	c.Flags().BoolVarP(&f.quiet, "quiet", "q", false, "no progress output")
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runSave(ctx context.Context, g *globalOptions, o saveOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	s := o.SaveOptions
	s.Progress = progressWriter(g.stderr, o.quiet)
	if s.Output == "" || s.Output == "-" {
		s.Output, s.Writer, s.Progress = "", stdout, nil
	}
	return e.SaveImages(ctx, s)
}

// loadOptions are load's options.
type loadOptions struct {
	input string // "" or -: standard input
	quiet bool
}

func newLoadCmd(g *globalOptions) *cobra.Command {
	var input string
	var quiet bool
	c := &cobra.Command{
		Use:   "load [flags]",
		Short: "Load images from a docker-archive or oci-archive",
		Args:  exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (loadOptions, error) {
			return loadOptions{input: input, quiet: quiet}, nil
		}, runLoad),
	}
	c.Flags().StringVarP(&input, "input", "i", "", "read from this file (default: standard input)")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress output")
	return withStore(c)
}

func runLoad(ctx context.Context, g *globalOptions, o loadOptions, stdout io.Writer) error {
	if o.input == "" {
		if isTerminal(g.stdin) {
			return usagef("no archive given: use -i FILE or pipe one to standard input")
		}
	} else if _, err := os.Stat(o.input); err != nil {
		return usagef("cannot read %s: %v", o.input, errors.Unwrap(err))
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	path := o.input
	if path == "" || path == "-" {
		p, cleanup, err := e.SpoolStdin(g.stdin)
		if err != nil {
			return err
		}
		defer cleanup()
		path = p
	}
	reports, err := e.LoadImages(ctx, path, progressWriter(g.stderr, o.quiet))
	if err != nil {
		return err
	}
	for _, r := range reports {
		if len(r.Names) == 0 {
			fmt.Fprintf(stdout, "Loaded image: sha256:%s\n", r.ID)
		}
		for _, n := range r.Names {
			fmt.Fprintf(stdout, "Loaded image: %s\n", n)
		}
	}
	return nil
}

// importOptions are import's options.
type importOptions struct {
	storage.ImportOptions
	changes []string
}

func newImportCmd(g *globalOptions) *cobra.Command {
	var message string
	var changes []string
	c := &cobra.Command{
		Use:   "import [flags] FILE|- [REFERENCE]",
		Short: "Make an image from a root filesystem tarball",
		Args:  rangeArgs(1, 2),
		RunE: action(g, func(c *cobra.Command, args []string) (importOptions, error) {
			o := importOptions{ImportOptions: storage.ImportOptions{Path: args[0], Message: message}, changes: changes}
			if len(args) == 2 {
				if _, err := storage.NormalizeName(args[1]); err != nil {
					return o, usagef("%v", err)
				}
				o.Reference = args[1]
			}
			if o.Path != "-" {
				if _, err := os.Stat(o.Path); err != nil {
					return o, usagef("cannot read %s: %v", o.Path, errors.Unwrap(err))
				}
			}
			return o, nil
		}, runImport),
	}
	c.Flags().StringVarP(&message, "message", "m", "", "commit message recorded in the image history")
	c.Flags().StringArrayVarP(&changes, "change", "c", nil, "apply a Containerfile instruction: CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR")
	return withStore(c)
}

func runImport(ctx context.Context, g *globalOptions, o importOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	if o.Path == "-" {
		p, cleanup, err := e.SpoolStdin(g.stdin)
		if err != nil {
			return err
		}
		defer cleanup()
		o.Path = p
	}
	id, err := e.ImportImage(ctx, o.ImportOptions, o.changes)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

// imagePruneOptions are image prune's options.
type imagePruneOptions struct {
	all, force bool
}

func newImagePruneCmd(g *globalOptions) *cobra.Command {
	var all, force bool
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove dangling images (all unused ones with -a)",
		Args:  exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (imagePruneOptions, error) {
			return imagePruneOptions{all: all, force: force}, nil
		}, runImagePrune),
	}
	c.Flags().BoolVarP(&all, "all", "a", false, "remove every image no container uses, not only dangling ones")
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return withStore(c)
}

func runImagePrune(ctx context.Context, g *globalOptions, o imagePruneOptions, stdout io.Writer) error {
	warning := warnPruneImages
	if o.all {
		warning = warnPruneImagesAll
	}
	if !o.force && !g.confirm(stdout, warning) {
		return nil
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	ids, err := e.PruneImages(ctx, o.all)
	for _, id := range ids {
		fmt.Fprintln(stdout, id)
	}
	return err
}
