package engine

import (
	"context"
	"io/fs"
	"path/filepath"

	"github.com/skiff-project/skiff/engine/config"
)

// DiskUsageRow is one line of `system df`: what kind of thing, how many,
// how many in use, their size and what removing the unused ones frees.
type DiskUsageRow struct {
	Type        string
	Total       int
	Active      int
	Size        int64
	Reclaimable int64
}

// DiskUsage counts the user's images, containers and volumes as podman's
// `system df` does: an image is active when a container uses it, a
// container when it runs, a volume when a container mounts it. An image
// layer counts once however many images share it; an id-mapped copy of
// an image's layer counts with the containers that use it.
func (e *Engine) DiskUsage(ctx context.Context) ([]DiskUsageRow, error) {
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	usedImages := map[string]bool{}
	running := map[string]bool{}
	mounted := map[string]bool{}
	for _, r := range recs {
		usedImages[r.ImageID] = true
		if e.observedState(r) == config.StateRunning {
			running[r.ID] = true
		}
		for _, m := range r.Config.Mounts {
			if m.Type == config.MountVolume {
				mounted[m.Source] = true
			}
		}
	}
	du, err := e.store.DiskUsage(usedImages)
	if err != nil {
		return nil, err
	}
	images := DiskUsageRow{Type: "Images", Total: du.Images, Active: du.ActiveImages, Size: du.ImagesSize, Reclaimable: du.ImagesReclaimable}
	containers := DiskUsageRow{Type: "Containers", Total: len(recs), Active: len(running)}
	for _, r := range recs {
		n := du.Containers[r.ID]
		containers.Size += n
		if !running[r.ID] {
			containers.Reclaimable += n
		}
	}
	vols, err := e.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	volumes := DiskUsageRow{Type: "Local Volumes", Total: len(vols)}
	for _, v := range vols {
		n := treeSize(v.Mountpoint)
		volumes.Size += n
		if mounted[v.Name] {
			volumes.Active++
		} else {
			volumes.Reclaimable += n
		}
	}
	return []DiskUsageRow{images, containers, volumes}, nil
}

// treeSize is the sum of the sizes of the regular files under dir.
func treeSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
