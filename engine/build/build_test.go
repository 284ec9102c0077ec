package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// bench is one place to build in: a context directory, a cache index and
// an executor whose images outlive each build, as a store would.
type bench struct {
	t    *testing.T
	dir  string
	idx  *Index
	exec *fakeExec
}

func newBench(t *testing.T, files map[string]string) *bench {
	t.Helper()
	dir := t.TempDir()
	writeTree(t, dir, files)
	idx, err := OpenIndex(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &bench{t: t, dir: dir, idx: idx, exec: newFakeExec()}
}

type run struct {
	res *Result
	out string
	err error
}

func (b *bench) build(src string, popts PlanOptions, o BuildOptions) run {
	b.t.Helper()
	ctx := context.Background()
	p, err := NewPlan(ctx, []byte(src), popts)
	if err != nil {
		return run{err: err}
	}
	c, err := OpenContext(b.dir, "")
	if err != nil {
		b.t.Fatal(err)
	}
	var out bytes.Buffer
	o.Executor, o.Context, o.Out = b.exec, c, &out
	if o.Cache == nil {
		o.Cache = b.idx
	}
	res, err := Build(ctx, p, o)
	return run{res: res, out: out.String(), err: err}
}

func (b *bench) mustBuild(src string, popts PlanOptions, o BuildOptions) run {
	b.t.Helper()
	r := b.build(src, popts, o)
	if r.err != nil {
		b.t.Fatalf("build: %v\n%s", r.err, r.out)
	}
	return r
}

// cached lists the lines of the steps that came from the cache.
func (r run) cached() []int {
	var lines []int
	for _, s := range r.res.Steps {
		if s.Cached {
			lines = append(lines, s.Line)
		}
	}
	slices.Sort(lines)
	return lines
}

// normalize replaces image IDs with placeholders.
func normalize(out string) string {
	out = regexp.MustCompile(`[0-9a-f]{64}`).ReplaceAllString(out, "<id>")
	return regexp.MustCompile(`--> [0-9a-f]{11}\n`).ReplaceAllString(out, "--> <short>\n")
}

// The output has podman's form, line for line (as podman 4.3.1 prints it).
func TestBuildOutputLikePodman(t *testing.T) {
	b := newBench(t, nil)
	src := "FROM " + busybox + "\nRUN echo hi\nLABEL a=b\n"
	r := b.mustBuild(src, PlanOptions{}, BuildOptions{Tags: []string{"img"}})
	want := `STEP 1/3: FROM ` + busybox + `
STEP 2/3: RUN echo hi
output of echo hi
--> <short>
STEP 3/3: LABEL a=b
COMMIT img
--> <short>
Successfully tagged localhost/img:latest
<id>
`
	if got := normalize(r.out); got != want {
		t.Errorf("first build:\n%s\nwant:\n%s", got, want)
	}
	r2 := b.mustBuild(src, PlanOptions{}, BuildOptions{Tags: []string{"img"}})
	want = `STEP 1/3: FROM ` + busybox + `
STEP 2/3: RUN echo hi
--> Using cache <id>
--> <short>
STEP 3/3: LABEL a=b
--> Using cache <id>
COMMIT img
--> <short>
Successfully tagged localhost/img:latest
<id>
`
	if got := normalize(r2.out); got != want {
		t.Errorf("second build:\n%s\nwant:\n%s", got, want)
	}
	if r2.res.ImageID != r.res.ImageID || !strings.HasSuffix(r2.out, r.res.ImageID+"\n") {
		t.Errorf("the cached build makes the same image, its ID last")
	}
	q := b.mustBuild(src, PlanOptions{}, BuildOptions{Quiet: true, NoCache: true})
	if q.out != q.res.ImageID+"\n" {
		t.Errorf("-q prints the ID alone: %q", q.out)
	}
}

func TestBuildMultiStage(t *testing.T) {
	b := newBench(t, map[string]string{"a.txt": "a"})
	src := `FROM ` + busybox + ` AS build
RUN make
FROM ` + busybox + `
COPY --from=build /out /out
COPY a.txt /a.txt
WORKDIR /srv
`
	r := b.mustBuild(src, PlanOptions{}, BuildOptions{Tags: []string{"app"}})
	lines := strings.Split(normalize(r.out), "\n")
	for _, want := range []string{"[1/2] STEP 1/2: FROM " + busybox + " AS build", "[1/2] STEP 2/2: RUN make",
		"[2/2] STEP 3/4: COPY a.txt /a.txt", "[2/2] STEP 4/4: WORKDIR /srv", "[2/2] COMMIT app"} {
		if !slices.Contains(lines, want) {
			t.Errorf("no line %q in\n%s", want, r.out)
		}
	}
	log := b.exec.logged()
	want := []string{"RUN make", "COPY from " + b.exec.images[r.res.Steps[1].ImageID].ImageID[:6] + " /out /out", "COPY a.txt /a.txt", "MKDIR /srv"}
	if !slices.Equal(log, want) {
		t.Errorf("executor saw\n%q\nwant\n%q", log, want)
	}
}

// Two stages that do not need each other run at the same time: each RUN
// waits until the other has started, which only happens if they overlap.
func TestBuildRunsIndependentStagesConcurrently(t *testing.T) {
	src := `FROM ` + busybox + ` AS a
RUN stage-a
FROM ` + busybox + ` AS b
RUN stage-b
FROM ` + busybox + `
COPY --from=a /a /a
COPY --from=b /b /b
`
	b := newBench(t, nil)
	var started sync.WaitGroup
	started.Add(2)
	b.exec.onRun = func(ctx context.Context, step RunStep) error {
		started.Done()
		done := make(chan struct{})
		go func() { started.Wait(); close(done) }()
		select {
		case <-done:
			return nil
		case <-time.After(5 * time.Second):
			return fmt.Errorf("%s ran alone: stages did not overlap", step.Args[len(step.Args)-1])
		}
	}
	b.mustBuild(src, PlanOptions{}, BuildOptions{Jobs: 2})

	// With one job, stages run one at a time.
	b = newBench(t, nil)
	var running, most atomic.Int32
	b.exec.onRun = func(context.Context, RunStep) error {
		n := running.Add(1)
		if n > most.Load() {
			most.Store(n)
		}
		time.Sleep(20 * time.Millisecond)
		running.Add(-1)
		return nil
	}
	b.mustBuild(src, PlanOptions{}, BuildOptions{Jobs: 1})
	if most.Load() != 1 {
		t.Errorf("--jobs 1 ran %d stages at once", most.Load())
	}
}

// A stage the target does not need never runs, and a stage runs only after
// the stages it reads.
func TestBuildSkipsUnneededStagesAndKeepsOrder(t *testing.T) {
	b := newBench(t, nil)
	src := `FROM ` + busybox + ` AS unused
RUN never
FROM ` + busybox + ` AS dep
RUN dep
FROM dep AS mid
RUN mid
FROM ` + busybox + `
RUN --mount=type=bind,from=mid,target=/m final
`
	r := b.mustBuild(src, PlanOptions{}, BuildOptions{Jobs: 4})
	log := b.exec.logged()
	if !slices.Equal(log, []string{"RUN dep", "RUN mid", "RUN final"}) {
		t.Errorf("ran %q", log)
	}
	if strings.Contains(r.out, "never") || !strings.Contains(r.out, "[3/3] STEP 2/2: RUN --mount=type=bind,from=mid,target=/m final") {
		t.Errorf("output:\n%s", r.out)
	}
	b.exec.mu.Lock()
	img := b.exec.runs[2].Mounts[0].Image
	b.exec.mu.Unlock()
	if img == nil || img.ImageID == "" {
		t.Errorf("the bind mount from a stage gets its image")
	}
}

// Every case of the issue, each from a warm cache: which steps (by line)
// come from the cache after a change.
func TestBuildCacheHitsAndMisses(t *testing.T) {
	src := `FROM ` + busybox + `
ARG V=1
COPY a.txt /a.txt
RUN --mount=type=bind,source=bound.txt,target=/b use-bound
RUN --mount=type=secret,id=tok,required use-secret
RUN echo $V
COPY dir /dir
`
	files := map[string]string{".dockerignore": "dir/ignored\n", "a.txt": "a", "bound.txt": "b", "other.txt": "o",
		"dir/f": "f", "dir/ignored": "i", "secret": "s1", "secret2": "s2"}
	all := []int{2, 3, 4, 5, 6, 7}
	for _, tc := range []struct {
		name   string
		change func(b *bench, p *PlanOptions, o *BuildOptions)
		cached []int
	}{
		{"nothing changed", nil, all},
		{"copied file", func(b *bench, _ *PlanOptions, _ *BuildOptions) { write(b.t, b.dir, "a.txt", "A") }, []int{2}},
		{"bind-mounted file", func(b *bench, _ *PlanOptions, _ *BuildOptions) { write(b.t, b.dir, "bound.txt", "B") }, []int{2, 3}},
		{"file in a copied directory", func(b *bench, _ *PlanOptions, _ *BuildOptions) { write(b.t, b.dir, "dir/f", "F") }, []int{2, 3, 4, 5, 6}},
		{"ignored file", func(b *bench, _ *PlanOptions, _ *BuildOptions) { write(b.t, b.dir, "dir/ignored", "I") }, all},
		{"file nothing reads", func(b *bench, _ *PlanOptions, _ *BuildOptions) { write(b.t, b.dir, "other.txt", "O") }, all},
		{"build arg a RUN sees", func(_ *bench, p *PlanOptions, _ *BuildOptions) { p.BuildArgs = map[string]string{"V": "2"} }, []int{2, 3}},
		{"unused build arg", func(_ *bench, p *PlanOptions, _ *BuildOptions) { p.BuildArgs = map[string]string{"W": "2"} }, all},
		{"secret content (by id only)", func(b *bench, _ *PlanOptions, o *BuildOptions) { o.Secrets["tok"] = b.dir + "/secret2" }, all},
		{"--no-cache", func(_ *bench, _ *PlanOptions, o *BuildOptions) { o.NoCache = true }, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBench(t, files)
			opts := func() BuildOptions { return BuildOptions{Secrets: map[string]string{"tok": b.dir + "/secret"}} }
			first := b.mustBuild(src, PlanOptions{}, opts())
			if len(first.cached()) != 0 {
				t.Fatalf("cold cache hit %v", first.cached())
			}
			p, o := PlanOptions{}, opts()
			if tc.change != nil {
				tc.change(b, &p, &o)
			}
			r := b.mustBuild(src, p, o)
			if got := r.cached(); !slices.Equal(got, tc.cached) {
				t.Errorf("cached lines %v, want %v\n%s", got, tc.cached, r.out)
			}
			if n := strings.Count(r.out, "--> Using cache "); n != len(tc.cached) {
				t.Errorf("%d 'Using cache' lines for %d cached steps", n, len(tc.cached))
			}
		})
	}
}

