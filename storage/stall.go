package storage

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strings"
	"sync"
	"time"

	"go.podman.io/image/v5/types"
)

// DefaultStallTimeout is how long a pull waits for a registry that sends
// nothing before it gives up. Neither containers.conf nor registries.conf
// has a term for it (podman's pull waits forever); skiff takes
// --stall-timeout, or SKIFF_STALL_TIMEOUT.
const DefaultStallTimeout = 30 * time.Second

// StallError says which registry stopped sending, and what it was sending.
type StallError struct {
	Registry string
	What     string // "blob sha256:…", "manifest latest", "GET /v2/" …
	After    time.Duration
}

func (e *StallError) Error() string {
	return fmt.Sprintf("registry %s stalled: it sent nothing for %s while sending %s (--stall-timeout sets the wait)", e.Registry, e.After, e.What)
}

func (e *StallError) Unwrap() error { return ErrStalled }

// stallWatch cancels a pull's context when a registry stops sending. Every
// network wait is a waiter: a request of the image library's (the API
// check, a token, a manifest, a tag list), made progress by the request's
// own events (connected, request written, first byte), or the body of a
// blob, made progress by each read that returns bytes. A waiter with no
// progress for the timeout ends the pull with a StallError as the cause.
// Nothing is watched between waits (a layer being written to disk).
type stallWatch struct {
	timeout  time.Duration
	registry string
	cancel   context.CancelCauseFunc

	mu      sync.Mutex
	waiters map[*waiter]bool
	lastURL string
	done    chan struct{}
	stopped bool
}

type waiter struct {
	what   string
	last   time.Time
	traced bool // moved on by the library's requests (metadata), not by reads
}

// newStallWatch returns a context that the watch cancels. A zero or
// negative timeout watches nothing.
func newStallWatch(parent context.Context, registry string, timeout time.Duration) (context.Context, *stallWatch) {
	ctx, cancel := context.WithCancelCause(parent)
	w := &stallWatch{timeout: timeout, registry: registry, cancel: cancel, waiters: map[*waiter]bool{}, done: make(chan struct{})}
	if timeout <= 0 {
		return ctx, w
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn:              func(string) { w.traceTick() },
		GotConn:              func(httptrace.GotConnInfo) { w.traceTick() },
		ConnectDone:          func(string, string, error) { w.traceTick() },
		WroteHeaders:         func() { w.traceTick() },
		WroteRequest:         func(httptrace.WroteRequestInfo) { w.traceTick() },
		GotFirstResponseByte: func() { w.traceTick() },
	})
	interval := max(timeout/10, 20*time.Millisecond)
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-w.done:
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				if err := w.check(now); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	return ctx, w
}

// stop ends the watch (and its context); err is what the pull returned.
// A stall is reported as itself, whatever error the cancelled library
// call made of it.
func (w *stallWatch) stop(ctx context.Context, err error) error {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.done)
	}
	w.mu.Unlock()
	var stall *StallError
	if err != nil && errors.As(context.Cause(ctx), &stall) {
		err = stall
	}
	w.cancel(nil)
	return err
}

func (w *stallWatch) check(now time.Time) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	for wt := range w.waiters {
		if now.Sub(wt.last) > w.timeout {
			return &StallError{Registry: w.registry, What: wt.what, After: w.timeout}
		}
	}
	return nil
}

func (w *stallWatch) traceTick() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := time.Now()
	for wt := range w.waiters {
		if wt.traced {
			wt.last = now
			if w.lastURL != "" {
				wt.what = w.lastURL
			}
		}
	}
}

// sys is sys with the watch's proxy hook.
func (w *stallWatch) sys(sys *types.SystemContext) *types.SystemContext {
	c := *sys
	c.DockerProxy = w.proxyFor(sys)
	return &c
}

