package build

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// corpusCase is test/testdata/build/NAME/case.json.
type corpusCase struct {
	BuildArgs     map[string]string `json:"buildArgs"`
	Target        string            `json:"target"`
	Secrets       map[string]string `json:"secrets"`
	BuildContexts map[string]string `json:"buildContexts"`
	Podman431     string            `json:"podman431"`
	PlanError     string            `json:"planError"`
	BuildError    string            `json:"buildError"`
	Note          string            `json:"note"`
}

const corpusDir = "../../test/testdata/build"

// fakeRegistry answers every ADD URL with a fixed body.
type fakeRegistry struct{}

func (fakeRegistry) RoundTrip(r *http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Status: "200 OK", Body: io.NopCloser(strings.NewReader("{}")), Request: r}, nil
}

// TestCorpusPlans plans every Containerfile of the corpus and runs it
// through the scheduler with the in-memory executor: every instruction and
// flag parses, every source is found in its context, every error case is
// refused with its one-line message.
func TestCorpusPlans(t *testing.T) {
	entries, err := os.ReadDir(corpusDir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		t.Run(e.Name(), func(t *testing.T) { runCorpusCase(t, filepath.Join(corpusDir, e.Name())) })
	}
	if n < 30 {
		t.Errorf("the corpus has %d cases, want at least 30", n)
	}
}

func runCorpusCase(t *testing.T, dir string) {
	var cc corpusCase
	if b, err := os.ReadFile(filepath.Join(dir, "case.json")); err == nil {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cc); err != nil {
			t.Fatalf("case.json: %v", err)
		}
	}
	src, err := os.ReadFile(filepath.Join(dir, "Containerfile"))
	if err != nil {
		t.Fatal(err)
	}
	args := map[string]string{}
	for k, v := range cc.BuildArgs {
		v = strings.ReplaceAll(v, "{{digest skiff/busybox:latest}}", "sha256:"+fakeID("manifest"))
		args[k] = strings.ReplaceAll(v, "{{config skiff/busybox:latest}}", "sha256:"+fakeID("{}")) // what fakeRegistry serves
	}
	contexts := map[string]string{}
	for k, v := range cc.BuildContexts {
		contexts[k] = filepath.Join(dir, v)
	}
	exec := newFakeExec()
	resolve := func(ctx context.Context, ref string) (State, error) {
		if strings.HasPrefix(ref, "127.0.0.1:5000/") {
			return exec.Load(ctx, fakeID("busybox"))
		}
		return exec.From(ctx, ref)
	}
	ctx := context.Background()
	p, err := NewPlan(ctx, src, PlanOptions{BuildArgs: args, Target: cc.Target, BuildContexts: contexts, Resolve: resolve})
	if cc.PlanError != "" {
		var e *Error
		if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), cc.PlanError) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("plan error %v, want %s", err, cc.PlanError)
		}
		return
	}
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	c, err := OpenContext(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	secrets := map[string]string{}
	for k, v := range cc.Secrets {
		secrets[k] = filepath.Join(dir, v)
	}
	idx, _ := OpenIndex(t.TempDir())
	o := BuildOptions{Executor: exec, Context: c, Cache: idx, Secrets: secrets, Tags: []string{"corpus"},
		HTTPClient: &http.Client{Transport: fakeRegistry{}}, TempDir: t.TempDir()}
	_, err = Build(ctx, p, o)
	if cc.BuildError != "" {
		if err == nil || !strings.HasPrefix(err.Error(), cc.BuildError) || len(exec.logged()) != 0 {
			t.Fatalf("build error %v (after %q), want %s", err, exec.logged(), cc.BuildError)
		}
		return
	}
	if err != nil {
		t.Fatalf("build: %v\nplan:\n%s", err, p)
	}
	// A second build of the same case comes wholly from the cache.
	res, err := Build(ctx, p, o)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range res.Steps {
		if s.Line != 0 && !s.Cached {
			t.Errorf("line %d missed the cache on an unchanged rebuild", s.Line)
		}
	}
}