// --no-cache still records, an image removed since is a miss, a cache
// mount's directory is the same one each build.
func TestBuildCacheRecordsAndRecovers(t *testing.T) {
	b := newBench(t, nil)
	src := "FROM " + busybox + "\nRUN --mount=type=cache,target=/root/.cache compile\nRUN echo done\n"
	b.mustBuild(src, PlanOptions{}, BuildOptions{NoCache: true})
	r := b.mustBuild(src, PlanOptions{}, BuildOptions{})
	if !slices.Equal(r.cached(), []int{2, 3}) {
		t.Fatalf("--no-cache did not record: %v", r.cached())
	}
	b.exec.forget(r.res.Steps[1].ImageID)
	r = b.mustBuild(src, PlanOptions{}, BuildOptions{})
	if !slices.Equal(r.cached(), []int{3}) {
		t.Errorf("a removed image is a miss, and the next step still hits: %v", r.cached())
	}
	var dirs []string
	b.exec.mu.Lock()
	for _, r := range b.exec.runs {
		if len(r.Mounts) > 0 {
			dirs = append(dirs, r.Mounts[0].HostPath)
		}
	}
	b.exec.mu.Unlock()
	if len(dirs) != 2 || dirs[0] == "" || dirs[0] != dirs[1] {
		t.Errorf("cache mount directories %q", dirs)
	}
}

