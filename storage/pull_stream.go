package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	digest "github.com/opencontainers/go-digest"
	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/image"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/pkg/blobinfocache/none"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
	drivers "go.podman.io/storage/drivers"
)

// errNotStreamable sends a pull down the image library's general copy path.
var errNotStreamable = errors.New("image needs the general copy path")

// pullStreaming pulls a single-platform OCI or docker v2s2 image without the
// temporary blob files of the general copy path: every missing layer streams
// from the registry straight into a staging directory of the store, all at
// once, with its compressed and uncompressed digests checked on the way;
// then the layers are committed in order and the image record is written
// the way the image library writes it, so every other verb reads it alike.
func (s *Store) pullStreaming(ctx context.Context, sys *types.SystemContext, named reference.Named, progress io.Writer, w *stallWatch) (PullReport, error) {
	// Staged extraction needs a driver that takes a differ (overlay does).
	if d, err := s.lib.GraphDriver(); err != nil {
		return PullReport{}, err
	} else if _, ok := d.(drivers.DriverWithDiffer); !ok {
		return PullReport{}, errNotStreamable
	}
	m, err := openManifest(ctx, sys, named, w)
	if m.src != nil {
		defer m.src.Close()
	}
	if err != nil {
		return PullReport{}, err
	}
	layers, cfgInfo, cfgBlob, cfg, err := streamableImage(ctx, w, m)
	if err != nil {
		return PullReport{}, err
	}
	// The image is here already (the config's digest is its ID), pulled
	// before or built here and pushed: its layers are the same content
	// whatever their ids (a build's are not chain ids). Its names and
	// manifest are brought up to date, and no layer is fetched.
	if img, err := s.lib.Image(cfgInfo.Digest.Encoded()); err == nil && img.TopLayer != "" {
		if _, err := s.lib.Layer(img.TopLayer); err == nil {
			id, err := s.commitImage(named, img.TopLayer, cfgInfo.Digest, cfgBlob, cfg.Created, m.topBlob, m.manBlob)
			if err != nil {
				return PullReport{}, err
			}
			return PullReport{ID: id, Names: []string{named.String()}}, nil
		}
	}
	// Layer ids are chain ids, exactly as the image library computes them,
	// so layers are shared with images that arrived through it.
	ids := make([]string, len(layers))
	for i, diffID := range cfg.RootFS.DiffIDs {
		if i == 0 {
			ids[i] = diffID.Encoded()
		} else {
			ids[i] = digest.Canonical.FromString(ids[i-1] + "+" + diffID.Encoded()).Encoded()
		}
	}
	staged, err := s.stageLayers(ctx, w, m.src, layers, cfg.RootFS.DiffIDs, ids, progress)
	defer func() {
		for _, out := range staged {
			if out != nil {
				_ = s.lib.CleanupStagedLayer(out)
			}
		}
	}()
	if err != nil {
		return PullReport{}, err
	}
	if err := s.applyStaged(staged, layers, ids); err != nil {
		return PullReport{}, err
	}
	id, err := s.commitImage(named, ids[len(ids)-1], cfgInfo.Digest, cfgBlob, cfg.Created, m.topBlob, m.manBlob)
	if err != nil {
		return PullReport{}, err
	}
	return PullReport{ID: id, Names: []string{named.String()}}, nil
}

// pulledManifest is an image's source and the manifests read from it: the
// top-level one and, of a list, this platform's.
type pulledManifest struct {
	src              types.ImageSource
	topBlob, manBlob []byte
	manType          string
}

// openManifest opens the image's source and reads its manifest, choosing
// this platform's from a list and checking the policy: the API check, a
// token and each manifest watched for stalls (UnparsedInstance checks a
// manifest against a digest in the reference). src, when set, is the
// caller's to close, also with an error.
func openManifest(ctx context.Context, sys *types.SystemContext, named reference.Named, w *stallWatch) (pulledManifest, error) {
	var m pulledManifest
	srcRef, err := docker.NewReference(named)
	if err != nil {
		return m, fmt.Errorf("%w %q: %v", ErrBadReference, named.String(), err)
	}
	var top types.UnparsedImage
	var topType string
	err = w.during("the answer to its first request", func() error {
		opened, err := srcRef.NewImageSource(ctx, sys)
		if err != nil {
			return err
		}
		m.src = opened
		top = image.UnparsedInstance(m.src, nil)
		m.topBlob, topType, err = top.Manifest(ctx)
		return err
	})
	if err != nil {
		return m, err
	}
	unparsed := top
	m.manBlob, m.manType = m.topBlob, topType
	if manifest.MIMETypeIsMultiImage(topType) {
		list, err := manifest.ListFromBlob(m.topBlob, topType)
		if err != nil {
			return m, err
		}
		instance, err := list.ChooseInstance(sys)
		if err != nil {
			return m, err
		}
		unparsed = image.UnparsedInstance(m.src, &instance)
		if err := w.during("manifest "+instance.String(), func() error {
			var err error
			m.manBlob, m.manType, err = unparsed.Manifest(ctx)
			return err
		}); err != nil {
			return m, err
		}
	}
	policy, err := policyContext(sys)
	if err != nil {
		return m, err
	}
	defer policy.Destroy()
	_, err = policy.IsRunningImageAllowed(ctx, unparsed)
	return m, err
}

