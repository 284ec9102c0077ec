package main

import (
	"slices"
	"testing"

	"github.com/skiff-project/skiff/rootless"
)

// TestFastCommandsMatchTheCLI: the constructor that enters the namespace
// before Go starts (rootless/enter.c) knows the commands by name; its list
// must be exactly the top-level commands that need the store, or some
// command would pay for a second process, or one that must not enter
// (version, login) would.
func TestFastCommandsMatchTheCLI(t *testing.T) {
	var want []string
	for _, c := range newRootCmd(&globalOptions{}).Commands() {
		if c.Annotations[needsStore] != "" {
			want = append(want, c.Name())
			want = append(want, c.Aliases...)
		}
	}
	got := rootless.FastCommands()
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("rootless/enter.c lists %v, the CLI's store commands are %v", got, want)
	}
}
