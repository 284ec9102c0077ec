package state

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/rootless"
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
			st, err := Open(rootless.StatePaths{Dir: dir})
			if err != nil {
				errs[i] = err
				return
			}
			defer st.Close()
			errs[i] = st.Add(ctx, &config.ContainerRecord{ID: fmt.Sprintf("%064d", i), Name: "same", Image: "img", ImageID: "x", Created: time.Now(), State: "created"})
		}(i)
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case errors.Is(err, config.ErrNameInUse):
		default:
			t.Fatalf("unexpected error (database locked?): %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d inserts of one name succeeded, want 1", won)
	}
}

func TestStateLookupAndUpdate(t *testing.T) {
	st, err := Open(rootless.StatePaths{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	r := &config.ContainerRecord{ID: "abc123" + fmt.Sprintf("%058d", 1), Name: "web", Image: "busybox", ImageID: "i", Created: time.Now(), State: "created",
		Config: config.ContainerConfig{Cmd: []string{"sh"}, Labels: map[string]string{"a": "b"}}}
	if err := st.Add(ctx, r); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"web", r.ID, "abc1"} {
		got, err := st.Lookup(ctx, key)
		if err != nil || got.ID != r.ID || got.Config.Labels["a"] != "b" {
			t.Fatalf("Lookup(%q) = %v, %v", key, got, err)
		}
	}
	if _, err := st.Lookup(ctx, "nosuch"); !errors.Is(err, config.ErrNoSuchContainer) {
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
	if err := config.CheckName("bad name"); !errors.Is(err, config.ErrBadName) {
		t.Fatalf("CheckName: %v", err)
	}
}

// TestStopTimeoutUpgrade: records that kept --stop-timeout the older way
// (Security.StopTimeout, the seconds plus one) read as given once the
// database is opened, and a record in the new form is left as it is.
func TestStopTimeoutUpgrade(t *testing.T) {
	dir := t.TempDir()
	st, err := Open(rootless.StatePaths{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, cfg := range []string{
		`{"Cmd":["sh"],"Security":{"StopTimeout":6}}`,                        // --stop-timeout 5
		`{"Cmd":["sh"],"Security":{"StopTimeout":1}}`,                        // --stop-timeout 0
		`{"Cmd":["sh"],"Security":{}}`,                                       // none
		`{"Cmd":["sh"],"Security":{"StopTimeoutSeconds":7}}`,                 // the new form
		`{"Cmd":["sh"],"Security":{"StopTimeoutSeconds":3,"StopTimeout":9}}`, // both: the new one holds
	} {
		if _, err := st.db.Exec(`INSERT INTO containers (id, name, image, image_id, created, state, config) VALUES (?, ?, 'img', 'img', 0, 'created', ?)`,
			fmt.Sprintf("%064d", i), fmt.Sprint("c", i), cfg); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	for round := 0; round < 2; round++ { // a second open changes nothing
		st, err := Open(rootless.StatePaths{Dir: dir})
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range []struct {
			secs int
			set  bool
		}{{5, true}, {0, true}, {0, false}, {7, true}, {3, true}} {
			r, err := st.Lookup(ctx, fmt.Sprint("c", i))
			if err != nil {
				t.Fatal(err)
			}
			if secs, set := r.Config.Security.StopTimeoutSeconds(); secs != want.secs || set != want.set {
				t.Errorf("round %d, c%d: %d %v, want %d %v", round, i, secs, set, want.secs, want.set)
			}
		}
		var left int
		if err := st.db.QueryRow(`SELECT count(*) FROM containers WHERE json_extract(config, '$.Security.StopTimeout') IS NOT NULL`).Scan(&left); err != nil || left != 0 {
			t.Errorf("round %d: %d records keep the older form (%v)", round, left, err)
		}
		st.Close()
	}
}
