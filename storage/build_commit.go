package storage

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"time"

	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"go.podman.io/image/v5/manifest"
	cstorage "go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
)

// A build's images: made one step at a time from a working layer (a
// container record of the store's, with no container of skiff's) and a
// configuration the build computed, with docker's fields (Healthcheck,
// OnBuild, Shell) kept in the config blob.

// BuildCommitOptions describe one image a build step makes.
type BuildCommitOptions struct {
	// Layer is the working layer (a store container) whose changes become
	// the new top layer; "" adds no layer (a step that only edits the
	// configuration).
	Layer string
	// BaseImage is the image the step started from ("" for scratch).
	BaseImage string
	// Config is the runtime configuration ("config" in the image's JSON):
	// an OCI ImageConfig, or docker's superset of it.
	Config any
	Author string
	// CreatedBy is the history entry's text (the instruction).
	CreatedBy string
	// Docker writes a docker v2s2 manifest and config media types instead
	// of OCI's (--format docker).
	Docker bool
}

// buildImage is an image's config blob with the runtime configuration left
// to the caller (OCI's fields plus docker's).
type buildImage struct {
	Created      *time.Time        `json:"created,omitempty"`
	Author       string            `json:"author,omitempty"`
	Architecture string            `json:"architecture"`
	OS           string            `json:"os"`
	Variant      string            `json:"variant,omitempty"`
	Config       any               `json:"config"`
	RootFS       imgspec.RootFS    `json:"rootfs"`
	History      []imgspec.History `json:"history,omitempty"`
}

// BuildCommit makes an image of a build step and returns its ID.
func (s *Store) BuildCommit(o BuildCommitOptions) (string, error) {
	img := buildImage{Architecture: runtime.GOARCH, OS: "linux", Config: o.Config, RootFS: imgspec.RootFS{Type: "layers"}}
	top := ""
	if o.BaseImage != "" {
		base, err := s.lib.Image(o.BaseImage)
		if err != nil {
			return "", fmt.Errorf("%w: %s", ErrNoSuchImage, o.BaseImage)
		}
		blob, err := s.RawConfig(base.ID)
		if err != nil {
			return "", err
		}
		var cfg imgspec.Image
		if err := json.Unmarshal(blob, &cfg); err != nil {
			return "", fmt.Errorf("reading the config of image %s: %w", base.ID, err)
		}
		img.Architecture, img.OS, img.Variant = cfg.Architecture, cfg.OS, cfg.Variant
		img.RootFS.DiffIDs, img.History = cfg.RootFS.DiffIDs, cfg.History
		top = base.TopLayer
	}
	now := time.Now().UTC()
	img.Created, img.Author = &now, o.Author
	newLayer := ""
	if o.Layer != "" {
		l, err := s.commitLayer(o.Layer, top)
		if err != nil {
			return "", err
		}
		newLayer, top = l.ID, l.ID
		img.RootFS.DiffIDs = append(img.RootFS.DiffIDs, l.UncompressedDigest)
	}
	img.History = append(img.History, imgspec.History{Created: &now, CreatedBy: o.CreatedBy, Author: o.Author, EmptyLayer: o.Layer == ""})
	id, err := s.writeBuildImage(img, top, o.Docker, nil)
	if err != nil && newLayer != "" {
		_ = s.lib.DeleteLayer(newLayer)
	}
	return id, err
}

// writeBuildImage stores the config blob and a manifest listing every layer
// from top down to the base, uncompressed (push compresses).
func (s *Store) writeBuildImage(img buildImage, top string, docker bool, annotations map[string]string) (string, error) {
	cfgBlob, err := json.Marshal(img)
	if err != nil {
		return "", err
	}
	cfgDigest := digest.Canonical.FromBytes(cfgBlob)
	man := imgspec.Manifest{
		Versioned:   specs.Versioned{SchemaVersion: 2},
		MediaType:   imgspec.MediaTypeImageManifest,
		Config:      imgspec.Descriptor{MediaType: imgspec.MediaTypeImageConfig, Digest: cfgDigest, Size: int64(len(cfgBlob))},
		Annotations: annotations,
	}
	layerType := imgspec.MediaTypeImageLayer
	if docker {
		man.MediaType, man.Config.MediaType, layerType = manifest.DockerV2Schema2MediaType, manifest.DockerV2Schema2ConfigMediaType, manifest.DockerV2SchemaLayerMediaTypeUncompressed
	}
	for id := top; id != ""; {
		l, err := s.lib.Layer(id)
		if err != nil {
			return "", err
		}
		man.Layers = append(man.Layers, imgspec.Descriptor{MediaType: layerType, Digest: l.UncompressedDigest, Size: l.UncompressedSize})
		id = l.Parent
	}
	slices.Reverse(man.Layers)
	manBlob, err := json.Marshal(man)
	if err != nil {
		return "", err
	}
	return s.commitImage(nil, top, cfgDigest, cfgBlob, img.Created, manBlob, manBlob)
}

// RawConfig is the config blob of a stored image as it was written, with
// any fields beyond OCI's (docker's Healthcheck, OnBuild, Shell).
func (s *Store) RawConfig(id string) ([]byte, error) {
	manBlob, err := s.lib.ImageBigData(id, cstorage.ImageDigestBigDataKey)
	if err != nil {
		return nil, fmt.Errorf("reading the manifest of image %s: %w", id, err)
	}
	var m struct {
		Config struct {
			Digest digest.Digest `json:"digest"`
		} `json:"config"`
	}
	if err := json.Unmarshal(manBlob, &m); err != nil || m.Config.Digest == "" {
		return nil, fmt.Errorf("image %s has no config in its manifest", id)
	}
	return s.lib.ImageBigData(id, m.Config.Digest.String())
}

