package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
)

// forEach applies fn to every named container and reports each failure,
// docker-style: the names that worked are printed, the rest fail the command.
func (g *globalOptions) forEach(names []string, fn func(string) error) error {
	var errs []error
	for _, n := range names {
		if err := fn(n); err != nil {
			if err != errSkip {
				errs = append(errs, err)
			}
			continue
		}
		fmt.Fprintln(g.stdout, n)
	}
	return errors.Join(errs...)
}

// errSkip, from forEach's function, passes over a name quietly.
var errSkip = errors.New("skipped")

func newStartCmd(g *globalOptions) *cobra.Command {
	var attach, interactive bool
	var detachKeys string
	c := &cobra.Command{
		Use:   "start [flags] CONTAINER [CONTAINER...]",
		Short: "Start containers",
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			if (attach || interactive) && len(args) > 1 {
				return usagef("start -a and -i take one container")
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if attach || interactive {
				return g.attachedStart(c, e, args[0], interactive, detachKeys, nil)
			}
			return g.forEach(args, func(n string) error {
				_, err := e.Start(c.Context(), n, engine.StartOptions{NotifySocket: g.notifySocket})
				return err
			})
		},
	}
	c.Flags().BoolVarP(&attach, "attach", "a", false, "attach to the container's output and wait for it")
	c.Flags().BoolVarP(&interactive, "interactive", "i", false, "attach the container's standard input")
	c.Flags().StringVar(&detachKeys, "detach-keys", defaultDetachKeys, detachKeysHelp)
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// stopShort is what stop and restart do, for their help.
var stopShort = map[string]string{
	"stop":    "Stop containers: the stop signal, then SIGKILL after the timeout",
	"restart": "Restart containers: stop each (the stop signal, then SIGKILL after the timeout) and start it again",
}

func newStopCmd(g *globalOptions, use string) *cobra.Command {
	var timeout int
	var all bool
	var t targets
	c := &cobra.Command{
		Use:   use + " [flags] CONTAINER [CONTAINER...]",
		Short: stopShort[use],
		Args:  t.args(&all),
		RunE: func(c *cobra.Command, args []string) error {
			if timeout < 0 {
				return usagef("invalid --time %d: use 0 or more seconds", timeout)
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if args, err = t.resolve(c, e, args, all); err != nil {
				return err
			}
			wait := time.Duration(timeout) * time.Second
			if !c.Flags().Changed("time") {
				wait = -1 // the container's --stop-timeout, else 10 s
			}
			return g.forEachTarget(t, args, func(n string) error {
				if err := e.Stop(c.Context(), n, wait); err != nil {
					return err
				}
				if use == "restart" {
					_, err := e.Start(c.Context(), n, engine.StartOptions{NotifySocket: g.notifySocket})
					return err
				}
				return nil
			})
		},
	}
	c.Flags().IntVarP(&timeout, "time", "t", 10, "seconds to wait before killing (default: the container's --stop-timeout, else 10)")
	c.Flags().BoolVarP(&all, "all", "a", false, "every container")
	t.bind(c)
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// targets are the --cidfile and --ignore flags of stop and rm, as the units
// generate systemd writes use them.
type targets struct {
	cidfiles []string
	ignore   bool
}

func (t *targets) bind(c *cobra.Command) {
	c.Flags().StringArrayVar(&t.cidfiles, "cidfile", nil, "the container whose id this file holds (from run --cidfile)")
	c.Flags().BoolVarP(&t.ignore, "ignore", "i", false, "no error for a container (or cidfile) that does not exist")
}

// args accepts names, --cidfile or --all.
func (t *targets) args(all *bool) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if *all == (len(args)+len(t.cidfiles) > 0) {
			return usagef("%q takes names, --cidfile or --all (see '%s --help')", c.CommandPath(), c.CommandPath())
		}
		return nil
	}
}

// resolve adds the ids of the cidfiles (a missing one is no error with
// --ignore) and, with all, every container.
func (t *targets) resolve(c *cobra.Command, e *engine.Engine, args []string, all bool) ([]string, error) {
	if all {
		return e.ContainerIDs(c.Context())
	}
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
		args = append(args, id)
	}
	return args, nil
}

