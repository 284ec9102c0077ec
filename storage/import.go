package storage

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"time"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"

	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/tarball"
	"go.podman.io/image/v5/types"
)

// ImportOptions are the options of `import`.
type ImportOptions struct {
	Path      string // a rootfs tarball (plain or compressed)
	Reference string // optional name for the new image
	Message   string
	// Edit, when set, makes the new image's configuration (the engine
	// applies import --change with the Containerfile parser).
	Edit func(*imgspec.ImageConfig) error
}

// Import makes a one-layer image from a root filesystem tarball.
func (s *Store) Import(ctx context.Context, o ImportOptions) (string, error) {
	if _, err := os.Stat(o.Path); err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	sys := &types.SystemContext{}
	var names []string
	if o.Reference != "" {
		named, err := NormalizeName(o.Reference)
		if err != nil {
			return "", err
		}
		names = []string{named.String()}
	}
	src, err := tarball.NewReference([]string{o.Path}, nil)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	if u, ok := src.(tarball.ConfigUpdater); ok {
		now := time.Now().UTC()
		cfg := imgspec.Image{
			Created:  &now,
			Platform: imgspec.Platform{OS: "linux", Architecture: runtime.GOARCH},
			History:  []imgspec.History{{Created: &now, CreatedBy: "skiff import", Comment: o.Message}},
		}
		if o.Edit != nil {
			if err := o.Edit(&cfg.Config); err != nil {
				return "", err
			}
		}
		if err := u.ConfigUpdate(cfg, nil); err != nil {
			return "", err
		}
	}
	img, err := src.NewImage(ctx, sys)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadArchive, err)
	}
	id := img.ConfigInfo().Digest.Encoded()
	img.Close()
	dest, err := istorage.Transport.NewStoreReference(s.lib, nil, id)
	if err != nil {
		return "", err
	}
	if err := s.copyImage(ctx, sys, dest, src, nil, nil); err != nil {
		return "", fmt.Errorf("importing %s: %w", o.Path, err)
	}
	if len(names) > 0 {
		if err := s.lib.AddNames(id, names); err != nil {
			return "", err
		}
	}
	return id, nil
}
