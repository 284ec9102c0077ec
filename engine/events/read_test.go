package events

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

func TestReadSinceUntilInclusive(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	t0 := time.Unix(1e9, 0)
	l.now = tick(t0) // event i at t0 + (i+1) ms
	appendN(t, l, 0, 10)
	at := func(i int) time.Time { return t0.Add(time.Duration(i+1) * time.Millisecond) }
	cases := []struct {
		opts     Options
		first, n int
	}{
		{Options{}, 0, 10},
		{Options{Since: at(3)}, 3, 7},
		{Options{Until: at(3)}, 0, 4},
		{Options{Since: at(3), Until: at(5)}, 3, 3},
		{Options{Since: at(3), Until: at(3)}, 3, 1},
		{Options{Since: at(3).Add(1)}, 4, 6},
		{Options{Since: at(20)}, 0, 0},
		{Options{Until: t0}, 0, 0},
		// Until in the past: nothing to follow, docker returns at once.
		{Options{Since: at(8), Until: at(9), Follow: true}, 8, 2},
	}
	for _, c := range cases {
		got := ids(readAll(t, l, c.opts))
		var want []string
		for i := c.first; i < c.first+c.n; i++ {
			want = append(want, fmt.Sprintf("c%05d", i))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%+v: got %v, want %v", c.opts, got, want)
		}
	}
	err := l.Read(context.Background(), Options{Since: at(5), Until: at(4)}, func(Event) error { return nil })
	if !errors.Is(err, ErrInvalidRange) {
		t.Errorf("until before since: %v", err)
	}
}

func TestReadFilters(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	must(t, l.Append(New(events.ContainerEventType, events.ActionCreate, "c1", map[string]string{"name": "web"})))
	must(t, l.Append(New(events.VolumeEventType, events.ActionCreate, "v1", nil)))
	must(t, l.Append(New(events.ContainerEventType, events.ActionStart, "c1", map[string]string{"name": "web"})))
	f, err := ParseFilters([]string{"container=web", "event=start"})
	must(t, err)
	if got := ids(readAll(t, l, Options{Filters: f})); !slices.Equal(got, []string{"c1"}) {
		t.Errorf("got %v", got)
	}
}

func TestReadStopsOnCallbackError(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 5)
	stop := errors.New("enough")
	n := 0
	err := l.Read(context.Background(), Options{}, func(Event) error {
		n++
		if n == 2 {
			return stop
		}
		return nil
	})
	if err != stop || n != 2 {
		t.Errorf("err %v after %d events", err, n)
	}
}

func TestReadNoLog(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "none", "events.log"), 0)
	if got := readAll(t, l, Options{}); len(got) != 0 {
		t.Errorf("got %v", got)
	}
}

// The bisection for Since finds exactly what a full scan finds, over many
// generations whose lines are out of order by up to orderSlack.
func TestSinceBisectionMatchesScan(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 64<<10)
	l.keep = 1 << 30
	rng := rand.New(rand.NewPCG(1, 2))
	base := time.Unix(1e9, 0)
	i := 0
	l.now = func() time.Time {
		// 5 ms apart, each up to a slack late.
		i++
		return base.Add(time.Duration(i)*5*time.Millisecond - time.Duration(rng.Int64N(int64(orderSlack))))
	}
	appendN(t, l, 0, 3000)
	scan := NewLog(l.Path(), 0)
	scan.linearSince = true
	end := base.Add(3000 * 5 * time.Millisecond)
	for range 60 {
		since := base.Add(time.Duration(rng.Int64N(int64(end.Sub(base)+2*time.Second))) - time.Second)
		until := time.Time{}
		if rng.IntN(2) == 0 {
			until = since.Add(time.Duration(rng.Int64N(int64(3 * time.Second))))
		}
		opts := Options{Since: since, Until: until}
		got, want := ids(readAll(t, l, opts)), ids(readAll(t, scan, opts))
		if !slices.Equal(got, want) {
			t.Fatalf("since %v until %v: bisection read %d events, scan %d", since, until, len(got), len(want))
		}
	}
}

// follow runs a follower in the background; events arrive on the channel.
func follow(t *testing.T, l *Log, opts Options) (<-chan Event, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan Event, 100000)
	done := make(chan error, 1)
	opts.Follow = true
	go func() {
		done <- l.Read(ctx, opts, func(ev Event) error { ch <- ev; return nil })
	}()
	return ch, func() error {
		cancel()
		return <-done
	}
}

