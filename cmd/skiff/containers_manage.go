package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
)

// startOptions are start's options.
type startOptions struct {
	names       []string
	attach      bool // -a or -i: one container, in the foreground
	interactive bool
	detachKeys  []byte
}

func newStartCmd(g *globalOptions) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	c := &cobra.Command{
		Use:   "start [flags] CONTAINER [CONTAINER...]",
		Short: "Start containers",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (startOptions, error) {
			o := startOptions{names: args, attach: attach || interactive, interactive: interactive}
			if !o.attach {
				return o, nil
			}
			if len(args) > 1 {
				return o, usagef("start -a and -i take one container")
			}
			var err error
			if o.detachKeys, err = engine.ParseDetachKeys(detachKeys); err != nil {
				return o, usagef("%v", err)
			}
			return o, nil
		}, runStart),
	}
	c.Flags().BoolVarP(&attach, "attach", "a", false, "attach to the container's output and wait for it")
	c.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach the container's standard input")
	c.Flags().StringVar(&detachKeys, "detach-keys", defaultDetachKeys, detachKeysHelp)
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runStart(ctx context.Context, g *globalOptions, o startOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	if o.attach {
		if rec, err := e.LookupContainer(ctx, o.names[0]); err == nil && e.IsRunning(rec) {
			// podman: start -a of a running container attaches to it.
			return runAttach(ctx, g, attachOptions{container: rec.ID, noStdin: !o.interactive, sigProxy: true, detachKeys: o.detachKeys}, stdout)
		}
		return g.attachedStart(ctx, e, o.names[0], o.interactive, o.detachKeys, stdout, nil)
	}
	reports := e.StartContainers(ctx, engine.StartContainersOptions{Names: o.names, NotifySocket: g.notifySocket})
	return printNames(stdout, reports, func(r engine.StartReport) (string, error) { return r.RawInput, r.Err })
}

// stopShort is what stop and restart do, for their help.
var stopShort = map[string]string{
	"stop":    "Stop containers: the stop signal, then SIGKILL after the timeout",
	"restart": "Restart containers: stop each (the stop signal, then SIGKILL after the timeout) and start it again",
}

// stopOptions are stop's and restart's options.
type stopOptions struct {
	targets
	timeout *time.Duration // nil: the container's --stop-timeout, else 10 s
}

func newStopCmd(g *globalOptions, use string) *cobra.Command {
	var timeout int
	var t targets
	run := runStop
	if use == "restart" {
		run = runRestart
	}
	c := &cobra.Command{
		Use:   use + " [flags] CONTAINER [CONTAINER...]",
		Short: stopShort[use],
		Args:  t.args(),
		RunE: action(g, func(c *cobra.Command, args []string) (stopOptions, error) {
			if timeout < 0 {
				return stopOptions{}, usagef("invalid --time %d: use 0 or more seconds", timeout)
			}
			return stopOptions{targets: t.withNames(args), timeout: secondsIfChanged(c, "time", timeout)}, nil
		}, run),
	}
	c.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing (default: the container's --stop-timeout, else 10)")
	t.bind(c)
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// secondsIfChanged is the seconds of an int flag as a duration, nil when
// the flag was not given.
func secondsIfChanged(c *cobra.Command, flag string, seconds int) *time.Duration {
	if !c.Flags().Changed(flag) {
		return nil
	}
	d := time.Duration(seconds) * time.Second
	return &d
}

func runStop(ctx context.Context, g *globalOptions, o stopOptions, stdout io.Writer) error {
	names, err := o.resolve()
	if err != nil {
		return err
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports, err := e.StopContainers(ctx, engine.StopOptions{Names: names, All: o.all, Timeout: o.timeout, Ignore: o.ignore})
	if err != nil {
		return err
	}
	return printNames(stdout, reports, func(r engine.StopReport) (string, error) { return r.RawInput, r.Err })
}

func runRestart(ctx context.Context, g *globalOptions, o stopOptions, stdout io.Writer) error {
	names, err := o.resolve()
	if err != nil {
		return err
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports, err := e.RestartContainers(ctx, engine.RestartOptions{Names: names, All: o.all, Timeout: o.timeout, Ignore: o.ignore, NotifySocket: g.notifySocket})
	if err != nil {
		return err
	}
	return printNames(stdout, reports, func(r engine.RestartReport) (string, error) { return r.RawInput, r.Err })
}

// targets are the containers stop, restart and rm act on: names, --all,
// or --cidfile (the units generate systemd writes use it, with --ignore).
type targets struct {
	names    []string // names or ids
	cidfiles []string // files that hold ids (run --cidfile)
	all      bool
	ignore   bool
}

func (t *targets) bind(c *cobra.Command) {
	c.Flags().BoolVarP(&t.all, "all", "a", false, "every container")
	c.Flags().StringArrayVar(&t.cidfiles, "cidfile", nil, "the container whose id this file holds (from run --cidfile)")
	c.Flags().BoolVarP(&t.ignore, "ignore", "i", false, "no error for a container (or cidfile) that does not exist")
}

// args accepts names, --cidfile or --all.
func (t *targets) args() cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if t.all == (len(args)+len(t.cidfiles) > 0) {
			return usagef("%q takes names, --cidfile or --all (see '%s --help')", c.CommandPath(), c.CommandPath())
		}
		return nil
	}
}

// withNames is t with the names given.
func (t targets) withNames(names []string) targets {
	t.names = names
	return t
}

// resolve is the names given and the ids the cidfiles hold (a missing one
// is no error with --ignore).
func (t targets) resolve() ([]string, error) {
	names := append([]string(nil), t.names...)
	for _, f := range t.cidfiles {
		data, err := os.ReadFile(f)
		if err != nil {
			if t.ignore && errors.Is(err, os.ErrNotExist) {
				continue
			}
			return nil, usagef("--cidfile: %v", err)
		}
		id := strings.TrimSpace(string(data))
		if id == "" {
			return nil, usagef("--cidfile %s is empty", f)
		}
		names = append(names, id)
	}
	return names, nil
}

func allOrNames(all *bool) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if *all == (len(args) > 0) {
			return usagef("%q takes names, or --all (see '%s --help')", c.CommandPath(), c.CommandPath())
		}
		return nil
	}
}

