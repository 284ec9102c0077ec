package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/systemd"
)

func newGenerateCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("generate", "Generate systemd units")
	c.AddCommand(newGenerateSystemdCmd(g))
	return c
}

// selfPath is skiff's absolute path, for the units it writes.
func selfPath() string {
	p, err := os.Executable()
	if err != nil {
		return "/usr/bin/skiff"
	}
	if r, err := filepath.EvalSymlinks(p); err == nil {
		p = r
	}
	return p
}

// generateSystemdOptions are generate systemd's options.
type generateSystemdOptions struct {
	container string
	generate  systemd.GenerateOptions
	files     bool // write the unit to a file, and print its path
	// runFlag tells whether run knows a flag, and whether it takes a
	// value: how a container's create command is read.
	runFlag func(name string, short bool) (known, takesValue bool)
}

func newGenerateSystemdCmd(g *globalOptions) *cobra.Command {
	var f systemd.GenerateOptions
	var files bool
	var stopTimeout int
	c := &cobra.Command{
		Use:   "systemd [flags] CONTAINER",
		Short: "Write a systemd unit that runs a container",
		Args:  rangeArgs(1, 1),
		RunE: action(g, func(c *cobra.Command, args []string) (generateSystemdOptions, error) {
			o := generateSystemdOptions{container: args[0], generate: f, files: files}
			o.generate.StopTimeout = -1 // the container's own, else 10
			if c.Flags().Changed("time") {
				if stopTimeout < 0 {
					return o, usagef("invalid --time %d: use 0 or more seconds", stopTimeout)
				}
				o.generate.StopTimeout = stopTimeout
			}
			if !c.Flags().Changed("restart-policy") {
				o.generate.RestartPolicy = "" // the container's own, else on-failure
			}
			runFlags := newRunCmd(g).Flags()
			o.runFlag = func(name string, short bool) (bool, bool) {
				fl := runFlags.Lookup(name)
				if short {
					fl = runFlags.ShorthandLookup(name)
				}
				if fl == nil {
					return false, false
				}
				return true, fl.NoOptDefVal == ""
			}
			return o, nil
		}, runGenerateSystemd),
	}
	fs := c.Flags()
	fs.BoolVar(&f.New, "new", false, "a unit that creates the container on start and removes it on stop")
	fs.BoolVarP(&f.UseName, "name", "n", false, "name the unit and the commands by the container's name, not its id")
	fs.BoolVarP(&files, "files", "f", false, "write the unit to a file in the current directory and print its path")
	fs.StringVar(&f.RestartPolicy, "restart-policy", "on-failure", "systemd's Restart=: "+strings.Join(systemd.RestartPolicies, ", "))
	fs.UintVar(&f.RestartSec, "restart-sec", 0, "systemd's RestartSec= (0: systemd's default)")
	fs.IntVarP(&stopTimeout, "time", "t", 10, "stop timeout in seconds (default: the container's --stop-timeout, else 10)")
	fs.StringArrayVar(&f.After, "after", nil, "add to After=")
	fs.StringArrayVar(&f.Requires, "requires", nil, "add to Requires=")
	fs.StringArrayVar(&f.Wants, "wants", nil, "add to Wants=")
	fs.StringVar(&f.ContainerPrefix, "container-prefix", "container", "prefix of the unit's name")
	fs.StringVar(&f.Separator, "separator", "-", "between the prefix and the container in the unit's name")
	fs.BoolVar(&f.NoHeader, "no-header", false, "no comment header with the date")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
}

func runGenerateSystemd(ctx context.Context, g *globalOptions, o generateSystemdOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	rec, err := e.LookupContainer(ctx, o.container)
	if err != nil {
		return err
	}
	gen := o.generate
	gen.Binary, gen.Now = selfPath(), time.Now()
	ctr := systemd.Container{ID: rec.ID, Name: rec.Name, CreateCommand: rec.Config.CreateCommand,
		PIDFile: e.MonitorPidPath(rec.ID), StopTimeout: -1,
		Restart: rec.Config.Restart.Name, RestartRetries: rec.Config.Restart.MaximumRetryCount}
	if t, ok := rec.Config.Security.StopTimeoutSeconds(); ok {
		ctr.StopTimeout = t
	}
	name, text, err := systemd.Generate(ctr, gen, o.runFlag)
	if err != nil {
		return usagef("%v", err)
	}
	if !o.files {
		fmt.Fprint(stdout, text)
		return nil
	}
	path, err := filepath.Abs(name)
	if err != nil {
		return err
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		return err
	}
	fmt.Fprintln(stdout, path)
	return nil
}

// quadletOptions are quadlet's options.
type quadletOptions struct {
	user, dryRun bool
	out          string // the directory the services go to
}

