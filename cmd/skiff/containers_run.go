package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"
)

// createFlags are the flags run and create share, as given.
type createFlags struct {
	o           engine.CreateOptions
	reg         registryFlags
	pull        string
	sdNotify    string
	env         []string
	envFiles    []string
	envHost     bool
	labels      []string
	entrypoint  string
	quiet       bool
	volumes     []string
	mounts      []string
	tmpfs       []string
	cidfile     string
	networks    []string
	stopTimeout int
}

// createOptions are create's options: the engine's, and the --cidfile
// that takes the new container's id.
type createOptions struct {
	engine.CreateOptions
	cidfile string
}

func (f *createFlags) bind(fs *pflag.FlagSet) {
	fs.SetInterspersed(false) // flags after the image belong to the command
	fs.StringVar(&f.o.Name, "name", "", "name of the container")
	fs.BoolVar(&f.o.Replace, "replace", false, "replace a container of the same name")
	fs.StringVar(&f.pull, "pull", engine.PullMissing.String(), "pull the image: always, missing or never")
	fs.StringArrayVarP(&f.env, "env", "e", nil, "set an environment variable KEY=VALUE (KEY alone takes it from here)")
	fs.StringArrayVar(&f.envFiles, "env-file", nil, "read environment variables from a file")
	fs.StringVarP(&f.o.WorkingDir, "workdir", "w", "", "working directory inside the container")
	fs.StringVarP(&f.o.User, "user", "u", "", "user[:group] to run as, by name or id")
	fs.StringVar(&f.entrypoint, "entrypoint", "", "override the image's entrypoint")
	fs.StringArrayVarP(&f.labels, "label", "l", nil, "set a label KEY=VALUE")
	fs.StringVarP(&f.o.Hostname, "hostname", "h", "", "hostname inside the container")
	fs.BoolVarP(&f.o.Tty, "tty", "t", false, "allocate a pseudo-terminal")
	fs.BoolVarP(&f.o.Interactive, "interactive", "i", false, "keep standard input open")
	fs.BoolVar(&f.o.AutoRemove, "rm", false, "remove the container when it exits")
	fs.StringArrayVar(&f.networks, "network", nil, "network: pasta (the default when installed), slirp4netns, none, host, private, container:NAME, or a network's name (repeatable)")
	fs.StringArrayVar(&f.o.Aliases, "network-alias", nil, "another name for the container on its networks")
	fs.StringVar(&f.o.IP, "ip", "", "the container's IPv4 address on its (first) network")
	fs.StringArrayVarP(&f.o.Publish, "publish", "p", nil, "publish a port [[IP:]HOST_PORT:]CONTAINER_PORT[/udp]")
	fs.BoolVarP(&f.o.PublishAll, "publish-all", "P", false, "publish the image's EXPOSEd ports on free host ports")
	fs.StringArrayVar(&f.o.DNS, "dns", nil, "DNS server for the container (none: the image's own /etc/resolv.conf)")
	fs.StringArrayVar(&f.o.DNSSearch, "dns-search", nil, "DNS search domain for the container")
	fs.StringArrayVar(&f.o.AddHosts, "add-host", nil, "add NAME:IP to /etc/hosts (IP may be host-gateway)")
	fs.StringVar(&f.sdNotify, "sdnotify", config.SdNotifyContainer, "with systemd's NOTIFY_SOCKET: container (passed in; the container says READY=1), conmon (skiff says it once the container started) or ignore")
	fs.StringVar(&f.o.Runtime, "runtime", "", "OCI runtime: crun, runc or a path (default from containers.conf, else crun, or runc where crun cannot run)")
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "no pull progress")
	fs.StringArrayVarP(&f.volumes, "volume", "v", nil, "mount a host path or volume: [SOURCE:]DEST[:ro,rw,z,Z,U,nocopy,...]")
	fs.StringArrayVar(&f.mounts, "mount", nil, "mount: type=bind|volume|tmpfs,source=...,target=...[,readonly,...]")
	fs.StringArrayVar(&f.tmpfs, "tmpfs", nil, "mount a tmpfs: DEST[:OPTIONS]")
	fs.StringArrayVar(&f.o.VolumesFrom, "volumes-from", nil, "mount the volumes of another container: CONTAINER[:ro|rw]")
	fs.BoolVar(&f.o.ReadOnly, "read-only", false, "mount the root file system read-only")
	fs.BoolVar(&f.o.ReadOnlyTmpfs, "read-only-tmpfs", true, "with --read-only, mount tmpfs on /tmp, /var/tmp and /run")
	r := &f.o.RunOptions
	fs.BoolVar(&r.Init, "init", false, "run an init (catatonit) as PID 1 that forwards signals and reaps zombies")
	fs.StringArrayVar(&r.CapAdd, "cap-add", nil, "add a capability (or ALL)")
	fs.StringArrayVar(&r.CapDrop, "cap-drop", nil, "drop a capability (or ALL)")
	fs.BoolVar(&r.Privileged, "privileged", false, "every capability of the user's namespace, no seccomp filter, nothing masked in /proc and /sys")
	fs.StringArrayVar(&r.SecurityOpt, "security-opt", nil, "no-new-privileges, seccomp=unconfined|FILE, mask=PATHS, unmask=PATHS|ALL")
	fs.StringVar(&r.Userns, "userns", "", "user namespace: host (the user's, default), keep-id, auto[:size=N]")
	fs.StringArrayVar(&r.UIDMap, "uidmap", nil, "map uids CONTAINER:HOST:SIZE (HOST in the user's namespace)")
	fs.StringArrayVar(&r.GIDMap, "gidmap", nil, "map gids CONTAINER:HOST:SIZE (HOST in the user's namespace)")
	fs.StringArrayVar(&r.Ulimits, "ulimit", nil, "resource limit NAME=SOFT[:HARD]")
	fs.StringVar(&r.ShmSize, "shm-size", "", "size of /dev/shm (default 64m)")
	fs.StringVar(&r.StopSignal, "stop-signal", "", "signal that stops the container (default: the image's, else SIGTERM)")
	fs.IntVar(&f.stopTimeout, "stop-timeout", -1, "seconds stop waits before killing (default 10)")
	fs.StringVar(&f.cidfile, "cidfile", "", "write the container id to this file")
	fs.BoolVar(&f.envHost, "env-host", false, "pass this environment into the container")
	fs.StringArrayVar(&r.GroupAdd, "group-add", nil, "add a supplementary group, by name or id")
	fs.StringArrayVar(&r.Devices, "device", nil, "bind a host device: HOST[:CONTAINER][:PERMISSIONS]")
	fs.StringArrayVar(&r.Sysctls, "sysctl", nil, "set a namespaced sysctl NAME=VALUE, beside containers.conf's default_sysctls (else net.ipv4.ping_group_range=0 0)")
	fs.StringVarP(&r.Memory, "memory", "m", "", "memory limit (needs delegated cgroup v2)")
	fs.StringVar(&r.CPUs, "cpus", "", "CPU limit (needs delegated cgroup v2)")
	fs.StringVar(&r.PidsLimit, "pids-limit", "", "process limit (needs delegated cgroup v2)")
	fs.StringVar(&r.Restart, "restart", "no", "restart policy: no, always, unless-stopped, on-failure[:N]")
	f.reg.bind(fs, true)
	fs.Bool("help", false, "help for this command") // -h is --hostname, as in docker
}

