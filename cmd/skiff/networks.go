package main

import (
	"context"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

func newNetworkCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("network", "Manage user-defined networks")
	c.AddCommand(newExistsCmd(g, "network"))
	c.AddCommand(newNetworkCreateCmd(g), newNetworkLsCmd(g), newNetworkInspectCmd(g), newNetworkRmCmd(g),
		newNetworkPruneCmd(g), newNetworkConnectCmd(g, true), newNetworkConnectCmd(g, false))
	return c
}

func newNetworkCreateCmd(g *globalOptions) *cobra.Command {
	var labels, opts []string
	var f engine.NetworkCreateOptions
	c := &cobra.Command{
		Use:   "create [flags] [NAME]",
		Short: "Create a network on which containers reach each other by name",
		Args:  rangeArgs(0, 1),
		RunE: action(g, func(c *cobra.Command, args []string) (engine.NetworkCreateOptions, error) {
			o := f
			var err error
			if o.Labels, err = keyValues("--label", labels); err != nil {
				return o, err
			}
			if o.Options, err = keyValues("--opt", opts); err != nil {
				return o, err
			}
			if len(args) == 1 {
				o.Name = args[0] // checked by the engine
			}
			return o, nil
		}, runNetworkCreate),
	}
	fs := c.Flags()
	fs.StringVarP(&f.Driver, "driver", "d", "bridge", "network driver (bridge)")
	fs.StringVar(&f.Subnet, "subnet", "", "IPv4 subnet in CIDR form (default: a free 10.89.N.0/24)")
	fs.StringVar(&f.Gateway, "gateway", "", "gateway address in the subnet (default: its first address)")
	fs.BoolVar(&f.Internal, "internal", false, "no way out: the containers reach only each other")
	fs.BoolVar(&f.DisableDNS, "disable-dns", false, "no DNS server for the containers' names")
	fs.BoolVar(&f.IPv6, "ipv6", false, "IPv6 (not supported)")
	fs.StringArrayVarP(&labels, "label", "l", nil, "set a label KEY=VALUE")
	fs.StringArrayVarP(&opts, "opt", "o", nil, "driver option (none supported)")
	fs.BoolVar(&f.IgnoreExisting, "ignore", false, "do nothing if the network exists")
	return withStore(c)
}

func runNetworkCreate(ctx context.Context, g *globalOptions, o engine.NetworkCreateOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	n, err := e.CreateNetwork(ctx, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, n.Name)
	return nil
}

// networkRow is one line of `network ls`; its fields are what --format sees.
type networkRow struct {
	ID       string            `json:"Id"` //nolint:revive // docker's name, used by --format templates
	Name     string            `json:"Name"`
	Driver   string            `json:"Driver"`
	Subnet   string            `json:"Subnet"`
	Internal bool              `json:"Internal"`
	Labels   map[string]string `json:"Labels"`
	Created  string            `json:"Created"`
}

var networkTitles = map[string]string{"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Subnet": "SUBNET"}

// networkLsOptions are network ls's options.
type networkLsOptions struct {
	engine.ListNetworksOptions
	listOptions
}

func newNetworkLsCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var l listOptions
	c := &cobra.Command{
		Use:     "ls [flags]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    rangeArgs(0, 0),
		RunE: action(g, func(c *cobra.Command, args []string) (networkLsOptions, error) {
			o := networkLsOptions{listOptions: l}
			if err := checkFormat(l.format); err != nil {
				return o, err
			}
			var err error
			if o.Filters, err = engine.ParseNetworkFilters(filters); err != nil {
				return o, usagef("%v", err)
			}
			return o, nil
		}, runNetworkLs),
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output: name=NAME, label=KEY[=VALUE], driver=bridge, id=ID")
	c.Flags().StringVar(&l.format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.Flags().BoolVarP(&l.quiet, "quiet", "q", false, "print only network names")
	c.Flags().BoolVar(&l.noTrunc, "no-trunc", false, "do not truncate network ids")
	c.Flags().BoolVarP(&l.noHeading, "noheading", "n", false, "do not print column headings")
	return withStore(c)
}

func runNetworkLs(ctx context.Context, g *globalOptions, o networkLsOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	nets, err := e.ListNetworks(ctx, o.ListNetworksOptions)
	if err != nil {
		return err
	}
	var rows []any
	var jsonRows []networkRow
	for _, n := range nets {
		id := n.ID
		if !o.noTrunc {
			id = id[:12]
		}
		if o.quiet {
			fmt.Fprintln(stdout, n.Name)
			continue
		}
		r := networkRow{ID: id, Name: n.Name, Driver: n.Driver, Internal: n.Internal, Labels: n.Labels,
			Created: n.Created.Format("2006-01-02 15:04:05 -0700 MST")}
		if len(n.Subnets) > 0 {
			r.Subnet = n.Subnets[0].Subnet
		}
		rows, jsonRows = append(rows, r), append(jsonRows, r)
	}
	if o.quiet {
		return nil
	}
	return listFormat{format: o.format, defaultTable: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Subnet}}", titles: networkTitles, noHeader: o.noHeading}.write(stdout, rows, jsonRows)
}

func newNetworkInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [flags] NETWORK [NETWORK...]",
		Short: "Show details of networks",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (inspectOptions, error) {
			return inspectOptions{names: args, format: format}, checkFormat(format)
		}, runNetworkInspect),
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.ValidArgsFunction = completeNetworks(g)
	return withStore(c)
}

func runNetworkInspect(ctx context.Context, g *globalOptions, o inspectOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return inspectEach(stdout, o.format, o.names, func(n string) (*network.Network, error) { return e.Network(ctx, n) })
}

func newNetworkRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [flags] NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove networks",
		Args:    minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (engine.NetworkRmOptions, error) {
			return engine.NetworkRmOptions{Names: args, Force: force}, nil
		}, runNetworkRm),
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove the containers on the network first")
	c.ValidArgsFunction = completeNetworks(g)
	return withStore(c)
}

func runNetworkRm(ctx context.Context, g *globalOptions, o engine.NetworkRmOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports := e.RemoveNetworks(ctx, o)
	return printNames(stdout, reports, func(r engine.NetworkRmReport) (string, error) { return r.RawInput, r.Err })
}

func newNetworkPruneCmd(g *globalOptions) *cobra.Command {
	return newLabelPruneCmd(g, "networks", "Remove every network no container is on", runNetworkPrune)
}

func runNetworkPrune(ctx context.Context, g *globalOptions, o pruneOptions, stdout io.Writer) error {
	return g.prune(ctx, o, stdout, warnPruneNetworks, (*engine.Engine).PruneNetworks)
}

// connectOptions are network connect's and disconnect's options.
type connectOptions struct {
	network, container string
	attachment         config.NetworkAttachment // connect: --alias, --ip
}

func newNetworkConnectCmd(g *globalOptions, connect bool) *cobra.Command {
	var att config.NetworkAttachment
	var force bool
	use, short, run := "connect [flags] NETWORK CONTAINER", "Put a container on a network", runNetworkConnect
	if !connect {
		use, short, run = "disconnect [flags] NETWORK CONTAINER", "Take a container off a network", runNetworkDisconnect
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  rangeArgs(2, 2),
		RunE: action(g, func(c *cobra.Command, args []string) (connectOptions, error) {
			return connectOptions{network: args[0], container: args[1], attachment: att}, nil
		}, run),
	}
	if connect {
		c.Flags().StringArrayVar(&att.Aliases, "alias", nil, "another name for the container on the network")
		c.Flags().StringVar(&att.IP, "ip", "", "the container's IPv4 address on the network")
	} else {
		c.Flags().BoolVarP(&force, "force", "f", false, "accepted for docker's scripts")
	}
	c.ValidArgsFunction = func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		if len(args) == 0 {
			return completeNetworks(g)(c, args, toComplete)
		}
		if len(args) == 1 {
			return completeContainers(g)(c, args, toComplete)
		}
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return withStore(c)
}

func runNetworkConnect(ctx context.Context, g *globalOptions, o connectOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return e.Connect(ctx, o.network, o.container, o.attachment)
}

func runNetworkDisconnect(ctx context.Context, g *globalOptions, o connectOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return e.Disconnect(ctx, o.network, o.container)
}

func completeNetworks(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"network", "ls", "-q"})
}
