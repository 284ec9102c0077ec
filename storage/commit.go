package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/storage/pkg/archive"
)

// CommitOptions describe an image made from a container's layer.
type CommitOptions struct {
	Layer     string // the container's layer
	BaseImage string // the image the container was made from
	Reference string // optional name of the new image
	Author    string
	Message   string
	// Edit, when set, changes the base's configuration (the engine applies
	// commit --change with the Containerfile parser).
	Edit func(*imgspec.ImageConfig) error
}

// Commit makes an image of the base image's layers plus what the
// container changed, with the base's configuration and the changes.
func (s *Store) Commit(ctx context.Context, o CommitOptions) (string, error) {
	var named reference.Named
	if o.Reference != "" {
		var err error
		if named, err = NormalizeName(o.Reference); err != nil {
			return "", err
		}
	}
	base, cfg, err := s.ConfigOf(ctx, nil, o.BaseImage)
	if err != nil {
		return "", err
	}
	if o.Edit != nil {
		if err := o.Edit(&cfg.Config); err != nil {
			return "", err
		}
	}
	layer, err := s.commitLayer(o.Layer, base.TopLayer)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	cfg.Created, cfg.Author = &now, o.Author
	cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, layer.UncompressedDigest)
	cfg.History = append(cfg.History, imgspec.History{Created: &now, CreatedBy: "skiff commit", Author: o.Author, Comment: o.Message})
	cfgBlob, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	cfgDigest := digest.Canonical.FromBytes(cfgBlob)
	// Every layer as the store has it, uncompressed; push compresses.
	man := imgspec.Manifest{
		Versioned: specs.Versioned{SchemaVersion: 2},
		MediaType: imgspec.MediaTypeImageManifest,
		Config:    imgspec.Descriptor{MediaType: imgspec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgBlob))},
	}
	for id := layer.ID; id != ""; {
		l, err := s.lib.Layer(id)
		if err != nil {
			return "", err
		}
		man.Layers = append(man.Layers, imgspec.Descriptor{MediaType: imgspec.MediaTypeImageLayer, Digest: l.UncompressedDigest, Size: l.UncompressedSize})
		id = l.Parent
	}
	slices.Reverse(man.Layers)
	manBlob, err := json.Marshal(man)
	if err != nil {
		return "", err
	}
	id, err := s.commitImage(named, layer.ID, cfgDigest, cfgBlob, &now, manBlob, manBlob)
	if err != nil {
		_ = s.lib.DeleteLayer(layer.ID)
		return "", err
	}
	return id, nil
}

// commitLayer stores the container layer's changes as a new layer on top.
func (s *Store) commitLayer(from, parent string) (*layerInfo, error) {
	// Spooled first: the store holds its layer lock until the diff is
	// closed, and storing the new layer needs that lock.
	tmp, err := os.CreateTemp(s.lib.GraphRoot(), ".commit-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	if err := s.spoolDiff(from, tmp); err != nil {
		return nil, fmt.Errorf("reading the container's changes: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	l, _, err := s.lib.PutLayer("", parent, nil, "", false, nil, tmp)
	if err != nil {
		return nil, fmt.Errorf("storing the new layer: %w", err)
	}
	return &layerInfo{ID: l.ID, UncompressedDigest: l.UncompressedDigest}, nil
}

func (s *Store) spoolDiff(layer string, w io.Writer) error {
	rc, err := s.lib.Diff("", layer, nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	plain, err := archive.DecompressStream(rc)
	if err != nil {
		return err
	}
	defer plain.Close()
	_, err = io.Copy(w, plain)
	return err
}

type layerInfo struct {
	ID                 string
	UncompressedDigest digest.Digest
}
