package storage

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	dockerarchive "go.podman.io/image/v5/docker/archive"
	"go.podman.io/image/v5/docker/reference"
	ociarchive "go.podman.io/image/v5/oci/archive"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
)

// Archive formats for save and load.
const (
	FormatDockerArchive = "docker-archive"
	FormatOCIArchive    = "oci-archive"
)

// SaveOptions are the options of `save`.
type SaveOptions struct {
	Names    []string
	Output   string    // a file path; "" = write the archive to Writer
	Writer   io.Writer // where the archive goes when Output is ""
	Format   string    // docker-archive (default) or oci-archive
	Progress io.Writer
}

// Save writes images to an archive. docker-archive holds several images;
// oci-archive holds one.
func (s *Store) Save(ctx context.Context, o SaveOptions) error {
	sys := &types.SystemContext{}
	if o.Output == "" {
		// The archive writers want a path: spool, then copy out.
		dir := filepath.Join(s.lib.GraphRoot(), "tmp")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		tmp, err := os.MkdirTemp(dir, "save-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		o.Output = filepath.Join(tmp, "archive.tar")
		if err := s.Save(ctx, o); err != nil {
			return err
		}
		f, err := os.Open(o.Output)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(o.Writer, f)
		return err
	}
	switch o.Format {
	case "", FormatDockerArchive:
		return s.saveDocker(ctx, sys, o)
	case FormatOCIArchive:
		if len(o.Names) != 1 {
			return fmt.Errorf("%w: oci-archive holds one image; use --format docker-archive for several", ErrBadArchive)
		}
		img, err := s.Lookup(sys, o.Names[0])
		if err != nil {
			return err
		}
		name := ""
		if !isIDOf(o.Names[0], img) && len(img.Names) > 0 {
			name = s.nameFor(sys, img, o.Names[0])
		}
		dest, err := ociarchive.NewReference(o.Output, name)
		if err != nil {
			return err
		}
		src, err := s.imageRef(img)
		if err != nil {
			return err
		}
		return s.copyImage(ctx, sys, dest, src, o.Progress, nil)
	default:
		return fmt.Errorf("%w: unknown format %q: use docker-archive or oci-archive", ErrBadArchive, o.Format)
	}
}

func (s *Store) saveDocker(ctx context.Context, sys *types.SystemContext, o SaveOptions) error {
	type item struct {
		id    string
		named reference.NamedTagged
	}
	var items []item
	for _, n := range o.Names {
		img, err := s.Lookup(sys, n)
		if err != nil {
			return err
		}
		it := item{id: img.ID}
		if !isIDOf(n, img) || len(s.summarize(img).Names) > 0 {
			text := n
			if isIDOf(n, img) {
				text = s.summarize(img).Names[0]
			} else {
				text = s.nameFor(sys, img, n)
			}
			if named, err := ParseReference(text); err == nil {
				if tagged, ok := named.(reference.NamedTagged); ok {
					it.named = tagged
				}
			}
		}
		items = append(items, it)
	}
	w, err := dockerarchive.NewWriter(sys, o.Output)
	if err != nil {
		return fmt.Errorf("creating %s: %w", o.Output, err)
	}
	for _, it := range items {
		dest, err := w.NewReference(it.named)
		if err != nil {
			w.Close()
			return err
		}
		src, err := istorage.Transport.NewStoreReference(s.lib, nil, it.id)
		if err != nil {
			w.Close()
			return err
		}
		if err := s.copyImage(ctx, sys, dest, src, o.Progress, nil); err != nil {
			w.Close()
			return fmt.Errorf("saving %s: %w", shortID(it.id), err)
		}
	}
	return w.Close()
}

// LoadReport names one image that `load` stored.
type LoadReport struct {
	ID    string
	Names []string
}

// Load reads a docker-archive or oci-archive (plain or compressed) from path
// and stores every image in it with the names the archive gives.
func (s *Store) Load(ctx context.Context, path string, progress io.Writer) ([]LoadReport, error) {
	sys := &types.SystemContext{}
	reports, derr := s.loadDocker(ctx, sys, path, progress)
	if derr == nil {
		return reports, nil
	}
	reports, oerr := s.loadOCI(ctx, sys, path, progress)
	if oerr == nil {
		return reports, nil
	}
	return nil, fmt.Errorf("%w: %s is neither a docker-archive (%v) nor an oci-archive (%v)", ErrBadArchive, path, derr, oerr)
}

func (s *Store) loadDocker(ctx context.Context, sys *types.SystemContext, path string, progress io.Writer) ([]LoadReport, error) {
	r, err := dockerarchive.NewReader(sys, path)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	lists, err := r.List()
	if err != nil {
		return nil, err
	}
	var reports []LoadReport
	for _, refs := range lists {
		if len(refs) == 0 {
			continue
		}
		tags, err := r.ManifestTagsForReference(refs[0])
		if err != nil {
			return reports, err
		}
		rep, err := s.loadImage(ctx, sys, refs[0], tags, progress)
		if err != nil {
			return reports, err
		}
		reports = append(reports, rep)
	}
	return reports, nil
}

func (s *Store) loadOCI(ctx context.Context, sys *types.SystemContext, path string, progress io.Writer) ([]LoadReport, error) {
	src, err := ociarchive.NewReference(path, "")
	if err != nil {
		return nil, err
	}
	desc, err := ociarchive.LoadManifestDescriptorWithContext(sys, src)
	if err != nil {
		return nil, err
	}
	// The name as podman reads it: containerd's annotation, else the OCI
	// ref name (often a bare tag such as "latest").
	var names []string
	for _, key := range []string{"io.containerd.image.name", imgspec.AnnotationRefName} {
		if n := desc.Annotations[key]; n != "" {
			if _, err := NormalizeName(n); err == nil {
				names = []string{n}
				break
			}
		}
	}
	rep, err := s.loadImage(ctx, sys, src, names, progress)
	if err != nil {
		return nil, err
	}
	return []LoadReport{rep}, nil
}

// loadImage copies src into the store under the image's own id, then names it.
func (s *Store) loadImage(ctx context.Context, sys *types.SystemContext, src types.ImageReference, names []string, progress io.Writer) (LoadReport, error) {
	img, err := src.NewImage(ctx, sys)
	if err != nil {
		return LoadReport{}, err
	}
	id := img.ConfigInfo().Digest.Encoded()
	img.Close()
	dest, err := istorage.Transport.NewStoreReference(s.lib, nil, id)
	if err != nil {
		return LoadReport{}, err
	}
	if err := s.copyImage(ctx, sys, dest, src, progress, nil); err != nil {
		return LoadReport{}, err
	}
	// Names from an archive are named as podman names them: a short one
	// (docker save's "myapp:1", an OCI ref name "latest") goes under
	// localhost/.
	var add []string
	for _, n := range names {
		if named, err := NormalizeName(n); err == nil {
			add = append(add, named.String())
		}
	}
	if len(add) > 0 {
		if err := s.lib.AddNames(id, add); err != nil {
			return LoadReport{}, err
		}
	}
	return LoadReport{ID: id, Names: add}, nil
}

// SpoolStdin copies a stream (stdin) to a temporary file under the store, for
// load and import, and returns its path and a cleanup.
func (s *Store) SpoolStdin(r io.Reader) (string, func(), error) {
	dir := filepath.Join(s.lib.GraphRoot(), "tmp")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", nil, err
	}
	f, err := os.CreateTemp(dir, "stdin-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { os.Remove(f.Name()) }
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		cleanup()
		return "", nil, fmt.Errorf("reading standard input: %w", err)
	}
	if err := f.Close(); err != nil {
		cleanup()
		return "", nil, err
	}
	return f.Name(), cleanup, nil
}
