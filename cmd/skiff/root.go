package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/rootless"
	"github.com/skiff-project/skiff/storage"
)

// globalOptions are the flags every command takes, and the engine the
// command opens on first use.
type globalOptions struct {
	logLevel      string
	root, runRoot string
	driver        string

	stdin          io.Reader
	stdout, stderr io.Writer
	eng            *engine.Engine
	// notifySocket is systemd's NOTIFY_SOCKET, taken out of the
	// environment so that no runtime or helper sees it.
	notifySocket string
}

// annotation key: commands that touch storage run in the user namespace.
const needsStore = "skiff.store"

// needsStoreWith names the flag with which a command needs the store.
const needsStoreWith = "skiff.store-with"

// withStoreIf marks a command that needs the store when the boolean flag
// is set (ps --external), and reads the state alone otherwise.
func withStoreIf(c *cobra.Command, flag string) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[needsStoreWith] = flag
	return c
}

// flagSet tells whether c has the boolean flag name, set true.
func flagSet(c *cobra.Command, name string) bool {
	if name == "" {
		return false
	}
	v, err := c.Flags().GetBool(name)
	return err == nil && v
}

func withStore(c *cobra.Command) *cobra.Command {
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[needsStore] = "true"
	return c
}

func newRootCmd(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:           "skiff",
		Short:         "Rootless, daemonless containers with a docker-compatible command line",
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       engine.Version,
		PersistentPreRunE: func(c *cobra.Command, args []string) error {
			return g.setup(c, args)
		},
	}
	root.SetIn(g.stdin)
	root.SetOut(g.stdout)
	root.SetErr(g.stderr)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	pf := root.PersistentFlags()
	pf.StringVar(&g.logLevel, "log-level", "warn", "log messages at this level and above: debug, info, warn, error")
	pf.StringVar(&g.root, "root", "", "path of the image store (default from storage.conf or $XDG_DATA_HOME/skiff/storage)")
	pf.StringVar(&g.runRoot, "runroot", "", "path of the store's run-time state")
	pf.StringVar(&g.driver, "storage-driver", "", "storage driver: overlay or vfs")

	image := newGroupCmd("image", "Manage images")
	container := newGroupCmd("container", "Manage containers")
	// As docker's and podman's: container ls (ps's name there) and
	// container inspect.
	containerList := newPsCmd(g)
	containerList.Aliases = append(containerList.Aliases, "ls")
	container.AddCommand(newRunCmd(g), newCreateCmd(g), newStartCmd(g), newStopCmd(g, "stop"), newStopCmd(g, "restart"),
		newKillCmd(g), newRmCmd(g), newWaitCmd(g), containerList, newContainerInspectCmd(g), newLogsCmd(g), newExecCmd(g), newCleanupCmd(g), newNetworkHookCmd(g),
		newCommitCmd(g), newDiffCmd(g), newExportCmd(g), newCpCmd(g), newRenameCmd(g), newContainerPruneCmd(g),
		newPauseCmd(g, true), newPauseCmd(g, false), newTopCmd(g), newStatsCmd(g), newPortCmd(g), newAttachCmd(g),
		newExistsCmd(g, "container"))
	image.AddCommand(newExistsCmd(g, "image"),
		newPullCmd(g), newPushCmd(g), newImagesCmd(g, "ls"), newImageInspectCmd(g),
		newRmiCmd(g, "rm"), newTagCmd(g), newUntagCmd(g), newHistoryCmd(g),
		newSaveCmd(g), newLoadCmd(g), newImportCmd(g), newImagePruneCmd(g), newBuildCmd(g, "build"),
	)
	root.AddCommand(
		image,
		newPullCmd(g), newPushCmd(g), newImagesCmd(g, "images"), newInspectCmd(g),
		newRmiCmd(g, "rmi"), newTagCmd(g), newUntagCmd(g), newHistoryCmd(g),
		newSaveCmd(g), newLoadCmd(g), newImportCmd(g), newBuildCmd(g, "build"),
		newLoginCmd(g), newLogoutCmd(g), newInfoCmd(g), newVersionCmd(g),
		newCompletionCmd(g),
		newRunCmd(g), newCreateCmd(g), newStartCmd(g), newStopCmd(g, "stop"), newStopCmd(g, "restart"),
		newKillCmd(g), newRmCmd(g), newWaitCmd(g), newPsCmd(g), newLogsCmd(g), newExecCmd(g),
		newCommitCmd(g), newDiffCmd(g), newExportCmd(g), newCpCmd(g), newRenameCmd(g),
		newPauseCmd(g, true), newPauseCmd(g, false), newTopCmd(g), newStatsCmd(g), newPortCmd(g), newAttachCmd(g),
		container, newBuilderCmd(g), newVolumeCmd(g), newNetworkCmd(g), newGenerateCmd(g), newQuadletCmd(g), newAutoUpdateCmd(g),
		newSystemCmd(g),
	)
	// Only help reads the defaults: walking every command's flags costs
	// each invocation a millisecond or two, so it is done when help is asked.
	help := root.HelpFunc()
	root.SetHelpFunc(func(c *cobra.Command, args []string) {
		defaultsSaidOnce(c.Root())
		help(c, args)
	})
	return root
}

// executeRoot runs the command line args (without the program name).
func executeRoot(ctx context.Context, g *globalOptions, args []string) error {
	root := newRootCmd(g)
	if err := checkGlobalFlags(root, args); err != nil {
		return err
	}
	root.SetArgs(args)
	return root.ExecuteContext(ctx)
}

