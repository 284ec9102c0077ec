package monitor

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// LogWriter writes container output to the log from Go (attached runs).
type LogWriter struct {
	mu sync.Mutex
	f  *os.File
}

func OpenLog(path string) (*LogWriter, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &LogWriter{f: f}, nil
}

func (l *LogWriter) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

type logStream struct {
	l    *LogWriter
	name string
	echo io.Writer
	buf  []byte
}

// Stream returns a writer that copies to echo and logs each line.
func (l *LogWriter) Stream(name string, echo io.Writer) io.Writer {
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
	if len(s.buf) >= maxLogLine {
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
	// One write per record (the protocol's rule for two writers).
	_, _ = s.l.f.Write(fmt.Appendf(nil, "%s %s %c %s\n", time.Now().UTC().Format(LogTimeLayout), s.name, kind, line))
}

// Exit records the container's end for attach, as the monitor does.
func (l *LogWriter) Exit(code int) {
	(&logStream{l: l, name: ExitStream}).emit([]byte(strconv.Itoa(code)), 'F')
}

// LogEntry is one line of container output.
type LogEntry struct {
	Time   time.Time
	Stream string
	Text   string
	Full   bool
}

// ParseLogLine reads one record of the log (without its newline).
func ParseLogLine(line string) (LogEntry, bool) {
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

// LogTimeLayout is the log's timestamp, as monitor.c's emit writes it.
const LogTimeLayout = "2006-01-02T15:04:05.000000000Z"

// maxLogLine is the longest record's text: a longer line is recorded in
// pieces ("P"), as monitor.c's struct stream does.
const maxLogLine = 16384

// ExitStream is the log record a monitor writes when the container ended,
// with its exit code: `logs` never shows it, attach ends on it.
const ExitStream = "exit"
