package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"
)

// Options choose what Read delivers. The time range and when following
// ends are docker's (moby loadBufferedEvents and the events route):
//
//   - Since and Until bound the events' times, both inclusive; zero means
//     no bound.
//   - Following with neither Since nor Until delivers only events appended
//     after Read starts ("If you do not provide the --since option, the
//     command returns only new and/or live events").
//   - Following ends when the wall clock passes Until; with Until in the
//     past there is nothing to follow and Read returns at the end of the
//     log.
//   - Without Follow (podman's --stream=false) Read delivers what the log
//     holds in the range, all of it when both bounds are zero, and returns.
type Options struct {
	Since, Until time.Time
	Filters      Filters
	Follow       bool
}

// Read calls fn with each event of the log that opts select, oldest first,
// each once. It returns fn's first error, ErrFellBehind if a follower lost
// events to rotation, ctx.Err() when ctx ends (the normal end of following
// without Until), and nil when there is nothing more to read.
func (l *Log) Read(ctx context.Context, opts Options, fn func(Event) error) error {
	if !opts.Since.IsZero() && !opts.Until.IsZero() && opts.Until.Before(opts.Since) {
		return fmt.Errorf("%w: %s is after %s", ErrInvalidRange, opts.Since.Format(time.RFC3339Nano), opts.Until.Format(time.RFC3339Nano))
	}
	r := &reader{ctx: ctx, l: l, fn: fn, filters: opts.Filters, since: math.MinInt64, until: math.MaxInt64}
	if !opts.Since.IsZero() {
		r.since = opts.Since.UnixNano()
	}
	if !opts.Until.IsZero() {
		r.until = opts.Until.UnixNano()
	}
	follow := opts.Follow && (opts.Until.IsZero() || opts.Until.After(time.Now()))
	var w *watcher
	if follow {
		// Watch before the first read, so that no append goes unnoticed.
		w = newWatcher(filepath.Dir(l.path), filepath.Base(l.path), l.pollOnly)
		defer w.close()
	}
	defer r.close()
	if err := r.open(follow && opts.Since.IsZero() && opts.Until.IsZero()); err != nil {
		return err
	}
	for {
		if r.f != nil {
			if done, err := r.catchUp(); done || err != nil {
				return err
			}
		}
		if !follow {
			return nil
		}
		if !opts.Until.IsZero() && time.Now().After(opts.Until) {
			return nil // the last catchUp came after Until
		}
		deadline := time.Now().Add(recheckEvery)
		if !opts.Until.IsZero() {
			deadline = minTime(deadline, opts.Until.Add(time.Millisecond))
		}
		w.wait(ctx, deadline)
		if err := ctx.Err(); err != nil {
			return err
		}
		if r.f == nil {
			if err := r.open(false); err != nil {
				return err
			}
		}
	}
}

// reader walks the generations of a log (see "Reading" in the package
// documentation).
type reader struct {
	ctx          context.Context
	l            *Log
	fn           func(Event) error
	filters      Filters
	since, until int64 // UnixNano, inclusive

	f           *os.File // generation gen, read up to off
	gen         uint64
	off         int64
	buf         []byte // bytes read after the last complete line
	skipPartial bool   // the first bytes end a line begun before the start
	chunk       []byte

	// ahead holds generations gen+1, gen+2, … opened before their turn
	// (nil: already removed), so that rotation cannot remove them from
	// under a reader that is busy with an older one.
	ahead []*os.File
}

// maxAhead bounds the generations a reader holds open ahead of its own.
const maxAhead = 16

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
	}
	for _, f := range r.ahead {
		if f != nil {
			f.Close()
		}
	}
}

// lookAhead opens the generations between the reader's and the current
// one that it has not opened yet.
func (r *reader) lookAhead() {
	cur, err := r.l.target()
	if err != nil {
		return
	}
	for g := r.gen + uint64(len(r.ahead)) + 1; g <= cur && len(r.ahead) < maxAhead; g++ {
		f, err := os.Open(r.l.genPath(g))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return
		}
		r.ahead = append(r.ahead, f)
	}
}

// open picks the first file to read: the current generation at its end
// (atEnd), or the oldest generation present. With no log yet r.f stays nil.
func (r *reader) open(atEnd bool) error {
	for range maxAttempts {
		cur, err := r.l.target()
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		gens := []uint64{cur}
		if !atEnd {
			if gens, err = r.l.generations(); err != nil {
				return err
			}
		}
		for _, g := range gens {
			if g > cur {
				break
			}
			f, err := os.Open(r.l.genPath(g))
			if errors.Is(err, os.ErrNotExist) {
				continue // removed by a rotation since we looked
			}
			if err != nil {
				return err
			}
			r.f, r.gen = f, g
			if atEnd {
				return r.seekEnd()
			}
			return r.seekSince()
		}
		if _, err := os.Stat(r.l.path); errors.Is(err, os.ErrNotExist) {
			return nil // the link's target was removed by hand
		}
	}
	return nil
}

