package events

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"golang.org/x/sys/unix"
)

func benchEvent(i int) Event {
	return New(events.ContainerEventType, events.ActionStart, fmt.Sprintf("%064d", i),
		map[string]string{"name": "web", "image": "127.0.0.1:5000/skiff/busybox:latest", "com.example.tier": "front"})
}

// cpuTime reports the process's CPU time (user and system) per operation
// alongside the wall time: this machine is shared, and its load stretches
// wall times.
func cpuTime(b *testing.B) func() {
	var before unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &before)
	return func() {
		var after unix.Rusage
		unix.Getrusage(unix.RUSAGE_SELF, &after)
		ns := func(r unix.Rusage) int64 { return r.Utime.Nano() + r.Stime.Nano() }
		b.ReportMetric(float64(ns(after)-ns(before))/float64(b.N), "cpu-ns/op")
	}
}

// An append by a long-lived process (the API service), the file kept open.
func BenchmarkAppend(b *testing.B) {
	l := NewLog(filepath.Join(b.TempDir(), "events.log"), DefaultMaxSize)
	defer l.Close()
	ev := benchEvent(1)
	defer cpuTime(b)()
	for b.Loop() {
		if err := l.Append(ev); err != nil {
			b.Fatal(err)
		}
	}
}

// For scale: the same line written with a bare O_APPEND write(2), no lock,
// no check, no encoding.
func BenchmarkBareWrite(b *testing.B) {
	f, err := os.OpenFile(filepath.Join(b.TempDir(), "bare.log"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	must(b, err)
	defer f.Close()
	line, _ := json.Marshal(benchEvent(1))
	line = append(line, '\n')
	defer cpuTime(b)()
	for b.Loop() {
		if _, err := unix.Write(int(f.Fd()), line); err != nil {
			b.Fatal(err)
		}
	}
}

// An append by a short-lived command: open, lock, write, close.
func BenchmarkAppendOpenEach(b *testing.B) {
	path := filepath.Join(b.TempDir(), "events.log")
	ev := benchEvent(1)
	defer cpuTime(b)()
	for b.Loop() {
		l := NewLog(path, DefaultMaxSize)
		if err := l.Append(ev); err != nil {
			b.Fatal(err)
		}
		l.Close()
	}
}

// `events --since` over a log of 10 000 events (1 ms apart, ~300 bytes
// each, in one generation or spread over five), with Since selecting the
// newest 100 or the newest half; "scan" reads every line instead of
// bisecting, for comparison.
func BenchmarkReadSince10k(b *testing.B) {
	const n = 10000
	t0 := time.Unix(1.7e9, 0)
	for _, layout := range []struct {
		name    string
		maxSize int64
	}{{"1file", 0}, {"5files", 1300 << 10}} {
		l := NewLog(filepath.Join(b.TempDir(), "events.log"), layout.maxSize)
		l.keep = 1 << 30
		l.now = tick(t0)
		for i := range n {
			must(b, l.Append(benchEvent(i)))
		}
		must(b, l.Close())
		for _, since := range []struct {
			name string
			last int
		}{{"newest100", 100}, {"newest5000", 5000}} {
			for _, scan := range []bool{false, true} {
				name := layout.name + "/" + since.name + "/bisect"
				if scan {
					name = layout.name + "/" + since.name + "/scan"
				}
				b.Run(name, func(b *testing.B) {
					r := NewLog(l.Path(), 0)
					r.linearSince = scan
					opts := Options{Since: t0.Add(time.Duration(n-since.last+1) * time.Millisecond)}
					defer cpuTime(b)()
					for b.Loop() {
						got := 0
						must(b, r.Read(context.Background(), opts, func(Event) error { got++; return nil }))
						if got != since.last {
							b.Fatalf("read %d events, want %d", got, since.last)
						}
					}
				})
			}
		}
	}
}

// The time from an append to its delivery to a follower.
func BenchmarkFollowLatency(b *testing.B) {
	for _, poll := range []bool{false, true} {
		name := "inotify"
		if poll {
			name = "poll100ms"
		}
		b.Run(name, func(b *testing.B) {
			l := NewLog(filepath.Join(b.TempDir(), "events.log"), DefaultMaxSize)
			l.pollOnly = poll
			must(b, l.Append(benchEvent(0)))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan struct{})
			go l.Read(ctx, Options{Follow: true}, func(Event) error { got <- struct{}{}; return nil })
			time.Sleep(50 * time.Millisecond)
			for b.Loop() {
				must(b, l.Append(benchEvent(1)))
				<-got
			}
		})
	}
}
