package main

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

func newNetworkCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("network", "Manage user-defined networks")
	c.AddCommand(newNetworkCreateCmd(g), newNetworkLsCmd(g), newNetworkInspectCmd(g), newNetworkRmCmd(g),
		newNetworkPruneCmd(g), newNetworkConnectCmd(g, true), newNetworkConnectCmd(g, false))
	return c
}

func newNetworkCreateCmd(g *globalOptions) *cobra.Command {
	var labels, opts []string
	var o engine.NetworkCreateOptions
	c := &cobra.Command{
		Use:   "create [flags] [NAME]",
		Short: "Create a network on which containers reach each other by name",
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
				if err := engine.CheckNetworkName(o.Name); err != nil {
					return usagef("%v", err)
				}
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			n, err := e.CreateNetwork(c.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, n.Name)
			return nil
		},
	}
	f := c.Flags()
	f.StringVarP(&o.Driver, "driver", "d", "bridge", "network driver (bridge)")
	f.StringVar(&o.Subnet, "subnet", "", "IPv4 subnet in CIDR form (default: a free 10.89.N.0/24)")
	f.StringVar(&o.Gateway, "gateway", "", "gateway address in the subnet (default: its first address)")
	f.BoolVar(&o.Internal, "internal", false, "no way out: the containers reach only each other")
	f.BoolVar(&o.DisableDNS, "disable-dns", false, "no DNS server for the containers' names")
	f.BoolVar(&o.IPv6, "ipv6", false, "IPv6 (not supported)")
	f.StringArrayVarP(&labels, "label", "l", nil, "set a label KEY=VALUE")
	f.StringArrayVarP(&opts, "opt", "o", nil, "driver option (none supported)")
	f.BoolVar(&o.IgnoreExisting, "ignore", false, "do nothing if the network exists")
	return withStore(c)
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

func newNetworkLsCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var format string
	var quiet, noTrunc, noHeading bool
	c := &cobra.Command{
		Use:     "ls [flags]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    rangeArgs(0, 0),
		PreRunE: func(c *cobra.Command, args []string) error { return checkFormat(format) },
		RunE: func(c *cobra.Command, args []string) error {
			match, err := networkFilter(filters)
			if err != nil {
				return err
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			nets, err := e.Networks(c.Context())
			if err != nil {
				return err
			}
			var rows []any
			var jsonRows []networkRow
			for _, n := range nets {
				if !match(n) {
					continue
				}
				id := n.ID
				if !noTrunc {
					id = id[:12]
				}
				if quiet {
					fmt.Fprintln(g.stdout, n.Name)
					continue
				}
				r := networkRow{ID: id, Name: n.Name, Driver: n.Driver, Internal: n.Internal, Labels: n.Labels,
					Created: n.Created.Format("2006-01-02 15:04:05 -0700 MST")}
				if len(n.Subnets) > 0 {
					r.Subnet = n.Subnets[0].Subnet
				}
				rows, jsonRows = append(rows, r), append(jsonRows, r)
			}
			if quiet {
				return nil
			}
			return listFormat{format: format, defaultTable: "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Subnet}}", titles: networkTitles, noHeader: noHeading}.write(g.stdout, rows, jsonRows)
		},
	}
	c.Flags().StringArrayVarP(&filters, "filter", "f", nil, "filter output: name=NAME, label=KEY[=VALUE], driver=bridge, id=ID")
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only network names")
	c.Flags().BoolVar(&noTrunc, "no-trunc", false, "do not truncate network ids")
	c.Flags().BoolVarP(&noHeading, "noheading", "n", false, "do not print column headings")
	return withStore(c)
}

// networkFilter checks ls filters and returns the predicate they make.
func networkFilter(filters []string) (func(*network.Network) bool, error) {
	var preds []func(*network.Network) bool
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, usagef("invalid --filter %q: want KEY=VALUE", f)
		}
		switch key {
		case "name":
			preds = append(preds, func(n *network.Network) bool { return strings.Contains(n.Name, val) })
		case "id":
			preds = append(preds, func(n *network.Network) bool { return strings.HasPrefix(n.ID, val) })
		case "label":
			preds = append(preds, func(n *network.Network) bool { return engine.MatchLabels(n.Labels, []string{val}) })
		case "driver":
			preds = append(preds, func(n *network.Network) bool { return n.Driver == val })
		default:
			return nil, usagef("invalid --filter %q: use name, id, label or driver", f)
		}
	}
	return func(n *network.Network) bool {
		for _, p := range preds {
			if !p(n) {
				return false
			}
		}
		return true
	}, nil
}

func newNetworkInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "inspect [flags] NETWORK [NETWORK...]",
		Short: "Show details of networks",
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if err := checkFormat(format); err != nil {
				return err
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return inspectEach(g.stdout, format, args, func(n string) (*network.Network, error) { return e.Network(c.Context(), n) })
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template")
	c.ValidArgsFunction = completeNetworks(g)
	return withStore(c)
}

func newNetworkRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:     "rm [flags] NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove networks",
		Args:    minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return g.forEach(args, func(n string) error {
				_, err := e.RemoveNetwork(c.Context(), n, force)
				return err
			})
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "remove the containers on the network first")
	c.ValidArgsFunction = completeNetworks(g)
	return withStore(c)
}

func newNetworkPruneCmd(g *globalOptions) *cobra.Command {
	return newLabelPruneCmd(g, "networks", "Remove every network no container is on", warnPruneNetworks, (*engine.Engine).PruneNetworks)
}

func newNetworkConnectCmd(g *globalOptions, connect bool) *cobra.Command {
	var att config.NetworkAttachment
	var force bool
	use, short := "connect [flags] NETWORK CONTAINER", "Put a container on a network"
	if !connect {
		use, short = "disconnect [flags] NETWORK CONTAINER", "Take a container off a network"
	}
	c := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  rangeArgs(2, 2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if connect {
				return e.Connect(c.Context(), args[0], args[1], att)
			}
			return e.Disconnect(c.Context(), args[0], args[1])
		},
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

func completeNetworks(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"network", "ls", "-q"})
}
