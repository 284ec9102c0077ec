package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// fakeExec is an in-memory Executor: images are configs, work is a log of
// what was done. It stands for the engine, which this package never imports.
type fakeExec struct {
	mu     sync.Mutex
	images map[string]State
	refs   map[string]string
	log    []string
	n      int
	onRun  func(ctx context.Context, step RunStep) error
	runs   []RunStep
	copies []CopySource
}

func newFakeExec() *fakeExec {
	f := &fakeExec{images: map[string]State{}, refs: map[string]string{}}
	cfg := ImageConfig{}
	cfg.Env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	cfg.Cmd = []string{"sh"}
	id := fakeID("busybox")
	f.images[id] = State{ImageID: id, Config: cfg}
	f.refs[busybox] = id
	return f
}

func fakeID(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func (f *fakeExec) record(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.log = append(f.log, fmt.Sprintf(format, args...))
}

func (f *fakeExec) logged() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.log)
}

func (f *fakeExec) From(_ context.Context, ref string) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id, ok := f.refs[ref]
	if !ok {
		return State{}, fmt.Errorf("%s: manifest unknown", ref)
	}
	return f.images[id], nil
}

func (f *fakeExec) Load(_ context.Context, id string) (State, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, ok := f.images[id]
	if !ok {
		return State{}, fmt.Errorf("image %s not known", id)
	}
	st.Config = st.Config.clone()
	return st, nil
}

func (f *fakeExec) Run(ctx context.Context, st State, step RunStep, out io.Writer) (State, error) {
	cmd := step.Args[len(step.Args)-1]
	f.record("RUN %s", cmd)
	f.mu.Lock()
	f.runs = append(f.runs, step)
	f.mu.Unlock()
	if f.onRun != nil {
		if err := f.onRun(ctx, step); err != nil {
			return State{}, err
		}
	}
	for _, m := range step.Mounts {
		if m.Type == "cache" {
			// Count runs in the cache directory, as a compiler cache would grow.
			p := filepath.Join(m.HostPath, "runs")
			b, _ := os.ReadFile(p)
			os.WriteFile(p, append(b, 'x'), 0o600)
		}
	}
	fmt.Fprintf(out, "output of %s\n", cmd)
	st.Work = st.Work + "|run:" + cmd
	return st, nil
}

func (f *fakeExec) Copy(_ context.Context, st State, step CopyStep, src CopySource) (State, error) {
	switch {
	case src.MkdirOnly:
		f.record("MKDIR %s", step.Dest)
	case src.Image != nil:
		f.record("COPY from %s %s %s", src.Image.ImageID[:6], strings.Join(step.Sources, " "), step.Dest)
	default:
		f.record("COPY %s %s", strings.Join(src.Paths, " "), step.Dest)
	}
	f.mu.Lock()
	f.copies = append(f.copies, src)
	f.mu.Unlock()
	st.Work = st.Work + "|copy:" + step.Dest
	return st, nil
}

func (f *fakeExec) Commit(_ context.Context, st State, names []string) (string, []string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := st.ImageID
	if st.Dirty {
		f.n++
		id = fakeID(fmt.Sprint(f.n, st.ImageID, st.Work))
		f.images[id] = State{ImageID: id, Config: st.Config.clone()}
	}
	var tagged []string
	for _, n := range names {
		f.refs[n] = id
		tagged = append(tagged, "localhost/"+n+":latest")
	}
	return id, tagged, nil
}

// forget removes an image, as rmi would.
func (f *fakeExec) forget(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.images, id)
}
