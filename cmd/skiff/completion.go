package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"strings"

	"github.com/spf13/cobra"
)

// completionOptions are completion's options: the script to write.
type completionOptions struct {
	script func(io.Writer) error
}

func newCompletionCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:       "completion bash|zsh|fish",
		Short:     "Print a shell completion script",
		ValidArgs: []string{"bash", "zsh", "fish"},
		Args:      exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (completionOptions, error) {
			root := c.Root()
			switch args[0] {
			case "bash":
				return completionOptions{func(w io.Writer) error { return root.GenBashCompletionV2(w, true) }}, nil
			case "zsh":
				return completionOptions{root.GenZshCompletion}, nil
			case "fish":
				return completionOptions{func(w io.Writer) error { return root.GenFishCompletion(w, true) }}, nil
			}
			return completionOptions{}, usagef("unknown shell %q: use bash, zsh or fish", args[0])
		}, runCompletion),
	}
}

func runCompletion(ctx context.Context, g *globalOptions, o completionOptions, stdout io.Writer) error {
	return o.script(stdout)
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
