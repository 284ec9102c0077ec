package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

// psRow is one line of ps; its fields are what --format sees.
type psRow struct {
	ID         string            `json:"Id"`
	Image      string            `json:"Image"`
	Command    string            `json:"Command"`
	CreatedAt  string            `json:"CreatedAt"`
	RunningFor string            `json:"RunningFor"`
	Status     string            `json:"Status"`
	State      string            `json:"State"`
	Ports      string            `json:"Ports"`
	Names      string            `json:"Names"`
	Labels     map[string]string `json:"Labels"`
	ExitCode   int               `json:"ExitCode"`
	Pid        int               `json:"Pid"`
}

var psTitles = map[string]string{"ID": "CONTAINER ID", "RunningFor": "CREATED", "CreatedAt": "CREATED AT"}

func statusText(s *engine.ContainerSummary) string {
	switch s.State {
	case config.StateRunning:
		return "Up " + humanDuration(time.Since(s.StartedAt))
	case engine.StateStorage:
		return "Storage"
	case config.StateExited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, humanDuration(time.Since(s.FinishedAt)))
	}
	return "Created"
}

func humanDuration(d time.Duration) string {
	return strings.TrimSuffix(since(time.Now().Add(-d)), " ago")
}

// psOptions are ps's options.
type psOptions struct {
	engine.ListContainersOptions
	quiet, noTrunc bool
	format         string
	external       bool // --external: the store's containers too (podman's)
}

func newPsCmd(g *globalOptions) *cobra.Command {
	var o psOptions
	var filters []string
	var latest bool
	c := &cobra.Command{
		Use:     "ps [flags]",
		Aliases: []string{"list"},
		Short:   "List containers",
		Args:    exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (psOptions, error) {
			var err error
			if o.Filters, err = engine.ParseContainerFilters(filters); err != nil {
				return o, usagef("%v", err)
			}
			if o.Last < 0 {
				return o, usagef("invalid --last %d", o.Last)
			}
			if err := checkFormat(o.format); err != nil {
				return o, err
			}
			if latest {
				o.Last = 1
			}
			return o, nil
		}, runPs),
	}
	fs := c.Flags()
	fs.BoolVarP(&o.All, "all", "a", false, "show all containers, not only running ones")
	fs.BoolVarP(&o.quiet, "quiet", "q", false, "print only ids")
	fs.IntVarP(&o.Last, "last", "n", 0, "show the n most recently created containers (all states)")
	fs.BoolVarP(&latest, "latest", "l", false, "show the most recently created container")
	fs.BoolVar(&o.noTrunc, "no-trunc", false, "do not truncate output")
	fs.BoolVar(&o.external, "external", false, "also show the store's containers that are not skiff's (a build's kept working containers); they go with rm --storage")
	fs.StringArrayVarP(&filters, "filter", "f", nil, "filter: id=, name=, status=, label=, ancestor=, exited=")
	fs.StringVar(&o.format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	return withStoreIf(c, "external")
}

func runPs(ctx context.Context, g *globalOptions, o psOptions, stdout io.Writer) error {
	// ps reads the state database only: no namespace, no store (but for
	// --external, the store's containers).
	var e *engine.Engine
	var err error
	if o.external {
		e, err = g.engine(ctx)
	} else if cfg, cerr := g.storageConfig(); cerr != nil {
		err = cerr
	} else {
		e, err = engine.NewStateOnly(cfg)
		defer e.Close()
	}
	if err != nil {
		return err
	}
	list, err := e.ListContainers(ctx, o.ListContainersOptions)
	if err != nil {
		return err
	}
	if o.external && (o.All || o.Last == 0) {
		ext, err := e.ExternalContainers(ctx)
		if err != nil {
			return err
		}
		list = append(list, ext...)
	}
	rows := make([]any, 0, len(list))
	for _, s := range list {
		id := s.ID
		if !o.noTrunc {
			id = id[:12]
		}
		if o.quiet {
			fmt.Fprintln(stdout, id)
			continue
		}
		cmd := strings.Join(s.Command, " ")
		if !o.noTrunc && len(cmd) > 20 {
			cmd = cmd[:17] + "..."
		}
		rows = append(rows, psRow{ID: id, Image: s.Image, Command: cmd,
			CreatedAt: s.Created.Format("2006-01-02 15:04:05 -0700 MST"), RunningFor: since(s.Created),
			Status: statusText(s), State: s.State, Names: s.Name, Labels: s.Labels, ExitCode: s.ExitCode, Pid: s.Pid,
			Ports: portsText(s.Ports)})
	}
	if o.quiet {
		return nil
	}
	return listFormat{format: o.format, titles: psTitles,
		defaultTable: "{{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}"}.write(stdout, rows, rows)
}

// portsText is ps's PORTS: 0.0.0.0:8080->80/tcp, ...
func portsText(ports []network.PortMapping) string {
	var parts []string
	for _, p := range ports {
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		parts = append(parts, fmt.Sprintf("%s:%d->%d/%s", ip, p.HostPort, p.ContainerPort, p.Protocol))
	}
	return strings.Join(parts, ", ")
}
