package main

import (
	"errors"
	"fmt"
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

func newGenerateSystemdCmd(g *globalOptions) *cobra.Command {
	o := systemd.GenerateOptions{}
	var files bool
	var stopTimeout int
	c := &cobra.Command{
		Use:   "systemd [flags] CONTAINER",
		Short: "Write a systemd unit that runs a container",
		Args:  rangeArgs(1, 1),
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			rec, err := e.LookupContainer(c.Context(), args[0])
			if err != nil {
				return err
			}
			o.StopTimeout = -1
			if c.Flags().Changed("time") {
				if stopTimeout < 0 {
					return usagef("invalid --time %d: use 0 or more seconds", stopTimeout)
				}
				o.StopTimeout = stopTimeout
			}
			if !c.Flags().Changed("restart-policy") {
				o.RestartPolicy = "" // the container's own, else on-failure
			}
			o.Binary, o.Now = selfPath(), time.Now()
			ctr := systemd.Container{ID: rec.ID, Name: rec.Name, CreateCommand: rec.Config.CreateCommand,
				PIDFile: e.MonitorPidPath(rec.ID), StopTimeout: -1,
				Restart: rec.Config.Restart.Name, RestartRetries: rec.Config.Restart.MaximumRetryCount}
			if t, ok := rec.Config.Security.StopTimeoutSeconds(); ok {
				ctr.StopTimeout = t
			}
			runFlags := newRunCmd(g).Flags()
			name, text, err := systemd.Generate(ctr, o, func(name string, short bool) (bool, bool) {
				f := runFlags.Lookup(name)
				if short {
					f = runFlags.ShorthandLookup(name)
				}
				if f == nil {
					return false, false
				}
				return true, f.NoOptDefVal == ""
			})
			if err != nil {
				return usagef("%v", err)
			}
			if !files {
				fmt.Fprint(g.stdout, text)
				return nil
			}
			path, err := filepath.Abs(name)
			if err != nil {
				return err
			}
			if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, path)
			return nil
		},
	}
	f := c.Flags()
	f.BoolVar(&o.New, "new", false, "a unit that creates the container on start and removes it on stop")
	f.BoolVarP(&o.UseName, "name", "n", false, "name the unit and the commands by the container's name, not its id")
	f.BoolVarP(&files, "files", "f", false, "write the unit to a file in the current directory and print its path")
	f.StringVar(&o.RestartPolicy, "restart-policy", "on-failure", "systemd's Restart=: "+strings.Join(systemd.RestartPolicies, ", "))
	f.UintVar(&o.RestartSec, "restart-sec", 0, "systemd's RestartSec= (0: systemd's default)")
	f.IntVarP(&stopTimeout, "time", "t", 10, "stop timeout in seconds (default: the container's --stop-timeout, else 10)")
	f.StringArrayVar(&o.After, "after", nil, "add to After=")
	f.StringArrayVar(&o.Requires, "requires", nil, "add to Requires=")
	f.StringArrayVar(&o.Wants, "wants", nil, "add to Wants=")
	f.StringVar(&o.ContainerPrefix, "container-prefix", "container", "prefix of the unit's name")
	f.StringVar(&o.Separator, "separator", "-", "between the prefix and the container in the unit's name")
	f.BoolVar(&o.NoHeader, "no-header", false, "no comment header with the date")
	c.ValidArgsFunction = completeContainers(g)
	return withStore(c)
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
		RunE: func(c *cobra.Command, args []string) error {
			out := ""
			if len(args) > 0 {
				out = args[0]
			}
			return runQuadlet(g, user, dryRun, out)
		},
	}
	c.Flags().BoolVar(&dryRun, "dryrun", false, "print what would be written, write nothing")
	c.Flags().BoolVar(&user, "user", false, "the user's files, for the user's systemd manager")
	return c
}

// runQuadlet converts every source file; a bad one is reported (file,
// line, key) and skipped, and fails the command at the end.
func runQuadlet(g *globalOptions, user, dryRun bool, out string) error {
	dirs := systemd.QuadletDirs(user)
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
	o := systemd.QuadletOptions{Binary: selfPath(), Lookup: func(name string) (*systemd.UnitFile, error) {
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
			if gen, err = systemd.Convert(f, o); err == nil {
				if dryRun {
					fmt.Fprintf(g.stdout, "---%s---\n%s\n", gen.Name, gen.Text)
					continue
				}
				err = writeGenerated(out, gen)
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
	return true, runQuadlet(g, strings.Contains(base, "user"), false, argv[1])
}

var autoUpdateTitles = map[string]string{"Unit": "UNIT", "Container": "CONTAINER", "Image": "IMAGE", "Policy": "POLICY", "Updated": "UPDATED"}

func newAutoUpdateCmd(g *globalOptions) *cobra.Command {
	var o engine.AutoUpdateOptions
	var reg registryFlags
	var format string
	c := &cobra.Command{
		Use:     "auto-update [flags]",
		Short:   "Update containers labelled io.containers.autoupdate whose image has a newer version, restarting their systemd units",
		Args:    rangeArgs(0, 0),
		PreRunE: func(c *cobra.Command, args []string) error { return checkFormat(format) },
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			o.Registry = reg.resolve()
			reports, err := e.AutoUpdate(c.Context(), o)
			var rows []any
			for _, r := range reports {
				rows = append(rows, r)
			}
			if werr := (listFormat{format: format, defaultTable: "{{.Unit}}\t{{.Container}}\t{{.Image}}\t{{.Policy}}\t{{.Updated}}", titles: autoUpdateTitles}).write(g.stdout, rows, reports); werr != nil {
				return werr
			}
			return err
		},
	}
	c.Flags().BoolVar(&o.DryRun, "dry-run", false, "only report which containers have a newer image (UPDATED: pending)")
	c.Flags().StringVar(&format, "format", "", "format output with a Go template, 'table TEMPLATE' or 'json'")
	reg.bind(c.Flags(), false)
	return withStore(c)
}
