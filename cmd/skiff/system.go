package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/rootless"
	"github.com/skiff-project/skiff/storage"
)

// loginOptions are login's options.
type loginOptions struct {
	registry       storage.RegistryOptions
	server         string
	user, password string
	passwordStdin  bool
	getLogin       bool
}

func newLoginCmd(g *globalOptions) *cobra.Command {
	var reg registryFlags
	var f loginOptions
	c := &cobra.Command{
		Use:   "login [flags] REGISTRY",
		Short: "Log in to a registry",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (loginOptions, error) {
			o := f
			o.registry, o.server = reg.resolve(), args[0]
			return o, nil
		}, runLogin),
	}
	reg.bind(c.Flags(), false)
	c.Flags().StringVarP(&f.user, "username", "u", "", "user name")
	c.Flags().StringVarP(&f.password, "password", "p", "", "password (prefer --password-stdin)")
	c.Flags().BoolVar(&f.passwordStdin, "password-stdin", false, "read the password from standard input")
	c.Flags().BoolVar(&f.getLogin, "get-login", false, "print the user name stored for the registry")
	return c
}

func runLogin(ctx context.Context, g *globalOptions, o loginOptions, stdout io.Writer) error {
	if o.getLogin {
		u, err := storage.LoggedInUser(o.registry, o.server)
		if err != nil {
			return err
		}
		fmt.Fprintln(stdout, u)
		return nil
	}
	user, password := o.user, o.password
	if password != "" && o.passwordStdin {
		return usagef("--password and --password-stdin are mutually exclusive")
	}
	if o.passwordStdin {
		if user == "" {
			return usagef("--password-stdin needs --username")
		}
		b, err := io.ReadAll(g.stdin)
		if err != nil {
			return err
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	if user == "" || password == "" {
		f, ok := g.stdin.(*os.File)
		if !ok || !term.IsTerminal(int(f.Fd())) {
			return usagef("no credentials given: use --username and --password or --password-stdin")
		}
		rd := bufio.NewReader(f)
		if user == "" {
			fmt.Fprint(g.stderr, "Username: ")
			line, _ := rd.ReadString('\n')
			user = strings.TrimSpace(line)
		}
		if password == "" {
			fmt.Fprint(g.stderr, "Password: ")
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(g.stderr)
			if err != nil {
				return err
			}
			password = string(b)
		}
	}
	if err := storage.Login(ctx, o.registry, o.server, user, password); err != nil {
		return err
	}
	fmt.Fprintln(stdout, "Login Succeeded!")
	return nil
}

// logoutOptions are logout's options.
type logoutOptions struct {
	registry storage.RegistryOptions
	server   string // "" with all
	all      bool
}

func newLogoutCmd(g *globalOptions) *cobra.Command {
	var reg registryFlags
	var all bool
	c := &cobra.Command{
		Use:   "logout [flags] REGISTRY",
		Short: "Remove stored credentials for a registry",
		Args: func(c *cobra.Command, args []string) error {
			if all != (len(args) == 0) || len(args) > 1 {
				return usagef("%q takes one registry, or --all (see '%s --help')", c.CommandPath(), c.CommandPath())
			}
			return nil
		},
		RunE: action(g, func(c *cobra.Command, args []string) (logoutOptions, error) {
			o := logoutOptions{registry: reg.resolve(), all: all}
			if len(args) == 1 {
				o.server = args[0]
			}
			return o, nil
		}, runLogout),
	}
	c.Flags().StringVar(&reg.opts.AuthFile, "authfile", "", "path of the authentication file")
	c.Flags().BoolVarP(&all, "all", "a", false, "remove the credentials of every registry")
	return c
}

func runLogout(ctx context.Context, g *globalOptions, o logoutOptions, stdout io.Writer) error {
	if err := storage.Logout(o.registry, o.server, o.all); err != nil {
		return err
	}
	if o.all {
		fmt.Fprintln(stdout, "Removed login credentials for all registries")
	} else {
		fmt.Fprintf(stdout, "Removed login credentials for %s\n", o.server)
	}
	return nil
}

// formatOptions are the options of a command whose only flag is --format.
type formatOptions struct {
	format string
}

func newInfoCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "info [flags]",
		Short: "Show facts about the host, the store and the runtimes",
		Args:  exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (formatOptions, error) {
			return formatOptions{format: format}, checkFormat(format)
		}, runInfo),
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template or 'json'")
	return withStore(c)
}

func runInfo(ctx context.Context, g *globalOptions, o formatOptions, stdout io.Writer) error {
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	info, err := e.Info()
	if err != nil {
		return err
	}
	if o.format != "" {
		return writeOne(stdout, o.format, info)
	}
	return writeInfo(stdout, info)
}

func writeInfo(w io.Writer, i *engine.Info) error {
	h := i.Host
	fmt.Fprintf(w, "host:\n  hostname: %s\n  kernel: %s\n  os: %s\n  arch: %s\n  cpus: %d\n", h.Hostname, h.Kernel, h.OS, h.Arch, h.CPUs)
	fmt.Fprintf(w, "  rootless: %t\n  uid: %d\n  cgroupVersion: %s\n  runtimeDir: %s\n", h.Rootless, h.UID, h.CgroupVersion, h.RuntimeDir)
	fmt.Fprintf(w, "  idMappings:\n")
	for _, idmap := range []struct {
		name string
		m    []rootless.IDMap
	}{{"uidmap", h.UIDMap}, {"gidmap", h.GIDMap}} {
		fmt.Fprintf(w, "    %s:\n", idmap.name)
		for _, m := range idmap.m {
			fmt.Fprintf(w, "    - container_id: %d\n      host_id: %d\n      size: %d\n", m.ContainerID, m.HostID, m.Size)
		}
	}
	fmt.Fprintf(w, "  ociRuntime:\n    name: %s\n    path: %s\n    version: %s\n", h.OCIRuntime.Name, h.OCIRuntime.Path, h.OCIRuntime.Version)
	s := i.Store
	fmt.Fprintf(w, "store:\n  graphRoot: %s\n  runRoot: %s\n  graphDriverName: %s\n  configFile: %s\n  imageCount: %d\n",
		s.GraphRoot, s.RunRoot, s.GraphDriverName, s.ConfigFile, s.ImageCount)
	_, err := fmt.Fprintf(w, "version:\n  version: %s\n  goVersion: %s\n  osArch: %s\n", i.Version.Version, i.Version.GoVersion, i.Version.OsArch)
	return err
}

func newVersionCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:   "version [flags]",
		Short: "Show the skiff version",
		Args:  exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (formatOptions, error) {
			return formatOptions{format: format}, nil
		}, runVersion),
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template (fields under .Client) or 'json'")
	return c
}

func runVersion(ctx context.Context, g *globalOptions, o formatOptions, stdout io.Writer) error {
	v := engine.GetVersion()
	if o.format != "" {
		return writeOne(stdout, o.format, struct{ Client engine.VersionInfo }{v})
	}
	_, err := fmt.Fprintf(stdout, "Version:      %s\nAPI Version:  %s\nGo Version:   %s\nOS/Arch:      %s\n",
		v.Version, v.APIVersion, v.GoVersion, v.OsArch)
	return err
}
