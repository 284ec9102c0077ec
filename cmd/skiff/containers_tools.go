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

// commitOptions are commit's options.
type commitOptions struct {
	container string
	engine.CommitOptions
}

func newCommitCmd(g *globalOptions) *cobra.Command {
	var f engine.CommitOptions
	var quiet bool
	c := &cobra.Command{
		Use:   "commit [flags] CONTAINER [IMAGE]",
		Short: "Make an image of a container's changes",
		Args:  rangeArgs(1, 2),
		RunE: action(g, func(c *cobra.Command, args []string) (commitOptions, error) {
			o := commitOptions{container: args[0], CommitOptions: f}
			if len(args) == 2 {
				o.Reference = args[1]
			}
			return o, nil
		}, runCommit),
	}
	c.Flags().StringVarP(&f.Author, "author", "a", "", "author of the image")
	c.Flags().StringVarP(&f.Message, "message", "m", "", "commit message")
	c.Flags().StringArrayVarP(&f.Changes, "change", "c", nil, "apply a Dockerfile instruction: CMD, ENTRYPOINT, ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image id (the default)")
	c.Flags().BoolP("pause", "p", false, "accepted for docker; rootless containers cannot be paused here")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runCommit(ctx context.Context, g *globalOptions, o commitOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	id, err := e.CommitContainer(ctx, o.container, o.CommitOptions)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, id)
	return nil
}

func newDiffCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "diff CONTAINER",
		Short: "List what a container changed in its file system",
		Args:  exactArgs(1),
		RunE:  action(g, oneContainer, runDiff),
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runDiff(ctx context.Context, g *globalOptions, o containerOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	changes, err := e.Diff(ctx, o.container)
	if err != nil {
		return err
	}
	for _, ch := range changes {
		fmt.Fprintf(stdout, "%s %s\n", ch.Kind, ch.Path)
	}
	return nil
}

// outputFile is -o FILE, or stdout (refused when it is a terminal).
func outputFile(stdout io.Writer, path string) (io.WriteCloser, error) {
	if path == "" || path == "-" {
		if isTerminal(stdout) {
			return nil, usagef("refusing to write a tar stream to a terminal: use -o FILE or a redirection")
		}
		return nopCloser{stdout}, nil
	}
	f, err := os.Create(path)
	if err != nil {
		return nil, usagef("-o %s: %v", path, err)
	}
	return f, nil
}

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// exportOptions are export's options.
type exportOptions struct {
	container, output string
}

