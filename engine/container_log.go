package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/skiff-project/skiff/engine/config"
)

// The log format is the one the monitor writes (monitor.c), podman's
// k8s-file: "TIMESTAMP STREAM F|P TEXT" per line, P for a partial line.

// logWriter writes container output to the log from Go (attached runs).
type logWriter struct {
	mu sync.Mutex
	f  *os.File
}

func openLog(path string) (*logWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &logWriter{f: f}, nil
}

func (l *logWriter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

type logStream struct {
	l    *logWriter
	name string
	echo io.Writer
	buf  []byte
}

// stream returns a writer that copies to echo and logs each line.
func (l *logWriter) stream(name string, echo io.Writer) io.Writer {
	return &logStream{l: l, name: name, echo: echo}
}

func (s *logStream) Write(p []byte) (int, error) {
	if s.echo != nil {
		_, _ = s.echo.Write(p)
	}
	s.buf = append(s.buf, p...)
	for {
		i := bytes.IndexByte(s.buf, '\n')
		if i < 0 {
			break
		}
		s.emit(s.buf[:i], 'F')
		s.buf = s.buf[i+1:]
	}
	if len(s.buf) >= 16384 {
		s.emit(s.buf, 'P')
		s.buf = nil
	}
	return len(p), nil
}

func (s *logStream) emit(line []byte, kind byte) {
	s.l.mu.Lock()
	defer s.l.mu.Unlock()
	if s.l.f == nil {
		return
	}
	fmt.Fprintf(s.l.f, "%s %s %c %s\n", time.Now().UTC().Format("2006-01-02T15:04:05.000000000Z"), s.name, kind, line)
}

// exit records the container's end for attach, as the monitor does.
func (l *logWriter) exit(code int) {
	(&logStream{l: l, name: exitStream}).emit([]byte(strconv.Itoa(code)), 'F')
}

// LogEntry is one line of container output.
type LogEntry struct {
	Time   time.Time
	Stream string
	Text   string
	Full   bool
}

func parseLogLine(line string) (LogEntry, bool) {
	parts := strings.SplitN(line, " ", 4)
	if len(parts) < 3 {
		return LogEntry{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, parts[0])
	if err != nil {
		return LogEntry{}, false
	}
	e := LogEntry{Time: t, Stream: parts[1], Full: parts[2] == "F"}
	if len(parts) == 4 {
		e.Text = parts[3]
	}
	return e, true
}

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
func (e *Engine) Logs(ctx context.Context, nameOrID string, o LogsOptions, fn func(LogEntry)) error {
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
	keep := func(en LogEntry) bool {
		return en.Stream != exitStream && (o.Since.IsZero() || !en.Time.Before(o.Since)) && (o.Until.IsZero() || en.Time.Before(o.Until))
	}
	var entries []LogEntry
	var rd *bufio.Reader
	var partial string
	readAll := func(sink func(LogEntry)) {
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
			if en, ok := parseLogLine(line); ok && keep(en) {
				sink(en)
			}
		}
	}
	readAll(func(en LogEntry) { entries = append(entries, en) })
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
