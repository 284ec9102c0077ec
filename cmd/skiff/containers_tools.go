package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
)

func newCommitCmd(g *globalOptions) *cobra.Command {
	var o engine.CommitOptions
	var quiet bool
	c := &cobra.Command{
		Use:   "commit [flags] CONTAINER [IMAGE]",
		Short: "Make an image of a container's changes",
		Args:  rangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			if len(args) == 2 {
				o.Reference = args[1]
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			id, err := e.CommitContainer(c.Context(), args[0], o)
			if err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, id)
			return nil
		},
	}
	c.Flags().StringVarP(&o.Author, "author", "a", "", "author of the image")
	c.Flags().StringVarP(&o.Message, "message", "m", "", "commit message")
	c.Flags().StringArrayVarP(&o.Changes, "change", "c", nil, "apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image id (the default)")
	c.Flags().BoolP("pause", "p", false, "accepted for docker; rootless containers cannot be paused here")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newDiffCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "List what a container changed in its file system",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			changes, err := e.Diff(c.Context(), args[0])
			if err != nil {
				return err
			}
			for _, ch := range changes {
				fmt.Fprintf(g.stdout, "%s %s\n", ch.Kind, ch.Path)
			}
			return nil
		},
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// outputFile is -o FILE, or stdout (refused when it is a terminal).
func outputFile(g *globalOptions, path string) (io.WriteCloser, error) {
	if path == "" || path == "-" {
		if isTerminal(g.stdout) {
			return nil, usagef("refusing to write a tar stream to a terminal: use -o FILE or a redirection")
		}
		return nopCloser{g.stdout}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("-o %s: %v", path, err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

func newExportCmd(g *globalOptions) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "export [flags] CONTAINER",
		Short: "Write a container's file system as a tar archive",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			w, err := outputFile(g, output)
			if err != nil {
				return err
			}
			if err := e.Export(c.Context(), args[0], w); err != nil {
				w.Close()
				if output != "" {
					os.Remove(output)
				}
				return err
			}
			return w.Close()
		},
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of standard output")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// splitCopyArg splits CONTAINER:PATH; a path with a slash before the first
// colon, or starting with . or /, is a host path.
func splitCopyArg(arg string) (container, path string) {
	if strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, ".") {
		return "", arg
	}
	name, p, ok := strings.Cut(arg, ":")
	if !ok || strings.Contains(name, "/") {
		return "", arg
	}
	return name, p
}

func newCpCmd(g *globalOptions) *cobra.Command {
	var o engine.CopyOptions
	c := &cobra.Command{
		Use:   "cp [flags] SRC DEST",
		Short: "Copy files between a container and the host (CONTAINER:PATH, a host path, or - for a tar stream)",
		Args:  exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			o.SrcContainer, o.SrcPath = splitCopyArg(args[0])
			o.DstContainer, o.DstPath = splitCopyArg(args[1])
			switch {
			case o.SrcContainer != "" && o.DstContainer != "":
				return usagef("copying between containers is not supported: copy through the host")
			case o.SrcContainer == "" && o.DstContainer == "":
				return usagef("one of SRC and DEST must be CONTAINER:PATH")
			case o.SrcPath == "" || o.DstPath == "":
				return usagef("empty path in %q %q", args[0], args[1])
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			o.Stdin, o.Stdout = g.stdin, g.stdout
			return e.Copy(c.Context(), o)
		},
	}
	c.Flags().BoolP("archive", "a", true, "keep ownership (always: ids map through the user's namespace)")
	c.Flags().BoolVarP(&o.FollowLink, "follow-link", "L", false, "always follow a symbolic link in SRC_PATH")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newRenameCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return e.Rename(c.Context(), args[0], args[1])
		},
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newContainerPruneCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var force bool
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove every container that is not running",
		Args:  rangeArgs(0, 0),
		RunE: func(c *cobra.Command, args []string) error {
			var labels []string
			var until time.Time
			for _, f := range filters {
				k, v, _ := strings.Cut(f, "=")
				switch {
				case k == "label" && v != "":
					labels = append(labels, v)
				case k == "until" && v != "":
					d, err := time.ParseDuration(v)
					if err != nil {
						t, terr := time.Parse(time.RFC3339, v)
						if terr != nil {
							return usagef("invalid --filter until=%s: a duration (1h) or an RFC 3339 time", v)
						}
						until = t
					} else {
						until = time.Now().Add(-d)
					}
				default:
					return usagef("invalid --filter %q: use label=KEY[=VALUE] or until=DURATION", f)
				}
			}
			if !force && !g.confirm(warnPruneContainers) {
				return nil
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			removed, err := e.PruneContainers(c.Context(), labels, until)
			for _, id := range removed {
				fmt.Fprintln(g.stdout, id)
			}
			return err
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "only containers with label=KEY[=VALUE], or created before until=DURATION")
	return withStore(c)
}

func newPauseCmd(g *globalOptions, pause bool) *cobra.Command {
	use, short := "pause", "Pause the processes of containers"
	if !pause {
		use, short = "unpause", "Resume paused containers"
	}
	c := &cobra.Command{
		Use:   use + " CONTAINER [CONTAINER...]",
		Short: short,
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return g.forEach(args, func(n string) error { return e.Pause(c.Context(), n, pause) })
		},
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newTopCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "top CONTAINER",
		Short: "List the processes of a running container",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			procs, err := e.Processes(c.Context(), args[0])
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(g.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "UID\tPID\tPPID\tSTAT\tTIME\tCOMMAND")
			for _, p := range procs {
				t := p.CPUTime.Round(time.Second)
				fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%02d:%02d:%02d\t%s\n", p.UID, p.Pid, p.PPid, p.State, int(t.Hours()), int(t.Minutes())%60, int(t.Seconds())%60, p.Args)
			}
			return w.Flush()
		},
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// statsRow is one line of stats; its fields are what --format sees.
type statsRow struct {
	ID       string `json:"ID"`
	Name     string `json:"Name"`
	CPUPerc  string `json:"CPUPerc"`
	MemUsage string `json:"MemUsage"`
	MemPerc  string `json:"MemPerc"`
	NetIO    string `json:"NetIO"`
	BlockIO  string `json:"BlockIO"`
	PIDs     int    `json:"PIDs"`
}

func newStatsCmd(g *globalOptions) *cobra.Command {
	var noStream bool
	var format string
	c := &cobra.Command{
		Use:   "stats [flags] CONTAINER [CONTAINER...]",
		Short: "Show the resource use of running containers (from /proc: this host has no cgroup to read)",
		Args:  minArgs(1),
		PreRunE: func(c *cobra.Command, args []string) error {
			if !noStream {
				return usagef("only stats --no-stream is available")
			}
			return checkFormat(format)
		},
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			var rows, jsonRows []any
			for _, n := range args {
				s, err := e.Stats(c.Context(), n, 500*time.Millisecond)
				if err != nil {
					return err
				}
				memPerc := 0.0
				if s.MemLimit > 0 {
					memPerc = 100 * float64(s.MemUsage) / float64(s.MemLimit)
				}
				r := statsRow{ID: s.ID[:12], Name: s.Name, CPUPerc: fmt.Sprintf("%.2f%%", s.CPUPerc),
					MemUsage: units.BytesSize(float64(s.MemUsage)) + " / " + units.BytesSize(float64(s.MemLimit)),
					MemPerc:  fmt.Sprintf("%.2f%%", memPerc), NetIO: "--", BlockIO: "--", PIDs: s.PIDs}
				rows, jsonRows = append(rows, r), append(jsonRows, r)
			}
			table := "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
			titles := map[string]string{"ID": "CONTAINER ID", "CPUPerc": "CPU %", "MemUsage": "MEM USAGE / LIMIT", "MemPerc": "MEM %", "NetIO": "NET IO", "BlockIO": "BLOCK IO", "PIDs": "PIDS"}
			return listFormat{format: format, defaultTable: table, titles: titles}.write(g.stdout, rows, jsonRows)
		},
	}
	c.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newPortCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List a container's published ports",
		Args:  rangeArgs(1, 2),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			ports, err := e.Ports(c.Context(), args[0])
			if err != nil {
				return err
			}
			found := false
			for _, p := range ports {
				if len(args) == 2 {
					want := args[1]
					if !strings.Contains(want, "/") {
						want += "/tcp"
					}
					if fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol) != want {
						continue
					}
					ip := p.HostIP
					if ip == "" {
						ip = "0.0.0.0"
					}
					fmt.Fprintf(g.stdout, "%s:%d\n", ip, p.HostPort)
				} else {
					fmt.Fprintln(g.stdout, p.String())
				}
				found = true
			}
			if len(args) == 2 && !found {
				return fmt.Errorf("%w: no public port %s published for %s", config.ErrBadOption, args[1], args[0])
			}
			return nil
		},
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newAttachCmd(g *globalOptions) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	c := &cobra.Command{
		Use:   "attach [flags] CONTAINER",
		Short: "Attach to a running container's output (and input, when it was created with -i)",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			keys, err := engine.ParseDetachKeys(detachKeys)
			if err != nil {
				return usagef("%v", err)
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			rec, err := e.LookupContainer(c.Context(), args[0])
			if err != nil {
				return err
			}
			tty := rec.Config.Tty
			o := engine.AttachOptions{DetachKeys: keys}
			if !noStdin && rec.Config.OpenStdin {
				o.Stdin = g.stdin
			}
			// As docker: signals go to a container without a terminal;
			// with one, ctrl-c is a key for it, and a signal ends the
			// attach (the container runs on).
			ends := []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM}
			if sigProxy && !tty {
				stop := proxySignals(e, rec.ID, syscall.SIGINT, syscall.SIGTERM)
				defer stop()
				ends = ends[:1]
			}
			ctx, status, stop := signalEnds(context.Background(), ends...)
			defer stop()
			restore := func() {}
			switch {
			case tty && o.Stdin != nil:
				restore = rawInput(g.stdin)
			case o.Stdin != nil:
				restore = detachableLines(g.stdin, keys)
			}
			if tty {
				o.Resize = windowSizes(ctx, g.stdin, g.stdout)
			}
			code, err := e.Attach(ctx, rec.ID, o, func(en monitor.LogEntry) {
				w := g.stdout
				if en.Stream == "stderr" {
					w = g.stderr
				}
				text := en.Text
				if en.Full {
					text += "\n"
				}
				fmt.Fprint(w, text)
			})
			restore()
			return attachResult(code, err, status())
		},
	}
	c.Flags().StringVar(&detachKeys, "detach-keys", defaultDetachKeys, "keys that end the attach and leave the container running: a character or ctrl-X, comma-separated; \"\" for none")
	c.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach standard input")
	c.Flags().BoolVar(&sigProxy, "sig-proxy", true, "pass SIGINT and SIGTERM on to a container without a terminal")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// attachResult is the exit of an attached command: the container's (or
// the exec process's) code; 0 when detached by the keys; 128 + the signal
// that ended it.
func attachResult(code int, err error, signalled int) error {
	switch {
	case errors.Is(err, engine.ErrDetached):
		return nil // it runs on
	case err != nil && signalled != 0:
		return &exitStatus{signalled}
	case err != nil:
		return err
	case code != 0:
		return &exitStatus{code}
	}
	return nil
}
