package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
)

// ImageConfig is the docker-compatible Config block of an image.
type ImageConfig struct {
	User         string              `json:"User"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts,omitempty"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	Volumes      map[string]struct{} `json:"Volumes,omitempty"`
	WorkingDir   string              `json:"WorkingDir"`
	Labels       map[string]string   `json:"Labels"`
	StopSignal   string              `json:"StopSignal,omitempty"`
	// Docker's own keys, which the OCI config has no place for (the
	// image's config blob keeps them, as build writes it).
	Healthcheck *HealthConfig `json:"Healthcheck,omitempty"`
	OnBuild     []string      `json:"OnBuild"`
	Shell       []string      `json:"Shell,omitempty"`
}

// HealthConfig is an image's HEALTHCHECK, as docker's inspect shows it
// (durations in nanoseconds).
type HealthConfig struct {
	Test          []string      `json:"Test,omitempty"`
	Interval      time.Duration `json:"Interval,omitempty"`
	Timeout       time.Duration `json:"Timeout,omitempty"`
	StartPeriod   time.Duration `json:"StartPeriod,omitempty"`
	StartInterval time.Duration `json:"StartInterval,omitempty"`
	Retries       int           `json:"Retries,omitempty"`
}

// dockerKeys reads docker's keys of an image's config (Healthcheck, OnBuild,
// Shell) from the config blob the store keeps under its digest.
func (s *Store) dockerKeys(img *cstorage.Image, into *ImageConfig) {
	data, err := s.lib.ImageBigData(img.ID, "sha256:"+img.ID)
	if err != nil {
		return
	}
	var raw struct {
		Config struct {
			Healthcheck *HealthConfig `json:"Healthcheck"`
			OnBuild     []string      `json:"OnBuild"`
			Shell       []string      `json:"Shell"`
		} `json:"config"`
	}
	if json.Unmarshal(data, &raw) == nil {
		into.Healthcheck, into.OnBuild, into.Shell = raw.Config.Healthcheck, raw.Config.OnBuild, raw.Config.Shell
	}
}

// ImageInspect is what `image inspect` prints, field for field as docker does.
type ImageInspect struct {
	Id           string      `json:"Id"` //nolint:revive // docker's name, used by --format templates
	RepoTags     []string    `json:"RepoTags"`
	RepoDigests  []string    `json:"RepoDigests"`
	Parent       string      `json:"Parent"`
	Comment      string      `json:"Comment"`
	Created      time.Time   `json:"Created"`
	Author       string      `json:"Author"`
	Config       ImageConfig `json:"Config"`
	Architecture string      `json:"Architecture"`
	Variant      string      `json:"Variant,omitempty"`
	Os           string      `json:"Os"`
	Size         int64       `json:"Size"`
	VirtualSize  int64       `json:"VirtualSize"`
	GraphDriver  struct {
		Name string            `json:"Name"`
		Data map[string]string `json:"Data"`
	} `json:"GraphDriver"`
	RootFS struct {
		Type   string   `json:"Type"`
		Layers []string `json:"Layers"`
	} `json:"RootFS"`
	Digest   string            `json:"Digest"`
	Labels   map[string]string `json:"Labels"`
	Metadata struct {
		LastTagTime time.Time `json:"LastTagTime"`
	} `json:"Metadata"`
}

// imageConfig reads the OCI config of a stored image.
func (s *Store) imageConfig(ctx context.Context, img *cstorage.Image) (*imgspec.Image, error) {
	ref, err := s.imageRef(img)
	if err != nil {
		return nil, err
	}
	src, err := ref.NewImage(ctx, &types.SystemContext{})
	if err != nil {
		return nil, fmt.Errorf("opening image %s: %w", img.ID, err)
	}
	defer src.Close()
	cfg, err := src.OCIConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading the config of image %s: %w", img.ID, err)
	}
	return cfg, nil
}

// ConfigOf is the OCI config of the image a reference names.
func (s *Store) ConfigOf(ctx context.Context, sys *types.SystemContext, name string) (*cstorage.Image, *imgspec.Image, error) {
	img, err := s.Lookup(sys, name)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := s.imageConfig(ctx, img)
	return img, cfg, err
}

// Inspect describes one image.
func (s *Store) Inspect(ctx context.Context, sys *types.SystemContext, name string) (*ImageInspect, error) {
	img, cfg, err := s.ConfigOf(ctx, sys, name)
	if err != nil {
		return nil, err
	}
	sum := s.summarize(img)
	out := &ImageInspect{
		Id:           "sha256:" + img.ID,
		RepoTags:     nonNil(familiar(sum.Names)),
		RepoDigests:  nonNil(RepoDigests(img.Names, img.Digests)),
		Author:       cfg.Author,
		Architecture: cfg.Architecture,
		Variant:      cfg.Variant,
		Os:           cfg.OS,
		Size:         sum.Size,
		VirtualSize:  sum.Size,
		Digest:       img.Digest.String(),
		Labels:       cfg.Config.Labels,
	}
	if cfg.Created != nil {
		out.Created = *cfg.Created
	}
	out.Config = ImageConfig{
		User: cfg.Config.User, ExposedPorts: cfg.Config.ExposedPorts, Env: cfg.Config.Env,
		Entrypoint: cfg.Config.Entrypoint, Cmd: cfg.Config.Cmd, Volumes: cfg.Config.Volumes,
		WorkingDir: cfg.Config.WorkingDir, Labels: cfg.Config.Labels, StopSignal: cfg.Config.StopSignal,
	}
	s.dockerKeys(img, &out.Config)
	if n := len(cfg.History); n > 0 {
		out.Comment = cfg.History[n-1].Comment
	}
	out.GraphDriver.Name = s.lib.GraphDriverName()
	out.GraphDriver.Data = map[string]string{}
	if img.TopLayer != "" {
		if meta, err := s.layerMetadata(img.TopLayer); err == nil {
			out.GraphDriver.Data = meta
		}
	}
	out.RootFS.Type = cfg.RootFS.Type
	for _, d := range cfg.RootFS.DiffIDs {
		out.RootFS.Layers = append(out.RootFS.Layers, d.String())
	}
	if out.RootFS.Layers == nil {
		out.RootFS.Layers = []string{}
	}
	return out, nil
}

// layerMetadata gives the driver's directories of a layer, as docker shows
// them: UpperDir is the layer itself, LowerDir its parents top down.
func (s *Store) layerMetadata(id string) (map[string]string, error) {
	driver := s.lib.GraphDriverName()
	if driver != "overlay" {
		return map[string]string{}, nil
	}
	dir := func(l string) string { return filepath.Join(s.lib.GraphRoot(), driver, l, "diff") }
	var lower []string
	l, err := s.lib.Layer(id)
	if err != nil {
		return nil, err
	}
	for p := l.Parent; p != ""; {
		pl, err := s.lib.Layer(p)
		if err != nil {
			return nil, err
		}
		lower = append(lower, dir(p))
		p = pl.Parent
	}
	meta := map[string]string{"UpperDir": dir(id)}
	if len(lower) > 0 {
		meta["LowerDir"] = strings.Join(lower, ":")
	}
	return meta, nil
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// familiar keeps names as stored; docker prints docker.io names short.
func familiar(names []string) []string {
	var out []string
	for _, n := range names {
		if named, err := reference.ParseNormalizedNamed(n); err == nil {
			out = append(out, reference.FamiliarString(named))
		}
	}
	return out
}

// HistoryEntry is one row of `history`.
type HistoryEntry struct {
	ID        string
	Created   time.Time
	CreatedBy string
	Size      int64
	Comment   string
	Tags      []string
}

// History lists the layers' history, newest first.
func (s *Store) History(ctx context.Context, sys *types.SystemContext, name string) ([]HistoryEntry, error) {
	img, cfg, err := s.ConfigOf(ctx, sys, name)
	if err != nil {
		return nil, err
	}
	// Sizes of the real layers, bottom up.
	var sizes []int64
	for id := img.TopLayer; id != ""; {
		l, err := s.lib.Layer(id)
		if err != nil {
			return nil, err
		}
		sizes = append([]int64{l.UncompressedSize}, sizes...)
		id = l.Parent
	}
	var out []HistoryEntry
	layer := 0
	for _, h := range cfg.History {
		e := HistoryEntry{ID: "<missing>", CreatedBy: h.CreatedBy, Comment: h.Comment}
		if h.Created != nil {
			e.Created = *h.Created
		}
		if !h.EmptyLayer && layer < len(sizes) {
			e.Size = sizes[layer]
			layer++
		}
		out = append(out, e)
	}
	if len(cfg.History) == 0 {
		for _, sz := range sizes {
			out = append(out, HistoryEntry{ID: "<missing>", Size: sz})
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	if len(out) > 0 {
		out[0].ID = img.ID
		out[0].Tags = familiar(s.summarize(img).Names)
	}
	return out, nil
}
