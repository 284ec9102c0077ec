package rootless

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// Layout is where skiff keeps what it keeps for one user: the one owner of
// skiff's paths, which the engine, the store and this package ask.
//
//	Data (what outlives a boot): $XDG_DATA_HOME/skiff, /var/lib/skiff as root
//	  storage/                  the default store's graph root
//	  state.db, locks/, containers/ID/, volumes/NAME/, driver
//	                            the default store's state (StatePaths); another
//	                            store keeps its state in GRAPHROOT/skiff
//	Run (what a boot ends): $XDG_RUNTIME_DIR/skiff (else /tmp/skiff-run-UID/skiff),
//	  /run/skiff as root
//	  ns/                       the holders of the user's namespace and its lock
//	  ns-INODE/                 what belongs to one user namespace (NamespacePaths):
//	                            storage/ (the store's run root), containers/ID/
//	                            (bundles), runtime/ (the OCI runtime's state),
//	                            netns/, hub/; as root there is one: Run itself
//	  seccomp/                  compiled seccomp programs
//	  no-controllers            the empty file crun's hybrid-cgroup check reads
//	/tmp/skiff-nested-UID/ns-INODE/ID
//	                            bundles of containers with a user namespace of
//	                            their own (their root must reach them)
type Layout struct {
	Data, Run string
	root      bool
	uid       int
}

// UserLayout is the layout of the user skiff acts for.
func UserLayout() (Layout, error) {
	if !IsRootless() {
		return Layout{Data: "/var/lib/skiff", Run: "/run/skiff", root: true}, nil
	}
	data, err := DataHome()
	if err != nil {
		return Layout{}, err
	}
	run, err := RuntimeDir()
	if err != nil {
		return Layout{}, err
	}
	return Layout{Data: filepath.Join(data, "skiff"), Run: filepath.Join(run, "skiff"), uid: UID()}, nil
}

// DefaultGraphRoot is the graph root of the user's default store.
func (l Layout) DefaultGraphRoot() string { return filepath.Join(l.Data, "storage") }

// State is where the state of the store at graphRoot lives (its database,
// locks, containers' logs and volumes): the state belongs to its store. It
// is kept in the store, GRAPHROOT/skiff, as podman keeps its database and
// volumes in its graph root; the default store keeps it where skiff always
// kept it, in Data beside the store.
func (l Layout) State(graphRoot string) StatePaths {
	if filepath.Clean(graphRoot) == l.DefaultGraphRoot() {
		return StatePaths{l.Data}
	}
	return StatePaths{filepath.Join(graphRoot, "skiff")}
}

// LegacyState is the state of every store before the state belonged to its
// store: the default store's.
func (l Layout) LegacyState() StatePaths { return StatePaths{l.Data} }

// StorageProbes keeps what the storage driver learnt of the kernel and the
// file system of graphRoot (overlay's probe results), for the run roots of
// namespaces made later: each namespace has a run root of its own, and
// probing again costs a new namespace's first command 20 ms of mounts.
func (l Layout) StorageProbes(graphRoot string) string {
	sum := sha256.Sum256([]byte(filepath.Clean(graphRoot)))
	return filepath.Join(l.Run, "probes", hex.EncodeToString(sum[:8]))
}

// HoldersDir keeps the records of the processes that hold the user's
// namespace, and the lock under which it is found or made.
func (l Layout) HoldersDir() string { return filepath.Join(l.Run, "ns") }

// Namespace is what belongs to the user namespace of that inode (0: none,
// for commands that read the state alone). As root there is one.
func (l Layout) Namespace(inode uint64) NamespacePaths {
	if l.root {
		return NamespacePaths{l.Run}
	}
	if inode == 0 {
		return NamespacePaths{filepath.Join(l.Run, "ns-none")}
	}
	return NamespacePaths{filepath.Join(l.Run, fmt.Sprintf("ns-%d", inode))}
}

// Namespaces are the directories of every namespace the user had since
// boot, this one and those that are gone.
func (l Layout) Namespaces() []NamespacePaths {
	if l.root {
		return []NamespacePaths{{l.Run}}
	}
	dirs, _ := filepath.Glob(filepath.Join(l.Run, "ns-*"))
	out := make([]NamespacePaths, 0, len(dirs))
	for _, d := range dirs {
		if !strings.Contains(filepath.Base(d), staleSuffix) {
			out = append(out, NamespacePaths{d})
		}
	}
	return out
}

// staleSuffix marks the directory of an ended namespace whose inode a new
// one got: ns-INODE.stale-PID (RetireNamespaceDir, and enter.c).
const staleSuffix = ".stale-"

// RetireNamespaceDir moves aside the directory of namespace inode, which
// was just made: a directory of that name is an ended namespace's, whose
// inode the kernel gave again, and nothing of it may pass for the new
// one's. The creator calls it, under the holders' lock.
func (l Layout) RetireNamespaceDir(inode uint64) {
	if l.root {
		return
	}
	path := l.Namespace(inode).Dir
	_ = os.Rename(path, fmt.Sprintf("%s%s%d", path, staleSuffix, os.Getpid()))
}

// StaleNamespaces are the directories RetireNamespaceDir moved aside.
func (l Layout) StaleNamespaces() []string {
	dirs, _ := filepath.Glob(filepath.Join(l.Run, "ns-*"+staleSuffix+"*"))
	return dirs
}

// SeccompDir keeps the compiled seccomp programs (a new kernel boots with
// an empty cache, as it should: the programs depend on it).
func (l Layout) SeccompDir() string { return filepath.Join(l.Run, "seccomp") }