// forEachTarget is forEach that, with --ignore, passes over containers
// that do not exist.
func (g *globalOptions) forEachTarget(t targets, names []string, fn func(string) error) error {
	return g.forEach(names, func(n string) error {
		err := fn(n)
		if t.ignore && errors.Is(err, config.ErrNoSuchContainer) {
			return errSkip
		}
		return err
	})
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
	var signal syscall.Signal
	c := &cobra.Command{
		Use:   "kill [flags] CONTAINER [CONTAINER...]",
		Short: "Send a signal to containers (SIGKILL by default)",
		Args:  allOrNames(&all),
		PreRunE: func(c *cobra.Command, args []string) error {
			var err error
			if signal, err = engine.ParseSignal(sig); err != nil {
				return usagef("%v", err)
			}
			return nil
		},
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if all {
				if args, err = runningIDs(c, e); err != nil {
					return err
				}
			}
			return g.forEach(args, func(n string) error { return e.Kill(c.Context(), n, signal) })
		},
	}
	c.Flags().StringVarP(&sig, "signal", "s", "KILL", "signal to send, by name or number")
	c.Flags().BoolVarP(&all, "all", "a", false, "every running container")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runningIDs(c *cobra.Command, e *engine.Engine) ([]string, error) {
	list, err := e.ListContainers(c.Context(), engine.ListContainersOptions{})
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, s := range list {
		ids = append(ids, s.ID)
	}
	return ids, nil
}

func newRmCmd(g *globalOptions) *cobra.Command {
	var force, all, volumes bool
	var timeout int
	var t targets
	c := &cobra.Command{
		Use:   "rm [flags] CONTAINER [CONTAINER...]",
		Short: "Remove containers",
		Args:  t.args(&all),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			if args, err = t.resolve(c, e, args, all); err != nil {
				return err
			}
			err = g.forEachTarget(t, args, func(n string) error {
				stopped := false
				if force && c.Flags().Changed("time") {
					// Stopped the gentle way first, as podman rm -f -t does.
					err := e.Stop(c.Context(), n, time.Duration(timeout)*time.Second)
					if err != nil && !errors.Is(err, engine.ErrNotRunning) {
						return err
					}
					stopped = err == nil
				}
				err := e.Remove(c.Context(), n, engine.RemoveOptions{Force: force, Volumes: volumes})
				if stopped && errors.Is(err, config.ErrNoSuchContainer) {
					return nil // a --rm container removed itself once stopped
				}
				return err
			})
			// The cidfiles name nothing any more.
			for _, f := range t.cidfiles {
				_ = os.Remove(f)
			}
			return rmStatus(err)
		},
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "kill and remove running containers")
	c.Flags().BoolVarP(&all, "all", "a", false, "every container")
	c.Flags().BoolVarP(&volumes, "volumes", "v", false, "remove the containers' anonymous volumes too")
	c.Flags().IntVarP(&timeout, "time", "t", 10, "with -f, seconds to wait for the stop signal before killing")
	t.bind(c)
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

