package engine

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/build"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/storage"
)

// BuildOptions describe one `build`: what cmd parsed from its flags, with
// the Containerfile already read.
type BuildOptions struct {
	// ContextDir is the build context (absolute).
	ContextDir string
	// IgnoreFile is --ignorefile; "" looks for .containerignore and
	// .dockerignore in ContextDir.
	IgnoreFile string
	// File is the Containerfile's name in messages; Containerfile its text.
	File          string
	Containerfile []byte
	Tags          []string
	BuildArgs     map[string]string
	Target        string
	Labels        map[string]string
	BuildContexts map[string]string // NAME → absolute directory
	Secrets       map[string]string // id → file
	NoCache       bool
	NoLayers      bool          // --layers=false: one layer a stage, no cache
	CacheTTL      time.Duration // --cache-ttl: only results younger than this
	// KeepIntermediate (--rm=false) keeps each step's working container,
	// KeepFailed (--force-rm=false) that of a RUN that failed: listed by
	// ps --external, removed by rm --storage.
	KeepIntermediate, KeepFailed bool
	Pull                         PullPolicy
	Registry                     storage.RegistryOptions
	// Network is --network: "" (the default), host or none.
	Network string
	// Docker is --format docker (OCI otherwise).
	Docker bool
	// Squash (--squash) makes the image's layers above its stage's base one
	// layer.
	Squash bool
	// Annotations (--annotation) go in the image's manifest (OCI format).
	Annotations map[string]string
	// Platform is --platform; only the host's is built.
	Platform string
	// Runtime is --runtime: the OCI runtime of RUN steps ("": the
	// configured one).
	Runtime string
	Quiet   bool
	// Out gets the progress lines and every RUN's output (stdout); PullOutput
	// the progress of pulls (nil: none).
	Out        io.Writer
	PullOutput io.Writer
	Jobs       int
}

// HostPlatform is the only platform build makes images for.
func HostPlatform() string { return "linux/" + runtime.GOARCH }

// Build builds an image from a Containerfile: a plan of its stages, each
// step looked up in the user's build cache and run on a miss over the
// store. A refused build (bad Containerfile, missing source) changes
// nothing.
func (e *Engine) Build(ctx context.Context, o BuildOptions) (*build.Result, error) {
	if len(o.Annotations) > 0 && o.Docker {
		return nil, fmt.Errorf("%w: --annotation needs --format oci: docker's image format has no annotations", config.ErrBadOption)
	}
	if o.Platform != "" && strings.TrimSuffix(o.Platform, "/") != HostPlatform() {
		return nil, fmt.Errorf("%w: --platform %s: skiff builds only for this machine's platform, %s (no emulation)", config.ErrBadOption, o.Platform, HostPlatform())
	}
	if err := storage.CheckNames(o.Tags); err != nil {
		return nil, fmt.Errorf("%w: %v", config.ErrBadOption, err)
	}
	runtimePath, err := e.Runtime(o.Runtime)
	if err != nil {
		return nil, err
	}
	// What a killed build left (its working layer, its RUN) goes before
	// this one adds its own.
	_ = e.removeLeftWorkLayers(ctx)
	x := &buildExecutor{e: e, registry: o.Registry, pull: o.Pull, pullOut: o.PullOutput, network: o.Network, docker: o.Docker, runtime: runtimePath,
		keepDone: o.KeepIntermediate, keepFailed: o.KeepFailed}
	bctx, err := build.OpenContext(o.ContextDir, o.IgnoreFile)
	if err != nil {
		return nil, err
	}
	plan, err := build.NewPlan(ctx, o.Containerfile, build.PlanOptions{
		File: o.File, BuildArgs: o.BuildArgs, Target: o.Target, BuildContexts: o.BuildContexts,
		Labels: o.Labels, Platform: HostPlatform(), Network: o.Network, Resolve: x.From,
	})
	if err != nil {
		return nil, err
	}
	cache, err := build.OpenIndex(e.buildCacheDir())
	if err != nil {
		return nil, fmt.Errorf("opening the build cache: %w", err)
	}
	tmp, err := os.MkdirTemp(e.ns.Bundles(), fmt.Sprintf("build-%d-downloads-", os.Getpid()))
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	return build.Build(ctx, plan, build.BuildOptions{
		Executor: x, Context: bctx, Cache: cache, NoCache: o.NoCache, NoLayers: o.NoLayers, CacheTTL: o.CacheTTL, Tags: o.Tags,
		Secrets: o.Secrets, Out: o.Out, Quiet: o.Quiet, Jobs: o.Jobs, TempDir: tmp,
		Finish: func(ctx context.Context, plan *build.Plan, res *build.Result) (*build.Result, error) {
			if o.Squash {
				var err error
				if res, err = e.squash(plan, res, o.Tags, o.Docker); err != nil {
					return nil, err
				}
			}
			return e.finalFormat(res, o.Tags, o.Docker, o.Annotations)
		},
	})
}

// finalFormat gives the build's names to a copy of the built image when
// its manifest is not the one asked for: annotations (--annotation), or
// another format than --format's (the image came from the cache of a
// build in the other one).
func (e *Engine) finalFormat(res *build.Result, tags []string, docker bool, annotations map[string]string) (*build.Result, error) {
	isDocker, err := e.store.IsDockerFormat(res.ImageID)
	if err != nil {
		return nil, err
	}
	if len(annotations) == 0 && isDocker == docker {
		return res, nil
	}
	id, err := e.store.CopyImage(res.ImageID, docker, annotations)
	if err != nil {
		return nil, fmt.Errorf("writing the image's manifest: %w", err)
	}
	out := *res
	out.ImageID = id
	if out.Tagged, err = e.store.NameImage(id, tags); err != nil {
		return nil, err
	}
	return &out, nil
}

// squash makes the built image's layers above its stage's base one layer
// (podman's --squash: the base's layers are kept) and moves the build's
// names to it.
func (e *Engine) squash(plan *build.Plan, res *build.Result, tags []string, docker bool) (*build.Result, error) {
	base := ""
	st := plan.TargetStage()
	switch st.Base.Kind {
	case build.BaseImage:
		base = st.Base.ImageID
	case build.BaseStage:
		for _, r := range res.Steps { // the last result of that stage
			if r.Stage == st.Base.Stage {
				base = r.ImageID
			}
		}
	}
	id, err := e.store.SquashImage(res.ImageID, base, docker)
	if err != nil {
		return nil, fmt.Errorf("squashing the image: %w", err)
	}
	out := *res
	out.ImageID = id
	if out.Tagged, err = e.store.NameImage(id, tags); err != nil {
		return nil, err
	}
	return &out, nil
}

// buildCacheDir keeps the build cache's index and cache mounts, beside the
// store's state.
func (e *Engine) buildCacheDir() string { return filepath.Join(e.paths.Dir, "build-cache") }

// PruneBuildCache empties the build cache (its index of step results and
// the directories of RUN --mount=type=cache) and removes the images only it
// kept (dangling intermediate images), returning their IDs.
func (e *Engine) PruneBuildCache(ctx context.Context) ([]string, error) {
	if err := e.removeOrphans(ctx); err != nil {
		return nil, err
	}
	if err := os.RemoveAll(e.buildCacheDir()); err != nil {
		return nil, fmt.Errorf("removing the build cache: %w", err)
	}
	return e.store.Prune(false)
}
