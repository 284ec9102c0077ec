package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker/reference"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
)

// ImageSummary is one image as `images` lists it.
type ImageSummary struct {
	ID       string
	Names    []string // repo:tag names
	Repos    []string // repositories named by digest only (pulled by digest)
	Digest   digest.Digest
	Digests  []digest.Digest
	Created  time.Time
	Size     int64
	Dangling bool
	Labels   map[string]string
	top      string
}

// ListOptions filter `images`.
type ListOptions struct {
	All     bool     // include intermediate images
	Filters []string // reference=PATTERN, dangling=true|false, label=KEY[=VALUE]
	Name    string   // images [REPOSITORY[:TAG]]
}

type imageFilter func(*ImageSummary) bool

// ParseImageFilters checks --filter values before any work is done.
func ParseImageFilters(filters []string) error {
	_, err := buildFilters(filters)
	return err
}

func buildFilters(filters []string) ([]imageFilter, error) {
	var out []imageFilter
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		if !ok || val == "" {
			return nil, fmt.Errorf("invalid filter %q: want KEY=VALUE (reference, dangling, label)", f)
		}
		switch key {
		case "reference":
			pattern := val
			if _, err := path.Match(pattern, ""); err != nil {
				return nil, fmt.Errorf("invalid filter %q: %v", f, err)
			}
			out = append(out, func(s *ImageSummary) bool { return matchReference(s.Names, pattern) })
		case "dangling":
			want, err := parseBool(val)
			if err != nil {
				return nil, fmt.Errorf("invalid filter %q: dangling takes true or false", f)
			}
			out = append(out, func(s *ImageSummary) bool { return s.Dangling == want })
		case "label":
			k, v, hasV := strings.Cut(val, "=")
			out = append(out, func(s *ImageSummary) bool {
				got, ok := s.Labels[k]
				return ok && (!hasV || got == v)
			})
		default:
			return nil, fmt.Errorf("invalid filter %q: unknown key %q (reference, dangling, label)", f, key)
		}
	}
	return out, nil
}

func parseBool(v string) (bool, error) {
	switch strings.ToLower(v) {
	case "true", "1":
		return true, nil
	case "false", "0":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean: %q", v)
}

// matchReference matches docker's way: the pattern against the full name,
// against the familiar name, and against the path after the registry.
func matchReference(names []string, pattern string) bool {
	for _, n := range names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			continue
		}
		full := named.String()
		fam := reference.FamiliarString(named)
		repo := reference.Path(named)
		tag := ""
		if t, ok := named.(reference.Tagged); ok {
			tag = ":" + t.Tag()
		}
		for _, cand := range []string{full, fam, repo + tag, named.Name(), reference.FamiliarName(named), repo} {
			if ok, _ := path.Match(pattern, cand); ok {
				return true
			}
		}
	}
	return false
}

