package events

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// readAll reads the whole log (or what opts select) without following.
func readAll(t testing.TB, l *Log, opts Options) []Event {
	t.Helper()
	var got []Event
	must(t, l.Read(context.Background(), opts, func(ev Event) error {
		got = append(got, ev)
		return nil
	}))
	return got
}

func ids(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Actor.ID
	}
	return out
}

// tick is a clock that advances 1 ms per event from t0.
func tick(t0 time.Time) func() time.Time {
	var mu sync.Mutex
	n := 0
	return func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		n++
		return t0.Add(time.Duration(n) * time.Millisecond)
	}
}

func appendN(t testing.TB, l *Log, from, n int) {
	t.Helper()
	for i := from; i < from+n; i++ {
		must(t, l.Append(New(events.ContainerEventType, events.ActionStart, fmt.Sprintf("c%05d", i), map[string]string{"name": "x", "image": "busybox"})))
	}
}

func TestAppendCreatesLinkAndGeneration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "sub", "events")
	l := NewLog(filepath.Join(dir, "events.log"), 0)
	appendN(t, l, 0, 3)
	target, err := os.Readlink(l.Path())
	must(t, err)
	if target != "events.log.1" {
		t.Errorf("link points at %q", target)
	}
	fi, err := os.Stat(dir)
	must(t, err)
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v", fi.Mode())
	}
	fi, err = os.Stat(l.Path() + ".1")
	must(t, err)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v", fi.Mode())
	}
	if got := ids(readAll(t, l, Options{})); len(got) != 3 || got[0] != "c00000" || got[2] != "c00002" {
		t.Errorf("read %v", got)
	}
}

// The log holds at most maxSize bytes and at least half, the newest
// events, in order, each once.
func TestRotationKeepsNewestHalf(t *testing.T) {
	const maxSize = 8000
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), maxSize)
	l.now = tick(time.Unix(1e9, 0))
	const n = 500
	appendN(t, l, 0, n)
	must(t, l.Close())

	gens, err := l.generations()
	must(t, err)
	var total int64
	for _, g := range gens {
		fi, err := os.Stat(l.genPath(g))
		must(t, err)
		total += fi.Size()
	}
	if len(gens) != 2 || total > maxSize || total < maxSize/2-300 {
		t.Errorf("generations %v holding %d bytes, want 2 holding %d-%d", gens, total, maxSize/2, maxSize)
	}
	got := ids(readAll(t, l, Options{}))
	if len(got) == 0 || got[len(got)-1] != fmt.Sprintf("c%05d", n-1) {
		t.Fatalf("read %d events ending %v", len(got), got[len(got)-1:])
	}
	first := n - len(got)
	for i, id := range got {
		if id != fmt.Sprintf("c%05d", first+i) {
			t.Fatalf("event %d is %s, want c%05d: not the newest events in order", i, id, first+i)
		}
	}
}

func TestNoLimitNeverRotates(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 300)
	gens, err := l.generations()
	must(t, err)
	if len(gens) != 1 {
		t.Errorf("generations %v", gens)
	}
}

// Many logs (as many processes would) creating the log at once: one link,
// every event once.
func TestConcurrentCreate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := NewLog(path, 2000)
			defer l.Close()
			for i := range 20 {
				if err := l.Append(New(events.VolumeEventType, events.ActionCreate, fmt.Sprintf("w%d-%d", w, i), nil)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	l := NewLog(path, 2000)
	l.keep = 1 << 30
	seen := map[string]int{}
	for _, id := range ids(readAll(t, l, Options{})) {
		seen[id]++
	}
	// Rotation at 1000 bytes with the default retention removed the old
	// generations: count only that nothing is repeated.
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s read %d times", id, n)
		}
	}
}

func TestNotALink(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.log")
	must(t, os.WriteFile(path, []byte("{}\n"), 0o600))
	l := NewLog(path, 0)
	if err := l.Append(New(events.VolumeEventType, events.ActionCreate, "v", nil)); !errors.Is(err, ErrNotLog) {
		t.Errorf("Append on a regular file: %v, want ErrNotLog", err)
	}
	if err := l.Read(context.Background(), Options{}, func(Event) error { return nil }); !errors.Is(err, ErrNotLog) {
		t.Errorf("Read on a regular file: %v, want ErrNotLog", err)
	}
}

func TestTargetRemovedByHand(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 2)
	must(t, l.Close())
	must(t, os.Remove(l.Path()+".1"))
	appendN(t, NewLog(l.Path(), 0), 2, 1)
	if got := ids(readAll(t, l, Options{})); len(got) != 1 || got[0] != "c00002" {
		t.Errorf("read %v", got)
	}
}

// A torn line (a write that failed half way, a crash) spoils only itself.
func TestTornLineSkipped(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 1)
	f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	f.WriteString(`{"Type":"container","Action":"st` + "\n")
	f.Close()
	appendN(t, l, 1, 1)
	if got := ids(readAll(t, l, Options{Since: time.Unix(1, 0)})); len(got) != 2 || got[1] != "c00001" {
		t.Errorf("read %v", got)
	}
}
