package events

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultMaxSize is containers.conf's events_logfile_max_size default ("1m").
const DefaultMaxSize = 1_000_000

// Log is one user's events log (see the package documentation for its
// files and protocol). It is safe for concurrent use; many processes may
// append to the same log at once.
type Log struct {
	path    string
	maxSize int64

	// Knobs for tests: now stamps events; keep is how many retired
	// generations rotation leaves; pollOnly makes followers poll;
	// linearSince makes readers scan for Since instead of bisecting.
	now         func() time.Time
	keep        int
	pollOnly    bool
	linearSince bool

	mu       sync.Mutex
	f        *os.File // the generation appended to last, kept open between appends
	ino, dev uint64   // f's
}

// NewLog returns the log at path (containers.conf events_logfile_path),
// which holds at most maxSize bytes (events_logfile_max_size; 0 means no
// limit, as in containers.conf). Nothing is touched until the first Append.
func NewLog(path string, maxSize int64) *Log {
	return &Log{path: path, maxSize: maxSize, now: time.Now, keep: 1}
}

// Path is the log's path: the symbolic link to the current generation.
func (l *Log) Path() string { return l.path }

// rotateAt is the size of a generation that makes it retire: half the
// limit, so that the current generation and the one kept before it stay
// within maxSize.
func (l *Log) rotateAt() int64 {
	if l.maxSize <= 0 {
		return 0
	}
	return max(l.maxSize/2, 1)
}

// maxAttempts bounds the retries of an append (or a reader's start) that
// keeps finding its file retired under it; each retry needs other
// processes to have filled and rotated a whole generation meanwhile.
const maxAttempts = 100

// Append writes ev to the log as one line, stamped with the current time,
// docker's scope ("local") and the deprecated status/id/from fields docker
// fills for container and image events. It is atomic with respect to other
// appenders and to rotation, in this process and others: the line appears
// exactly once, whole, in exactly one generation.
func (l *Log) Append(ev Event) error {
	ev.stamp()
	body, err := json.Marshal(ev)
	if err != nil {
		return fmt.Errorf("encoding event: %w", err)
	}
	// The time goes last, stamped under the lock; body ends with '}'.
	line := make([]byte, 0, len(body)+64)
	line = append(line, body[:len(body)-1]...)

	l.mu.Lock()
	defer l.mu.Unlock()
	at := l.rotateAt()
	for range maxAttempts {
		f, err := l.current()
		if err != nil {
			return fmt.Errorf("appending to events log %s: %w", l.path, err)
		}
		fd := int(f.Fd())
		if err := flock(fd, unix.LOCK_EX); err != nil {
			return fmt.Errorf("appending to events log %s: %w", l.path, err)
		}
		var st unix.Stat_t // PATH's target: f's size if ok
		ok, err := l.isTarget(&st)
		if err != nil || !ok {
			unix.Flock(fd, unix.LOCK_UN)
			l.drop()
			if err != nil {
				return fmt.Errorf("appending to events log %s: %w", l.path, err)
			}
			continue // retired between open and lock
		}
		now := l.now()
		out := strconv.AppendInt(append(line, `,"time":`...), now.Unix(), 10)
		out = strconv.AppendInt(append(out, `,"timeNano":`...), now.UnixNano(), 10)
		out = append(out, '}', '\n')
		if err := writeLine(f, out); err != nil {
			unix.Flock(fd, unix.LOCK_UN)
			l.drop()
			return fmt.Errorf("appending to events log %s: %w", l.path, err)
		}
		due := at > 0 && st.Size+int64(len(out)) >= at
		if due {
			err = l.rotate()
		}
		unix.Flock(fd, unix.LOCK_UN)
		if due {
			l.drop() // retired (or still due: the next append retries)
		}
		if err != nil {
			return fmt.Errorf("%w %s (the event was appended): %w", ErrRotation, l.path, err)
		}
		return nil
	}
	return fmt.Errorf("appending to events log %s: rotated under this writer %d times in a row", l.path, maxAttempts)
}

// writeLine writes b with one write(2). A short write is closed with a
// newline so that the torn line spoils no other.
func writeLine(f *os.File, b []byte) error {
	n, err := unix.Write(int(f.Fd()), b)
	if err == nil && n == len(b) {
		return nil
	}
	if n > 0 {
		unix.Write(int(f.Fd()), []byte{'\n'})
	}
	if err == nil {
		err = fmt.Errorf("short write (%d of %d bytes)", n, len(b))
	}
	return err
}