// List returns the images in the store, newest first.
func (s *Store) List(ctx context.Context, o ListOptions) ([]ImageSummary, error) {
	filters, err := buildFilters(o.Filters)
	if err != nil {
		return nil, err
	}
	images, err := s.lib.Images()
	if err != nil {
		return nil, err
	}
	parents := map[string]bool{} // layers that are the top layer of another image's parent chain
	if !o.All {
		layers, err := s.lib.Layers()
		if err != nil {
			return nil, err
		}
		byID := map[string]string{}
		for _, l := range layers {
			byID[l.ID] = l.Parent
		}
		for _, img := range images {
			for p := byID[img.TopLayer]; p != ""; p = byID[p] {
				parents[p] = true
			}
		}
	}
	byTop := map[string][]*cstorage.Image{} // images by top layer
	for i := range images {
		byTop[images[i].TopLayer] = append(byTop[images[i].TopLayer], &images[i])
	}
	needLabels := false
	var refPatterns []string
	for _, f := range o.Filters {
		needLabels = needLabels || strings.HasPrefix(f, "label=")
		if p, ok := strings.CutPrefix(f, "reference="); ok {
			refPatterns = append(refPatterns, p)
		}
	}
	var out []ImageSummary
	for i := range images {
		img := &images[i]
		if !complete(img) {
			continue
		}
		sum := s.summarize(img)
		if !o.All && sum.Dangling && (parents[img.TopLayer] || s.configChild(img, byTop[img.TopLayer])) {
			continue
		}
		if o.Name != "" {
			// Like docker, list only the names that match.
			if sum.Names = keepNames(sum.Names, func(n string) bool { return matchName([]string{n}, o.Name) }); len(sum.Names) == 0 {
				continue
			}
		}
		for _, p := range refPatterns {
			sum.Names = keepNames(sum.Names, func(n string) bool { return matchReference([]string{n}, p) })
		}
		if needLabels {
			if cfg, err := s.imageConfig(ctx, img); err == nil {
				sum.Labels = cfg.Config.Labels
			}
		}
		keep := true
		for _, f := range filters {
			keep = keep && f(&sum)
		}
		if keep {
			out = append(out, sum)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

// configChild tells whether an image with img's top layer has more history
// than img: one a build step made on img by changing only the configuration
// (ENV, LABEL, CMD ...), so img is an intermediate image, as podman counts
// them. Only images that share a top layer have their configs read.
func (s *Store) configChild(img *cstorage.Image, sameTop []*cstorage.Image) bool {
	if len(sameTop) < 2 {
		return false
	}
	mine := s.historyLen(img.ID)
	for _, other := range sameTop {
		if other.ID != img.ID && s.historyLen(other.ID) > mine {
			return true
		}
	}
	return false
}

// historyLen is the number of history entries of an image's config.
func (s *Store) historyLen(id string) int {
	blob, err := s.RawConfig(id)
	if err != nil {
		return 0
	}
	var c struct {
		History []json.RawMessage `json:"history"`
	}
	if json.Unmarshal(blob, &c) != nil {
		return 0
	}
	return len(c.History)
}

// complete tells whether an image record was written to the end. The store
// saves an image before its metadata items, one by one; the manifest under
// its plain key comes last (pull_stream.go, and image/v5 alike), so an image
// without it is one whose pull was killed halfway: invisible until a pull
// completes it, removed by image prune.
func complete(img *cstorage.Image) bool {
	for _, k := range img.BigDataNames {
		if k == cstorage.ImageDigestBigDataKey {
			return true
		}
	}
	return false
}

func keepNames(names []string, keep func(string) bool) []string {
	var out []string
	for _, n := range names {
		if keep(n) {
			out = append(out, n)
		}
	}
	return out
}

func matchName(names []string, want string) bool {
	if named, err := reference.ParseNormalizedNamed(want); err == nil {
		for _, n := range names {
			got, err := reference.ParseNormalizedNamed(n)
			if err != nil {
				continue
			}
			if _, tagged := named.(reference.Tagged); tagged {
				if got.String() == named.String() {
					return true
				}
			} else if got.Name() == named.Name() {
				return true
			}
		}
	}
	return matchReference(names, want)
}

func (s *Store) summarize(img *cstorage.Image) ImageSummary {
	sum := ImageSummary{ID: img.ID, Digest: img.Digest, Digests: img.Digests, Created: img.Created, top: img.TopLayer}
	for _, n := range img.Names {
		if named, err := reference.ParseNormalizedNamed(n); err == nil {
			if _, isDigest := named.(reference.Digested); isDigest {
				sum.Repos = append(sum.Repos, named.Name())
				continue
			}
		}
		sum.Names = append(sum.Names, n)
	}
	sum.Dangling = len(sum.Names) == 0 && len(sum.Repos) == 0
	if size, err := s.lib.ImageSize(img.ID); err == nil {
		sum.Size = size - s.mappedCopiesSize(img)
	}
	return sum
}

// imageSource opens a stored image through the image library.
func (s *Store) imageRef(img *cstorage.Image) (types.ImageReference, error) {
	return istorage.Transport.NewStoreReference(s.lib, nil, img.ID)
}

// RepoDigests lists name@digest for every repository the image is named in.
func RepoDigests(names []string, digests []digest.Digest) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		named, err := reference.ParseNormalizedNamed(n)
		if err != nil {
			continue
		}
		for _, d := range digests {
			rd := named.Name() + "@" + d.String()
			if !seen[rd] {
				seen[rd] = true
				out = append(out, rd)
			}
		}
	}
	return out
}