func newKillCmd(g *globalOptions) *cobra.Command {
	var sig string
	var all bool
	c := &cobra.Command{
		Use:   "kill [flags] CONTAINER [CONTAINER...]",
		Short: "Send a signal to containers (SIGKILL by default)",
		Args:  allOrNames(&all),
		RunE: action(g, func(c *cobra.Command, args []string) (engine.KillOptions, error) {
			s, err := engine.ParseSignal(sig)
			if err != nil {
				return engine.KillOptions{}, usagef("%v", err)
			}
			return engine.KillOptions{Names: args, All: all, Signal: s}, nil
		}, runKill),
	}
	c.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send, by name or number")
	c.Flags().BoolVarP(&all, "all", "a", false, "every running container")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runKill(ctx context.Context, g *globalOptions, o engine.KillOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports, err := e.KillContainers(ctx, o)
	if err != nil {
		return err
	}
	return printNames(stdout, reports, func(r engine.KillReport) (string, error) { return r.RawInput, r.Err })
}

// rmOptions are rm's options.
type rmOptions struct {
	targets
	force, volumes bool
	timeout        *time.Duration // with force: stop the gentle way first
	storage        bool           // --storage: the store's containers (ps --external)
}

func newRmCmd(g *globalOptions) *cobra.Command {
	var force, volumes, storage bool
	var timeout int
	var t targets
	c := &cobra.Command{
		Use:   "rm [flags] CONTAINER [CONTAINER...]",
		Short: "Remove containers",
		Args:  t.args(),
		RunE: action(g, func(c *cobra.Command, args []string) (rmOptions, error) {
			o := rmOptions{targets: t.withNames(args), force: force, volumes: volumes, timeout: secondsIfChanged(c, "time", timeout), storage: storage}
			if storage && (o.all || volumes) {
				return o, usagef("--storage conflicts with --all and --volumes")
			}
			return o, nil
		}, runRm),
	}
	c.Flags().BoolVar(&storage, "storage", false, "remove containers of the store's alone (ps --external: a build's kept working containers)")
	c.Flags().BoolVarP(&force, "force", "f", false, "kill and remove running containers")
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove the containers' anonymous volumes too")
	c.Flags().IntVarP(&timeout, "time", "t", 10, "with -f, seconds to wait for the stop signal before killing")
	t.bind(c)
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runRm(ctx context.Context, g *globalOptions, o rmOptions, stdout io.Writer) error {
	names, err := o.resolve()
	if err != nil {
		return err
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	if o.storage {
		var reports []engine.RmReport
		for _, n := range names {
			id, err := e.RemoveExternal(ctx, n)
			reports = append(reports, engine.RmReport{ID: id, RawInput: n, Err: err})
		}
		_ = printNames(stdout, reports, func(r engine.RmReport) (string, error) { return r.RawInput, r.Err })
		return rmStatus(reports)
	}
	reports, err := e.RemoveContainers(ctx, engine.RmOptions{Names: names, All: o.all, Force: o.force, Volumes: o.volumes, Timeout: o.timeout, Ignore: o.ignore})
	if err != nil {
		return err
	}
	// The errors are rmStatus's to report, with rm's exit codes.
	_ = printNames(stdout, reports, func(r engine.RmReport) (string, error) { return r.RawInput, r.Err })
	// The cidfiles name nothing any more.
	for _, f := range o.cidfiles {
		_ = os.Remove(f)
	}
	return rmStatus(reports)
}

// rmStatus gives rm's failures podman's exit codes: 2 when a container
// runs (without -f), 1 when every failure is a container that does not
// exist, else 125.
func rmStatus(reports []engine.RmReport) error {
	var errs []error
	running, missing, other := false, false, false
	for _, r := range reports {
		switch e := r.Err; {
		case e == nil:
			continue
		case errors.Is(e, engine.ErrIsRunning):
			running = true
		case errors.Is(e, config.ErrNoSuchContainer):
			missing = true
		default:
			other = true
		}
		errs = append(errs, r.Err)
	}
	err := errors.Join(errs...)
	switch {
	case err == nil:
		return nil
	case running:
		return &codedError{err, 2}
	case missing && !other:
		return &codedError{err, 1}
	}
	return err
}

// namesOptions are the options of a command that takes containers by
// name and nothing else (wait, pause, unpause).
type namesOptions struct {
	names []string
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Wait for containers to stop and print their exit codes",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (namesOptions, error) {
			return namesOptions{names: args}, nil
		}, runWait),
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runWait(ctx context.Context, g *globalOptions, o namesOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports := e.WaitContainers(ctx, engine.WaitOptions{Names: o.names})
	return printNames(stdout, reports, func(r engine.WaitReport) (string, error) { return strconv.Itoa(r.ExitCode), r.Err })
}

// logsOptions are logs' options.
type logsOptions struct {
	container string
	engine.LogsOptions
	timestamps bool
}

func newLogsCmd(g *globalOptions) *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	c := &cobra.Command{
		Use:   "logs [flags] CONTAINER",
		Short: "Print a container's output",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (logsOptions, error) {
			now := time.Now()
			o := logsOptions{container: args[0], timestamps: timestamps}
			o.Follow = follow
			var err error
			if o.Tail, err = engine.ParseTail(tail); err != nil {
				return o, usagef("%v", err)
			}
			if o.Since, err = engine.ParseTime(since, now); err != nil {
				return o, usagef("%v", err)
			}
			if o.Until, err = engine.ParseTime(until, now); err != nil {
				return o, usagef("%v", err)
			}
			return o, nil
		}, runLogs),
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output while the container runs")
	c.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	c.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines from the end")
	c.Flags().StringVar(&since, "since", "", "only after this time (RFC 3339, Unix time, or a duration like 10m)")
	c.Flags().StringVar(&until, "until", "", "only before this time")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runLogs(ctx context.Context, g *globalOptions, o logsOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	return e.Logs(ctx, o.container, o.LogsOptions, func(en monitor.LogEntry) {
		w := stdout
		if en.Stream == "stderr" {
			w = g.stderr
		}
		text := en.Text
		if o.timestamps {
			text = en.Time.Format(time.RFC3339Nano) + " " + text
		}
		if en.Full {
			text += "\n"
		}
		fmt.Fprint(w, text)
	})
}

// execOptions are exec's options.
type execOptions struct {
	container string
	engine.ExecOptions
}

func newExecCmd(g *globalOptions) *cobra.Command {
	var f engine.ExecOptions
	var detachKeys string
	c := &cobra.Command{
		Use:   "exec [flags] CONTAINER COMMAND [ARG...]",
		Short: "Run a process in a running container",
		Args:  minArgs(2),
		RunE: action(g, func(c *cobra.Command, args []string) (execOptions, error) {
			o := execOptions{container: args[0], ExecOptions: f}
			if o.Tty && o.Interactive && !o.Detach && !isTerminal(g.stdin) {
				return o, usagef("the input device is not a TTY: drop -t (or -i), or run from a terminal")
			}
			var err error
			if o.DetachKeys, err = engine.ParseDetachKeys(detachKeys); err != nil {
				return o, usagef("%v", err)
			}
			o.Cmd = args[1:]
			o.Env = engine.ResolveEnv(o.Env, os.LookupEnv)
			return o, nil
		}, runExec),
	}
	fs := c.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&f.Interactive, "interactive", "i", false, "keep standard input open")
	fs.BoolVarP(&f.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	fs.BoolVarP(&f.Detach, "detach", "d", false, "run in the background")
	fs.StringVar(&detachKeys, "detach-keys", defaultDetachKeys, detachKeysHelp)
	fs.StringArrayVarP(&f.Env, "env", "e", nil, "set an environment variable")
	fs.StringVarP(&f.User, "user", "u", "", "uid[:gid] to run as")
	fs.StringVarP(&f.WorkingDir, "workdir", "w", "", "working directory")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runExec(ctx context.Context, g *globalOptions, o execOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	x := o.ExecOptions
	x.Stdin, x.Stdout, x.Stderr = g.stdin, stdout, g.stderr
	if !x.Tty || x.Detach {
		x.DetachKeys = nil
		code, err := e.Exec(ctx, o.container, x)
		return attachResult(code, err, 0)
	}
	// The process's terminal is the caller's while it runs: raw input,
	// the window size, the detach keys (which leave it running); a
	// signal ends the exec.
	sctx, status, stop := signalEnds(context.Background(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	x.Resize = windowSizes(sctx, g.stdin, stdout)
	restore := func() {}
	if x.Interactive {
		restore = rawInput(g.stdin)
	}
	code, err := e.Exec(sctx, o.container, x)
	restore()
	return attachResult(code, err, status())
}

// containerOptions are the options of a command on one container and
// nothing else.
type containerOptions struct {
	container string
}

func oneContainer(c *cobra.Command, args []string) (containerOptions, error) {
	return containerOptions{container: args[0]}, nil
}

func newCleanupCmd(g *globalOptions) *cobra.Command {
	return newInternalCmd(g, "cleanup", "Record a container's end (run by its monitor)", runCleanup)
}

func runCleanup(ctx context.Context, g *globalOptions, o containerOptions, stdout io.Writer) error {
	e, err := g.internalEngine(ctx)
	if err != nil {
		return err
	}
	return e.MonitorCleanup(ctx, o.container, os.Getpid())
}

func newNetworkHookCmd(g *globalOptions) *cobra.Command {
	return newInternalCmd(g, "network-hook", "Connect the network of a container with a user namespace of its own (the runtime's createRuntime hook)", runNetworkHook)
}

func runNetworkHook(ctx context.Context, g *globalOptions, o containerOptions, stdout io.Writer) error {
	e, err := g.internalEngine(ctx)
	if err != nil {
		return err
	}
	return e.NetworkHook(ctx, o.container, g.stdin)
}

// newInternalCmd is a hidden `container VERB CONTAINER` that skiff runs
// itself (from the monitor, or as the runtime's hook).
func newInternalCmd(g *globalOptions, verb, short string, run handler[containerOptions]) *cobra.Command {
	c := &cobra.Command{
		Use:    verb + " CONTAINER",
		Short:  short,
		Hidden: true,
		Args:   exactArgs(1),
		RunE:   action(g, oneContainer, run),
	}
	return withStore(c)
}

// internalEngine is the engine of the store of the skiff that started
// this one, else the one the flags name.
func (g *globalOptions) internalEngine(ctx context.Context) (*engine.Engine, error) {
	if root, runRoot, driver, ok := engine.StoreFromEnv(); ok && g.root == "" {
		g.root, g.runRoot, g.driver = root, runRoot, driver
	}
	return g.engine(ctx)
}

// completeContainers offers container names, through a copy of skiff.
func completeContainers(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"ps", "-a", "--format", "{{.Names}}"})
}