// NoControllers is the empty file bound over the unified hierarchy's
// controller list in skiff's mount namespace (crun on a hybrid host).
func (l Layout) NoControllers() string { return filepath.Join(l.Run, "no-controllers") }

// NestedBundles is the parent of the bundles of the containers of
// namespace ns that have a user namespace of their own: their root is not
// the user and cannot pass the runtime directory (0700), so it is a
// directory of the user's in /tmp, mode 0711.
func (l Layout) NestedBundles(ns NamespacePaths) string {
	return filepath.Join(os.TempDir(), fmt.Sprintf("skiff-nested-%d", l.uid), filepath.Base(ns.Dir))
}

// StatePaths are the files of one store's state.
type StatePaths struct{ Dir string }

// DB is the state database.
func (s StatePaths) DB() string { return filepath.Join(s.Dir, "state.db") }

// Locks holds the per-container and per-volume lock files.
func (s StatePaths) Locks() string { return filepath.Join(s.Dir, "locks") }

// Containers holds a directory per container.
func (s StatePaths) Containers() string { return filepath.Join(s.Dir, "containers") }

// Container keeps a container's log and exit status across namespaces.
func (s StatePaths) Container(id string) string { return filepath.Join(s.Dir, "containers", id) }

// Log is the container's log.
func (s StatePaths) Log(id string) string { return filepath.Join(s.Container(id), "ctr.log") }

// Exit is the exit file the container's monitor writes.
func (s StatePaths) Exit(id string) string { return filepath.Join(s.Container(id), "exit") }

// Restarting marks a container that restart stops and starts again: its
// monitor's cleanup does not remove it (--rm) in between. It holds the
// restarting command's pid.
func (s StatePaths) Restarting(id string) string { return filepath.Join(s.Container(id), "restarting") }

// KeptExits holds the exit files of --rm containers once they are gone,
// for a while, so that wait still tells their exit code.
func (s StatePaths) KeptExits() string { return filepath.Join(s.Dir, "exits") }

// KeptExit is the exit file of removed container id, if it is kept.
func (s StatePaths) KeptExit(id string) string { return filepath.Join(s.Dir, "exits", id) }

// Pid is where the runtime writes the container's pid: with the
// container, so that it is known from any namespace (a killed `run`).
func (s StatePaths) Pid(id string) string { return filepath.Join(s.Container(id), "pid") }

// MonitorPid is where a detached container's monitor pid is kept, for
// systemd units of Type=forking.
func (s StatePaths) MonitorPid(id string) string {
	return filepath.Join(s.Container(id), "monitor.pid")
}

// Volumes holds the volumes' directories.
func (s StatePaths) Volumes() string { return filepath.Join(s.Dir, "volumes") }

// Volume is a volume's directory (its data is in _data).
func (s StatePaths) Volume(name string) string { return filepath.Join(s.Dir, "volumes", name) }

// Driver records the storage driver of the store's containers' layers.
func (s StatePaths) Driver() string { return filepath.Join(s.Dir, "driver") }

// NamespacePaths are the files of what belongs to one user namespace.
type NamespacePaths struct{ Dir string }

// StorageRunRoot is the store's run root: its record of mounts lives and
// dies with the namespace the mounts are in.
func (n NamespacePaths) StorageRunRoot() string { return filepath.Join(n.Dir, "storage") }

// Bundles holds the containers' bundles.
func (n NamespacePaths) Bundles() string { return filepath.Join(n.Dir, "containers") }

// Bundle is a container's bundle.
func (n NamespacePaths) Bundle(id string) string { return filepath.Join(n.Dir, "containers", id) }

// RuntimeRoot is where the OCI runtime keeps its state.
func (n NamespacePaths) RuntimeRoot() string { return filepath.Join(n.Dir, "runtime") }

// Netns is where a container's network namespace is bind-mounted (its
// helper's pid file is beside it, with .pid).
func (n NamespacePaths) Netns(id string) string { return filepath.Join(n.Dir, "netns", id) }

// Hub keeps the bridges of the user's networks.
func (n NamespacePaths) Hub() string { return filepath.Join(n.Dir, "hub") }

// RuntimeDir is $XDG_RUNTIME_DIR when it is set and usable; otherwise a
// private directory /tmp/skiff-run-UID (mode 0700, owned by the user), as
// podman does on hosts without logind. It is created when missing.
func RuntimeDir() (string, error) {
	uid := UID()
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() && ownedBy(st, uid) {
			return d, nil
		}
	}
	if uid == 0 {
		return "/run", nil
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("skiff-run-%d", uid))
	if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("%w: creating %s: %v; set XDG_RUNTIME_DIR to a directory you own", ErrRuntimeDir, d, err)
	}
	st, err := os.Lstat(d)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRuntimeDir, err)
	}
	if !st.IsDir() || !ownedBy(st, uid) || st.Mode().Perm() != 0o700 {
		return "", fmt.Errorf("%w: %s is not a directory of mode 0700 owned by uid %d; remove it or set XDG_RUNTIME_DIR", ErrRuntimeDir, d, uid)
	}
	return d, nil
}

// ownedBy compares against the host uid; inside the namespace the user is 0.
func ownedBy(st os.FileInfo, uid int) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return int(sys.Uid) == uid || (InNamespace() && sys.Uid == 0)
}

// Inode is the user namespace's inode the directory is named after.
func (n NamespacePaths) Inode() (uint64, bool) {
	v, ok := strings.CutPrefix(filepath.Base(n.Dir), "ns-")
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseUint(v, 10, 64)
	return i, err == nil
}
