package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"

	securejoin "github.com/cyphar/filepath-securejoin"
)

// prepared is what the scheduler resolved for one step before looking it
// up: the digest of what it reads, and what the executor will need.
type prepared struct {
	digest     string
	copySource CopySource
	mounts     []Mount
	pending    []pendingDownload // ADD URLs with --checksum: fetched only on a miss
	closers    []func()
}

type pendingDownload struct {
	url, checksum string
}

func (in *prepared) close() {
	for _, c := range in.closers {
		c()
	}
}

// inputs resolves a step's sources and digests them ([CacheKey]'s
// inputsDigest): context paths by content, stages and images by ID, URLs by
// content or --checksum. Each part is named, so a digest of two parts never
// equals the digest of one.
func (b *builder) inputs(ctx context.Context, step Step) (*prepared, error) {
	in := &prepared{}
	var parts []string
	var err error
	switch {
	case step.Copy != nil:
		parts, err = b.copyInputs(ctx, step.Copy, in)
	case step.Run != nil:
		parts, err = b.mountInputs(ctx, step.Run.Mounts, in)
	}
	if err != nil || len(parts) == 0 {
		return in, err
	}
	h := sha256.New()
	for _, p := range parts {
		writeField(h, "input", p)
	}
	in.digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	return in, nil
}

func (b *builder) copyInputs(ctx context.Context, cp *CopyStep, in *prepared) ([]string, error) {
	switch cp.From.Kind {
	case SourceStage, SourceImage:
		st, err := b.sourceImage(ctx, cp.From)
		if err != nil {
			return nil, err
		}
		in.copySource.Image = &st
		return []string{"image:" + st.ImageID}, nil
	}
	var parts []string
	c, err := b.context(cp.From)
	if err != nil {
		return nil, err
	}
	for _, src := range cp.Sources {
		if cp.Add && isURL(src) {
			part, err := in.addURL(ctx, b, src, cp.Checksum)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
			continue
		}
		paths, err := c.Match(src)
		if err != nil {
			return nil, err
		}
		if len(paths) == 0 {
			return nil, fmt.Errorf("%w: %s", ErrNoSource, src)
		}
		in.copySource.Context = c
		in.copySource.Paths = append(in.copySource.Paths, paths...)
	}
	if in.copySource.Context != nil {
		d, err := c.Digest(in.copySource.Paths)
		if err != nil {
			return nil, err
		}
		parts = append(parts, "context:"+d)
	}
	return parts, nil
}

// addURL digests an ADD URL: by its --checksum without fetching it, else by
// fetching it now and hashing what came.
func (in *prepared) addURL(ctx context.Context, b *builder, url, checksum string) (string, error) {
	if checksum != "" {
		in.pending = append(in.pending, pendingDownload{url: url, checksum: checksum})
		return "url:" + url + "@" + checksum, nil
	}
	d, sum, err := b.download(ctx, url, "")
	if err != nil {
		return "", err
	}
	in.closers = append(in.closers, func() { os.Remove(d.Path) })
	in.copySource.Downloads = append(in.copySource.Downloads, d)
	return "url:" + url + "@" + sum, nil
}

// fetchPending fetches the --checksum URLs a cache miss needs after all.
func (in *prepared) fetchPending(ctx context.Context, b *builder) error {
	for _, p := range in.pending {
		d, _, err := b.download(ctx, p.url, p.checksum)
		if err != nil {
			return err
		}
		in.closers = append(in.closers, func() { os.Remove(d.Path) })
		in.copySource.Downloads = append(in.copySource.Downloads, d)
	}
	in.pending = nil
	return nil
}

// sourceImage is the state a COPY --from or a bind mount from= reads.
func (b *builder) sourceImage(ctx context.Context, src Source) (State, error) {
	if src.Kind == SourceStage {
		return b.stageResult(src.Stage)
	}
	if src.ImageID != "" {
		return b.o.Executor.Load(ctx, src.ImageID)
	}
	return b.o.Executor.From(ctx, src.Name)
}

// mountInputs fills in the host side of each mount and digests what bind
// mounts read. Cache and tmpfs mounts and secrets add nothing: a secret
// counts by its id, which is in the step's text.
func (b *builder) mountInputs(ctx context.Context, mounts []Mount, in *prepared) ([]string, error) {
	var parts []string
	for _, m := range mounts {
		switch m.Type {
		case "bind":
			part, err := b.bindInput(ctx, &m)
			if err != nil {
				return nil, err
			}
			parts = append(parts, part)
		case "cache":
			dir, fresh, release, err := b.cacheDir(m)
			if err != nil {
				return nil, err
			}
			in.closers = append(in.closers, release)
			m.HostPath = dir
			if fresh && m.From != nil {
				if err := b.cacheSeed(ctx, &m); err != nil {
					return nil, err
				}
			}
		case "secret":
			file, ok := b.o.Secrets[m.ID]
			if !ok {
				if m.Required {
					return nil, fmt.Errorf("%w: %s", ErrNoSecret, m.ID)
				}
				continue // an optional secret not given is not mounted
			}
			m.HostPath = file
		}
		in.mounts = append(in.mounts, m)
	}
	return parts, nil
}

