package engine

import (
	"context"
	"fmt"

	"github.com/skiff-project/skiff/engine/build"
	"github.com/skiff-project/skiff/engine/config"
	"io"

	"github.com/skiff-project/skiff/storage"
)

// The image verbs. Each is one call into the store; they are the engine's
// own so that what an image verb causes beyond the store (events, the
// containers an image has) has one place.

// PullImage pulls an image (every tag with AllTags) into the store.
func (e *Engine) PullImage(ctx context.Context, o storage.PullOptions) ([]storage.PullReport, error) {
	return e.store.Pull(ctx, o)
}

// PushImage pushes a local image to a registry.
func (e *Engine) PushImage(ctx context.Context, o storage.PushOptions) error {
	return e.store.Push(ctx, o)
}

// ListImages lists the store's images.
func (e *Engine) ListImages(ctx context.Context, o storage.ListOptions) ([]storage.ImageSummary, error) {
	return e.store.List(ctx, o)
}

// InspectImage describes a local image by name or id.
func (e *Engine) InspectImage(ctx context.Context, name string) (*storage.ImageInspect, error) {
	return e.store.Inspect(ctx, nil, name)
}

// ImageHistory is the history of a local image, newest step first.
func (e *Engine) ImageHistory(ctx context.Context, name string) ([]storage.HistoryEntry, error) {
	return e.store.History(ctx, nil, name)
}

// RemoveImages removes images by name or id, one report each; force
// removes an image that several names share.
func (e *Engine) RemoveImages(ctx context.Context, names []string, force bool) []storage.RemoveReport {
	_ = e.removeOrphans(ctx)
	return e.store.RemoveImages(nil, names, force)
}

// TagImage gives a local image more names.
func (e *Engine) TagImage(ctx context.Context, name string, targets []string) error {
	return e.store.Tag(nil, name, targets)
}

// UntagImage takes names off a local image (every name without targets).
func (e *Engine) UntagImage(ctx context.Context, name string, targets []string) error {
	return e.store.Untag(nil, name, targets)
}

// PruneImages removes dangling images (every unused one with all), a
// build's intermediate images among them, and returns their ids; the
// working layers of builds that were killed go first.
func (e *Engine) PruneImages(ctx context.Context, all bool) ([]string, error) {
	if err := e.removeOrphans(ctx); err != nil {
		return nil, err
	}
	return e.store.Prune(all)
}

// SaveImages writes images to an archive.
func (e *Engine) SaveImages(ctx context.Context, o storage.SaveOptions) error {
	return e.store.Save(ctx, o)
}

// LoadImages reads the images of an archive at path into the store.
func (e *Engine) LoadImages(ctx context.Context, path string, progress io.Writer) ([]storage.LoadReport, error) {
	return e.store.Load(ctx, path, progress)
}

// ImportImage makes an image of a file system tarball, its configuration
// made by changes (import --change: Containerfile instructions, parsed as
// build and commit parse them).
func (e *Engine) ImportImage(ctx context.Context, o storage.ImportOptions, changes []string) (string, error) {
	if _, err := build.ParseChanges(changes, build.ImageConfig{}); err != nil {
		return "", fmt.Errorf("%w: %v", config.ErrBadOption, err)
	}
	o.Edit = changesEdit(changes)
	return e.store.Import(ctx, o)
}

// SpoolStdin copies r (an archive on standard input) to a file in the
// store's temporary space; cleanup removes it.
func (e *Engine) SpoolStdin(r io.Reader) (path string, cleanup func(), err error) {
	return e.store.SpoolStdin(r)
}
