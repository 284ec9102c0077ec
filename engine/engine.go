package engine

import (
	"context"
	"fmt"

	"github.com/skiff-project/skiff/storage"
)

// Options configure an Engine.
type Options struct {
	Storage storage.Config // zero value: storage.DefaultConfig()
}

// Engine is one command's handle on the user's images and containers.
type Engine struct {
	*storage.Store
}

// New opens the user's store. Rootless, the caller must already be inside
// the user namespace (rootless.Reexec).
func New(ctx context.Context, o Options) (*Engine, error) {
	cfg := o.Storage
	if cfg.GraphRoot == "" {
		var err error
		if cfg, err = storage.DefaultConfig(); err != nil {
			return nil, fmt.Errorf("reading the storage configuration: %w", err)
		}
	}
	st, err := storage.Open(cfg)
	if err != nil {
		return nil, err
	}
	return &Engine{Store: st}, nil
}

// Close releases the engine's resources.
func (e *Engine) Close() {
	if e != nil && e.Store != nil {
		e.Store.Close()
	}
}
