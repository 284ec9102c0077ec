package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/skiff-project/skiff/rootless"
)

// hostPathFlags are the flags whose values are host paths that skiff reads
// or writes itself (bind sources are checked where mounts are made).
var hostPathFlags = map[string]bool{
	"output": true, "input": true, "cidfile": true, "authfile": true,
	"env-file": true, "cert-dir": true,
}

// hostPathArgs says which arguments of a command are host paths: import's
// file, cp's side without a container.
var hostPathArgs = map[string]func(args []string) []string{
	"import": func(args []string) []string { return args[:min(1, len(args))] },
	"cp": func(args []string) []string {
		var host []string
		for _, a := range args {
			if !strings.Contains(a, ":") {
				host = append(host, a)
			}
		}
		return host
	},
}

// checkHostPaths refuses a host path that the user's namespace does not
// see as the host does (a mount the host made after the namespace, under
// mounts that do not propagate): a file read there would be missing, and
// one written there would land, unseen, in the directory underneath.
func checkHostPaths(c *cobra.Command, args []string) error {
	type named struct{ what, path string }
	var paths []named
	c.Flags().Visit(func(f *pflag.Flag) {
		if !hostPathFlags[f.Name] {
			return
		}
		vals := []string{f.Value.String()}
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			vals = sv.GetSlice()
		}
		for _, v := range vals {
			paths = append(paths, named{"--" + f.Name, v})
		}
	})
	if pick := hostPathArgs[c.Name()]; pick != nil {
		for _, a := range pick(args) {
			paths = append(paths, named{c.Name(), a})
		}
	}
	for _, p := range paths {
		if p.path == "" || p.path == "-" || strings.Contains(p.path, "://") {
			continue
		}
		abs, err := filepath.Abs(p.path)
		if err != nil {
			continue
		}
		if err := rootless.CheckHostView(abs); err != nil {
			return fmt.Errorf("%s %s: %w", p.what, p.path, err)
		}
	}
	return nil
}
