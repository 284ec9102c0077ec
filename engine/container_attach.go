package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
)

// AttachOptions control attach.
type AttachOptions struct {
	Stdin io.Reader // nil: --no-stdin
	// DetachKeys, typed on Stdin, end the attach and leave the container
	// running (ParseDetachKeys; empty: none).
	DetachKeys []byte
	// Resize has the caller's window size each time it changes: a -t
	// container's monitor sets it on the container's terminal.
	Resize <-chan TerminalSize
	// from is where in the log file to begin (an attached start: where it
	// ended before the container started).
	from int64
	// log, when set, is the log, opened before the container started: a
	// --rm container may be gone with its log before attach opens it.
	log *os.File
}

// ErrDetached is Attach's error when the detach keys ended it.
var ErrDetached = errors.New("detached")

// ParseDetachKeys reads docker's --detach-keys: comma-separated keys, each
// a single character or ctrl-X (X a letter or one of @[\]^_); "" is none.
func ParseDetachKeys(spec string) ([]byte, error) {
	if spec == "" {
		return nil, nil
	}
	var keys []byte
	for _, k := range strings.Split(spec, ",") {
		switch {
		case len(k) == 1:
			keys = append(keys, k[0])
		case len(k) == 6 && strings.HasPrefix(strings.ToLower(k), "ctrl-"):
			c := k[5]
			switch {
			case c >= 'a' && c <= 'z':
				keys = append(keys, c-'a'+1)
			case c >= 'A' && c <= 'Z':
				keys = append(keys, c-'A'+1)
			case strings.IndexByte("@[\\]^_", c) >= 0:
				keys = append(keys, c-'@')
			default:
				return nil, fmt.Errorf("%w: --detach-keys %q: unknown key %q", config.ErrBadOption, spec, k)
			}
		default:
			return nil, fmt.Errorf("%w: --detach-keys %q: unknown key %q (use a character or ctrl-X)", config.ErrBadOption, spec, k)
		}
	}
	return keys, nil
}

// Attach follows a running container's output from now on, passing each
// entry to fn, and feeds Stdin to the container's input when it was
// created with -i (through its monitor's FIFO). It returns the container's
// exit code once it ends, ErrDetached when the detach keys come first, or
// ctx's error when ctx ends first (the container runs on).
func (e *Engine) Attach(ctx context.Context, nameOrID string, o AttachOptions, fn func(monitor.LogEntry)) (int, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return 0, err
	}
	if e.observedState(rec) != config.StateRunning {
		return 0, fmt.Errorf("%w: %s: you cannot attach to a stopped container, start it first", ErrNotRunning, rec.Name)
	}
	// Output from now on: where the log ends before any input goes in.
	o.from = logSize(e.LogPath(rec.ID))
	return e.attach(ctx, rec, o, fn)
}

func logSize(path string) int64 {
	if st, err := os.Stat(path); err == nil {
		return st.Size()
	}
	return 0
}

