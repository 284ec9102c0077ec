package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
)

func newVolumeCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("volume", "Manage volumes")
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
	var o engine.VolumeOptions
	c := &cobra.Command{
		Use:   "create [flags] [NAME]",
		Short: "Create a volume",
		Args:  rangeArgs(0, 1),
		RunE: func(c *cobra.Command, args []string) error {
			var err error
			if o.Labels, err = keyValues("--label", labels); err != nil {
				return err
			}
			if o.Options, err = keyValues("--opt", opts); err != nil {
				return err
			}
			if len(args) == 1 {
				o.Name = args[0]
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			v, err := e.CreateVolume(c.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, v.Name)
			return nil
		},
	}
	c.Flags().StringArrayVarP(&labels, "label", "l", nil, "set a label KEY=VALUE")
	c.Flags().StringArrayVarP(&opts, "opt", "o", nil, "driver option: o=uid=N,gid=N")
	c.Flags().StringVarP(&o.Driver, "driver", "d", "local", "volume driver (local)")
	c.Flags().BoolVar(&o.IgnoreExisting, "ignore", false, "do nothing if the volume exists")
	return withStore(c)
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

func newVolumeLsCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var format string
	var quiet, noHeading bool
	c := &cobra.Command{
		Use:     "ls [flags]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    rangeArgs(0, 0),
		PreRunE: func(c *cobra.Command, args []string) error { return checkFormat(format) },
		RunE: func(c *cobra.Command, args []string) error {
			match, err := volumeFilter(filters)
			if err != nil {
				return err
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			vols, err := e.Volumes(c.Context())
			if err != nil {
				return err
			}
			var rows []any
			var jsonRows []volumeRow
			for _, v := range vols {
				if !match(e, c, v) {
					continue
				}
				if quiet {
					fmt.Fprintln(g.stdout, v.Name)
					continue
				}
				r := volumeRow{Name: v.Name, Driver: v.Driver, Mountpoint: v.Mountpoint, Labels: v.Labels, Scope: v.Scope, Anonymous: v.Anonymous,
					CreatedAt: v.CreatedAt.Format("2006-01-02 15:04:05 -0700 MST")}
				rows, jsonRows = append(rows, r), append(jsonRows, r)
			}
			if quiet {
				return nil
			}
			return listFormat{format: format, defaultTable: "{{.Driver}}\t{{.Name}}", titles: volumeTitles, noHeader: noHeading}.write(g.stdout, rows, jsonRows)
		},
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output: name=NAME, label=KEY[=VALUE], dangling=true|false, driver=local")
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only volume names")
	c.Flags().BoolVarP(&noHeading, "noheading", "n", false, "do not print column headings")
	return withStore(c)
}

// volumeFilter checks ls filters and returns the predicate they make.
func volumeFilter(filters []string) (func(*engine.Engine, *cobra.Command, *config.Volume) bool, error) {
	var preds []func(*engine.Engine, *cobra.Command, *config.Volume) bool
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, usagef("invalid --filter %q: want KEY=VALUE", f)
		}
		switch key {
		case "name":
			preds = append(preds, func(_ *engine.Engine, _ *cobra.Command, v *config.Volume) bool { return strings.Contains(v.Name, val) })
		case "label":
			preds = append(preds, func(_ *engine.Engine, _ *cobra.Command, v *config.Volume) bool {
				return engine.MatchLabels(v.Labels, []string{val})
			})
		case "driver":
			preds = append(preds, func(_ *engine.Engine, _ *cobra.Command, v *config.Volume) bool { return v.Driver == val })
		case "dangling":
			if val != "true" && val != "false" {
				return nil, usagef("invalid --filter dangling=%s: use true or false", val)
			}
			preds = append(preds, func(e *engine.Engine, c *cobra.Command, v *config.Volume) bool {
				users, _ := e.VolumeUsers(c.Context(), v.Name)
				return (len(users) == 0) == (val == "true")
			})
		default:
			return nil, usagef("invalid --filter %q: use name, label, driver or dangling", f)
		}
	}
	return func(e *engine.Engine, c *cobra.Command, v *config.Volume) bool {
		for _, p := range preds {
			if !p(e, c, v) {
				return false
			}
		}
		return true
	}, nil
}

func newVolumeInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	var all bool
	c := &cobra.Command{
		Use:   "inspect [flags] VOLUME [VOLUME...]",
		Short: "Show details of volumes",
		Args:  allOrNames(&all),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if all {
				if args, err = volumeNames(c, e); err != nil {
					return err
				}
			}
			return inspectEach(g.stdout, format, args, func(n string) (*config.Volume, error) { return e.Volume(c.Context(), n) })
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.Flags().BoolVarP(&all, "all", "a", false, "every volume")
	c.ValidArgsFunction = completeVolumes(g)
	return withStore(c)
}

// volumeNames are the names of every volume (--all).
func volumeNames(c *cobra.Command, e *engine.Engine) ([]string, error) {
	vols, err := e.Volumes(c.Context())
	names := make([]string, len(vols))
	for i, v := range vols {
		names[i] = v.Name
	}
	return names, err
}

func newVolumeRmCmd(g *globalOptions) *cobra.Command {
	var force, all bool
	c := &cobra.Command{
		Use:     "rm [flags] VOLUME [VOLUME...]",
		Aliases: []string{"remove"},
		Short:   "Remove volumes",
		Args:    allOrNames(&all),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if all {
				if args, err = volumeNames(c, e); err != nil {
					return err
				}
			}
			return g.forEach(args, func(n string) error { return e.RemoveVolume(c.Context(), n, force) })
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove the containers that use the volume first")
	c.Flags().BoolVarP(&all, "all", "a", false, "every volume")
	c.ValidArgsFunction = completeVolumes(g)
	return withStore(c)
}

func newVolumePruneCmd(g *globalOptions) *cobra.Command {
	return newLabelPruneCmd(g, "volumes", "Remove every volume no container uses", warnPruneVolumes, (*engine.Engine).PruneVolumes)
}

// newLabelPruneCmd is a prune command whose only filter is label=: it
// asks first (warning, unless -f) and prints what prune removed.
func newLabelPruneCmd(g *globalOptions, what, short, warning string, prune func(*engine.Engine, context.Context, []string) ([]string, error)) *cobra.Command {
	var force bool
	var filters []string
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: short,
		Args:  rangeArgs(0, 0),
		RunE: func(c *cobra.Command, args []string) error {
			labels, err := labelFilters(filters)
			if err != nil {
				return err
			}
			if !force && !g.confirm(warning) {
				return nil
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			removed, err := prune(e, c.Context(), labels)
			for _, n := range removed {
				fmt.Fprintln(g.stdout, n)
			}
			return err
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "only "+what+" with label=KEY[=VALUE]")
	return withStore(c)
}

// labelFilters reads prune's --filter label=KEY[=VALUE] flags.
func labelFilters(filters []string) ([]string, error) {
	var labels []string
	for _, f := range filters {
		k, v, _ := strings.Cut(f, "=")
		if k != "label" || v == "" {
			return nil, usagef("invalid --filter %q: use label=KEY[=VALUE]", f)
		}
		labels = append(labels, v)
	}
	return labels, nil
}

func completeVolumes(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"volume", "ls", "-q"})
}