// streamableImage reads the image's config and layers, or says
// errNotStreamable for what only the general copy path takes (other
// manifest types, empty, foreign or encrypted layers).
func streamableImage(ctx context.Context, w *stallWatch, m pulledManifest) ([]manifest.LayerInfo, types.BlobInfo, []byte, imgspec.Image, error) {
	var cfg imgspec.Image
	man, err := manifest.FromBlob(m.manBlob, m.manType)
	if err != nil {
		return nil, types.BlobInfo{}, nil, cfg, err
	}
	if m.manType != imgspec.MediaTypeImageManifest && m.manType != manifest.DockerV2Schema2MediaType {
		return nil, types.BlobInfo{}, nil, cfg, errNotStreamable
	}
	layers := man.LayerInfos()
	cfgInfo := man.ConfigInfo()
	cfgBlob, err := readBlob(ctx, w, m.src, cfgInfo)
	if err != nil {
		return nil, cfgInfo, nil, cfg, fmt.Errorf("reading the image config: %w", err)
	}
	if err := jsonUnmarshal(cfgBlob, &cfg); err != nil {
		return nil, cfgInfo, nil, cfg, fmt.Errorf("parsing the image config: %w", err)
	}
	if len(layers) == 0 || len(cfg.RootFS.DiffIDs) != len(layers) {
		return nil, cfgInfo, nil, cfg, errNotStreamable
	}
	for _, l := range layers {
		if l.EmptyLayer || len(l.URLs) > 0 || strings.Contains(l.MediaType, "encrypted") {
			return nil, cfgInfo, nil, cfg, errNotStreamable
		}
	}
	return layers, cfgInfo, cfgBlob, cfg, nil
}

// applyStaged commits the staged layers in order (nil: already in the
// store); each one applied is taken out of staged.
func (s *Store) applyStaged(staged []*drivers.DriverWithDifferOutput, layers []manifest.LayerInfo, ids []string) error {
	for i, out := range staged {
		if out == nil {
			continue
		}
		parent := ""
		if i > 0 {
			parent = ids[i-1]
		}
		_, err := s.lib.ApplyStagedLayer(cstorage.ApplyStagedLayerOptions{
			ID: ids[i], ParentLayer: parent, DiffOutput: out,
			DiffOptions: &drivers.ApplyDiffWithDifferOpts{},
		})
		staged[i] = nil
		if err != nil && !errors.Is(err, cstorage.ErrDuplicateID) {
			_ = s.lib.CleanupStagedLayer(out)
			return fmt.Errorf("committing layer %s: %w", layers[i].Digest, err)
		}
	}
	return nil
}

