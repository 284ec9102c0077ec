package build

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"runtime"
	"sync"
	"time"
)

// BuildOptions say how to run a plan.
type BuildOptions struct {
	Executor Executor
	// Context is the build context COPY, ADD and bind mounts read.
	Context *Context
	// Cache is the step cache; nil builds without one (nothing is looked up
	// or recorded).
	Cache *Index
	// NoCache (--no-cache) looks nothing up but still records each step, so
	// the next build can use them.
	NoCache bool
	// NoLayers (--layers=false) commits each stage once, at its end: its
	// steps build on one working layer, and none is looked up or recorded
	// in the cache (podman's: the image has one layer above its base).
	NoLayers bool
	// CacheTTL (--cache-ttl), when set, uses only step results made less
	// than that long ago.
	CacheTTL time.Duration
	// Tags name the final image (-t), as the user typed them.
	Tags []string
	// Secrets are --secret id=ID,src=FILE: ID → FILE.
	Secrets map[string]string
	// Out receives podman's progress lines and the output of each RUN; nil
	// discards them.
	Out io.Writer
	// Quiet (-q) writes only the final image ID to Out.
	Quiet bool
	// Jobs bounds the stages run at once; 0 means GOMAXPROCS.
	Jobs int
	// HTTPClient fetches ADD URLs; nil means http.DefaultClient.
	HTTPClient *http.Client
	// TempDir holds ADD downloads while the build runs; "" means os.TempDir().
	TempDir string
	// Finish, when set, is given the result before its image ID is
	// reported, and returns the result reported: build --squash makes
	// another image of it there.
	Finish func(ctx context.Context, plan *Plan, res *Result) (*Result, error)
}

// Result is what a build made.
type Result struct {
	ImageID string
	Tagged  []string     // the final image's names as the store spells them
	Steps   []StepResult // every step run or found in the cache, in the order they finished
}

// StepResult tells what happened to one step.
type StepResult struct {
	Stage   int // Containerfile position of the stage
	Line    int // 0 for the FROM
	Key     string
	ImageID string
	Cached  bool
}

// builder is one run of a plan.
type builder struct {
	plan     *Plan
	o        BuildOptions
	progress *progress
	contexts map[string]*Context // by directory, for --build-context

	mu      sync.Mutex
	results map[int]State // each finished stage's committed state, by Containerfile position
	steps   []StepResult
	tagged  []string // the final commit's names
}

// Build runs a plan: each stage once the stages it reads are done, at most
// Jobs at a time, every step looked up in the cache first. Before anything
// runs it checks that every COPY/ADD source exists in its build context and
// every required secret is given, so a refused build changes nothing.
func Build(ctx context.Context, plan *Plan, o BuildOptions) (*Result, error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Jobs <= 0 {
		o.Jobs = runtime.GOMAXPROCS(0)
	}
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	b := &builder{plan: plan, o: o, results: map[int]State{}, contexts: map[string]*Context{},
		progress: &progress{w: o.Out, quiet: o.Quiet, stages: len(plan.Stages)}}
	if err := b.preflight(); err != nil {
		return nil, err
	}
	if err := b.runStages(ctx); err != nil {
		return nil, err
	}
	if len(plan.UnusedArgs) > 0 {
		// podman's (buildah's) words, in its place: before the result.
		b.progress.printf("[Warning] one or more build args were not consumed: %v\n", plan.UnusedArgs)
	}
	b.mu.Lock()
	final := b.results[plan.TargetStage().Index]
	res := &Result{ImageID: final.ImageID, Tagged: b.tagged, Steps: b.steps}
	b.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err // interrupted: nothing is tagged
	}
	if o.Finish != nil {
		var err error
		if res, err = o.Finish(ctx, plan, res); err != nil {
			return nil, err
		}
		b.progress.result(res.ImageID)
	}
	b.progress.final(res)
	return res, nil
}

// runStages starts one goroutine per stage; each waits for the stages it
// reads, then for a free job slot.
func (b *builder) runStages(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := map[int]chan struct{}{}
	for _, s := range b.plan.Stages {
		done[s.Index] = make(chan struct{})
	}
	slots := make(chan struct{}, b.o.Jobs)
	errs := make(chan error, len(b.plan.Stages))
	var wg sync.WaitGroup
	for pos, s := range b.plan.Stages {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := b.waitAndRun(ctx, pos, s, done, slots)
			if err != nil {
				cancel()
				errs <- err
				return
			}
			close(done[s.Index])
		}()
	}
	wg.Wait()
	close(errs)
	return firstError(errs)
}

func (b *builder) waitAndRun(ctx context.Context, pos int, s *Stage, done map[int]chan struct{}, slots chan struct{}) error {
	for _, n := range s.Needs {
		select {
		case <-done[n]:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	select {
	case slots <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-slots }()
	st, err := b.runStage(ctx, pos, s)
	if err != nil {
		return err
	}
	b.mu.Lock()
	b.results[s.Index] = st
	b.mu.Unlock()
	return nil
}

// firstError prefers a real error over the cancellations it caused.
func firstError(errs chan error) error {
	var first error
	for err := range errs {
		if first == nil || (first == context.Canceled && err != context.Canceled) {
			first = err
		}
	}
	return first
}

// stageResult returns a finished stage's state.
func (b *builder) stageResult(index int) (State, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	st, ok := b.results[index]
	if !ok {
		return State{}, fmt.Errorf("stage %d has not run", index) // the graph makes this impossible
	}
	return st, nil
}

func (b *builder) record(r StepResult) {
	b.mu.Lock()
	b.steps = append(b.steps, r)
	b.mu.Unlock()
}

// context returns the build context a source reads.
func (b *builder) context(src Source) (*Context, error) {
	if src.Kind == SourceContext {
		if b.o.Context == nil {
			return nil, fmt.Errorf("no build context")
		}
		return b.o.Context, nil
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if c, ok := b.contexts[src.Dir]; ok {
		return c, nil
	}
	c, err := OpenContext(src.Dir, "")
	if err != nil {
		return nil, fmt.Errorf("--build-context %s: %w", src.Name, err)
	}
	b.contexts[src.Dir] = c
	return c, nil
}

func withLabels(cfg ImageConfig, labels map[string]string) ImageConfig {
	if len(labels) == 0 {
		return cfg
	}
	out := cfg.clone()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	maps.Copy(out.Labels, labels)
	return out
}