func expect(t *testing.T, ch <-chan Event, want ...string) {
	t.Helper()
	for _, w := range want {
		select {
		case ev := <-ch:
			if ev.Actor.ID != w {
				t.Fatalf("got %s, want %s", ev.Actor.ID, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event; want %s", w)
		}
	}
	select {
	case ev := <-ch:
		t.Fatalf("unexpected %s", ev.Actor.ID)
	case <-time.After(50 * time.Millisecond):
	}
}

func TestFollowOnlyNewAcrossRotations(t *testing.T) {
	for _, poll := range []bool{false, true} {
		t.Run(fmt.Sprintf("poll=%v", poll), func(t *testing.T) {
			l := NewLog(filepath.Join(t.TempDir(), "events.log"), 3000)
			l.pollOnly = poll
			l.keep = 1 << 30 // a poller 100 ms behind would lose whole generations
			appendN(t, l, 0, 5)
			ch, stop := follow(t, l, Options{})
			time.Sleep(50 * time.Millisecond) // the follower is at the end
			expect(t, ch)
			appendN(t, l, 5, 1)
			expect(t, ch, "c00005")
			// ~12 lines a generation: this rotates several times.
			var want []string
			for i := 6; i < 60; i++ {
				want = append(want, fmt.Sprintf("c%05d", i))
			}
			appendN(t, l, 6, 54)
			expect(t, ch, want...)
			if err := stop(); !errors.Is(err, context.Canceled) {
				t.Errorf("follower ended with %v", err)
			}
		})
	}
}

func TestFollowSinceThenNew(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 3)
	ch, stop := follow(t, l, Options{Since: time.Now().Add(-time.Hour)})
	expect(t, ch, "c00000", "c00001", "c00002")
	appendN(t, l, 3, 1)
	expect(t, ch, "c00003")
	stop()
}

func TestFollowBeforeTheLogExists(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "later", "events.log"), 0)
	ch, stop := follow(t, l, Options{})
	time.Sleep(50 * time.Millisecond)
	appendN(t, l, 0, 2)
	expect(t, ch, "c00000", "c00001")
	stop()
}

func TestFollowEndsAtUntil(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 1)
	start := time.Now()
	until := start.Add(300 * time.Millisecond)
	var got []string
	go func() {
		time.Sleep(100 * time.Millisecond)
		appendN(t, l, 1, 1)
	}()
	err := l.Read(context.Background(), Options{Since: start.Add(-time.Minute), Until: until, Follow: true}, func(ev Event) error {
		got = append(got, ev.Actor.ID)
		return nil
	})
	if err != nil || !slices.Equal(got, []string{"c00000", "c00001"}) {
		t.Errorf("got %v, %v", got, err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Errorf("returned after %v, want at Until (300ms)", d)
	}
}

// A follower stuck while writers rotate past two generations is told, not
// silently skipped ahead.
func TestFollowerFellBehind(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 3000)
	appendN(t, l, 0, 1)
	release := make(chan struct{})
	var once sync.Once
	done := make(chan error, 1)
	go func() {
		done <- l.Read(context.Background(), Options{Since: time.Unix(1, 0), Follow: true}, func(Event) error {
			once.Do(func() { <-release })
			return nil
		})
	}()
	time.Sleep(50 * time.Millisecond)
	appendN(t, l, 1, 100) // ~8 rotations
	close(release)
	select {
	case err := <-done:
		if !errors.Is(err, ErrFellBehind) {
			t.Errorf("got %v, want ErrFellBehind", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower still running")
	}
}

// A line being written when a follower starts at the end is not delivered
// in pieces.
func TestFollowStartsAfterPartialLine(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 1)
	f, err := os.OpenFile(l.Path(), os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	defer f.Close()
	f.WriteString(`{"Type":"volume","Action":"create","Actor":{"ID":"half`)
	ch, stop := follow(t, l, Options{})
	time.Sleep(50 * time.Millisecond)
	f.WriteString(`","Attributes":{}},"scope":"local","time":1,"timeNano":1000000000}` + "\n")
	appendN(t, l, 1, 1)
	expect(t, ch, "c00001")
	stop()
}

// A generation file that never became the target (left by a creator that
// lost a race) is passed over, by readers and by rotation's numbering.
func TestStrayGenerationPassedOver(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 3000)
	appendN(t, l, 0, 2)
	ch, stop := follow(t, l, Options{})
	time.Sleep(50 * time.Millisecond)
	must(t, os.WriteFile(l.Path()+".2", nil, 0o600)) // the stray
	var want []string
	for i := 2; i < 12; i++ { // rotates once, to generation 3
		want = append(want, fmt.Sprintf("c%05d", i))
	}
	appendN(t, l, 2, 10)
	expect(t, ch, want...)
	if err := stop(); !errors.Is(err, context.Canceled) {
		t.Errorf("follower ended with %v", err)
	}
	if cur, err := l.target(); err != nil || cur != 3 {
		t.Errorf("current generation %d, %v; want 3", cur, err)
	}
	if got := ids(readAll(t, l, Options{})); !slices.Equal(got[len(got)-10:], want) {
		t.Errorf("read %v", got)
	}
}

// A follower whose file is removed by hand, and made again by writers under
// the same name, is told rather than left waiting on the removed file.
func TestFollowerOfRemovedFile(t *testing.T) {
	l := NewLog(filepath.Join(t.TempDir(), "events.log"), 0)
	appendN(t, l, 0, 1)
	must(t, l.Close())
	done := make(chan error, 1)
	go func() { done <- l.Read(context.Background(), Options{Follow: true}, func(Event) error { return nil }) }()
	time.Sleep(50 * time.Millisecond)
	must(t, os.Remove(l.Path()+".1"))
	appendN(t, l, 1, 1)
	select {
	case err := <-done:
		if !errors.Is(err, ErrFellBehind) {
			t.Errorf("got %v, want ErrFellBehind", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("follower still waiting on the removed file")
	}
}
