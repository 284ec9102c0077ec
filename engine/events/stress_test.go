package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
)

// The writer processes of TestStressManyProcesses are this test binary
// again, running TestStressWriter with the job in the environment.
const stressEnv = "SKIFF_EVENTS_STRESS"

func TestStressWriter(t *testing.T) {
	job := os.Getenv(stressEnv)
	if job == "" {
		t.Skip("run by TestStressManyProcesses")
	}
	var path string
	var maxSize int64
	var keep, writer, count int
	var start int64
	var fresh bool
	if _, err := fmt.Sscanf(job, "%s %d %d %d %d %d %t", &path, &maxSize, &keep, &writer, &count, &start, &fresh); err != nil {
		t.Fatalf("job %q: %v", job, err)
	}
	time.Sleep(time.Until(time.Unix(0, start))) // all writers begin together
	l := NewLog(path, maxSize)
	l.keep = keep
	var slowest time.Duration
	began := time.Now()
	for i := range count {
		t0 := time.Now()
		if fresh { // as a short-lived command: open, append, close
			l = NewLog(path, maxSize)
			l.keep = keep
		}
		ev := New(events.ContainerEventType, events.ActionStart, fmt.Sprintf("w%03d-%05d", writer, i),
			map[string]string{"name": "stress", "image": "busybox", "writer": strconv.Itoa(writer), "seq": strconv.Itoa(i)})
		if err := l.Append(ev); err != nil {
			t.Fatal(err)
		}
		if fresh {
			l.Close()
		}
		slowest = max(slowest, time.Since(t0))
	}
	l.Close()
	fmt.Printf("STAT %d %d\n", time.Since(began).Nanoseconds()/int64(count), slowest.Nanoseconds())
}

// 100 writer processes append at once while the log rotates; a follower
// reads along. Every event must reach the follower exactly once, each
// writer's in its order, and (when rotation keeps everything) the files
// must hold each event exactly once in lines that all parse.
func TestStressManyProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("starts 100 processes")
	}
	for _, c := range []struct {
		name    string
		maxSize int64
		keep    int
	}{
		// ~35 lines a generation: about 300 rotations, every generation kept
		// so that the files can be checked after.
		{"small-keep-all", 16 << 10, 1 << 30},
		// The real retention (one retired generation kept).
		{"retention", DefaultMaxSize, 1},
	} {
		t.Run(c.name, func(t *testing.T) { stress(t, c.maxSize, c.keep) })
	}
}

func stress(t *testing.T, maxSize int64, keep int) {
	const writers, each = 100, 100
	path := filepath.Join(t.TempDir(), "events.log")
	l := NewLog(path, maxSize)

	// The follower starts before the log exists and reads everything.
	seen := make(map[string]int, writers*each)
	next := make([]int, writers) // each writer's next expected seq
	got := make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		n := 0
		done <- l.Read(ctx, Options{Follow: true}, func(ev Event) error {
			id := ev.Actor.ID
			seen[id]++
			w, _ := strconv.Atoi(ev.Actor.Attributes["writer"])
			s, _ := strconv.Atoi(ev.Actor.Attributes["seq"])
			if s != next[w] {
				return fmt.Errorf("follower: writer %d's event %d came when %d was expected", w, s, next[w])
			}
			next[w]++
			if n++; n == writers*each {
				close(got)
			}
			return nil
		})
	}()

	start := time.Now().Add(2 * time.Second).UnixNano()
	var procs []*exec.Cmd
	var outs []*bytes.Buffer
	for w := range writers {
		cmd := exec.Command(os.Args[0], "-test.run=^TestStressWriter$", "-test.count=1")
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%s %d %d %d %d %d %t", stressEnv, path, maxSize, keep, w, each, start, w%2 == 0))
		out := &bytes.Buffer{}
		cmd.Stdout, cmd.Stderr = out, out
		must(t, cmd.Start())
		procs, outs = append(procs, cmd), append(outs, out)
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Errorf("writer %d: %v\n%s", i, err, outs[i])
		}
	}
	var mean, slowest []time.Duration
	for _, out := range outs {
		for _, ln := range strings.Split(out.String(), "\n") {
			var m, s int64
			if _, err := fmt.Sscanf(ln, "STAT %d %d", &m, &s); err == nil {
				mean, slowest = append(mean, time.Duration(m)), append(slowest, time.Duration(s))
			}
		}
	}
	slices.Sort(mean)
	slices.Sort(slowest)
	if len(mean) == writers {
		t.Logf("%d writers × %d events appended in %v after a common start; per writer, mean append %v (median) to %v (worst), slowest append %v (median) to %v (worst)",
			writers, each, time.Since(time.Unix(0, start)), mean[writers/2], mean[writers-1], slowest[writers/2], slowest[writers-1])
	}

	select {
	case <-got:
	case err := <-done:
		t.Fatalf("follower ended early: %v", err)
	case <-time.After(30 * time.Second):
		t.Fatalf("follower saw %d of %d events", len(seen), writers*each)
	}
	time.Sleep(200 * time.Millisecond) // anything more would be a repeat
	cancel()
	if err := <-done; err != context.Canceled {
		t.Fatalf("follower: %v", err)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("follower saw %s %d times", id, n)
		}
	}
	if len(seen) != writers*each {
		t.Errorf("follower saw %d distinct events, want %d", len(seen), writers*each)
	}

	// The files themselves.
	gens, err := l.generations()
	must(t, err)
	inFiles := map[string]int{}
	var biggest int64
	lines := 0
	for _, g := range gens {
		b, err := os.ReadFile(l.genPath(g))
		must(t, err)
		biggest = max(biggest, int64(len(b)))
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("generation %d ends in a partial line", g)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			lines++
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				t.Fatalf("generation %d: torn line %q: %v", g, sc.Text(), err)
			}
			inFiles[ev.Actor.ID]++
		}
	}
	for id, n := range inFiles {
		if n != 1 {
			t.Errorf("%s is %d times in the files", id, n)
		}
	}
	if keep > len(gens) && len(inFiles) != writers*each {
		t.Errorf("the files hold %d distinct events, want %d", len(inFiles), writers*each)
	}
	t.Logf("%d generations left, %d lines; largest %d bytes (rotation at %d)", len(gens), lines, biggest, l.rotateAt())
}
