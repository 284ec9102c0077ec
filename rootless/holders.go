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
// inodes of its user and mount namespaces, so that a reused PID is never
// mistaken for a holder. There is one such namespace per user at a time: finding or
// creating it happens under nsLock.

// nsDir is where the holder records and the lock live, outside any
// namespace: $XDG_RUNTIME_DIR/skiff/ns.
func nsDir() (string, error) {
	l, err := UserLayout()
	if err != nil {
		return "", err
	}
	d := l.HoldersDir()
	if err := os.MkdirAll(d, 0o700); err != nil {
		return "", err
	}
	return d, nil
}

// UserNSInode is the inode of a process's user namespace (0 when gone).
func UserNSInode(pid int) uint64 { return nsInode(pid, "user") }

func nsInode(pid int, kind string) uint64 {
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/%s", pid, kind), &st); err != nil {
		return 0
	}
	return st.Ino
}

// Holder is a live process that keeps the user's namespace alive.
type Holder struct {
	Pid   int
	Inode uint64 // of its user namespace
	Mnt   uint64 // of its mount namespace; 0 in records of older skiffs
}

// A holder's record is "USERINO MNTINO": with the mount namespace too, a
// PID reused by a container's process (same user namespace, its own
// mounts) is never taken for a holder. Written here, by enter.c, and by
// the container monitor (engine/monitor's monitor.c, whose tests read its
// records with ParseHolderRecord).
func holderRecord(h Holder) string { return fmt.Sprintf("%d %d", h.Inode, h.Mnt) }

// ParseHolderRecord reads the record of holder pid.
func ParseHolderRecord(pid int, data string) (Holder, bool) {
	f := strings.Fields(data)
	if len(f) < 1 || len(f) > 2 {
		return Holder{}, false
	}
	h := Holder{Pid: pid}
	var err error
	if h.Inode, err = strconv.ParseUint(f[0], 10, 64); err != nil || h.Inode == 0 {
		return Holder{}, false
	}
	if len(f) == 2 {
		if h.Mnt, err = strconv.ParseUint(f[1], 10, 64); err != nil {
			return Holder{}, false
		}
	}
	return h, true
}

// RegisterHolder records pid as a holder of the namespaces it lives in.
// The caller holds the lock (nsLock), so that no reader takes the record
// it replaces for a dead one.
func RegisterHolder(pid int) error {
	dir, err := nsDir()
	if err != nil {
		return err
	}
	h := Holder{Pid: pid, Inode: UserNSInode(pid), Mnt: nsInode(pid, "mnt")}
	if h.Inode == 0 || h.Mnt == 0 {
		return fmt.Errorf("process %d is gone", pid)
	}
	tmp := filepath.Join(dir, fmt.Sprintf(".%d.tmp", pid))
	if err := os.WriteFile(tmp, []byte(holderRecord(h)), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, strconv.Itoa(pid)))
}

// UnregisterHolder drops pid's record. Call it while pid cannot be reused
// (the process itself, or its parent before reaping it): once reaped, the
// PID may be a new holder's.
func UnregisterHolder(pid int) {
	if dir, err := nsDir(); err == nil {
		_ = os.Remove(filepath.Join(dir, strconv.Itoa(pid)))
	}
}

// liveHolders returns the holders whose namespaces still exist, removing
// the records of dead ones; busy tells that some holder lives but is
// between namespaces (ending, or on its way in), so that an empty list
// does not yet mean there is no namespace. The caller holds the lock.
func liveHolders(dir string) (live []Holder, busy bool) {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if err != nil {
			continue // unregistered meanwhile
		}
		h, ok := ParseHolderRecord(pid, string(data))
		if !ok || UserNSInode(pid) != h.Inode {
			_ = os.Remove(path)
			continue
		}
		switch mnt := nsInode(pid, "mnt"); {
		case mnt == 0 && isZombie(pid):
			_ = os.Remove(path)
		case mnt == 0:
			busy = true
		case h.Mnt != 0 && mnt != h.Mnt:
			_ = os.Remove(path) // the PID is another process's now
		default:
			live = append(live, h)
		}
	}
	return live, busy
}

// isZombie: an ended process keeps its user namespace until it is reaped,
// but no longer has a mount namespace.
func isZombie(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] == 'Z' || s[i+2] == 'X'
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

// LiveNamespaces are the inodes of the user namespaces that processes this
// one may look at live in: a namespace none of the user's processes is in
// has ended (a process of a subordinate id alone, which the user cannot
// look at, would not keep it listed).
func LiveNamespaces() map[uint64]bool {
	live := map[uint64]bool{}
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		if en.Name()[0] < '0' || en.Name()[0] > '9' {
			continue
		}
		link, err := os.Readlink("/proc/" + en.Name() + "/ns/user")
		if err != nil {
			continue
		}
		if v, ok := strings.CutPrefix(link, "user:["); ok {
			if i, err := strconv.ParseUint(strings.TrimSuffix(v, "]"), 10, 64); err == nil {
				live[i] = true
			}
		}
	}
	return live
}