// NameImage adds names (normalized by NormalizeName) to an image and
// returns them as the store spells them; a name another image had moves
// to this one.
func (s *Store) NameImage(id string, names []string) ([]string, error) {
	var out []string
	for _, n := range names {
		named, err := NormalizeName(n)
		if err != nil {
			return nil, err
		}
		out = append(out, named.String())
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := s.lib.AddNames(id, out); err != nil {
		return nil, fmt.Errorf("naming image %s: %w", id, err)
	}
	return out, nil
}

// CheckNames refuses names that NameImage would refuse, before a build
// starts.
func CheckNames(names []string) error {
	var errs []error
	for _, n := range names {
		if _, err := NormalizeName(n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// SquashImage makes an image of imageID's files and configuration whose
// layers are baseImageID's ("" for none) and one more holding everything
// the layers above the base changed (build --squash). The image is unnamed;
// imageID itself is returned when it has no layer above the base.
func (s *Store) SquashImage(imageID, baseImageID string, docker bool) (string, error) {
	img, err := s.lib.Image(imageID)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrNoSuchImage, imageID)
	}
	var base imgspec.Image
	baseTop := ""
	if baseImageID != "" {
		b, err := s.lib.Image(baseImageID)
		if err != nil {
			return "", fmt.Errorf("%w: %s", ErrNoSuchImage, baseImageID)
		}
		blob, err := s.RawConfig(b.ID)
		if err != nil {
			return "", err
		}
		if err := json.Unmarshal(blob, &base); err != nil {
			return "", err
		}
		baseTop = b.TopLayer
	}
	if img.TopLayer == baseTop {
		return imageID, nil
	}
	blob, err := s.RawConfig(img.ID)
	if err != nil {
		return "", err
	}
	var bi buildImage
	var cfg json.RawMessage
	bi.Config = &cfg
	if err := json.Unmarshal(blob, &bi); err != nil {
		return "", err
	}
	l, err := s.squashLayer(img.TopLayer, baseTop)
	if err != nil {
		return "", err
	}
	now := time.Now().UTC()
	bi.Created = &now
	bi.RootFS = imgspec.RootFS{Type: "layers", DiffIDs: append(base.RootFS.DiffIDs, l.UncompressedDigest)}
	bi.History = append(base.History, imgspec.History{Created: &now, CreatedBy: "skiff build --squash", Author: bi.Author})
	id, err := s.writeBuildImage(bi, l.ID, docker, nil)
	if err != nil {
		_ = s.lib.DeleteLayer(l.ID)
	}
	return id, err
}

// squashLayer stores, on baseTop, one layer of what top's chain changed
// above it: their difference, or with no base the whole tree.
func (s *Store) squashLayer(top, baseTop string) (*layerInfo, error) {
	tmp, err := os.CreateTemp(s.lib.GraphRoot(), ".squash-")
	if err != nil {
		return nil, err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	var rc io.ReadCloser
	if baseTop != "" {
		if rc, err = s.lib.Diff(baseTop, top, nil); err == nil {
			var plain io.ReadCloser
			if plain, err = archive.DecompressStream(rc); err == nil {
				_, err = io.Copy(tmp, plain)
				plain.Close()
			}
			rc.Close()
		}
	} else {
		var root string
		if root, err = s.lib.Mount(top, ""); err == nil {
			if rc, err = archive.Tar(root, archive.Uncompressed); err == nil {
				_, err = io.Copy(tmp, rc)
				rc.Close()
			}
			_, _ = s.lib.Unmount(top, true)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the layers to squash: %w", err)
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	l, _, err := s.lib.PutLayer("", baseTop, nil, "", false, nil, tmp)
	if err != nil {
		return nil, fmt.Errorf("storing the squashed layer: %w", err)
	}
	return &layerInfo{ID: l.ID, UncompressedDigest: l.UncompressedDigest}, nil
}

// CopyImage makes a copy of an image with the same layers and
// configuration, made now (so its ID is its own), whose manifest is
// docker's (v2s2) or OCI's with annotations: the build's final image when
// its format or annotations are not those of the cached image it is. The
// copy is unnamed.
func (s *Store) CopyImage(imageID string, docker bool, annotations map[string]string) (string, error) {
	img, err := s.lib.Image(imageID)
	if err != nil {
		return "", fmt.Errorf("%w: %s", ErrNoSuchImage, imageID)
	}
	blob, err := s.RawConfig(img.ID)
	if err != nil {
		return "", err
	}
	var bi buildImage
	var cfg json.RawMessage
	bi.Config = &cfg
	if err := json.Unmarshal(blob, &bi); err != nil {
		return "", err
	}
	now := time.Now().UTC()
	bi.Created = &now
	return s.writeBuildImage(bi, img.TopLayer, docker, annotations)
}

// IsDockerFormat tells whether an image's manifest is docker's v2s2.
func (s *Store) IsDockerFormat(imageID string) (bool, error) {
	manBlob, err := s.lib.ImageBigData(imageID, cstorage.ImageDigestBigDataKey)
	if err != nil {
		return false, fmt.Errorf("reading the manifest of image %s: %w", imageID, err)
	}
	return manifest.GuessMIMEType(manBlob) == manifest.DockerV2Schema2MediaType, nil
}