// proxyFor is the image library's proxy hook, kept as the library's own
// default is (the environment, or the configured proxy): it also tells
// the watch which request is under way, to name it if it stalls.
func (w *stallWatch) proxyFor(sys *types.SystemContext) func(*url.URL) (*url.URL, error) {
	fixed := sys.DockerProxyURL
	return func(u *url.URL) (*url.URL, error) {
		w.mu.Lock()
		w.lastURL = describeRequest(u)
		w.mu.Unlock()
		w.traceTick()
		if fixed != nil {
			return fixed, nil
		}
		return http.ProxyFromEnvironment(&http.Request{URL: u})
	}
}

// describeRequest names a registry request as a user knows it.
func describeRequest(u *url.URL) string {
	p := u.Path
	switch {
	case p == "/v2/" || p == "/v2":
		return "the answer to GET /v2/ (its API check)"
	case strings.Contains(p, "/manifests/"):
		return "manifest " + p[strings.LastIndex(p, "/manifests/")+len("/manifests/"):]
	case strings.Contains(p, "/blobs/"):
		return "blob " + p[strings.LastIndex(p, "/blobs/")+len("/blobs/"):]
	case strings.HasSuffix(p, "/tags/list"):
		return "the tag list"
	}
	return "the answer to " + u.Scheme + "://" + u.Host + u.Path
}

// during watches one metadata step (the library's requests) until it returns.
func (w *stallWatch) during(what string, f func() error) error {
	wt := w.begin(what, true)
	defer w.end(wt)
	return f()
}

func (w *stallWatch) begin(what string, traced bool) *waiter {
	wt := &waiter{what: what, last: time.Now(), traced: traced}
	if w.timeout > 0 {
		w.mu.Lock()
		w.waiters[wt] = true
		w.mu.Unlock()
	}
	return wt
}

func (w *stallWatch) end(wt *waiter) {
	w.mu.Lock()
	delete(w.waiters, wt)
	w.mu.Unlock()
}

func (w *stallWatch) touch(wt *waiter) {
	w.mu.Lock()
	wt.last = time.Now()
	w.mu.Unlock()
}

// blobBody watches a blob's body: each read that returns bytes is
// progress; the body's end, or its close, ends the wait.
type blobBody struct {
	io.ReadCloser
	w  *stallWatch
	wt *waiter
}

func (b *blobBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if n > 0 {
		b.w.touch(b.wt)
	}
	if err != nil {
		b.w.end(b.wt)
	}
	return n, err
}

func (b *blobBody) Close() error {
	b.w.end(b.wt)
	return b.ReadCloser.Close()
}

// getBlob opens a blob with its request and its body watched.
func (w *stallWatch) getBlob(ctx context.Context, src types.ImageSource, info types.BlobInfo, cache types.BlobInfoCache) (io.ReadCloser, error) {
	wt := w.begin("blob "+info.Digest.String(), false)
	rc, _, err := src.GetBlob(ctx, info, cache)
	if err != nil {
		w.end(wt)
		return nil, err
	}
	w.touch(wt)
	return &blobBody{ReadCloser: rc, w: w, wt: wt}, nil
}

// watchCopy follows a general-path copy through the image library's
// progress events: the metadata until the first blob starts, then each
// blob from its first byte until it has been read whole.
func (w *stallWatch) watchCopy() (chan types.ProgressProperties, func()) {
	ch := make(chan types.ProgressProperties, 64)
	meta := w.begin("the image's manifest", true)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		blobs := map[string]*waiter{}
		for p := range ch {
			key := p.Artifact.Digest.String()
			switch p.Event {
			case types.ProgressEventNewArtifact:
				w.end(meta)
				blobs[key] = w.begin("blob "+key, false)
			case types.ProgressEventRead:
				if wt := blobs[key]; wt != nil {
					w.touch(wt)
					if p.Artifact.Size > 0 && int64(p.Offset) >= p.Artifact.Size {
						w.end(wt) // read whole; what follows is disk work
					}
				}
			case types.ProgressEventDone, types.ProgressEventSkipped:
				if wt := blobs[key]; wt != nil {
					w.end(wt)
				}
			}
		}
		w.end(meta)
		for _, wt := range blobs {
			w.end(wt)
		}
	}()
	return ch, func() { close(ch); <-finished }
}