// attach follows rec's log from o.from until the container's exit record
// (or, with no monitor left to write one, until it is recorded as ended).
func (e *Engine) attach(ctx context.Context, rec *config.ContainerRecord, o AttachOptions, fn func(monitor.LogEntry)) (int, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	detached := make(chan struct{})
	if o.Stdin != nil && rec.Config.OpenStdin {
		go func() {
			fifo, err := e.openAttachInput(ctx, rec)
			if err != nil {
				return // it ended before its input was open
			}
			defer fifo.Close()
			if copyUntilKeys(fifo, o.Stdin, o.DetachKeys) {
				close(detached)
			}
		}()
	}
	if o.Resize != nil && rec.Config.Tty {
		go e.forwardResize(ctx, rec, o.Resize)
	}
	f := o.log
	if f == nil {
		var err error
		if f, err = os.Open(e.LogPath(rec.ID)); err != nil {
			return 0, fmt.Errorf("attaching to %s: %w", rec.Name, err)
		}
	}
	defer f.Close()
	if _, err := f.Seek(o.from, io.SeekStart); err != nil {
		return 0, err
	}
	rd := bufio.NewReaderSize(f, 64<<10)
	var partial string
	for idle := 0; ; {
		line, err := rd.ReadString('\n')
		if err == nil {
			idle = 0
			if en, ok := monitor.ParseLogLine(partial + strings.TrimSuffix(line, "\n")); ok {
				if en.Stream == monitor.ExitStream {
					// Ended when its end is recorded (and a --rm
					// container gone), as after a foreground run.
					code, _ := strconv.Atoi(strings.TrimSpace(en.Text))
					if p := rec.Config.Restart.Name; p != "" && p != config.RestartNo {
						return code, nil // it may be running again
					}
					return code, e.waitRecorded(ctx, rec.ID, 10*time.Second)
				}
				fn(en)
			}
			partial = ""
			continue
		}
		partial += line
		select {
		case <-detached:
			return 0, ErrDetached
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
		if idle++; idle%10 != 0 {
			continue
		}
		// Now and then: is anybody left to write the exit record?
		cur, err := e.state.Lookup(ctx, rec.ID)
		if err != nil {
			return 0, nil // removed meanwhile
		}
		if cur.MonitorPid > 0 && processAlive(cur.MonitorPid, time.Time{}) {
			continue
		}
		if e.observedState(cur) == config.StateRunning {
			continue
		}
		return e.attachFallback(ctx, rec, rd, partial, fn)
	}
}

// attachFallback ends an attach whose container ended without an exit
// record (its monitor was killed): the rest of the log, then the state.
func (e *Engine) attachFallback(ctx context.Context, rec *config.ContainerRecord, rd *bufio.Reader, partial string, fn func(monitor.LogEntry)) (int, error) {
	for {
		line, err := rd.ReadString('\n')
		if err != nil {
			break
		}
		if en, ok := monitor.ParseLogLine(partial + strings.TrimSuffix(line, "\n")); ok && en.Stream != monitor.ExitStream {
			fn(en)
		}
		partial = ""
	}
	if err := e.waitRecorded(ctx, rec.ID, 10*time.Second); err != nil {
		return 0, err
	}
	cur, err := e.state.Lookup(ctx, rec.ID)
	if err != nil {
		return 0, nil // removed (--rm) meanwhile
	}
	return cur.ExitCode, nil
}

// openAttachInput opens the monitor's input FIFO; a container that has
// only just started may not have it yet.
func (e *Engine) openAttachInput(ctx context.Context, rec *config.ContainerRecord) (*os.File, error) {
	path := filepath.Join(e.bundleDir(rec), monitor.StdinFIFO)
	deadline := time.Now().Add(5 * time.Second)
	for {
		fifo, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			return fifo, nil
		}
		if !os.IsNotExist(err) || time.Now().After(deadline) || ctx.Err() != nil {
			return nil, fmt.Errorf("attaching to the input of %s: %w", rec.Name, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// forwardResize tells a -t container's monitor each window size, through
// its control FIFO (monitor.ResizeLine, as conmon's ctl file).
func (e *Engine) forwardResize(ctx context.Context, rec *config.ContainerRecord, sizes <-chan TerminalSize) {
	path := filepath.Join(e.bundleDir(rec), monitor.CtlFIFO)
	for {
		select {
		case <-ctx.Done():
			return
		case sz, ok := <-sizes:
			if !ok {
				return
			}
			// Non-blocking: a monitor that has gone (or not yet made
			// it) costs this size, never the attach.
			for i := 0; i < 50; i++ {
				f, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0)
				if err == nil {
					_, _ = f.WriteString(monitor.ResizeLine(sz.Rows, sz.Cols))
					f.Close()
					break
				}
				if !os.IsNotExist(err) {
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
}

// copyUntilKeys copies src to dst until src ends, or until keys (when
// set) come in a row, which are not passed on; it tells whether they did.
// Bytes that begin the sequence are held back until it is clear they do
// not complete it.
func copyUntilKeys(dst io.Writer, src io.Reader, keys []byte) bool {
	buf := make([]byte, 4096)
	matched := 0
	for {
		n, err := src.Read(buf)
		out := make([]byte, 0, n+len(keys))
		for _, b := range buf[:n] {
			switch {
			case len(keys) > 0 && b == keys[matched]:
				matched++
				if matched == len(keys) {
					_, _ = dst.Write(out)
					return true
				}
			case matched > 0:
				out = append(out, keys[:matched]...)
				matched = 0
				if len(keys) > 0 && b == keys[0] {
					matched = 1
				} else {
					out = append(out, b)
				}
			default:
				out = append(out, b)
			}
		}
		if len(out) > 0 {
			if _, werr := dst.Write(out); werr != nil {
				return false
			}
		}
		if err != nil {
			if matched > 0 {
				_, _ = dst.Write(keys[:matched])
			}
			return false
		}
	}
}
