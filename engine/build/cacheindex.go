package build

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Index maps cache keys to the images that hold each step's result, and
// keeps the directories of RUN --mount=type=cache between builds.
//
// It is a directory of small files, one per key, at
// keys/<first two hex digits>/<64 hex digits>, each holding an image ID:
// a lookup is one open and one read whatever the number of entries (no scan
// of the store, no database to open); a write is a temporary file renamed
// over the key, so readers see the old ID or the new one and never a torn
// file, and two builds writing the same key at once both leave a valid
// entry (the last rename wins; both images are results of the same inputs).
// SQLite would add a schema, a write lock shared by every concurrent build
// and an open per build for a table whose only query is a point lookup.
// Entries are not fsynced: losing one in a crash only costs a rebuild, and
// a partial one fails validation and reads as a miss. An entry whose image
// was removed is a miss too ([Executor.Load] fails) and is overwritten.
type Index struct {
	dir string
}

var (
	keyPattern = regexp.MustCompile(`^sha256:[0-9a-f]{64}$`)
	idPattern  = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// OpenIndex opens (creating) an index in dir.
func OpenIndex(dir string) (*Index, error) {
	for _, sub := range []string{"keys", "mounts"} {
		if err := os.MkdirAll(filepath.Join(dir, sub), 0o700); err != nil {
			return nil, fmt.Errorf("build cache: %w", err)
		}
	}
	return &Index{dir: dir}, nil
}

func (x *Index) keyPath(key string) (string, error) {
	if !keyPattern.MatchString(key) {
		return "", fmt.Errorf("build cache: bad key %q", key)
	}
	hexKey := strings.TrimPrefix(key, "sha256:")
	return filepath.Join(x.dir, "keys", hexKey[:2], hexKey), nil
}

// Get returns the image ID cached under key.
func (x *Index) Get(key string) (string, bool, error) {
	p, err := x.keyPath(key)
	if err != nil {
		return "", false, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("build cache: %w", err)
	}
	id := strings.TrimSpace(string(b))
	if !idPattern.MatchString(id) {
		return "", false, nil
	}
	return id, true, nil
}

// Written is when key's entry was last recorded (its result was made then).
func (x *Index) Written(key string) (time.Time, error) {
	p, err := x.keyPath(key)
	if err != nil {
		return time.Time{}, err
	}
	fi, err := os.Stat(p)
	if err != nil {
		return time.Time{}, err
	}
	return fi.ModTime(), nil
}

// Put records that key's result is the image id.
func (x *Index) Put(key, id string) error {
	if !idPattern.MatchString(id) {
		return fmt.Errorf("build cache: bad image ID %q", id)
	}
	p, err := x.keyPath(key)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".tmp-*")
	if err != nil {
		return fmt.Errorf("build cache: %w", err)
	}
	_, werr := f.WriteString(id + "\n")
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("build cache: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("build cache: %w", err)
	}
	return nil
}

// CacheMount returns the host directory kept for a cache mount id and
// holds it until release is called, by sharing mode as buildkit defines
// them: "shared" directories are used by any number of builds at once,
// "locked" ones by one RUN at a time (others wait), and a "private" one that
// is in use is replaced, for this RUN only, by a fresh directory removed on
// release. Directories are named by the SHA-256 of the id, so any id is safe.
// A directory new to its id (or a private one) is given to prepare first,
// when set, and fresh says so; a kept one is prepared once, ever.
func (x *Index) CacheMount(id, sharing string, prepare func(dir string) error) (dir string, fresh bool, release func(), err error) {
	sum := sha256.Sum256([]byte(id))
	base := filepath.Join(x.dir, "mounts", hex.EncodeToString(sum[:]))
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", false, nil, fmt.Errorf("cache mount %s: %w", id, err)
	}
	lock, err := os.OpenFile(base+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return "", false, nil, fmt.Errorf("cache mount %s: %w", id, err)
	}
	how := unix.LOCK_SH
	switch sharing {
	case "locked":
		how = unix.LOCK_EX
	case "private":
		how = unix.LOCK_EX | unix.LOCK_NB
	}
	if err := flock(lock, how); err != nil {
		if sharing != "private" || !errors.Is(err, unix.EWOULDBLOCK) {
			lock.Close()
			return "", false, nil, fmt.Errorf("cache mount %s: %w", id, err)
		}
		lock.Close()
		tmp, err := os.MkdirTemp(filepath.Join(x.dir, "mounts"), "private-")
		if err != nil {
			return "", false, nil, fmt.Errorf("cache mount %s: %w", id, err)
		}
		release := func() { os.RemoveAll(tmp) }
		if prepare != nil {
			if err := prepare(tmp); err != nil {
				release()
				return "", false, nil, err
			}
		}
		return tmp, true, release, nil
	}
	release = func() { lock.Close() }
	made := base + ".made"
	if _, err := os.Stat(made); err == nil {
		return base, false, release, nil
	}
	if prepare != nil {
		if err := prepare(base); err != nil {
			release()
			return "", false, nil, err
		}
	}
	_ = os.WriteFile(made, nil, 0o600)
	return base, true, release, nil
}

// flock retries on EINTR.
func flock(f *os.File, how int) error {
	for {
		err := unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			return err
		}
	}
}