// options turns the flags and IMAGE [CMD...] into create's options, once:
// the pull policy, the networks, the notify mode, the mounts and the
// stop timeout parsed; what needs the store (the name is free, the image
// and the networks exist) is the engine's to check.
func (f *createFlags) options(c *cobra.Command, args []string, stderr io.Writer) (createOptions, error) {
	o := createOptions{CreateOptions: f.o, cidfile: f.cidfile}
	o.Image, o.Cmd = args[0], args[1:]
	env, err := engine.ReadEnvFiles(f.envFiles)
	if err != nil {
		return o, err
	}
	// The environment is this process's to resolve: -e KEY takes its
	// value from here, --env-host all of it.
	o.Env = engine.ResolveEnv(append(env, f.env...), os.LookupEnv)
	if f.envHost {
		o.HostEnv = os.Environ()
	}
	o.SystemdUnit = os.Getenv(engine.SystemdUnitLabel)
	o.CreateCommand = append([]string(nil), os.Args[1:]...)
	o.Registry = f.reg.resolve()
	if c.Flags().Changed("entrypoint") {
		ep := f.entrypoint
		o.Entrypoint = &ep
	}
	o.Labels = map[string]string{}
	for _, l := range f.labels {
		k, v, _ := strings.Cut(l, "=")
		if k == "" {
			return o, usagef("invalid --label %q: want KEY=VALUE", l)
		}
		o.Labels[k] = v
	}
	if o.Pull, err = engine.ParsePullPolicy(f.pull); err != nil {
		return o, usagef("%v", err)
	}
	if o.Network, err = engine.ParseNetwork(f.networks); err != nil {
		return o, usagef("%v", err)
	}
	if o.SdNotify, err = engine.ParseSdNotify(f.sdNotify); err != nil {
		return o, usagef("%v", err)
	}
	if f.stopTimeout != -1 { // -1: the default
		t := time.Duration(f.stopTimeout) * time.Second
		o.StopTimeout = &t
	}
	for _, set := range []struct {
		specs []string
		parse func(string) (config.Mount, error)
	}{{f.volumes, config.ParseVolume}, {f.mounts, config.ParseMount}, {f.tmpfs, config.ParseTmpfs}} {
		for _, s := range set.specs {
			m, err := set.parse(s)
			if err != nil {
				return o, usagef("%v", err)
			}
			o.Mounts = append(o.Mounts, m)
		}
	}
	o.PullOutput = progressWriter(stderr, f.quiet)
	return o, nil
}

