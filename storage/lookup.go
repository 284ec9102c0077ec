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
// It names what a registry serves (pull, push); a name given to an image
// made here goes through NormalizeName.
func ParseReference(name string) (reference.Named, error) {
	name = strings.TrimPrefix(name, "docker://")
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	return reference.TagNameOnly(named), nil
}

// NormalizeName names an image made or named locally (tag, commit, import,
// load, build) as podman does: a name without a registry is put under
// localhost/ ("myapp:1" → localhost/myapp:1), never docker.io/library/, so
// that it is found again by its short name without any registries.conf;
// a tag defaults to latest. docker.io names keep docker's normalization.
func NormalizeName(name string) (reference.Named, error) {
	text := strings.TrimPrefix(name, "docker://")
	if _, err := reference.ParseNormalizedNamed(text); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	if !FullyQualified(text) {
		text = "localhost/" + strings.TrimLeft(text, "/")
	}
	named, err := reference.ParseNormalizedNamed(text)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	if _, tagged := named.(reference.NamedTagged); tagged {
		if dig, ok := named.(reference.Digested); ok {
			// Tagged and digested: the digest decides, as podman keeps it.
			if named, err = reference.WithDigest(reference.TrimNamed(named), dig.Digest()); err != nil {
				return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
			}
		}
		return named, nil
	}
	return reference.TagNameOnly(named), nil
}

// Lookup finds a local image by full or short id, by name@digest, or by
// name. A short name is tried in podman's order, all in the store and never
// in a registry: its registries.conf alias, localhost/NAME (where images
// made here live), each unqualified-search registry, then docker.io/library/
// (an image pulled or loaded under docker's name).
func (s *Store) Lookup(sys *types.SystemContext, name string) (*cstorage.Image, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: empty image name", ErrBadReference)
	}
	if idPrefix.MatchString(name) {
		img, err := s.lib.Image(strings.TrimPrefix(name, "sha256:"))
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
	if img, err := s.byIDPrefix(name); img != nil || err != nil {
		return img, err
	}
	return nil, fmt.Errorf("%w: %s", ErrNoSuchImage, name)
}

// isIDOf tells whether name is img's id or a prefix of it (sha256: or not).
func isIDOf(name string, img *cstorage.Image) bool {
	p := strings.TrimPrefix(name, "sha256:")
	return p != "" && strings.Trim(p, "0123456789abcdef") == "" && strings.HasPrefix(img.ID, p)
}

// byIDPrefix finds the one image whose id starts with prefix, of any
// length as docker allows, after names have had their turn: nil when
// none does, ErrAmbiguous when several do.
func (s *Store) byIDPrefix(prefix string) (*cstorage.Image, error) {
	prefix = strings.TrimPrefix(prefix, "sha256:")
	if prefix == "" || strings.Trim(prefix, "0123456789abcdef") != "" {
		return nil, nil
	}
	images, err := s.lib.Images()
	if err != nil {
		return nil, err
	}
	var found *cstorage.Image
	for i := range images {
		if !strings.HasPrefix(images[i].ID, prefix) || !complete(&images[i]) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%w: %s matches several image ids; give more of the id", ErrAmbiguous, prefix)
		}
		found = &images[i]
	}
	return found, nil
}

// candidates are the full names a user's text may mean locally, in the
// order Lookup tries them.
func (s *Store) candidates(sys *types.SystemContext, name string) ([]reference.Named, error) {
	trimmed := strings.TrimPrefix(name, "docker://")
	if _, err := reference.ParseNormalizedNamed(trimmed); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	var out []reference.Named
	seen := map[string]bool{}
	add := func(n reference.Named) {
		if !seen[n.String()] {
			seen[n.String()] = true
			out = append(out, n)
		}
	}
	if shortnames.IsShortName(trimmed) {
		// Alias, localhost/, search registries; a broken registries.conf
		// costs only its part of the list.
		local, err := shortnames.ResolveLocally(sys, trimmed)
		if err != nil || len(local) == 0 {
			if n, nerr := NormalizeName(trimmed); nerr == nil {
				add(n)
			}
		}
		for _, n := range local {
			add(n)
		}
	}
	named, err := ParseReference(trimmed)
	if err != nil {
		return nil, err
	}
	add(named)
	return out, nil
}

func (s *Store) byReference(named reference.Named) (*cstorage.Image, error) {
	if dig, ok := named.(reference.Digested); ok {
		images, err := s.lib.Images()
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
	return s.lib.Image(named.String())
}

func hasRepo(names []string, repo string) bool {
	for _, n := range names {
		if r, err := reference.ParseNormalizedNamed(n); err == nil && r.Name() == repo {
			return true
		}
	}
	return false
}
