package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// Every command runs the same way (skopeo's commandAction): its
// constructor binds the flags to a struct, and its RunE, made by action,
// turns the flags and arguments once into the command's options and calls
// its handler,
//
//	func runX(ctx context.Context, g *globalOptions, o xOptions, stdout io.Writer) error
//
// which never sees cobra: g opens the engine on first use (ps opens only
// the state) and holds stdin, stderr and systemd's socket; what the
// command prints goes to stdout. A test keeps every command to that shape.

// handler is a command's work, given its options.
type handler[O any] func(ctx context.Context, g *globalOptions, o O, stdout io.Writer) error

// action is a command's RunE: options converts the flags and arguments
// (the flags bound to the constructor's struct) into the command's
// options, once, and run does the work.
func action[O any](g *globalOptions, options func(c *cobra.Command, args []string) (O, error), run handler[O]) func(*cobra.Command, []string) error {
	return func(c *cobra.Command, args []string) error {
		o, err := options(c, args)
		if err != nil {
			return err
		}
		return run(c.Context(), g, o, g.stdout)
	}
}

// printNames prints, as docker does, the name (as given) of each item a
// verb on several items managed, and fails the command with the errors of
// the others.
func printNames[R any](stdout io.Writer, reports []R, item func(R) (name string, err error)) error {
	var errs []error
	for _, r := range reports {
		name, err := item(r)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		fmt.Fprintln(stdout, name)
	}
	return errors.Join(errs...)
}
