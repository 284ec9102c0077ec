package main

import (
	"context"
	"errors"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/storage"
)

// existsKind is what one `KIND exists` looks up (podman's container,
// image, volume and network exists): the engine's lookup, and the error it
// gives for an object that is not there.
type existsKind struct {
	missing error
	lookup  func(ctx context.Context, e *engine.Engine, name string) error
}

var existsKinds = map[string]existsKind{
	"container": {config.ErrNoSuchContainer, func(ctx context.Context, e *engine.Engine, name string) error {
		_, err := e.LookupContainer(ctx, name)
		return err
	}},
	"image": {storage.ErrNoSuchImage, func(ctx context.Context, e *engine.Engine, name string) error {
		_, err := e.InspectImage(ctx, name)
		return err
	}},
	"volume": {config.ErrNoSuchVolume, func(ctx context.Context, e *engine.Engine, name string) error {
		_, err := e.Volume(ctx, name)
		return err
	}},
	"network": {config.ErrNoSuchNetwork, func(ctx context.Context, e *engine.Engine, name string) error {
		_, err := e.Network(ctx, name)
		return err
	}},
}

// newExistsCmd is `KIND exists NAME`: exit 0 when it exists, 1 when it
// does not, 125 on any other error, and nothing printed (podman's).
func newExistsCmd(g *globalOptions, kind string) *cobra.Command {
	k := existsKinds[kind]
	c := &cobra.Command{
		Use:   "exists " + strings.ToUpper(kind),
		Short: "Check whether a " + kind + " exists (exit 0) or not (exit 1)",
		Args:  exactArgs(1),
		RunE: action(g, func(c *cobra.Command, args []string) (string, error) {
			return args[0], nil
		}, func(ctx context.Context, g *globalOptions, name string, _ io.Writer) error {
			e, err := g.engine(ctx)
			if err != nil {
				return err
			}
			if err := k.lookup(ctx, e, name); err != nil {
				if errors.Is(err, k.missing) {
					return &exitStatus{1}
				}
				return err
			}
			return nil
		}),
	}
	return withStore(c)
}
