package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

// psRow is one line of ps; its fields are what --format sees.
type psRow struct {
	ID         string    `json:"Id"`
	Image      string    `json:"Image"`
	Command    string    `json:"Command"`
	CreatedAt  string    `json:"CreatedAt"`
	RunningFor string    `json:"RunningFor"`
	Status     string    `json:"Status"`
	State      string    `json:"State"`
	Ports      string    `json:"Ports"`
	Names      string    `json:"Names"`
	Labels     labelSet  `json:"Labels"`
	Mounts     commaList `json:"Mounts"`
	Networks   commaList `json:"Networks"`
	ExitCode   int       `json:"ExitCode"`
	Pid        int       `json:"Pid"`
}

// Label is the value of the container's label name ({{.Label "k"}}, as
// docker's ps).
func (r psRow) Label(name string) string { return r.Labels[name] }

// labelSet prints as docker's ps prints labels in a template (k=v,k2=v2,
// sorted), and is a map in JSON.
type labelSet map[string]string

func (l labelSet) String() string {
	parts := make([]string, 0, len(l))
	for k, v := range l {
		parts = append(parts, k+"="+v)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

// commaList prints comma-separated in a template (docker's .Mounts,
// .Networks) and is a list in JSON.
type commaList []string

func (c commaList) String() string { return strings.Join(c, ",") }

// psSorts are ps --sort's keys (podman's): how two containers compare;
// created, the default, is the state's order, newest first.
var psSorts = map[string]func(a, b *engine.ContainerSummary) int{
	"created":    nil,
	"runningfor": nil,
	"command": func(a, b *engine.ContainerSummary) int {
		return strings.Compare(strings.Join(a.Command, " "), strings.Join(b.Command, " "))
	},
	"id":     func(a, b *engine.ContainerSummary) int { return strings.Compare(a.ID, b.ID) },
	"image":  func(a, b *engine.ContainerSummary) int { return strings.Compare(a.Image, b.Image) },
	"names":  func(a, b *engine.ContainerSummary) int { return strings.Compare(a.Name, b.Name) },
	"status": func(a, b *engine.ContainerSummary) int { return strings.Compare(statusText(a), statusText(b)) },
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
	noHeading      bool
	sort           string // --sort: podman's keys
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
			if _, ok := psSorts[o.sort]; !ok {
				return o, usagef("invalid --sort %q: want command, created, id, image, names, runningfor or status", o.sort)
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
	fs.BoolVar(&o.noHeading, "noheading", false, "do not print the column headings")
	fs.StringVar(&o.sort, "sort", "created", "sort by command, created, id, image, names, runningfor, status")
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
	if less := psSorts[o.sort]; less != nil {
		slices.SortStableFunc(list, less)
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
			Mounts: s.Mounts, Networks: s.Networks,
			Ports: portsText(s.Ports)})
	}
	if o.quiet {
		return nil
	}
	return listFormat{format: o.format, titles: psTitles, noHeader: o.noHeading,
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
