package engine

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestStateNamesUniqueUnderConcurrency(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	const n = 50
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			// Separate connections, as separate processes would have.
			st, err := OpenState(dir)
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			errs[i] = st.Add(ctx, &ContainerRecord{ID: fmt.Sprintf("%064d", i), Name: "same", Image: "img", ImageID: "x", Created: time.Now(), State: "created"})
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, ErrNameInUse):
		default:
			t.Fatalf("unexpected error (database locked?): %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d inserts of one name succeeded, want 1", won)
	}
}

func TestStateLookupAndUpdate(t *testing.T) {
	st, err := OpenState(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	r := &ContainerRecord{ID: "abc123" + fmt.Sprintf("%058d", 1), Name: "web", Image: "busybox", ImageID: "i", Created: time.Now(), State: "created",
		Config: ContainerConfig{Cmd: []string{"sh"}, Labels: map[string]string{"a": "b"}}}
	if err := st.Add(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"web", r.ID, "abc1"} {
		got, err := st.Lookup(ctx, key)
		if err != nil || got.ID != r.ID || got.Config.Labels["a"] != "b" {
			t.Fatalf("Lookup(%q) = %v, %v", key, got, err)
		}
	}
	if _, err := st.Lookup(ctx, "nosuch"); !errors.Is(err, ErrNoSuchContainer) {
		t.Fatalf("lookup of a missing container: %v", err)
	}
	r.State, r.Pid, r.StartedAt = "running", 42, time.Now()
	if err := st.Update(ctx, r); err != nil {
		t.Fatal(err)
	}
	got, _ := st.Lookup(ctx, "web")
	if got.State != "running" || got.Pid != 42 || got.StartedAt.IsZero() {
		t.Fatalf("after update: %+v", got)
	}
	if err := CheckName("bad name"); !errors.Is(err, ErrBadName) {
		t.Fatalf("CheckName: %v", err)
	}
}
