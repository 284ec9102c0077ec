package state

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// ContainerLock is a held per-container lock. The kernel releases it when
// the process that holds it dies, so there is no lock table to leak.
type ContainerLock struct{ f *os.File }

// Lock takes the container's lock, waiting for it.
func (s *State) Lock(id string) (*ContainerLock, error) {
	f, err := os.OpenFile(filepath.Join(s.paths.Locks(), id), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return &ContainerLock{f: f}, nil
}

// Unlock releases the lock.
func (l *ContainerLock) Unlock() {
	if l != nil && l.f != nil {
		_ = unix.Flock(int(l.f.Fd()), unix.LOCK_UN)
		l.f.Close()
	}
}

// RemoveLockFile drops the lock file of a removed container.
func (s *State) RemoveLockFile(id string) { _ = os.Remove(filepath.Join(s.paths.Locks(), id)) }

// VolumeLock serialises what is done to one volume's directory: create,
// completion, removal. The kernel drops it with its holder; a lock file
// removed under a waiter (volume rm) is taken again on the new file.
func (s *State) VolumeLock(name string) (*os.File, error) {
	path := filepath.Join(s.paths.Locks(), "volume-"+name)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
		if err != nil {
			return nil, fmt.Errorf("locking volume %s: %w", name, err)
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
			f.Close()
			return nil, fmt.Errorf("locking volume %s: %w", name, err)
		}
		var held, now unix.Stat_t
		if unix.Fstat(int(f.Fd()), &held) == nil && unix.Stat(path, &now) == nil && held.Ino == now.Ino && held.Dev == now.Dev {
			return f, nil
		}
		f.Close()
	}
}
