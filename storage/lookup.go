package storage

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/shortnames"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
)

var idPrefix = regexp.MustCompile(`^(sha256:)?[a-f0-9]{3,64}$`)

// ParseReference normalizes an image reference as docker does
// ("busybox" → docker.io/library/busybox:latest) and rejects malformed text.
func ParseReference(name string) (reference.Named, error) {
	name = strings.TrimPrefix(name, "docker://")
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	return reference.TagNameOnly(named), nil
}

// Lookup finds a local image by full or short id, by name (short names
// resolve through registries.conf as for pull, then localhost/), or by
// name@digest.
func (s *Store) Lookup(sys *types.SystemContext, name string) (*cstorage.Image, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty image name", ErrBadReference)
	}
	if idPrefix.MatchString(name) {
		img, err := s.Image(strings.TrimPrefix(name, "sha256:"))
		if err == nil && complete(img) {
			return img, nil
		}
		if err == nil {
			err = cstorage.ErrImageUnknown
		}
		if !errors.Is(err, cstorage.ErrImageUnknown) {
			return nil, err
		}
	}
	candidates, err := s.candidates(sys, name)
	if err != nil {
		return nil, err
	}
	for _, c := range candidates {
		if img, err := s.byReference(c); err == nil && complete(img) {
			return img, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", ErrNoSuchImage, name)
}

func (s *Store) candidates(sys *types.SystemContext, name string) ([]reference.Named, error) {
	trimmed := strings.TrimPrefix(name, "docker://")
	if _, err := reference.ParseNormalizedNamed(trimmed); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	if shortnames.IsShortName(trimmed) {
		local, err := shortnames.ResolveLocally(sys, trimmed)
		if err == nil && len(local) > 0 {
			return local, nil
		}
	}
	named, err := ParseReference(trimmed)
	if err != nil {
		return nil, err
	}
	return []reference.Named{named}, nil
}

func (s *Store) byReference(named reference.Named) (*cstorage.Image, error) {
	if dig, ok := named.(reference.Digested); ok {
		images, err := s.Images()
		if err != nil {
			return nil, err
		}
		repo := named.Name()
		for i := range images {
			img := &images[i]
			if !hasRepo(img.Names, repo) {
				continue
			}
			if img.Digest == dig.Digest() {
				return img, nil
			}
			for _, d := range img.Digests {
				if d == dig.Digest() {
					return img, nil
				}
			}
		}
		return nil, cstorage.ErrImageUnknown
	}
	return s.Image(named.String())
}

func hasRepo(names []string, repo string) bool {
	for _, n := range names {
		if r, err := reference.ParseNormalizedNamed(n); err == nil && r.Name() == repo {
			return true
		}
	}
	return false
}
