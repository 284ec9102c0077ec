package events

import (
	"context"
	"encoding/binary"
	"os"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// recheckEvery bounds a follower's sleep even when inotify is quiet.
	recheckEvery = time.Second
	// pollEvery is a follower's period where inotify is unavailable.
	pollEvery = 100 * time.Millisecond
)

// watcher wakes a follower when the log's directory sees a write to, or the
// creation or renaming of, one of the log's files. Without inotify (no
// instance left, or the directory does not exist yet) it polls.
type watcher struct {
	dir, base string
	f         *os.File // the inotify descriptor, in Go's poller; nil: polling
	buf       []byte
	noInotify bool // tests: poll only
}

func newWatcher(dir, base string, noInotify bool) *watcher {
	w := &watcher{dir: dir, base: base, noInotify: noInotify}
	w.arm()
	return w
}

// arm sets up inotify if it is not yet; it fails quietly (polling remains).
func (w *watcher) arm() {
	if w.f != nil || w.noInotify {
		return
	}
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return
	}
	if _, err := unix.InotifyAddWatch(fd, w.dir, unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		return
	}
	w.f = os.NewFile(uintptr(fd), "inotify")
	w.buf = make([]byte, 4096)
}

func (w *watcher) close() {
	if w.f != nil {
		w.f.Close()
	}
}

// wait returns when the log may have changed, at deadline, or when ctx is
// done, whichever comes first; it may return early.
func (w *watcher) wait(ctx context.Context, deadline time.Time) {
	w.arm()
	if w.f == nil {
		deadline = minTime(deadline, time.Now().Add(pollEvery))
		t := time.NewTimer(time.Until(deadline))
		defer t.Stop()
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		return
	}
	w.f.SetReadDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { w.f.SetReadDeadline(time.Unix(1, 0)) })
	defer stop()
	if ctx.Err() != nil {
		return
	}
	for {
		n, err := w.f.Read(w.buf)
		if err != nil || w.relevant(w.buf[:n]) {
			return
		}
	}
}

// relevant reports whether a batch of inotify events names one of the
// log's files (or overflowed, so that it may have).
func (w *watcher) relevant(b []byte) bool {
	for len(b) >= unix.SizeofInotifyEvent {
		mask := binary.NativeEndian.Uint32(b[4:8])
		nameLen := int(binary.NativeEndian.Uint32(b[12:16]))
		end := min(unix.SizeofInotifyEvent+nameLen, len(b))
		name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:end]), "\x00")
		b = b[end:]
		if mask&unix.IN_Q_OVERFLOW != 0 || name == w.base || strings.HasPrefix(name, w.base+".") {
			return true
		}
	}
	return false
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