// --cache-ttl uses only results made less than that long ago.
func TestBuildCacheTTL(t *testing.T) {
	b := newBench(t, nil)
	src := "FROM " + busybox + "\nRUN echo one\nRUN echo two\n"
	first := b.mustBuild(src, PlanOptions{}, BuildOptions{})
	if r := b.mustBuild(src, PlanOptions{}, BuildOptions{CacheTTL: time.Hour}); !slices.Equal(r.cached(), []int{2, 3}) {
		t.Fatalf("results made just now missed with --cache-ttl 1h: %v", r.cached())
	}
	old := time.Now().Add(-2 * time.Hour)
	key := first.res.Steps[1].Key
	p, err := b.idx.keyPath(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(p, old, old); err != nil {
		t.Fatal(err)
	}
	// The aged step runs again; the next one's result is fresh and its key
	// the same (a key covers the steps before it, not their images): a hit.
	if r := b.mustBuild(src, PlanOptions{}, BuildOptions{CacheTTL: time.Hour}); !slices.Equal(r.cached(), []int{3}) {
		t.Errorf("a result older than --cache-ttl hit, or a fresh one missed: %v", r.cached())
	}
}

// Refusals name file:line and happen before anything runs.
func TestBuildErrors(t *testing.T) {
	b := newBench(t, map[string]string{".dockerignore": "ignored\n", "ignored": "x", "real": "r"})
	for _, tc := range []struct {
		src, want string
		sentinel  error
		o         BuildOptions
	}{
		{"FROM " + busybox + "\nRUN first\nCOPY nothere /x\n", "Containerfile:3: no such file in the build context: COPY nothere", ErrNoSource, BuildOptions{}},
		{"FROM " + busybox + "\nRUN first\nCOPY ignored /x\n", "Containerfile:3: no such file in the build context: COPY ignored", ErrNoSource, BuildOptions{}},
		{"FROM " + busybox + "\nRUN first\nCOPY no* /x/\n", "Containerfile:3: no such file in the build context: COPY no*", ErrNoSource, BuildOptions{}},
		{"FROM " + busybox + "\nRUN first\nRUN --mount=source=gone,target=/g x\n", "Containerfile:3: no such file in the build context: RUN --mount=type=bind,source=gone", ErrNoSource, BuildOptions{}},
		{"FROM " + busybox + "\nRUN first\nRUN --mount=type=secret,id=k,required x\n", "Containerfile:3: secret not provided: RUN --mount=type=secret,id=k", ErrNoSecret, BuildOptions{}},
	} {
		r := b.build(tc.src, PlanOptions{}, tc.o)
		var e *Error
		if !errors.As(r.err, &e) || !errors.Is(r.err, tc.sentinel) || !strings.HasPrefix(e.Error(), tc.want) {
			t.Errorf("got %v\nwant %s", r.err, tc.want)
		}
		if log := b.exec.logged(); len(log) != 0 {
			t.Errorf("%q ran before the refusal", log)
		}
	}
	b.exec.onRun = func(context.Context, RunStep) error { return errors.New("exit status 3") }
	r := b.build("FROM "+busybox+"\n\nRUN false\n", PlanOptions{}, BuildOptions{})
	if r.err == nil || r.err.Error() != `Containerfile:3: building at STEP "RUN false": exit status 3` {
		t.Errorf("got %v", r.err)
	}
}