func newQuadletCmd(g *globalOptions) *cobra.Command {
	var dryRun, user bool
	c := &cobra.Command{
		Use:   "quadlet [flags] [OUTPUT_DIR [EARLY_DIR LATE_DIR]]",
		Short: "Turn .container, .volume and .network files into systemd services (a systemd generator)",
		Long: `Reads .container, .volume and .network files from ~/.config/containers/systemd
and /etc/containers/systemd/users (with --user) or /etc/containers/systemd and
/usr/share/containers/systemd, or the directories in QUADLET_UNIT_DIRS, and
writes a .service for each to OUTPUT_DIR. Linked as
/usr/lib/systemd/user-generators/skiff-user-generator (or
system-generators/skiff-system-generator), skiff runs as the generator.`,
		Args: func(c *cobra.Command, args []string) error {
			if dryRun && len(args) > 0 || !dryRun && len(args) != 1 && len(args) != 3 {
				return usagef("quadlet takes an output directory (and systemd's early and late ones), or --dryrun")
			}
			return nil
		},
		RunE: action(g, func(c *cobra.Command, args []string) (quadletOptions, error) {
			o := quadletOptions{user: user, dryRun: dryRun}
			if len(args) > 0 {
				o.out = args[0]
			}
			return o, nil
		}, runQuadlet),
	}
	c.Flags().BoolVar(&dryRun, "dryrun", false, "print what would be written, write nothing")
	c.Flags().BoolVar(&user, "user", false, "the user's files, for the user's systemd manager")
	return c
}

// runQuadlet converts every source file; a bad one is reported (file,
// line, key) and skipped, and fails the command at the end.
func runQuadlet(ctx context.Context, g *globalOptions, o quadletOptions, stdout io.Writer) error {
	dirs := systemd.QuadletDirs(o.user)
	sources := systemd.FindQuadlets(dirs)
	byName := map[string]string{}
	for _, s := range sources {
		byName[filepath.Base(s.Path)] = s.Path
	}
	parse := func(path string) (*systemd.UnitFile, error) {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return systemd.Parse(path, data)
	}
	qo := systemd.QuadletOptions{Binary: selfPath(), Lookup: func(name string) (*systemd.UnitFile, error) {
		if p, ok := byName[name]; ok {
			return parse(p)
		}
		return nil, nil
	}}
	var errs []error
	for _, s := range sources {
		f, err := parse(s.Path)
		if err == nil {
			var gen *systemd.Generated
			if gen, err = systemd.Convert(f, qo); err == nil {
				if o.dryRun {
					fmt.Fprintf(stdout, "---%s---\n%s\n", gen.Name, gen.Text)
					continue
				}
				err = writeGenerated(o.out, gen)
			}
		}
		if err != nil {
			fmt.Fprintf(g.stderr, "quadlet: %v\n", err)
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return &exitStatus{exitEngine}
	}
	return nil
}

// writeGenerated writes a unit and the .wants/.requires links its
// [Install] asks for.
func writeGenerated(dir string, gen *systemd.Generated) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, gen.Name), []byte(gen.Text), 0o644); err != nil {
		return err
	}
	for suffix, targets := range map[string][]string{".wants": gen.WantedBy, ".requires": gen.RequiredBy} {
		for _, t := range targets {
			d := filepath.Join(dir, t+suffix)
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
			link := filepath.Join(d, gen.Name)
			_ = os.Remove(link)
			if err := os.Symlink(filepath.Join("..", gen.Name), link); err != nil && !errors.Is(err, os.ErrExist) {
				return err
			}
		}
	}
	return nil
}

// generatorMode runs skiff as a systemd generator when it is invoked by a
// name ending in -generator (a link in the generator directories); the
// user's manager's has "user" in it.
func generatorMode(g *globalOptions, argv []string) (bool, error) {
	base := filepath.Base(argv[0])
	if !strings.HasSuffix(base, "-generator") {
		return false, nil
	}
	if len(argv) < 2 {
		return true, usagef("%s: systemd passes the output directories", base)
	}
	return true, runQuadlet(context.Background(), g, quadletOptions{user: strings.Contains(base, "user"), out: argv[1]}, g.stdout)
}

var autoUpdateTitles = map[string]string{"Unit": "UNIT", "Container": "CONTAINER", "Image": "IMAGE", "Policy": "POLICY", "Updated": "UPDATED"}

// autoUpdateOptions are auto-update's options.
type autoUpdateOptions struct {
	engine.AutoUpdateOptions
	format string
}

func newAutoUpdateCmd(g *globalOptions) *cobra.Command {
	var dryRun bool
	var reg registryFlags
	var format string
	c := &cobra.Command{
		Use:   "auto-update [flags]",
		Short: "Update containers labelled io.containers.autoupdate whose image has a newer version, restarting their systemd units",
		Args:  rangeArgs(0, 0),
		RunE: action(g, func(c *cobra.Command, args []string) (autoUpdateOptions, error) {
			o := autoUpdateOptions{AutoUpdateOptions: engine.AutoUpdateOptions{DryRun: dryRun, Registry: reg.resolve()}, format: format}
			return o, checkFormat(format)
		}, runAutoUpdate),
	}
	c.Flags().BoolVar(&dryRun, "dry-run", false, "only report which containers have a newer image (UPDATED: pending)")
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	reg.bind(c.Flags(), false)
	return withStore(c)
}

func runAutoUpdate(ctx context.Context, g *globalOptions, o autoUpdateOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports, err := e.AutoUpdate(ctx, o.AutoUpdateOptions)
	var rows []any
	for _, r := range reports {
		rows = append(rows, r)
	}
	if werr := (listFormat{format: o.format, defaultTable: "{{.Unit}}\t{{.Container}}\t{{.Image}}\t{{.Policy}}\t{{.Updated}}", titles: autoUpdateTitles}).write(stdout, rows, reports); werr != nil {
		return werr
	}
	return err
}