// rmStatus gives rm's failures podman's exit codes: 2 when a container
// runs (without -f), 1 when every failure is a container that does not
// exist, else 125.
func rmStatus(err error) error {
	if err == nil {
		return nil
	}
	errs := []error{err}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs = joined.Unwrap()
	}
	running, missing, other := false, false, false
	for _, e := range errs {
		switch {
		case errors.Is(e, engine.ErrIsRunning):
			running = true
		case errors.Is(e, config.ErrNoSuchContainer):
			missing = true
		default:
			other = true
		}
	}
	switch {
	case running:
		return &codedError{err, 2}
	case missing && !other:
		return &codedError{err, 1}
	}
	return err
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	c := &cobra.Command{
		Use:   "wait CONTAINER [CONTAINER...]",
		Short: "Wait for containers to stop and print their exit codes",
		Args:  minArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			var errs []error
			for _, n := range args {
				code, err := e.Wait(c.Context(), n)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				fmt.Fprintln(g.stdout, code)
			}
			return errors.Join(errs...)
		},
	}
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newLogsCmd(g *globalOptions) *cobra.Command {
	var follow, timestamps bool
	var tail, since, until string
	c := &cobra.Command{
		Use:   "logs [flags] CONTAINER",
		Short: "Print a container's output",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			now := time.Now()
			o := engine.LogsOptions{Follow: follow}
			var err error
			if o.Tail, err = engine.ParseTail(tail); err != nil {
				return usagef("%v", err)
			}
			if o.Since, err = engine.ParseTime(since, now); err != nil {
				return usagef("%v", err)
			}
			if o.Until, err = engine.ParseTime(until, now); err != nil {
				return usagef("%v", err)
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return e.Logs(c.Context(), args[0], o, func(en monitor.LogEntry) {
				w := g.stdout
				if en.Stream == "stderr" {
					w = g.stderr
				}
				text := en.Text
				if timestamps {
					text = en.Time.Format(time.RFC3339Nano) + " " + text
				}
				if en.Full {
					text += "\n"
				}
				fmt.Fprint(w, text)
			})
		},
	}
	c.Flags().BoolVarP(&follow, "follow", "f", false, "follow the output while the container runs")
	c.Flags().BoolVarP(&timestamps, "timestamps", "t", false, "show timestamps")
	c.Flags().StringVarP(&tail, "tail", "n", "all", "number of lines from the end")
	c.Flags().StringVar(&since, "since", "", "only after this time (RFC 3339, Unix time, or a duration like 10m)")
	c.Flags().StringVar(&until, "until", "", "only before this time")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newExecCmd(g *globalOptions) *cobra.Command {
	var o engine.ExecOptions
	var detachKeys string
	c := &cobra.Command{
		Use:   "exec [flags] CONTAINER COMMAND [ARG...]",
		Short: "Run a process in a running container",
		Args:  minArgs(2),
		RunE: func(c *cobra.Command, args []string) error {
			if o.Tty && o.Interactive && !o.Detach && !isTerminal(g.stdin) {
				return usagef("the input device is not a TTY: drop -t (or -i), or run from a terminal")
			}
			keys, err := engine.ParseDetachKeys(detachKeys)
			if err != nil {
				return usagef("%v", err)
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			o.Cmd = args[1:]
			o.Stdin, o.Stdout, o.Stderr = g.stdin, g.stdout, g.stderr
			if !o.Tty || o.Detach {
				code, err := e.Exec(c.Context(), args[0], o)
				return attachResult(code, err, 0)
			}
			// The process's terminal is the caller's while it runs: raw
			// input, the window size, the detach keys (which leave it
			// running); a signal ends the exec.
			o.DetachKeys = keys
			ctx, status, stop := signalEnds(context.Background(), syscall.SIGHUP, syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			o.Resize = windowSizes(ctx, g.stdin, g.stdout)
			restore := func() {}
			if o.Interactive {
				restore = rawInput(g.stdin)
			}
			code, err := e.Exec(ctx, args[0], o)
			restore()
			return attachResult(code, err, status())
		},
	}
	fs := c.Flags()
	fs.SetInterspersed(false)
	fs.BoolVarP(&o.Interactive, "interactive", "i", false, "keep standard input open")
	fs.BoolVarP(&o.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	fs.BoolVarP(&o.Detach, "detach", "d", false, "run in the background")
	fs.StringVar(&detachKeys, "detach-keys", defaultDetachKeys, detachKeysHelp)
	fs.StringArrayVarP(&o.Env, "env", "e", nil, "set an environment variable")
	fs.StringVarP(&o.User, "user", "u", "", "uid[:gid] to run as")
	fs.StringVarP(&o.WorkingDir, "workdir", "w", "", "working directory")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func newCleanupCmd(g *globalOptions) *cobra.Command {
	return newInternalCmd(g, "cleanup", "Record a container's end (run by its monitor)", func(e *engine.Engine, c *cobra.Command, id string) error {
		return e.MonitorCleanup(c.Context(), id)
	})
}

func newNetworkHookCmd(g *globalOptions) *cobra.Command {
	return newInternalCmd(g, "network-hook", "Connect the network of a container with a user namespace of its own (the runtime's createRuntime hook)",
		func(e *engine.Engine, c *cobra.Command, id string) error {
			return e.NetworkHook(c.Context(), id, g.stdin)
		})
}

// newInternalCmd is a hidden `container VERB CONTAINER` that skiff runs
// itself (from the monitor, or as the runtime's hook).
func newInternalCmd(g *globalOptions, verb, short string, fn func(*engine.Engine, *cobra.Command, string) error) *cobra.Command {
	c := &cobra.Command{
		Use:    verb + " CONTAINER",
		Short:  short,
		Hidden: true,
		Args:   exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			// The store of the skiff that started this one.
			if root, runRoot, driver, ok := engine.StoreFromEnv(); ok && g.root == "" {
				g.root, g.runRoot, g.driver = root, runRoot, driver
			}
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			return fn(e, c, args[0])
		},
	}
	return withStore(c)
}

// completeContainers offers container names, through a copy of skiff.
func completeContainers(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"ps", "-a", "--format", "{{.Names}}"})
}
