package rootless

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// The user's namespace is kept alive by the processes that live in it: the
// container monitors, and the command that created it while it runs. Each
// records itself as a holder: a file named after its PID that holds the
// inode of its user namespace, so that a reused PID is never mistaken for a
// holder. There is one such namespace per user at a time: finding or
// creating it happens under nsLock.

// nsDir is where the holder records and the lock live, outside any
// namespace: $XDG_RUNTIME_DIR/skiff/ns.
func nsDir() (string, error) {
	run, err := RuntimeDir()
	if err != nil {
		return "", err
	}
	d := filepath.Join(run, "skiff", "ns")
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// UserNSInode is the inode of a process's user namespace (0 when gone).
func UserNSInode(pid int) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &st); err != nil {
		return 0
	}
	return st.Ino
}

// Holder is a live process that keeps the user's namespace alive.
type Holder struct {
	Pid   int
	Inode uint64
}

// RegisterHolder records pid as a holder of the namespace it lives in.
func RegisterHolder(pid int) error {
	dir, err := nsDir()
	if err != nil {
		return err
	}
	ino := UserNSInode(pid)
	if ino == 0 {
		return fmt.Errorf("process %d is gone", pid)
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%d.tmp", pid))
	if err := os.WriteFile(tmp, []byte(strconv.FormatUint(ino, 10)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, strconv.Itoa(pid)))
}

// UnregisterHolder drops pid's record.
func UnregisterHolder(pid int) {
	if dir, err := nsDir(); err == nil {
		_ = os.Remove(filepath.Join(dir, strconv.Itoa(pid)))
	}
}

// liveHolder returns a holder whose namespace still exists, removing the
// records of dead ones. The caller holds the lock.
func liveHolder(dir string) (Holder, bool) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		want, perr := strconv.ParseUint(strings.TrimSpace(string(data)), 10, 64)
		if err == nil && perr == nil && want != 0 && UserNSInode(pid) == want {
			return Holder{Pid: pid, Inode: want}, true
		}
		_ = os.Remove(filepath.Join(dir, e.Name()))
	}
	return Holder{}, false
}

// nsLock serialises finding or creating the namespace.
func nsLock(dir string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	var once sync.Once
	return func() { once.Do(func() { f.Close() }) }, nil
}

// NamespaceID identifies the namespace this process runs in: the inode of
// its user namespace.
func NamespaceID() uint64 { return UserNSInode(os.Getpid()) }

// HoldersDir is where holders record themselves (for the monitor).
func HoldersDir() (string, error) { return nsDir() }
