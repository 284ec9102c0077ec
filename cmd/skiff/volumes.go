package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
)

func newVolumeCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("volume", "Manage volumes")
	c.AddCommand(newExistsCmd(g, "volume"))
	c.AddCommand(newVolumeCreateCmd(g), newVolumeLsCmd(g), newVolumeInspectCmd(g), newVolumeRmCmd(g), newVolumePruneCmd(g))
	return c
}

// keyValues parses repeated KEY=VALUE flags (KEY alone means an empty value).
func keyValues(flag string, list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return nil, usagef("invalid %s %q: want KEY=VALUE", flag, kv)
		}
		out[k] = v
	}
	return out, nil
}

func newVolumeCreateCmd(g *globalOptions) *cobra.Command {
	var labels, opts []string
	var f engine.VolumeOptions
	c := &cobra.Command{
		Use:   "create [flags] [NAME]",
		Short: "Create a volume",
		Args:  rangeArgs(0, 1),
		RunE: action(g, func(c *cobra.Command, args []string) (engine.VolumeOptions, error) {
			o := f
			var err error
			if o.Labels, err = keyValues("--label", labels); err != nil {
				return o, err
			}
			if o.Options, err = keyValues("--opt", opts); err != nil {
				return o, err
			}
			if len(args) == 1 {
				o.Name = args[0]
			}
			return o, nil
		}, runVolumeCreate),
	}
	c.Flags().StringArrayVarP(&labels, "label", "l", nil, "set a label KEY=VALUE")
	c.Flags().StringArrayVarP(&opts, "opt", "o", nil, "driver option: o=uid=N,gid=N")
	c.Flags().StringVarP(&f.Driver, "driver", "d", "local", "volume driver (local)")
	c.Flags().BoolVar(&f.IgnoreExisting, "ignore", false, "do nothing if the volume exists")
	return withStore(c)
}

func runVolumeCreate(ctx context.Context, g *globalOptions, o engine.VolumeOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	v, err := e.CreateVolume(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, v.Name)
	return nil
}

// volumeRow is one line of `volume ls`; its fields are what --format sees.
type volumeRow struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  string            `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Scope      string            `json:"Scope"`
	Anonymous  bool              `json:"Anonymous"`
}

var volumeTitles = map[string]string{"Driver": "DRIVER", "Name": "VOLUME NAME"}

// volumeLsOptions are volume ls's options.
type volumeLsOptions struct {
	engine.ListVolumesOptions
	listOptions
}

func newVolumeLsCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var l listOptions
	c := &cobra.Command{
		Use:     "ls [flags]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    rangeArgs(0, 0),
		RunE: action(g, func(c *cobra.Command, args []string) (volumeLsOptions, error) {
			o := volumeLsOptions{listOptions: l}
			if err := checkFormat(l.format); err != nil {
				return o, err
			}
			var err error
			if o.Filters, err = engine.ParseVolumeFilters(filters); err != nil {
				return o, usagef("%v", err)
			}
			return o, nil
		}, runVolumeLs),
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output: name=NAME, label=KEY[=VALUE], dangling=true|false, driver=local")
	c.Flags().StringVar(&l.format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.Flags().BoolVarP(&l.quiet, "quiet", "q", false, "print only volume names")
	c.Flags().BoolVarP(&l.noHeading, "noheading", "n", false, "do not print column headings")
	return withStore(c)
}

func runVolumeLs(ctx context.Context, g *globalOptions, o volumeLsOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	vols, err := e.ListVolumes(ctx, o.ListVolumesOptions)
	if err != nil {
		return err
	}
	var rows []any
	var jsonRows []volumeRow
	for _, v := range vols {
		if o.quiet {
			fmt.Fprintln(stdout, v.Name)
			continue
		}
		r := volumeRow{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Labels: v.Labels, Scope: v.Scope, Anonymous: v.Anonymous,
			CreatedAt: v.CreatedAt.Format("2006-01-02 15:04:05 -0700 MST")}
		rows, jsonRows = append(rows, r), append(jsonRows, r)
	}
	if o.quiet {
		return nil
	}
	return listFormat{format: o.format, defaultTable: "{{.Driver}}\t{{.Name}}", titles: volumeTitles, noHeader: o.noHeading}.write(stdout, rows, jsonRows)
}

func newVolumeInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	var all bool
	c := &cobra.Command{
		Use:   "inspect [flags] VOLUME [VOLUME...]",
		Short: "Show details of volumes",
		Args:  allOrNames(&all),
		RunE: action(g, func(c *cobra.Command, args []string) (inspectOptions, error) {
			return inspectOptions{names: args, all: all, format: format}, checkFormat(format)
		}, runVolumeInspect),
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.Flags().BoolVarP(&all, "all", "a", false, "every volume")
	c.ValidArgsFunction = completeVolumes(g)
	return withStore(c)
}

func runVolumeInspect(ctx context.Context, g *globalOptions, o inspectOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	names := o.names
	if o.all {
		vols, err := e.Volumes(ctx)
		if err != nil {
			return err
		}
		names = nil
		for _, v := range vols {
			names = append(names, v.Name)
		}
	}
	return inspectEach(stdout, o.format, names, func(n string) (*config.Volume, error) { return e.Volume(ctx, n) })
}

func newVolumeRmCmd(g *globalOptions) *cobra.Command {
	var force, all bool
	c := &cobra.Command{
		Use:     "rm [flags] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove volumes",
		Args:    allOrNames(&all),
		RunE: action(g, func(c *cobra.Command, args []string) (engine.VolumeRmOptions, error) {
			return engine.VolumeRmOptions{Names: args, All: all, Force: force}, nil
		}, runVolumeRm),
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove the containers that use the volume first")
	c.Flags().BoolVarP(&all, "all", "a", false, "every volume")
	c.ValidArgsFunction = completeVolumes(g)
	return withStore(c)
}

func runVolumeRm(ctx context.Context, g *globalOptions, o engine.VolumeRmOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports, err := e.RemoveVolumes(ctx, o)
	if err != nil {
		return err
	}
	return printNames(stdout, reports, func(r engine.VolumeRmReport) (string, error) { return r.Name, r.Err })
}

func newVolumePruneCmd(g *globalOptions) *cobra.Command {
	return newLabelPruneCmd(g, "volumes", "Remove every volume no container uses", runVolumePrune)
}

func runVolumePrune(ctx context.Context, g *globalOptions, o pruneOptions, stdout io.Writer) error {
	return g.prune(ctx, o, stdout, warnPruneVolumes, (*engine.Engine).PruneVolumes)
}

// newLabelPruneCmd is a prune command whose only filter is label=.
func newLabelPruneCmd(g *globalOptions, what, short string, run handler[pruneOptions]) *cobra.Command {
	var force bool
	var filters []string
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: short,
		Args:  rangeArgs(0, 0),
		RunE: action(g, func(c *cobra.Command, args []string) (pruneOptions, error) {
			f, err := engine.ParsePruneFilters(filters)
			if err != nil {
				return pruneOptions{}, usagef("%v", err)
			}
			return pruneOptions{force: force, filters: f}, nil
		}, run),
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "only "+what+" with label=KEY[=VALUE]")
	return withStore(c)
}

func completeVolumes(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"volume", "ls", "-q"})
}