func newExportCmd(g *globalOptions) *cobra.Command {
	var output string
	c := &cobra.Command{
		Use:   "export [flags] CONTAINER",
		Short: "Write a container's file system as a tar archive",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (exportOptions, error) {
			return exportOptions{container: args[0], output: output}, nil
		}, runExport),
	}
	c.Flags().StringVarP(&output, "output", "o", "", "write to a file instead of standard output")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runExport(ctx context.Context, g *globalOptions, o exportOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	w, err := outputFile(stdout, o.output)
	if err != nil {
		return err
	}
	if err := e.Export(ctx, o.container, w); err != nil {
		w.Close()
		if o.output != "" {
			os.Remove(o.output)
		}
		return err
	}
	return w.Close()
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
	var followLink bool
	c := &cobra.Command{
		Use:   "cp [flags] SRC DEST",
		Short: "Copy files between a container and the host (CONTAINER:PATH, a host path, or - for a tar stream)",
		Args:  exactArgs(2),
		RunE: action(g, func(c *cobra.Command, args []string) (engine.CopyOptions, error) {
			o := engine.CopyOptions{FollowLink: followLink}
			o.SrcContainer, o.SrcPath = splitCopyArg(args[0])
			o.DstContainer, o.DstPath = splitCopyArg(args[1])
			switch {
			case o.SrcContainer != "" && o.DstContainer != "":
				return o, usagef("copying between containers is not supported: copy through the host")
			case o.SrcContainer == "" && o.DstContainer == "":
				return o, usagef("one of SRC and DEST must be CONTAINER:PATH")
			case o.SrcPath == "" || o.DstPath == "":
				return o, usagef("empty path in %q %q", args[0], args[1])
			}
			return o, nil
		}, runCp),
	}
	c.Flags().BoolP("archive", "a", true, "keep ownership (always: ids map through the user's namespace)")
	c.Flags().BoolVarP(&followLink, "follow-link", "L", false, "always follow a symbolic link in SRC_PATH")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runCp(ctx context.Context, g *globalOptions, o engine.CopyOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	o.Stdin, o.Stdout = g.stdin, stdout
	return e.Copy(ctx, o)
}

// renameOptions are rename's options.
type renameOptions struct {
	container, newName string
}

func newRenameCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "rename CONTAINER NEW_NAME",
		Short: "Rename a container",
		Args:  exactArgs(2),
		RunE: action(g, func(c *cobra.Command, args []string) (renameOptions, error) {
			return renameOptions{container: args[0], newName: args[1]}, nil
		}, runRename),
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runRename(ctx context.Context, g *globalOptions, o renameOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return e.Rename(ctx, o.container, o.newName)
}

func newContainerPruneCmd(g *globalOptions) *cobra.Command {
	var filters []string
	var force bool
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Remove every container that is not running",
		Args:  rangeArgs(0, 0),
		RunE: action(g, func(c *cobra.Command, args []string) (pruneOptions, error) {
			f, err := engine.ParseContainerPruneFilters(filters, time.Now())
			if err != nil {
				return pruneOptions{}, usagef("%v", err)
			}
			return pruneOptions{force: force, filters: f}, nil
		}, runContainerPrune),
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not prompt for confirmation")
	c.Flags().StringArrayVar(&filters, "filter", nil, "only containers with label=KEY[=VALUE], or created before until=DURATION")
	return withStore(c)
}

func runContainerPrune(ctx context.Context, g *globalOptions, o pruneOptions, stdout io.Writer) error {
	return g.prune(ctx, o, stdout, warnPruneContainers, (*engine.Engine).PruneContainers)
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
		RunE: action(g, func(c *cobra.Command, args []string) (engine.PauseOptions, error) {
			return engine.PauseOptions{Names: args, Unpause: !pause}, nil
		}, runPause),
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runPause(ctx context.Context, g *globalOptions, o engine.PauseOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports := e.PauseContainers(ctx, o)
	return printNames(stdout, reports, func(r engine.PauseReport) (string, error) { return r.RawInput, r.Err })
}

func newTopCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "top CONTAINER",
		Short: "List the processes of a running container",
		Args:  exactArgs(1),
		RunE:  action(g, oneContainer, runTop),
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runTop(ctx context.Context, g *globalOptions, o containerOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	procs, err := e.Processes(ctx, o.container)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "UID\tPID\tPPID\tSTAT\tTIME\tCOMMAND")
	for _, p := range procs {
		t := p.CPUTime.Round(time.Second)
		fmt.Fprintf(w, "%d\t%d\t%d\t%s\t%02d:%02d:%02d\t%s\n", p.UID, p.Pid, p.PPid, p.State, int(t.Hours()), int(t.Minutes())%60, int(t.Seconds())%60, p.Args)
	}
	return w.Flush()
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

// statsOptions are stats' options.
type statsOptions struct {
	names  []string
	format string
}

func newStatsCmd(g *globalOptions) *cobra.Command {
	var noStream bool
	var format string
	c := &cobra.Command{
		Use:   "stats [flags] CONTAINER [CONTAINER...]",
		Short: "Show the resource use of running containers (from /proc: this host has no cgroup to read)",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (statsOptions, error) {
			if !noStream {
				return statsOptions{}, usagef("only stats --no-stream is available")
			}
			return statsOptions{names: args, format: format}, checkFormat(format)
		}, runStats),
	}
	c.Flags().BoolVar(&noStream, "no-stream", false, "print one sample and exit")
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runStats(ctx context.Context, g *globalOptions, o statsOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	var rows, jsonRows []any
	for _, n := range o.names {
		s, err := e.Stats(ctx, n, 500*time.Millisecond)
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
	return listFormat{format: o.format, defaultTable: table, titles: titles}.write(stdout, rows, jsonRows)
}

// portOptions are port's options.
type portOptions struct {
	container string
	port      string // PRIVATE_PORT[/PROTO], or "" for every one
}

func newPortCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List a container's published ports",
		Args:  rangeArgs(1, 2),
		RunE: action(g, func(c *cobra.Command, args []string) (portOptions, error) {
			o := portOptions{container: args[0]}
			if len(args) == 2 {
				o.port = args[1]
			}
			return o, nil
		}, runPort),
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runPort(ctx context.Context, g *globalOptions, o portOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	ports, err := e.Ports(ctx, o.container)
	if err != nil {
		return err
	}
	want := o.port
	if want != "" && !strings.Contains(want, "/") {
		want += "/tcp"
	}
	found := false
	for _, p := range ports {
		if o.port != "" {
			if fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol) != want {
				continue
			}
			ip := p.HostIP
			if ip == "" {
				ip = "0.0.0.0"
			}
			fmt.Fprintf(stdout, "%s:%d\n", ip, p.HostPort)
		} else {
			fmt.Fprintln(stdout, p.String())
		}
		found = true
	}
	if o.port != "" && !found {
		return fmt.Errorf("%w: no public port %s published for %s", config.ErrBadOption, o.port, o.container)
	}
	return nil
}

// attachOptions are attach's options.
type attachOptions struct {
	container  string
	noStdin    bool
	sigProxy   bool
	detachKeys []byte
}

func newAttachCmd(g *globalOptions) *cobra.Command {
	var noStdin, sigProxy bool
	var detachKeys string
	c := &cobra.Command{
		Use:   "attach [flags] CONTAINER",
		Short: "Attach to a running container's output (and input, when it was created with -i)",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (attachOptions, error) {
			o := attachOptions{container: args[0], noStdin: noStdin, sigProxy: sigProxy}
			var err error
			if o.detachKeys, err = engine.ParseDetachKeys(detachKeys); err != nil {
				return o, usagef("%v", err)
			}
			return o, nil
		}, runAttach),
	}
	c.Flags().StringVar(&detachKeys, "detach-keys", defaultDetachKeys, "keys that end the attach and leave the container running: a character or ctrl-X, comma-separated; \"\" for none")
	c.Flags().BoolVar(&noStdin, "no-stdin", false, "do not attach standard input")
	c.Flags().BoolVar(&sigProxy, "sig-proxy", true, "pass SIGINT and SIGTERM on to a container without a terminal")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runAttach(ctx context.Context, g *globalOptions, o attachOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	rec, err := e.LookupContainer(ctx, o.container)
	if err != nil {
		return err
	}
	tty := rec.Config.Tty
	a := engine.AttachOptions{DetachKeys: o.detachKeys}
	if !o.noStdin && rec.Config.OpenStdin {
		a.Stdin = g.stdin
	}
	// As docker: signals go to a container without a terminal; with
	// one, ctrl-c is a key for it, and a signal ends the attach (the
	// container runs on).
	ends := []os.Signal{syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM}
	if o.sigProxy && !tty {
		stop := proxySignals(e, rec.ID, syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		ends = ends[:1]
	}
	sctx, status, stop := signalEnds(context.Background(), ends...)
	defer stop()
	restore := func() {}
	switch {
	case tty && a.Stdin != nil:
		restore = rawInput(g.stdin)
	case a.Stdin != nil:
		restore = detachableLines(g.stdin, o.detachKeys)
	}
	if tty {
		a.Resize = windowSizes(sctx, g.stdin, stdout)
	}
	code, err := e.Attach(sctx, rec.ID, a, func(en monitor.LogEntry) {
		w := stdout
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