// create makes the container, writing its id to --cidfile; an existing
// file is refused before anything is made, as docker does.
func create(ctx context.Context, e *engine.Engine, o createOptions) (*config.ContainerRecord, error) {
	var cid *os.File
	if o.cidfile != "" {
		var err error
		if cid, err = os.OpenFile(o.cidfile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err != nil {
			if errors.Is(err, os.ErrExist) {
				return nil, usagef("--cidfile %s exists: remove it, or use another file", o.cidfile)
			}
			return nil, usagef("--cidfile: %v", err)
		}
		defer cid.Close()
	}
	rec, err := e.Create(ctx, o.CreateOptions)
	if err != nil {
		if cid != nil {
			os.Remove(o.cidfile)
		}
		return nil, err
	}
	if cid != nil {
		if _, err := cid.WriteString(rec.ID); err != nil {
			os.Remove(o.cidfile)
			_ = e.RemoveCreated(ctx, rec)
			return nil, fmt.Errorf("--cidfile: %w", err)
		}
	}
	return rec, nil
}

// undoRun undoes a run whose container failed to start: the engine removes
// what the run made unless the container stays (exit 126 or 127 without
// --rm), and so does the --cidfile.
func undoRun(ctx context.Context, e *engine.Engine, o createOptions, rec *config.ContainerRecord, cause error) error {
	if !e.UndoRun(ctx, rec, cause) && o.cidfile != "" {
		os.Remove(o.cidfile)
	}
	return cause
}

// completions: volume names for -v, container names for --volumes-from,
// the modes and the networks for --network.
func (f *createFlags) completions(c *cobra.Command, g *globalOptions) {
	_ = c.RegisterFlagCompletionFunc("volume", completeVolumes(g))
	_ = c.RegisterFlagCompletionFunc("volumes-from", completeContainers(g))
	_ = c.RegisterFlagCompletionFunc("network", func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		nets, dir := completeNetworks(g)(c, args, toComplete)
		return append([]string{"pasta", "slirp4netns", "none", "host", "bridge", "container:"}, nets...), dir
	})
}

func newCreateCmd(g *globalOptions) *cobra.Command {
	var f createFlags
	c := &cobra.Command{
		Use:   "create [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Create a container",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (createOptions, error) {
			return f.options(c, args, g.stderr)
		}, runCreate),
	}
	f.bind(c.Flags())
	f.completions(c, g)
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runCreate(ctx context.Context, g *globalOptions, o createOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	rec, err := create(ctx, e, o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, rec.ID)
	return nil
}

// runOptions are run's: create's, and how the container runs.
type runOptions struct {
	createOptions
	detach     bool
	detachKeys []byte
}

