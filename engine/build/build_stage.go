package build

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// defaultPath is the PATH a RUN gets when the image sets none (buildkit's).
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runStage runs one stage's FROM and steps; the target stage's result is
// committed under the build's names.
func (b *builder) runStage(ctx context.Context, pos int, s *Stage) (State, error) {
	target := s.Index == b.plan.TargetStage().Index
	n := len(s.Steps) + 1
	b.progress.step(pos, 1, n, s.Original)
	st, err := b.base(ctx, s)
	if err != nil {
		return State{}, &Error{File: b.plan.File, Line: s.Line, Err: fmt.Errorf("building at STEP %q: %w", s.Original, err)}
	}
	key := FromKey(s.Base, st.ImageID)
	b.record(StepResult{Stage: s.Index, Key: key, ImageID: st.ImageID})
	for i, step := range s.Steps {
		if err := ctx.Err(); err != nil {
			return State{}, err // interrupted: no further step, no commit
		}
		b.progress.step(pos, i+2, n, step.Original)
		st, key, err = b.runStep(ctx, step, st, key, target && i == len(s.Steps)-1)
		if err != nil {
			return State{}, err
		}
	}
	if !target {
		if b.o.NoLayers && st.Dirty {
			id, _, err := b.o.Executor.Commit(ctx, st, nil)
			if err != nil {
				return State{}, &Error{File: b.plan.File, Line: s.Line, Err: fmt.Errorf("committing stage %d: %w", s.Index, err)}
			}
			st = State{ImageID: id, Config: st.Config}
		}
		return st, nil
	}
	if err := ctx.Err(); err != nil {
		return State{}, err
	}
	return b.commitFinal(ctx, pos, s, st)
}

// scratchConfig is the configuration a stage FROM scratch starts with: the
// default PATH, as buildkit's empty image and buildah give it.
func scratchConfig() ImageConfig {
	var c ImageConfig
	c.Env = []string{"PATH=" + defaultPath}
	return c
}

// base is the state a stage starts from. Triggers a base image carries were
// planned as steps; the image the stage makes does not carry them on.
func (b *builder) base(ctx context.Context, s *Stage) (State, error) {
	var st State
	var err error
	switch s.Base.Kind {
	case BaseScratch:
		return State{Config: scratchConfig(), Dirty: true}, nil
	case BaseStage:
		st, err = b.stageResult(s.Base.Stage)
	case BaseImage:
		if s.Base.ImageID != "" {
			st, err = b.o.Executor.Load(ctx, s.Base.ImageID)
		} else {
			st, err = b.o.Executor.From(ctx, s.Base.Ref)
		}
	}
	if err != nil {
		return State{}, err
	}
	if len(st.Config.OnBuild) > 0 {
		st.Config = st.Config.clone()
		st.Config.OnBuild = nil
		st.Dirty = true
	}
	return st, nil
}

// runStep looks a step up in the cache and runs it on a miss, committing
// the result as an intermediate image recorded under the step's key.
func (b *builder) runStep(ctx context.Context, step Step, st State, parentKey string, final bool) (State, string, error) {
	fail := func(err error) error {
		return &Error{File: b.plan.File, Line: step.Line, Err: fmt.Errorf("building at STEP %q: %w", step.Original, err)}
	}
	in, err := b.inputs(ctx, step)
	defer in.close()
	if err != nil {
		return State{}, "", fail(err)
	}
	key := CacheKey(parentKey, step, in.digest)
	if b.o.NoLayers {
		next, err := b.execute(ctx, step, st, in)
		if err != nil {
			return State{}, "", fail(err)
		}
		b.record(StepResult{Stage: step.Stage, Line: step.Line, Key: key})
		return next, key, nil
	}
	if hit, ok := b.lookup(ctx, key); ok {
		b.progress.usingCache(hit.ImageID)
		if !final {
			b.progress.result(hit.ImageID)
		}
		b.record(StepResult{Stage: step.Stage, Line: step.Line, Key: key, ImageID: hit.ImageID, Cached: true})
		return hit, key, nil
	}
	next, err := b.execute(ctx, step, st, in)
	if err != nil {
		return State{}, "", fail(err)
	}
	next.CreatedBy = step.historyLine()
	id, _, err := b.o.Executor.Commit(ctx, next, nil)
	if err != nil {
		return State{}, "", fail(err)
	}
	if b.o.Cache != nil {
		// A failed write costs only a later rebuild: the build goes on.
		_ = b.o.Cache.Put(key, id)
	}
	if !final {
		b.progress.result(id)
	}
	b.record(StepResult{Stage: step.Stage, Line: step.Line, Key: key, ImageID: id})
	return State{ImageID: id, Config: next.Config}, key, nil
}

