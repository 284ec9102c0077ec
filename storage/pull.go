package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
	"go.podman.io/image/v5/pkg/shortnames"
	istorage "go.podman.io/image/v5/storage"
	"go.podman.io/image/v5/types"
	cstorage "go.podman.io/storage"
)

// PullOptions are the options of one pull.
type PullOptions struct {
	RegistryOptions
	Reference string
	AllTags   bool
	Progress  io.Writer // progress bars go here; nil = quiet
}

// PullReport names what a pull stored.
type PullReport struct {
	ID    string
	Names []string
}

// Pull copies an image from a registry into the store. A short name is tried
// against each unqualified-search registry in registries.conf (or an alias).
func (s *Store) Pull(ctx context.Context, o PullOptions) ([]PullReport, error) {
	sys, err := o.SystemContext()
	if err != nil {
		return nil, err
	}
	input := strings.TrimPrefix(o.Reference, "docker://")
	if _, err := reference.ParseNormalizedNamed(input); err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, o.Reference, err)
	}
	stall := o.stallTimeout()
	if o.AllTags {
		return s.pullAllTags(ctx, sys, input, o.Progress, stall)
	}
	if !shortnames.IsShortName(input) {
		named, err := ParseReference(input)
		if err != nil {
			return nil, err
		}
		r, err := s.pullOne(ctx, sys, named, o.Progress, stall)
		if err != nil {
			return nil, err
		}
		return []PullReport{r}, nil
	}
	resolved, err := shortnames.Resolve(sys, input)
	if err != nil {
		return nil, fmt.Errorf("resolving short name %q: %w", input, err)
	}
	var errs []error
	for _, c := range resolved.PullCandidates {
		r, err := s.pullOne(ctx, sys, c.Value, o.Progress, stall)
		if err == nil {
			_ = c.Record()
			return []PullReport{r}, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		errs = append(errs, err)
	}
	return nil, resolved.FormatPullErrors(errs)
}

func (s *Store) pullAllTags(ctx context.Context, sys *types.SystemContext, input string, progress io.Writer, stall time.Duration) ([]PullReport, error) {
	named, err := reference.ParseNormalizedNamed(input)
	if err != nil {
		return nil, fmt.Errorf("%w %q: %v", ErrBadReference, input, err)
	}
	if !reference.IsNameOnly(named) {
		return nil, fmt.Errorf("%w: --all-tags takes a repository without a tag or digest", ErrBadReference)
	}
	ref, err := docker.NewReference(reference.TagNameOnly(named))
	if err != nil {
		return nil, err
	}
	var tags []string
	lctx, w := newStallWatch(ctx, reference.Domain(named), stall)
	err = w.stop(lctx, w.during("the tag list", func() error {
		var err error
		tags, err = docker.GetRepositoryTags(lctx, w.sys(sys), ref)
		return err
	}))
	if err != nil {
		return nil, fmt.Errorf("listing tags of %s: %w", named.Name(), wrapRegistryErr(err))
	}
	var reports []PullReport
	for _, t := range tags {
		tagged, err := reference.WithTag(named, t)
		if err != nil {
			continue
		}
		r, err := s.pullOne(ctx, sys, tagged, progress, stall)
		if err != nil {
			return reports, err
		}
		reports = append(reports, r)
	}
	return reports, nil
}

// pullOne pulls one image, with its registry watched for stalls: no
// bytes for the stall timeout ends the pull with a StallError, and leaves
// nothing of it in the store.
func (s *Store) pullOne(ctx context.Context, sys *types.SystemContext, named reference.Named, progress io.Writer, stall time.Duration) (PullReport, error) {
	wctx, w := newStallWatch(ctx, reference.Domain(named), stall)
	r, err := s.pullWatched(wctx, w.sys(sys), named, progress, w)
	if err = w.stop(wctx, err); err != nil {
		var bad *badReference
		if errors.As(err, &bad) {
			return PullReport{}, bad.err
		}
		return PullReport{}, fmt.Errorf("pulling %s: %w", named.String(), wrapRegistryErr(err))
	}
	return r, nil
}

// badReference carries an error that needs no "pulling NAME" before it.
type badReference struct{ err error }

func (b *badReference) Error() string { return b.err.Error() }

func (s *Store) pullWatched(ctx context.Context, sys *types.SystemContext, named reference.Named, progress io.Writer, w *stallWatch) (PullReport, error) {
	src, err := docker.NewReference(named)
	if err != nil {
		return PullReport{}, &badReference{fmt.Errorf("%w %q: %v", ErrBadReference, named.String(), err)}
	}
	if r, err := s.pullStreaming(ctx, sys, named, progress, w); !errors.Is(err, errNotStreamable) {
		return r, err
	}
	dest, err := istorage.Transport.NewStoreReference(s.lib, named, "")
	if err != nil {
		return PullReport{}, err
	}
	events, finish := w.watchCopy()
	err = s.copyImage(ctx, sys, dest, src, progress, func(o *copy.Options) {
		o.Progress, o.ProgressInterval = events, time.Nanosecond
	})
	finish()
	if err != nil {
		return PullReport{}, err
	}
	img, err := s.storedImage(dest)
	if err != nil {
		return PullReport{}, err
	}
	return PullReport{ID: img.ID, Names: []string{named.String()}}, nil
}

// copyImage is the one place images move between transports.
func (s *Store) copyImage(ctx context.Context, sys *types.SystemContext, dest, src types.ImageReference, progress io.Writer, tune func(*copy.Options)) error {
	policy, err := policyContext(sys)
	if err != nil {
		return err
	}
	defer policy.Destroy()
	opts := &copy.Options{
		ReportWriter:   progress,
		SourceCtx:      sys,
		DestinationCtx: sys,
	}
	if tune != nil {
		tune(opts)
	}
	_, err = copy.Image(ctx, policy, dest, src, opts)
	return err
}

func (s *Store) storedImage(ref types.ImageReference) (*cstorage.Image, error) {
	_, img, err := istorage.ResolveReference(ref)
	if err != nil {
		return nil, fmt.Errorf("finding the stored image %s: %w", ref.StringWithinTransport(), err)
	}
	return img, nil
}

// wrapRegistryErr marks authentication failures so the CLI can say so plainly.
func wrapRegistryErr(err error) error {
	var unauth docker.ErrUnauthorizedForCredentials
	if errors.As(err, &unauth) || strings.Contains(err.Error(), "authentication required") || strings.Contains(err.Error(), "unauthorized") {
		return fmt.Errorf("%w: %v (log in with: skiff login REGISTRY)", ErrAuth, err)
	}
	return err
}
