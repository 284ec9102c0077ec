package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

func newCompletionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish",
		Short:     "Print a shell completion script",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(g.stdout, true)
			case "zsh":
				return root.GenZshCompletion(g.stdout)
			case "fish":
				return root.GenFishCompletion(g.stdout, true)
			}
			return usagef("unknown shell %q: use bash, zsh or fish", args[0])
		},
	}
}

// completeImages offers local image names.
func completeImages(g *globalOptions) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return completeFrom([]string{"images", "--format", "{{.Repository}}:{{.Tag}}"})
}

// completeFrom offers the lines a listing command prints. It asks a copy of
// skiff, which enters the user namespace as every storage command does.
func completeFrom(listing []string) func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
	return func(c *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
		self, err := os.Executable()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		out, err := exec.CommandContext(c.Context(), self, listing...).Output()
		if err != nil {
			return nil, cobra.ShellCompDirectiveNoFileComp
		}
		var names []string
		seen := map[string]bool{}
		for _, line := range strings.Split(string(bytes.TrimSpace(out)), "\n") {
			if line == "" || strings.Contains(line, "<none>") || seen[line] {
				continue
			}
			seen[line] = true
			if strings.HasPrefix(line, toComplete) {
				names = append(names, line)
			}
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	}
}
