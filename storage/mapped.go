package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"

	cstorage "go.podman.io/storage"
)

// A container with a user namespace of its own (--userns keep-id|auto,
// --uidmap) needs its image's files owned as that namespace sees them. The
// storage library does it with an idmapped mount of the image's layers where
// the kernel lets the user make one, and otherwise with a copy of the
// image's top layer chowned for the mapping (an image's "mapped top
// layer"), one per mapping, kept with the image for later containers of
// the same mapping. Rootless on a file system owned by the initial user
// namespace (ext4 here) the kernel refuses idmapped mounts (mount_setattr:
// EPERM), so copies it is; they are released here once no container
// stands on them.

// ReleaseMappedLayers deletes every id-mapped copy of an image layer that no
// container (no layer) stands on, and returns the ids it deleted. The
// store checks for children under its write lock, so a container being made
// on a copy at the same time keeps it.
func (s *Store) ReleaseMappedLayers() ([]string, error) {
	images, err := s.lib.Images()
	if err != nil {
		return nil, err
	}
	var mapped []string
	for _, img := range images {
		for _, id := range img.MappedTopLayers {
			if id != img.TopLayer {
				mapped = append(mapped, id)
			}
		}
	}
	if len(mapped) == 0 {
		return nil, nil
	}
	layers, err := s.lib.Layers()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, l := range layers {
		used[l.Parent] = true
	}
	var released []string
	var errs []error
	for _, id := range mapped {
		if used[id] {
			continue
		}
		err := s.lib.DeleteLayer(id)
		switch {
		case err == nil:
			released = append(released, id)
		case errors.Is(err, cstorage.ErrLayerHasChildren), errors.Is(err, cstorage.ErrLayerUsedByContainer),
			errors.Is(err, cstorage.ErrLayerUsedByImage), errors.Is(err, cstorage.ErrNotALayer), errors.Is(err, cstorage.ErrLayerUnknown):
			// Taken by a container made meanwhile, or gone already.
		default:
			errs = append(errs, fmt.Errorf("releasing the id-mapped layer copy %s: %w", shortID(id), err))
		}
	}
	return released, errors.Join(errs...)
}

// mappedCopiesSize is what the id-mapped copies of an image's top layer
// add to the store's count of the image's size: they belong to the
// containers that use them, not to the image.
func (s *Store) mappedCopiesSize(img *cstorage.Image) int64 {
	var n int64
	for _, id := range img.MappedTopLayers {
		if id == img.TopLayer {
			continue
		}
		l, err := s.lib.Layer(id)
		if err != nil {
			continue
		}
		size := l.UncompressedSize
		if l.UncompressedDigest == "" || size < 0 {
			if size, err = s.lib.DiffSize("", id); err != nil {
				continue
			}
		}
		n += size
	}
	return n
}

// DiskUsage is what the store holds, counted as `system df` counts it.
type DiskUsage struct {
	Images, ActiveImages          int
	ImagesSize, ImagesReclaimable int64 // each image layer once, and the images' metadata
	// Containers are the sizes of what each container wrote (its own
	// layer) plus its share of an id-mapped copy of its image's layer:
	// a copy is counted with the first container that stands on it.
	Containers map[string]int64
}

// DiskUsage counts images (active: used by one of usedImages) and the
// layers of the store's containers.
func (s *Store) DiskUsage(usedImages map[string]bool) (*DiskUsage, error) {
	images, err := s.lib.Images()
	if err != nil {
		return nil, err
	}
	layers, err := s.lib.Layers()
	if err != nil {
		return nil, err
	}
	byID := map[string]*cstorage.Layer{}
	for i := range layers {
		byID[layers[i].ID] = &layers[i]
	}
	layerSize := func(l *cstorage.Layer) int64 {
		if l.UncompressedDigest != "" && l.UncompressedSize >= 0 {
			return l.UncompressedSize
		}
		n, err := s.lib.DiffSize("", l.ID)
		if err != nil {
			return 0
		}
		return n
	}
	du := &DiskUsage{Containers: map[string]int64{}}
	counted, active := map[string]bool{}, map[string]bool{}
	var all []string
	for i := range images {
		img := &images[i]
		if !complete(img) {
			continue
		}
		du.Images++
		if usedImages[img.ID] {
			du.ActiveImages++
		}
		for id := img.TopLayer; id != ""; {
			l := byID[id]
			if l == nil {
				break
			}
			if usedImages[img.ID] {
				active[id] = true
			}
			if !counted[id] {
				counted[id] = true
				all = append(all, id)
			}
			id = l.Parent
		}
		var meta int64
		for _, k := range img.BigDataNames {
			meta += img.BigDataSizes[k]
		}
		du.ImagesSize += meta
		if !usedImages[img.ID] {
			du.ImagesReclaimable += meta
		}
	}
	for _, id := range all {
		n := layerSize(byID[id])
		du.ImagesSize += n
		if !active[id] {
			du.ImagesReclaimable += n
		}
	}
	containers, err := s.lib.Containers()
	if err != nil {
		return nil, err
	}
	copies := map[string]bool{}
	for _, c := range containers {
		l := byID[c.LayerID]
		if l == nil {
			continue
		}
		n, err := s.lib.DiffSize("", l.ID)
		if err != nil {
			n = 0
		}
		if p := byID[l.Parent]; p != nil && !counted[p.ID] && !copies[p.ID] {
			// An id-mapped copy (the image's own layers are counted
			// above). Its record carries the copied layer's sizes, but on
			// disk it is every layer below it too, flattened: measured.
			copies[p.ID] = true
			n += s.layerOnDisk(p.ID)
		}
		du.Containers[c.ID] = n
	}
	return du, nil
}

// layerOnDisk is what a layer's directory holds (the files' sizes), for
// the drivers skiff uses; 0 when unknown. An overlay layer keeps its files
// in diff, and an id-mapped copy in diff1 beside it; merged is a mount
// point, never counted.
func (s *Store) layerOnDisk(id string) int64 {
	var dir string
	switch s.lib.GraphDriverName() {
	case "overlay":
		dir = filepath.Join(s.lib.GraphRoot(), "overlay", id)
	case "vfs":
		dir = filepath.Join(s.lib.GraphRoot(), "vfs", "dir", id)
	default:
		return 0
	}
	merged := filepath.Join(dir, "merged")
	var n int64
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if d.IsDir() && p == merged {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
