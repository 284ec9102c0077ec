package storage

import (
	"errors"
	"fmt"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
)

// RemoveReport says what `rmi` did to one argument.
type RemoveReport struct {
	Untagged []string
	Deleted  string
	Err      error
}

// RemoveImages untags or deletes each named image, as docker rmi does: a name
// removes that name and deletes the image once no name is left; an id
// deletes the image, which needs force when it has several names.
func (s *Store) RemoveImages(sys *types.SystemContext, names []string, force bool) []RemoveReport {
	reports := make([]RemoveReport, 0, len(names))
	for _, name := range names {
		var r RemoveReport
		r.Untagged, r.Deleted, r.Err = s.removeOne(sys, name, force)
		reports = append(reports, r)
	}
	return reports
}

func (s *Store) removeOne(sys *types.SystemContext, name string, force bool) ([]string, string, error) {
	img, err := s.Lookup(sys, name)
	if err != nil {
		return nil, "", err
	}
	names := s.summarize(img).Names
	byID := isIDOf(name, img)
	if !byID && len(names) > 1 {
		// Remove just the name that was given.
		named := s.nameFor(sys, img, name)
		if err := s.lib.RemoveNames(img.ID, []string{named}); err != nil {
			return nil, "", err
		}
		return []string{named}, "", nil
	}
	if byID && len(names) > 1 && !force {
		return nil, "", fmt.Errorf("%w: image %s has %d names; remove them by name or use -f", ErrAmbiguous, shortID(img.ID), len(names))
	}
	if _, err := s.lib.DeleteImage(img.ID, true); err != nil {
		if errors.Is(err, cstorage.ErrImageUsedByContainer) {
			return nil, "", fmt.Errorf("%w: %s", ErrImageInUse, name)
		}
		return nil, "", fmt.Errorf("removing image %s: %w", shortID(img.ID), err)
	}
	return names, img.ID, nil
}

// nameFor picks which of the image's names a user's text refers to.
func (s *Store) nameFor(sys *types.SystemContext, img *cstorage.Image, text string) string {
	cands, _ := s.candidates(sys, text)
	for _, c := range cands {
		for _, n := range img.Names {
			if n == c.String() {
				return n
			}
		}
	}
	return img.Names[0]
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Tag adds names to an image; a short name is put under localhost/
// (NormalizeName), as podman does.
func (s *Store) Tag(sys *types.SystemContext, name string, targets []string) error {
	var add []string
	for _, t := range targets {
		named, err := NormalizeName(t)
		if err != nil {
			return err
		}
		if _, ok := named.(reference.Digested); ok {
			return fmt.Errorf("%w %q: a tag cannot contain a digest", ErrBadReference, t)
		}
		add = append(add, named.String())
	}
	img, err := s.Lookup(sys, name)
	if err != nil {
		return err
	}
	return s.lib.AddNames(img.ID, add)
}

// Untag removes names from an image, or every name when none is given.
func (s *Store) Untag(sys *types.SystemContext, name string, targets []string) error {
	img, err := s.Lookup(sys, name)
	if err != nil {
		return err
	}
	remove := img.Names
	if len(targets) > 0 {
		remove = nil
		for _, t := range targets {
			cands, err := s.candidates(sys, t)
			if err != nil {
				return err
			}
			found := ""
			for _, c := range cands {
				if contains(img.Names, c.String()) {
					found = c.String()
					break
				}
			}
			if found == "" {
				return fmt.Errorf("%w: image %s is not tagged %s", ErrNoSuchImage, shortID(img.ID), t)
			}
			remove = append(remove, found)
		}
	}
	return s.lib.RemoveNames(img.ID, remove)
}

func contains(list []string, v string) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// Prune deletes dangling images (all unused ones with all) that no
// container uses, and returns their ids.
func (s *Store) Prune(all bool) ([]string, error) {
	// Id-mapped layer copies no container uses go first (a crash may have
	// left one); they would keep nothing else alive, but cost space.
	if _, err := s.ReleaseMappedLayers(); err != nil {
		return nil, err
	}
	containers, err := s.lib.Containers()
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, c := range containers {
		used[c.ImageID] = true
	}
	var removed []string
	for {
		images, err := s.lib.Images()
		if err != nil {
			return removed, err
		}
		progress := false
		for i := range images {
			img := &images[i]
			if used[img.ID] || (!all && len(s.summarize(img).Names) > 0) {
				continue
			}
			if _, err := s.lib.DeleteImage(img.ID, true); err != nil {
				if errors.Is(err, cstorage.ErrImageUsedByContainer) || errors.Is(err, cstorage.ErrLayerHasChildren) {
					continue
				}
				return removed, err
			}
			removed = append(removed, img.ID)
			progress = true
		}
		if !progress {
			return removed, nil
		}
	}
}