// lookup returns the cached state for key, if the index has it and the
// image is still in the store.
func (b *builder) lookup(ctx context.Context, key string) (State, bool) {
	if b.o.Cache == nil || b.o.NoCache {
		return State{}, false
	}
	id, ok, err := b.o.Cache.Get(key)
	if err != nil || !ok {
		return State{}, false
	}
	if b.o.CacheTTL > 0 {
		if at, err := b.o.Cache.Written(key); err != nil || time.Since(at) > b.o.CacheTTL {
			return State{}, false
		}
	}
	st, err := b.o.Executor.Load(ctx, id)
	if err != nil {
		return State{}, false
	}
	return st, true
}

// execute does a step's work through the executor.
func (b *builder) execute(ctx context.Context, step Step, st State, in *prepared) (State, error) {
	var next State
	var err error
	switch {
	case step.Run != nil:
		r := *step.Run
		r.Env = runEnv(st.Config.Env, r.ArgEnv)
		r.WorkDir, r.User, r.Mounts = st.Config.WorkingDir, st.Config.User, in.mounts
		out := b.progress.output()
		next, err = b.o.Executor.Run(ctx, st, r, out)
		out.Flush()
	case step.Copy != nil:
		if err := in.fetchPending(ctx, b); err != nil {
			return State{}, err
		}
		next, err = b.o.Executor.Copy(ctx, st, *step.Copy, in.copySource)
	case step.Edit != nil:
		next = st
		next.Config = st.Config.clone()
		step.Edit.Apply(&next.Config)
		if step.Edit.Instruction == "WORKDIR" {
			next, err = b.o.Executor.Copy(ctx, next, CopyStep{Dest: step.Edit.Value}, CopySource{MkdirOnly: true})
		}
	default: // ARG: nothing to do, the image stays the same
		return st, nil
	}
	if err != nil {
		return State{}, err
	}
	next.Dirty = true
	return next, nil
}

// runEnv is a RUN's environment: the build arguments under the image's
// environment (ENV wins over an ARG of the same name), PATH defaulted.
func runEnv(imageEnv, argEnv []string) []string {
	env := slices.Clone(argEnv)
	for _, kv := range imageEnv {
		k, v, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, v)
	}
	if _, ok := getEnv(env, "PATH"); !ok {
		env = append(env, "PATH="+defaultPath)
	}
	return env
}

// commitFinal commits the target's last state under the build's names,
// with --label added.
func (b *builder) commitFinal(ctx context.Context, pos int, s *Stage, st State) (State, error) {
	if len(b.plan.Labels) > 0 {
		st.Config = withLabels(st.Config, b.plan.Labels)
		st.Dirty = true
	}
	b.progress.commit(pos, b.o.Tags)
	id, tagged, err := b.o.Executor.Commit(ctx, st, b.o.Tags)
	if err != nil {
		return State{}, &Error{File: b.plan.File, Line: s.Line, Err: fmt.Errorf("committing the image: %w", err)}
	}
	if b.o.Finish == nil { // else the image Finish makes is the one shown
		b.progress.result(id)
	}
	b.mu.Lock()
	b.tagged = tagged
	b.mu.Unlock()
	return State{ImageID: id, Config: st.Config}, nil
}

// historyLine is what the image's history says made the step, as podman
// (buildah) writes it: a RUN's command, after the build arguments it sees
// ("|N NAME=value ..."), and any other instruction as a no-op of the shell.
func (s Step) historyLine() string {
	if s.Run == nil {
		return "/bin/sh -c #(nop) " + s.Original
	}
	line := strings.Join(s.Run.Args, " ")
	if len(s.BuildArgs) > 0 {
		line = fmt.Sprintf("|%d %s %s", len(s.BuildArgs), strings.Join(s.BuildArgs, " "), line)
	}
	return line
}