// checkGlobalFlags refuses an unknown flag before the command's name, as
// podman does: cobra would take the next word for its value and then
// complain about the word after ("--noout stop -t 0 x": unknown command x).
func checkGlobalFlags(root *cobra.Command, args []string) error {
	known := func(name string, short bool) (*pflag.Flag, bool) {
		for _, fs := range []*pflag.FlagSet{root.PersistentFlags(), root.Flags()} {
			var f *pflag.Flag
			if short {
				f = fs.ShorthandLookup(name)
			} else {
				f = fs.Lookup(name)
			}
			if f != nil {
				return f, true
			}
		}
		// cobra adds --help and --version when it runs.
		return nil, name == "help" || name == "version" || short && (name == "h" || name == "v")
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" || !strings.HasPrefix(a, "-") || a == "-" {
			return nil
		}
		if long, ok := strings.CutPrefix(a, "--"); ok {
			name, _, hasValue := strings.Cut(long, "=")
			f, ok := known(name, false)
			if !ok {
				return usagef("unknown flag: --%s (see 'skiff --help')", name)
			}
			if f != nil && f.NoOptDefVal == "" && !hasValue {
				i++ // its value
			}
			continue
		}
		for k := 1; k < len(a); k++ {
			f, ok := known(a[k:k+1], true)
			if !ok {
				return usagef("unknown shorthand flag: %q in %s (see 'skiff --help')", a[k], a)
			}
			if f != nil && f.NoOptDefVal == "" {
				if k == len(a)-1 {
					i++ // its value is the next word
				}
				break
			}
		}
	}
	return nil
}

// newGroupCmd is a command that only holds subcommands: alone it prints
// help, and an unknown subcommand is an error.
func newGroupCmd(use, short string) *cobra.Command {
	return &cobra.Command{Use: use, Short: short, Args: noArgs, RunE: func(c *cobra.Command, _ []string) error { return c.Help() }}
}

// noArgs rejects arguments to a group command with exit 125.
func noArgs(c *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("unknown command %q for %q (see '%s --help')", args[0], c.CommandPath(), c.CommandPath())
	}
	return nil
}

func exactArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%q requires exactly %d argument(s), got %d (see '%s --help')", c.CommandPath(), n, len(args), c.CommandPath())
		}
		return nil
	}
}

func minArgs(n int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < n {
			return usagef("%q requires at least %d argument(s) (see '%s --help')", c.CommandPath(), n, c.CommandPath())
		}
		return nil
	}
}

func rangeArgs(lo, hi int) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if len(args) < lo || len(args) > hi {
			return usagef("%q takes %d to %d argument(s), got %d (see '%s --help')", c.CommandPath(), lo, hi, len(args), c.CommandPath())
		}
		return nil
	}
}

// setup runs before every command: logging, the runtime directory, and, for
// commands that touch storage, the user namespace.
func (g *globalOptions) setup(c *cobra.Command, args []string) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return usagef("invalid --log-level %q: use debug, info, warn or error", g.logLevel)
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: level})))
	routeLibraryLogs(level)
	if g.driver != "" && g.driver != "overlay" && g.driver != "vfs" {
		return usagef("invalid --storage-driver %q: use overlay or vfs", g.driver)
	}
	if rootless.IsRootless() {
		// Without logind there may be none: the libraries (auth.json) and
		// the copy in the namespace then use skiff's private fallback.
		dir, err := rootless.RuntimeDir()
		if err != nil {
			return err
		}
		os.Setenv("XDG_RUNTIME_DIR", dir)
	}
	if c.Annotations[needsStore] == "" && !flagSet(c, c.Annotations[needsStoreWith]) {
		return nil
	}
	if rootless.NeedsNamespace() {
		code, err := rootless.Reexec(os.Args, g.stdin, g.stdout, g.stderr)
		if err != nil {
			return err
		}
		return &exitStatus{code}
	}
	g.notifySocket = os.Getenv("NOTIFY_SOCKET")
	os.Unsetenv("NOTIFY_SOCKET")
	if _, err := rootless.Joined(); err != nil {
		return err
	}
	rootless.KeepInheritedFromChildren()
	if err := checkHostPaths(c, args); err != nil {
		return err
	}
	if rootless.FastEntered() {
		slog.Debug("entered the user namespace in the constructor")
	}
	return rootless.VerifyMappings()
}

// engine opens the user's engine once per command.
func (g *globalOptions) engine(ctx context.Context) (*engine.Engine, error) {
	if g.eng != nil {
		return g.eng, nil
	}
	cfg, err := g.storageConfig()
	if err != nil {
		return nil, err
	}
	e, err := engine.New(ctx, engine.Options{Storage: cfg})
	if err != nil {
		return nil, err
	}
	g.eng = e
	return e, nil
}

// storageConfig is the store the global flags choose.
func (g *globalOptions) storageConfig() (storage.Config, error) {
	cfg, err := storage.DefaultConfig()
	if err != nil {
		return cfg, fmt.Errorf("reading the storage configuration: %w", err)
	}
	if g.root != "" {
		cfg.GraphRoot = g.root
	}
	if g.runRoot != "" {
		cfg.RunRoot = g.runRoot
	}
	if g.driver != "" {
		cfg.Driver = g.driver
	}
	return cfg, nil
}

func (g *globalOptions) close() {
	if g.eng != nil {
		g.eng.Close()
		g.eng = nil
	}
}
