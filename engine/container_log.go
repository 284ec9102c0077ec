package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
)

// The log format is the one the monitor writes (monitor.c), podman's
// k8s-file: "TIMESTAMP STREAM F|P TEXT" per line, P for a partial line.

// LogsOptions select what `logs` prints.
type LogsOptions struct {
	Follow bool
	Tail   int // -1 = all
	Since  time.Time
	Until  time.Time
	// from is where in the log file to begin (attach: its end when the
	// attach began, before any input reached the container).
	from int64
}

// Logs sends the container's log entries to fn, following the log while the
// container runs when asked.
func (e *Engine) Logs(ctx context.Context, nameOrID string, o LogsOptions, fn func(monitor.LogEntry)) error {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	f, err := os.Open(e.LogPath(rec.ID))
	if err != nil {
		if os.IsNotExist(err) && !o.Follow {
			return nil
		}
		if !os.IsNotExist(err) {
			return err
		}
	}
	if f != nil && o.from > 0 {
		if _, err := f.Seek(o.from, io.SeekStart); err != nil {
			f.Close()
			return err
		}
	}
	keep := func(en monitor.LogEntry) bool {
		return en.Stream != monitor.ExitStream && (o.Since.IsZero() || !en.Time.Before(o.Since)) && (o.Until.IsZero() || en.Time.Before(o.Until))
	}
	var entries []monitor.LogEntry
	var rd *bufio.Reader
	var partial string
	readAll := func(sink func(monitor.LogEntry)) {
		if f == nil {
			if f, err = os.Open(e.LogPath(rec.ID)); err != nil {
				f = nil
				return
			}
		}
		if rd == nil {
			rd = bufio.NewReaderSize(f, 64<<10)
		}
		for {
			line, err := rd.ReadString('\n')
			if err != nil {
				partial += line
				return
			}
			line = partial + strings.TrimSuffix(line, "\n")
			partial = ""
			if en, ok := monitor.ParseLogLine(line); ok && keep(en) {
				sink(en)
			}
		}
	}
	readAll(func(en monitor.LogEntry) { entries = append(entries, en) })
	if o.Tail >= 0 && len(entries) > o.Tail {
		entries = entries[len(entries)-o.Tail:]
	}
	for _, en := range entries {
		fn(en)
	}
	if !o.Follow {
		if f != nil {
			f.Close()
		}
		return nil
	}
	defer func() {
		if f != nil {
			f.Close()
		}
	}()
	for {
		cur, err := e.state.Lookup(ctx, rec.ID)
		running := err == nil && e.observedState(cur) == config.StateRunning
		readAll(fn)
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// ParseTail reads --tail: a number or "all".
func ParseTail(s string) (int, error) {
	if s == "" || s == "all" {
		return -1, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%w: --tail %q: use a number or all", config.ErrBadOption, s)
	}
	return n, nil
}

// ParseTime reads --since/--until: RFC 3339, a Unix timestamp, or a
// duration before now (10m).
func ParseTime(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, nil
		}
	}
	if f, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(f*1e9)), nil
	}
	return time.Time{}, fmt.Errorf("%w: time %q: use RFC 3339, a Unix timestamp or a duration like 10m", config.ErrBadOption, s)
}