func newRunCmd(g *globalOptions) *cobra.Command {
	var f createFlags
	var detach bool
	var detachKeys string
	c := &cobra.Command{
		Use:   "run [flags] IMAGE [COMMAND [ARG...]]",
		Short: "Create and start a container",
		Args:  minArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (runOptions, error) {
			co, err := f.options(c, args, g.stderr)
			if err != nil {
				return runOptions{}, err
			}
			o := runOptions{createOptions: co, detach: detach}
			// As docker: only a terminal that takes input needs one.
			if o.Tty && o.Interactive && !detach && !isTerminal(g.stdin) {
				return o, usagef("the input device is not a TTY: drop -t (or -i), or run from a terminal")
			}
			if o.detachKeys, err = engine.ParseDetachKeys(detachKeys); err != nil {
				return o, usagef("%v", err)
			}
			return o, nil
		}, runRun),
	}
	f.bind(c.Flags())
	f.completions(c, g)
	c.Flags().BoolVarP(&detach, "detach", "d", false, "run in the background and print the container id")
	c.Flags().StringVar(&detachKeys, "detach-keys", defaultDetachKeys, detachKeysHelp)
	c.ValidArgsFunction = completeImages(g)
	return withStore(c)
}

func runRun(ctx context.Context, g *globalOptions, o runOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	rec, err := create(ctx, e, o.createOptions)
	if err != nil {
		return err
	}
	undo := func(err error) error { return undoRun(ctx, e, o.createOptions, rec, err) }
	if o.detach {
		if _, err := e.Start(ctx, rec.ID, engine.StartOptions{NotifySocket: g.notifySocket}); err != nil {
			return undo(err)
		}
		fmt.Fprintln(stdout, rec.ID)
		return nil
	}
	return g.attachedStart(ctx, e, rec.ID, false, o.detachKeys, stdout, undo)
}

func isTerminal(r any) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// attachedStart runs a container in the foreground and exits with its
// code. A -t container's terminal is the caller's while it runs: raw
// input, its window size, the detach keys; signals are passed on.
// undo, when not nil, is given an error of the start itself (neither a
// detach nor a signal that ended the attach) and returns what to report:
// run removes what its create made.
func (g *globalOptions) attachedStart(ctx context.Context, e *engine.Engine, id string, interactive bool, keys []byte, stdout io.Writer, undo func(error) error) error {
	rec, err := e.LookupContainer(ctx, id)
	if err != nil {
		return err
	}
	o := engine.StartOptions{Attach: true, Interactive: interactive, Stdin: g.stdin, Stdout: stdout, Stderr: g.stderr, NotifySocket: g.notifySocket}
	if !rec.Config.Tty {
		// As docker's run: the signals that end a command go to the
		// container instead.
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
		defer signal.Stop(sigs)
		o.Signals = sigs
		code, err := e.Start(ctx, id, o)
		return attachResult(code, undoStartError(err, undo), 0)
	}
	o.DetachKeys = keys
	// As docker's run, which proxies no signal in TTY mode: SIGINT,
	// SIGTERM and a hangup (the terminal closed) end the attach and leave
	// the container running (a ctrl-c typed reaches it as a key). A
	// proxied SIGTERM would end nothing when the container's init ignores
	// it, and `timeout 3 skiff run -t …` would wait for good.
	sctx, status, cancel := signalEnds(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	o.Resize = windowSizes(sctx, g.stdin, stdout)
	restore := func() {}
	if rec.Config.OpenStdin { // only then is the input the container's
		restore = rawInput(g.stdin)
	}
	code, err := e.Start(sctx, id, o)
	restore()
	if s := status(); s != 0 {
		return attachResult(code, err, s)
	}
	return attachResult(code, undoStartError(err, undo), 0)
}

// undoStartError hands a failed start to undo; a detach is no failure.
func undoStartError(err error, undo func(error) error) error {
	if err == nil || undo == nil || errors.Is(err, engine.ErrDetached) {
		return err
	}
	return undo(err)
}

// containerExitCode maps errors about a container's command to 126 and 127.
func containerExitCode(err error) (int, bool) {
	switch {
	case errors.Is(err, oci.ErrCommandNotFound), errors.Is(err, oci.ErrNoWorkdir):
		return exitNotFound, true
	case errors.Is(err, oci.ErrCannotInvoke):
		return exitCannotInvoke, true
	}
	return 0, false
}
