package main

import (
	"bufio"
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

func newLoginCmd(g *globalOptions) *cobra.Command {
	var reg registryFlags
	var user, password string
	var passwordStdin, getLogin bool
	c := &cobra.Command{
		Use:   "login [flags] REGISTRY",
		Short: "Log in to a registry",
		Args:  exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			o := reg.resolve()
			if getLogin {
				u, err := storage.LoggedInUser(o, args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(g.stdout, u)
				return nil
			}
			if password != "" && passwordStdin {
				return usagef("--password and --password-stdin are mutually exclusive")
			}
			if passwordStdin {
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
			if err := storage.Login(c.Context(), o, args[0], user, password); err != nil {
				return err
			}
			fmt.Fprintln(g.stdout, "Login Succeeded!")
			return nil
		},
	}
	reg.bind(c.Flags(), false)
	c.Flags().StringVarP(&user, "username", "u", "", "user name")
	c.Flags().StringVarP(&password, "password", "p", "", "password (prefer --password-stdin)")
	c.Flags().BoolVar(&passwordStdin, "password-stdin", false, "read the password from standard input")
	c.Flags().BoolVar(&getLogin, "get-login", false, "print the user name stored for the registry")
	return c
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
		RunE: func(c *cobra.Command, args []string) error {
			server := ""
			if len(args) == 1 {
				server = args[0]
			}
			if err := storage.Logout(reg.resolve(), server, all); err != nil {
				return err
			}
			if all {
				fmt.Fprintln(g.stdout, "Removed login credentials for all registries")
			} else {
				fmt.Fprintf(g.stdout, "Removed login credentials for %s\n", server)
			}
			return nil
		},
	}
	c.Flags().StringVar(&reg.opts.AuthFile, "authfile", "", "path of the authentication file")
	c.Flags().BoolVarP(&all, "all", "a", false, "remove the credentials of every registry")
	return c
}

func newInfoCmd(g *globalOptions) *cobra.Command {
	var format string
	c := &cobra.Command{
		Use:     "info [flags]",
		Short:   "Show facts about the host, the store and the runtimes",
		Args:    exactArgs(0),
		PreRunE: func(c *cobra.Command, args []string) error { return checkFormat(format) },
		RunE: func(c *cobra.Command, args []string) error {
			e, err := g.engine(c.Context())
			if err != nil {
				return err
			}
			info, err := e.Info()
			if err != nil {
				return err
			}
			if format != "" {
				return writeOne(g.stdout, format, info)
			}
			return writeInfo(g.stdout, info)
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template or 'json'")
	return withStore(c)
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
		RunE: func(c *cobra.Command, args []string) error {
			v := engine.GetVersion()
			if format != "" {
				return writeOne(g.stdout, format, struct{ Client engine.VersionInfo }{v})
			}
			_, err := fmt.Fprintf(g.stdout, "Version:      %s\nAPI Version:  %s\nGo Version:   %s\nOS/Arch:      %s\n",
				v.Version, v.APIVersion, v.GoVersion, v.OsArch)
			return err
		},
	}
	c.Flags().StringVarP(&format, "format", "f", "", "format output with a Go template (fields under .Client) or 'json'")
	return c
}