// stageLayers extracts every layer that the store lacks into a staging
// directory, concurrently. The result has nil for layers already present.
func (s *Store) stageLayers(ctx context.Context, w *stallWatch, src types.ImageSource, layers []manifest.LayerInfo, diffIDs []digest.Digest, ids []string, progress io.Writer) ([]*drivers.DriverWithDifferOutput, error) {
	staged := make([]*drivers.DriverWithDifferOutput, len(layers))
	var bars *mpb.Progress
	if progress != nil {
		bars = mpb.NewWithContext(ctx, mpb.WithOutput(progress), mpb.WithWidth(40))
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	for i := range layers {
		if l, err := s.lib.Layer(ids[i]); err == nil && l.UncompressedDigest == diffIDs[i] {
			addDoneBar(bars, layers[i].Digest, "skipped: already exists")
			continue
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			out, err := s.stageLayer(ctx, w, src, layers[i], diffIDs[i], bars)
			if err != nil {
				errs[i] = fmt.Errorf("layer %s: %w", layers[i].Digest, err)
				cancel()
				return
			}
			staged[i] = out
		}(i)
	}
	wg.Wait()
	if bars != nil {
		bars.Wait()
	}
	return staged, errors.Join(errs...)
}

func (s *Store) stageLayer(ctx context.Context, w *stallWatch, src types.ImageSource, info manifest.LayerInfo, diffID digest.Digest, bars *mpb.Progress) (*drivers.DriverWithDifferOutput, error) {
	rc, err := w.getBlob(ctx, src, info.BlobInfo, none.NoCache)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var body io.Reader = rc
	if bars != nil {
		bar := bars.AddBar(info.Size,
			mpb.BarFillerClearOnComplete(),
			mpb.PrependDecorators(decor.OnComplete(decor.Name("Copying blob "+info.Digest.Encoded()[:12]), "Copying blob "+info.Digest.Encoded()[:12]+" done")),
			mpb.AppendDecorators(decor.OnComplete(decor.CountersKibiByte("%.1f / %.1f"), "")),
		)
		defer bar.Abort(false)
		if pr, err := bar.ProxyReader(rc); err == nil {
			body = pr
		}
	}
	out, err := s.lib.PrepareStagedLayer(&drivers.ApplyDiffWithDifferOpts{}, &streamDiffer{ctx: ctx, blob: body})
	if err != nil {
		if out != nil {
			_ = s.lib.CleanupStagedLayer(out)
		}
		return nil, err
	}
	if out.CompressedDigest != info.Digest || out.UncompressedDigest != diffID {
		_ = s.lib.CleanupStagedLayer(out)
		return nil, fmt.Errorf("content does not match: blob %s (want %s), uncompressed %s (want %s)",
			out.CompressedDigest, info.Digest, out.UncompressedDigest, diffID)
	}
	return out, nil
}

func addDoneBar(bars *mpb.Progress, d digest.Digest, msg string) {
	if bars == nil {
		return
	}
	b := bars.AddBar(0, mpb.PrependDecorators(decor.Name("Copying blob "+d.Encoded()[:12]+" "+msg)))
	b.SetTotal(0, true)
}

// commitImage creates (or updates) the image record with the big-data keys
// the image library uses: the config under its digest, the manifest under
// "manifest-DIGEST" and "manifest", the top-level list under its digest.
func (s *Store) commitImage(named reference.Named, topLayer string, cfgDigest digest.Digest, cfgBlob []byte, created *time.Time, topBlob, manBlob []byte) (string, error) {
	manDigest, err := manifest.Digest(manBlob)
	if err != nil {
		return "", err
	}
	opts := &cstorage.ImageOptions{Metadata: "{}"}
	if created != nil {
		opts.CreationDate = *created
	}
	opts.BigData = append(opts.BigData, cstorage.ImageBigDataOption{Key: cfgDigest.String(), Data: cfgBlob, Digest: digest.Canonical.FromBytes(cfgBlob)})
	if !bytes.Equal(topBlob, manBlob) {
		topDigest, err := manifest.Digest(topBlob)
		if err != nil {
			return "", err
		}
		opts.BigData = append(opts.BigData, cstorage.ImageBigDataOption{Key: "manifest-" + topDigest.String(), Data: topBlob, Digest: topDigest})
	}
	opts.BigData = append(opts.BigData,
		cstorage.ImageBigDataOption{Key: "manifest-" + manDigest.String(), Data: manBlob, Digest: manDigest},
		cstorage.ImageBigDataOption{Key: cstorage.ImageDigestBigDataKey, Data: manBlob, Digest: manDigest},
	)
	id := cfgDigest.Encoded()
	if _, err := s.lib.CreateImage(id, nil, topLayer, "", opts); err != nil {
		if !errors.Is(err, cstorage.ErrDuplicateID) {
			return "", fmt.Errorf("creating image %s: %w", id, err)
		}
		img, err := s.lib.Image(id)
		if err != nil {
			return "", err
		}
		if img.TopLayer != topLayer {
			return "", fmt.Errorf("image %s exists with other layers: %w", id, cstorage.ErrDuplicateID)
		}
		for _, bd := range opts.BigData {
			if err := s.lib.SetImageBigData(id, bd.Key, bd.Data, manifest.Digest); err != nil {
				return "", err
			}
		}
	}
	if named != nil {
		if err := s.lib.AddNames(id, []string{named.String()}); err != nil {
			return "", err
		}
	}
	return id, nil
}

func readBlob(ctx context.Context, w *stallWatch, src types.ImageSource, info types.BlobInfo) ([]byte, error) {
	rc, err := w.getBlob(ctx, src, info, none.NoCache)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return nil, err
	}
	if got := digest.Canonical.FromBytes(data); got != info.Digest {
		return nil, fmt.Errorf("config digest %s, want %s", got, info.Digest)
	}
	return data, nil
}