// seekEnd starts at the end of the file; a line being written there is not
// delivered (it began before Read did).
func (r *reader) seekEnd() error {
	fi, err := r.f.Stat()
	if err != nil {
		return err
	}
	r.off = fi.Size()
	if r.off > 0 {
		b := make([]byte, 1)
		if _, err := r.f.ReadAt(b, r.off-1); err != nil {
			return err
		}
		r.skipPartial = b[0] != '\n'
	}
	return nil
}

// seekSince starts at the first line that may be as new as Since.
func (r *reader) seekSince() error {
	r.off, r.buf, r.skipPartial = 0, r.buf[:0], false
	if r.since == math.MinInt64 || r.l.linearSince {
		return nil
	}
	fi, err := r.f.Stat()
	if err != nil {
		return err
	}
	r.off, err = seekTime(r.f, fi.Size(), r.since)
	return err
}

// catchUp delivers everything written so far: the rest of the current
// file, and every newer generation once the current one is retired.
func (r *reader) catchUp() (done bool, err error) {
	for {
		if done, err := r.drain(); done || err != nil {
			return done, err
		}
		cur, err := r.l.target()
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // the link was removed by hand: wait for writers to remake it
		}
		if err != nil {
			return false, err
		}
		if cur == r.gen {
			if cur, err = r.remade(); err != nil || cur == r.gen {
				return false, err
			}
		}
		// Retired: nothing more can be written to it. Read what came after
		// the drain above, then move on.
		if done, err := r.drain(); done || err != nil {
			return done, err
		}
		if err := r.next(cur); err != nil {
			return false, err
		}
	}
}

// remade checks that PATH's target, which had r's generation number, is
// r's file, and returns the generation PATH points at now. If the name
// still points at r's number but not at r's file, someone removed the file
// by hand and writers made it again: r would wait on it for ever.
func (r *reader) remade() (uint64, error) {
	a, err := os.Stat(r.l.path)
	if err != nil {
		return r.gen, nil
	}
	b, err := r.f.Stat()
	if err != nil || os.SameFile(a, b) {
		return r.gen, err
	}
	// Not r's file: rotated since target() (then move on as usual), or
	// remade (the number has not changed, and numbers only grow).
	cur, err := r.l.target()
	if err != nil {
		return r.gen, nil // the link is being remade: look again later
	}
	if cur == r.gen {
		return cur, fmt.Errorf("%w: %s was removed and made again", ErrFellBehind, r.l.genPath(r.gen))
	}
	return cur, nil
}

// next opens the generation after r.gen, cur being the current one.
func (r *reader) next(cur uint64) error {
	g := r.gen + 1
	if g > cur {
		return fmt.Errorf("%w: %s was removed and made again", ErrFellBehind, r.l.path)
	}
	var f *os.File
	var err error
	if len(r.ahead) > 0 {
		f, r.ahead = r.ahead[0], r.ahead[1:]
		if f == nil {
			err = os.ErrNotExist
		}
	} else {
		f, err = os.Open(r.l.genPath(g))
	}
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s was removed before it was read", ErrFellBehind, r.l.genPath(g))
	}
	if err != nil {
		return err
	}
	r.f.Close()
	r.f, r.gen = f, g
	return r.seekSince()
}

const readChunk = 64 << 10

// drain reads r.f from r.off to its end, delivering complete lines.
func (r *reader) drain() (done bool, err error) {
	if r.chunk == nil {
		r.chunk = make([]byte, readChunk)
	}
	for {
		n, err := r.f.ReadAt(r.chunk, r.off)
		if err != nil && err != io.EOF {
			return false, err
		}
		r.off += int64(n)
		data := r.chunk[:n]
		if len(r.buf) > 0 {
			r.buf = append(r.buf, data...)
			data = r.buf
		}
		for {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				break
			}
			line := data[:i]
			data = data[i+1:]
			if r.skipPartial {
				r.skipPartial = false
				continue
			}
			if done, err := r.deliver(line); done || err != nil {
				return done, err
			}
		}
		r.buf = append(r.buf[:0], data...)
		if n < len(r.chunk) {
			return false, nil
		}
		if err := r.ctx.Err(); err != nil {
			return false, err
		}
		r.lookAhead() // a long read: writers may be rotating meanwhile
	}
}

// deliver hands one line to fn if it is in the range and passes the
// filters. done is set once lines are past Until beyond the slack.
func (r *reader) deliver(line []byte) (done bool, err error) {
	if len(line) == 0 {
		return false, nil
	}
	ns, timed := lineTime(line)
	if timed && (ns < r.since || ns > r.until) {
		return ns > r.until && ns-r.until > int64(orderSlack), nil
	}
	var ev Event
	if json.Unmarshal(line, &ev) != nil {
		return false, nil // a torn or foreign line: skipped
	}
	if !timed {
		if ns = ev.When().UnixNano(); ns < r.since || ns > r.until {
			return false, nil
		}
	}
	if !r.filters.Match(ev) {
		return false, nil
	}
	return false, r.fn(ev)
}