func (b *builder) bindInput(ctx context.Context, m *Mount) (string, error) {
	switch m.From.Kind {
	case SourceStage, SourceImage:
		st, err := b.sourceImage(ctx, *m.From)
		if err != nil {
			return "", err
		}
		m.Image = &st
		return "image:" + st.ImageID + ":" + clean(m.Source), nil
	}
	c, err := b.context(*m.From)
	if err != nil {
		return "", err
	}
	rel := clean(m.Source)
	host, err := securejoin.SecureJoin(c.Dir, rel)
	if err != nil {
		return "", err
	}
	if _, err := os.Lstat(host); err != nil {
		return "", fmt.Errorf("%w: --mount source %s", ErrNoSource, m.Source)
	}
	m.HostPath = host
	d, err := c.Digest([]string{rel})
	if err != nil {
		return "", err
	}
	return "bind:" + d, nil
}

// cacheDir is a cache mount's directory: kept in the index between builds,
// or a directory for this build alone when there is no index.
// A new one gets the mount's uid, gid and mode (buildkit's defaults: root,
// 0755), once: what RUNs change later stays.
// fresh tells that the directory was made for this RUN.
func (b *builder) cacheDir(m Mount) (dir string, fresh bool, release func(), err error) {
	prepare := func(dir string) error { return initCacheDir(dir, m) }
	if b.o.Cache != nil {
		return b.o.Cache.CacheMount(m.ID, m.Sharing, prepare)
	}
	dir, err = os.MkdirTemp(b.o.TempDir, "skiff-cache-mount-")
	if err != nil {
		return "", false, nil, err
	}
	if err := prepare(dir); err != nil {
		os.RemoveAll(dir)
		return "", false, nil, err
	}
	return dir, true, func() { os.RemoveAll(dir) }, nil
}

// cacheSeed names what a new cache directory starts with (from=): a
// stage's or an image's tree, which the executor copies in, or a build
// context's directory.
func (b *builder) cacheSeed(ctx context.Context, m *Mount) error {
	m.Seed = true
	switch m.From.Kind {
	case SourceStage, SourceImage:
		st, err := b.sourceImage(ctx, *m.From)
		if err != nil {
			return err
		}
		m.Image = &st
		return nil
	}
	c, err := b.context(*m.From)
	if err != nil {
		return err
	}
	m.SeedPath, err = securejoin.SecureJoin(c.Dir, clean(m.Source))
	return err
}

// initCacheDir gives a new cache directory the owner and mode m asks for.
func initCacheDir(dir string, m Mount) error {
	mode, uid, gid := m.Owner(0o755)
	if err := os.Lchown(dir, uid, gid); err != nil {
		return fmt.Errorf("cache mount %s: uid=%d,gid=%d: %w", m.ID, uid, gid, err)
	}
	return os.Chmod(dir, mode)
}

// preflight refuses a build whose sources or secrets are missing before
// anything runs.
func (b *builder) preflight() error {
	for _, s := range b.plan.Stages {
		for _, step := range s.Steps {
			if err := b.checkStep(step); err != nil {
				return err
			}
		}
	}
	return nil
}

func (b *builder) checkStep(step Step) error {
	fail := func(sentinel error, format string, args ...any) error {
		return lineError(b.plan.File, step.Line, sentinel, format, args...)
	}
	if cp := step.Copy; cp != nil && (cp.From.Kind == SourceContext || cp.From.Kind == SourceNamedContext) {
		c, err := b.context(cp.From)
		if err != nil {
			return &Error{File: b.plan.File, Line: step.Line, Err: err}
		}
		for _, src := range cp.Sources {
			if cp.Add && isURL(src) {
				continue
			}
			paths, err := c.Match(src)
			if err != nil {
				return fail(ErrBadSource, "%s %s: %v", step.Instruction, src, err)
			}
			if len(paths) == 0 {
				return fail(ErrNoSource, "%s %s", step.Instruction, src)
			}
		}
	}
	if step.Run == nil {
		return nil
	}
	for _, m := range step.Run.Mounts {
		switch {
		case m.Type == "secret" && m.Required:
			if _, ok := b.o.Secrets[m.ID]; !ok {
				return fail(ErrNoSecret, "RUN --mount=type=secret,id=%s: give it with --secret id=%s,src=FILE", m.ID, m.ID)
			}
		case m.Type == "bind" && (m.From.Kind == SourceContext || m.From.Kind == SourceNamedContext):
			c, err := b.context(*m.From)
			if err != nil {
				return &Error{File: b.plan.File, Line: step.Line, Err: err}
			}
			if _, err := os.Lstat(c.Dir + "/" + clean(m.Source)); err != nil {
				return fail(ErrNoSource, "RUN --mount=type=bind,source=%s", m.Source)
			}
		}
	}
	return nil
}
