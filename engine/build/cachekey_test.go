package build

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// What changes a key and what does not, from CacheKey's own inputs.
func TestCacheKeyInputs(t *testing.T) {
	step := Step{Instruction: "RUN", Expanded: `RUN {"Args":["/bin/sh","-c","make"]}`, BuildArgs: []string{"V=1"}, Line: 3, Original: "RUN make"}
	base := CacheKey("sha256:parent", step, "sha256:inputs")
	if base != CacheKey("sha256:parent", step, "sha256:inputs") {
		t.Fatal("not deterministic")
	}
	moved := step
	moved.Line, moved.Original = 30, "RUN   make"
	if CacheKey("sha256:parent", moved, "sha256:inputs") != base {
		t.Error("the line and the spelling of the instruction are not in the key")
	}
	for name, key := range map[string]string{
		"parent":    CacheKey("sha256:other", step, "sha256:inputs"),
		"text":      CacheKey("sha256:parent", Step{Expanded: `RUN {"Args":["/bin/sh","-c","make all"]}`, BuildArgs: step.BuildArgs}, "sha256:inputs"),
		"build arg": CacheKey("sha256:parent", Step{Expanded: step.Expanded, BuildArgs: []string{"V=2"}}, "sha256:inputs"),
		"no arg":    CacheKey("sha256:parent", Step{Expanded: step.Expanded}, "sha256:inputs"),
		"inputs":    CacheKey("sha256:parent", step, "sha256:other"),
		"no inputs": CacheKey("sha256:parent", step, ""),
	} {
		if key == base {
			t.Errorf("changing the %s does not change the key", name)
		}
	}
	// Field boundaries are unambiguous.
	a := CacheKey("", Step{Expanded: "ab", BuildArgs: []string{"c"}}, "")
	b := CacheKey("", Step{Expanded: "a", BuildArgs: []string{"bc"}}, "")
	if a == b {
		t.Error("fields run together")
	}
}

// keysOf plans src and chains every step's key as the scheduler does,
// with no inputs.
func keysOf(t *testing.T, src string, opts PlanOptions) []string {
	t.Helper()
	p := plan(t, src, opts)
	var keys []string
	for _, s := range p.Stages {
		key := FromKey(s.Base, "")
		for _, st := range s.Steps {
			key = CacheKey(key, st, "")
			keys = append(keys, key)
		}
	}
	return keys
}

// firstDiff is the index of the first key that differs, or -1.
func firstDiff(a, b []string) int {
	for i := range a {
		if i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// Build arguments, from the plan: a changed ARG misses where a step can see
// it, not before; an argument no step can see changes nothing; comments and
// blank lines change nothing.
func TestCacheKeyBuildArgs(t *testing.T) {
	src := `ARG GLOBAL=g
FROM scratch
ENV E=1
ARG V=1
LABEL x=y
RUN echo hi
ARG W=1
LABEL w=$W
`
	base := keysOf(t, src, PlanOptions{})
	for _, tc := range []struct {
		args map[string]string
		diff int // first step whose key changes; -1 for none
	}{
		{map[string]string{"UNDECLARED": "x"}, -1},
		{map[string]string{"GLOBAL": "other"}, -1}, // declared before FROM, never re-declared: no step sees it
		{map[string]string{"HTTP_PROXY": "http://127.0.0.1:1"}, -1},
		{map[string]string{"V": "2"}, 3},            // the RUN is the first to see V
		{map[string]string{"W": "2"}, 5},            // the LABEL expanding $W
		{map[string]string{"V": "1", "W": "1"}, -1}, // the defaults, given explicitly
	} {
		got := keysOf(t, src, PlanOptions{BuildArgs: tc.args})
		if d := firstDiff(base, got); d != tc.diff {
			t.Errorf("%v: first changed step %d, want %d", tc.args, d, tc.diff)
		}
	}
	reformatted := strings.Replace(src, "FROM scratch\n", "# a comment\n\nFROM   scratch\n\n", 1)
	if d := firstDiff(base, keysOf(t, reformatted, PlanOptions{})); d != -1 {
		t.Errorf("comments and blank lines change step %d", d)
	}
}

func TestIndex(t *testing.T) {
	x, err := OpenIndex(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	key := CacheKey("", Step{Expanded: "x"}, "")
	if _, ok, err := x.Get(key); ok || err != nil {
		t.Fatalf("empty index: %v %v", ok, err)
	}
	id := strings.Repeat("ab", 32)
	if err := x.Put(key, id); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := x.Get(key); !ok || err != nil || got != id {
		t.Fatalf("got %q %v %v", got, ok, err)
	}
	if err := x.Put("../../etc/passwd", id); err == nil {
		t.Error("a key that is not a digest is refused")
	}
	if err := x.Put(key, "not-an-id"); err == nil {
		t.Error("an id that is not one is refused")
	}
	// A torn or foreign entry reads as a miss.
	p, _ := x.keyPath(key)
	os.WriteFile(p, []byte("abab"), 0o600)
	if _, ok, err := x.Get(key); ok || err != nil {
		t.Errorf("torn entry: %v %v", ok, err)
	}
}

// Concurrent builds writing the same keys leave a valid entry each and no
// temporary files.
func TestIndexConcurrentPut(t *testing.T) {
	dir := t.TempDir()
	x, _ := OpenIndex(dir)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			other, _ := OpenIndex(dir) // another process's view
			for i := range 50 {
				key := CacheKey("", Step{Expanded: fmt.Sprint(i)}, "")
				if err := other.Put(key, fmt.Sprintf("%064x", w)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	for i := range 50 {
		if _, ok, err := x.Get(CacheKey("", Step{Expanded: fmt.Sprint(i)}, "")); !ok || err != nil {
			t.Fatalf("key %d: %v %v", i, ok, err)
		}
	}
	tmp, _ := filepath.Glob(filepath.Join(dir, "keys", "*", ".tmp-*"))
	if len(tmp) != 0 {
		t.Errorf("temporary files left: %q", tmp)
	}
}

func TestIndexCacheMountSharing(t *testing.T) {
	x, _ := OpenIndex(t.TempDir())
	d1, _, r1, err := x.CacheMount("/root/.cache", "shared", nil)
	if err != nil {
		t.Fatal(err)
	}
	d2, _, r2, _ := x.CacheMount("/root/.cache", "shared", nil)
	if d1 != d2 {
		t.Errorf("shared: %s %s", d1, d2)
	}
	r2()
	p, _, rp, _ := x.CacheMount("/root/.cache", "private", nil)
	if p == d1 {
		t.Errorf("private while in use got the shared directory")
	}
	rp()
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("private directory not removed")
	}
	locked := make(chan string)
	go func() {
		d, _, r, _ := x.CacheMount("/root/.cache", "locked", nil)
		locked <- d
		r()
	}()
	select {
	case <-locked:
		t.Fatal("locked while a shared user holds it")
	case <-time.After(100 * time.Millisecond):
	}
	os.WriteFile(filepath.Join(d1, "kept"), []byte("1"), 0o600)
	r1()
	if d := <-locked; d != d1 {
		t.Errorf("locked got %s", d)
	}
	d3, _, r3, _ := x.CacheMount("/root/.cache", "shared", nil)
	defer r3()
	if _, err := os.Stat(filepath.Join(d3, "kept")); err != nil {
		t.Errorf("the directory is kept between uses: %v", err)
	}
}