// current returns the open generation file, opening PATH (and creating
// the log) when none is open.
func (l *Log) current() (*os.File, error) {
	if l.f != nil {
		return l.f, nil
	}
	for range 3 {
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0)
		if err == nil {
			if fi, err := os.Lstat(l.path); err == nil && fi.Mode()&os.ModeSymlink == 0 {
				f.Close()
				return nil, fmt.Errorf("%w: %s is not a symbolic link: remove it", ErrNotLog, l.path)
			}
			var st unix.Stat_t
			if err := unix.Fstat(int(f.Fd()), &st); err != nil {
				f.Close()
				return nil, err
			}
			l.f, l.ino, l.dev = f, st.Ino, st.Dev
			return f, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		if err := l.create(); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("%s keeps disappearing", l.path)
}

// create makes the log: a first generation and the link to it. Racing
// creators may each make a generation file; one link wins, and the other
// files stay empty, never become the target, and are passed over by
// readers and removed by a later rotation.
func (l *Log) create() error {
	fi, err := os.Lstat(l.path)
	switch {
	case err == nil && fi.Mode()&os.ModeSymlink != 0:
		// The link is there but its target is gone (removed by hand):
		// make the target again through the link.
		f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			return err
		}
		return f.Close()
	case err == nil:
		return fmt.Errorf("%w: %s is not a symbolic link: remove it", ErrNotLog, l.path)
	case !errors.Is(err, os.ErrNotExist):
		return err
	}
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return err
	}
	gens, err := l.generations()
	if err != nil {
		return err
	}
	next := uint64(1)
	if len(gens) > 0 {
		next = gens[len(gens)-1] + 1
	}
	f, err := os.OpenFile(l.genPath(next), os.O_WRONLY|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	f.Close()
	if err := os.Symlink(l.genName(next), l.path); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}

// isTarget stats PATH's target into st and reports whether it is the
// open file (step 3 of the protocol: one stat gives the answer and, when
// yes, the file's size).
func (l *Log) isTarget(st *unix.Stat_t) (bool, error) {
	if err := unix.Stat(l.path, st); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return false, nil
		}
		return false, err
	}
	return st.Ino == l.ino && st.Dev == l.dev, nil
}

func flock(fd int, how int) error {
	for {
		err := unix.Flock(fd, how)
		if err != unix.EINTR {
			return err
		}
	}
}

// drop forgets the open file (it was retired or failed).
func (l *Log) drop() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

// Close releases the file kept open between appends.
func (l *Log) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.drop()
	return nil
}

// rotate makes a new generation the target (step 4 of the protocol); the
// caller holds LOCK_EX on the current one.
func (l *Log) rotate() error {
	cur, err := l.target()
	if err != nil {
		return err
	}
	gens, err := l.generations()
	if err != nil {
		return err
	}
	next := cur + 1
	if len(gens) > 0 {
		next = max(next, gens[len(gens)-1]+1)
	}
	// The number is free unless a creator that found no link at all (one
	// removed by hand) raced us to it: then take the next.
	for {
		f, err := os.OpenFile(l.genPath(next), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			f.Close()
			break
		}
		if !errors.Is(err, os.ErrExist) {
			return err
		}
		next++
	}
	// Until our rename, no other rotation can be under way (the one
	// before ours renamed before the file we hold became current, the one
	// after cannot start before it), so a link in the making is one a
	// rotation left when it died. After our rename the next rotation may
	// begin at once: what follows touches only old generations.
	if stale, err := filepath.Glob(l.path + ".new-*"); err == nil {
		for _, name := range stale {
			os.Remove(name)
		}
	}
	tmp := l.path + ".new-" + strconv.Itoa(os.Getpid())
	if err := os.Symlink(l.genName(next), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, l.path); err != nil {
		os.Remove(tmp)
		return err
	}

	// Keep the generation just retired (and l.keep-1 before it); newer
	// leftovers of racing creators stay until the next rotation, so a
	// reader walking through them finds no gap.
	for _, g := range gens {
		if g+uint64(l.keep) <= cur {
			os.Remove(l.genPath(g))
		}
	}
	return nil
}

func (l *Log) genName(g uint64) string {
	return filepath.Base(l.path) + "." + strconv.FormatUint(g, 10)
}
func (l *Log) genPath(g uint64) string { return l.path + "." + strconv.FormatUint(g, 10) }

// target is the generation PATH points at.
func (l *Log) target() (uint64, error) {
	name, err := os.Readlink(l.path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) && pe.Err == unix.EINVAL {
			return 0, fmt.Errorf("%w: %s is not a symbolic link: remove it", ErrNotLog, l.path)
		}
		return 0, err
	}
	g, ok := l.parseGen(filepath.Base(name))
	if !ok {
		return 0, fmt.Errorf("%w: %s points at %q", ErrNotLog, l.path, name)
	}
	return g, nil
}

func (l *Log) parseGen(name string) (uint64, bool) {
	rest, ok := strings.CutPrefix(name, filepath.Base(l.path)+".")
	if !ok || rest == "" || rest[0] == '0' {
		return 0, false
	}
	g, err := strconv.ParseUint(rest, 10, 64)
	return g, err == nil
}

// generations lists the generation files present, oldest first.
func (l *Log) generations() ([]uint64, error) {
	ents, err := os.ReadDir(filepath.Dir(l.path))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	var gens []uint64
	for _, e := range ents {
		if g, ok := l.parseGen(e.Name()); ok {
			gens = append(gens, g)
		}
	}
	slices.Sort(gens)
	return gens, nil
}
