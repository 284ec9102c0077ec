package oci

import (
	"bytes"
	"io"
	"os"
	"sync"
	"time"
)

// StartGate stands between the runtime's standard error and the user's.
// Until the container's process runs, everything written there is the
// runtime's own complaint (runc and crun print their error there as well
// as in their log): the gate holds it back, and the error the command
// returns carries the runtime's words instead, so the user sees one line.
// Once the runtime has written its pid file the process runs, and the gate
// passes on what it held and everything after.
type StartGate struct {
	mu   sync.Mutex
	w    io.Writer
	held bytes.Buffer
	open bool
	done chan struct{}
	once sync.Once
}

// NewStartGate holds what is written for w until pidfile has a pid in it.
func NewStartGate(w io.Writer, pidfile string) *StartGate {
	if w == nil {
		w = io.Discard
	}
	g := &StartGate{w: w, done: make(chan struct{})}
	go func() {
		for delay := time.Millisecond; ; delay = min(2*delay, 20*time.Millisecond) {
			if data, err := os.ReadFile(pidfile); err == nil && len(bytes.TrimSpace(data)) > 0 {
				g.release()
				return
			}
			select {
			case <-g.done:
				return
			case <-time.After(delay):
			}
		}
	}()
	return g
}

func (g *StartGate) Write(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.open {
		return g.w.Write(p)
	}
	g.held.Write(p)
	return len(p), nil
}

// release passes on what was held and opens the gate.
func (g *StartGate) release() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.open && g.held.Len() > 0 {
		_, _ = g.w.Write(g.held.Bytes())
	}
	g.held.Reset()
	g.open = true
}

// finish ends the gate once the runtime has exited: what it still holds is
// dropped when the runtime's error explains the failure (runtimeFailed),
// and passed on otherwise.
func (g *StartGate) Finish(runtimeFailed bool) {
	g.once.Do(func() { close(g.done) })
	g.mu.Lock()
	if runtimeFailed && !g.open {
		g.held.Reset()
		g.open = true
	}
	g.mu.Unlock()
	g.release()
}
