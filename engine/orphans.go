package engine

import (
	"context"
	"errors"
	"time"

	"github.com/skiff-project/skiff/engine/config"
)

// removeOrphans removes what commands killed midway left in the store and
// no container owns: the layer of a create killed before it recorded its
// container (it would keep its image from being removed, with no container
// to show for it), and the directories the storage driver probes the
// kernel in as the store opens, and the working layers of builds that were
// killed, with any RUN of theirs still running. Called before the verbs a
// leftover would make fail or lie: rmi and the prunes (build removes the
// killed builds' working layers alone: removeLeftWorkLayers).
func (e *Engine) removeOrphans(ctx context.Context) error {
	orphans, err := e.store.OrphanContainerLayers(func(id string) bool {
		_, err := e.state.Lookup(ctx, id)
		return !errors.Is(err, config.ErrNoSuchContainer)
	})
	if err == nil {
		for _, id := range orphans {
			_ = e.store.UnmountContainer(id, true)
			_ = e.store.DeleteContainerLayer(id)
		}
	}
	e.store.RemoveCheckDebris(time.Minute)
	return e.removeLeftWorkLayers(ctx)
}
