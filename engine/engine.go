package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/state"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"

	"github.com/skiff-project/skiff/rootless"
	"github.com/skiff-project/skiff/storage"
)

// Options configure an Engine.
type Options struct {
	Storage storage.Config // zero value: storage.DefaultConfig()
	Runtime string         // OCI runtime name or path; "" = containers.conf, else runc
}

// Engine is one command's handle on the user's images and containers.
type Engine struct {
	store *storage.Store
	state *state.State
	// layout is the user's; paths are the store's state (what outlives a
	// namespace: the database, locks, logs and exit files), ns what
	// belongs to the current user namespace (bundles, the runtime's state).
	layout      rootless.Layout
	paths       rootless.StatePaths
	ns          rootless.NamespacePaths
	runtimeName string
	runtimes    runtimePaths  // resolved once per command (runtime.go)
	swept       chan struct{} // closed when the sweep of ended namespaces is done
}

// New opens the user's store and state. Rootless, the caller must already
// be inside the user namespace (rootless.Reexec).
func New(ctx context.Context, o Options) (*Engine, error) {
	defer phase("open store and state", time.Now())
	cfg, err := storeConfig(o.Storage)
	if err != nil {
		return nil, err
	}
	e := &Engine{runtimeName: o.Runtime}
	if e.layout, err = rootless.UserLayout(); err != nil {
		return nil, err
	}
	if err := storage.CheckGraphRoot(cfg.GraphRoot); err != nil {
		return nil, err
	}
	e.paths, e.ns = e.layout.State(cfg.GraphRoot), e.layout.Namespace(rootless.NamespaceID())
	if !fileExists(e.ns.Dir) {
		// The first command in a new namespace: a time to clear what
		// ended ones left, beside the command's own work (Close waits).
		e.swept = make(chan struct{})
		go func() { defer close(e.swept); e.sweepNamespaceDirs() }()
	}
	for _, dir := range []string{e.paths.Containers(), e.ns.Bundles()} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
	}
	if e.state, err = state.Open(e.paths); err != nil {
		return nil, err
	}
	// A driver asked for is checked before the store is opened with it:
	// opening leaves the driver's directories in the store.
	if cfg.Driver != "" {
		if err := e.checkDriver(ctx, cfg.GraphRoot, cfg.Driver); err != nil {
			e.Close()
			return nil, err
		}
	}
	if !fileExists(filepath.Join(cfg.RunRoot, "overlay")) {
		storage.SeedProbes(e.layout.StorageProbes(cfg.GraphRoot), cfg.RunRoot, "overlay")
	}
	if e.store, err = storage.Open(cfg); err != nil {
		e.Close()
		return nil, err
	}
	if err := e.checkDriver(ctx, cfg.GraphRoot, e.store.GraphDriverName()); err != nil {
		e.Close()
		return nil, err
	}
	if legacy := e.layout.LegacyState(); e.paths != legacy {
		if err := e.adoptLegacyState(ctx, legacy); err != nil {
			e.Close()
			return nil, fmt.Errorf("moving this store's containers out of %s: %w", legacy.DB(), err)
		}
	}
	return e, nil
}

// NewStateOnly opens only the state database of the store c (zero value:
// the default store), for verbs that read it and nothing else (ps): they
// need neither the user namespace nor the store.
func NewStateOnly(c storage.Config) (*Engine, error) {
	cfg, err := storeConfig(c)
	if err != nil {
		return nil, err
	}
	e := &Engine{}
	if e.layout, err = rootless.UserLayout(); err != nil {
		return nil, err
	}
	e.paths, e.ns = e.layout.State(cfg.GraphRoot), e.layout.Namespace(0)
	if err := os.MkdirAll(e.paths.Dir, 0o700); err != nil {
		return nil, err
	}
	if e.state, err = state.Open(e.paths); err != nil {
		return nil, err
	}
	return e, nil
}

// storeConfig is c, or the default store's configuration when c names no
// graph root, with the graph root made absolute.
func storeConfig(c storage.Config) (storage.Config, error) {
	if c.GraphRoot == "" {
		var err error
		if c, err = storage.DefaultConfig(); err != nil {
			return c, fmt.Errorf("reading the storage configuration: %w", err)
		}
	}
	abs, err := filepath.Abs(c.GraphRoot)
	if err != nil {
		return c, fmt.Errorf("the store's path %s: %w", c.GraphRoot, err)
	}
	c.GraphRoot = abs
	return c, nil
}

// StoreEnv is the environment by which a copy of skiff that the engine
// starts (the monitor's cleanup, the runtime's network hook) opens the same
// store: see StoreFromEnv.
func (e *Engine) StoreEnv() []string {
	data, _ := json.Marshal(storeEnv{GraphRoot: e.store.Config.GraphRoot, RunRoot: e.store.Config.RunRoot, Driver: e.store.Config.Driver})
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, storeEnvVar+"=") {
			env = append(env, kv)
		}
	}
	return append(env, storeEnvVar+"="+string(data))
}

const storeEnvVar = "_SKIFF_STORE"

type storeEnv struct{ GraphRoot, RunRoot, Driver string }

// StoreFromEnv is the store a parent skiff named in the environment
// (StoreEnv), if any.
func StoreFromEnv() (root, runRoot, driver string, ok bool) {
	var s storeEnv
	if v := os.Getenv(storeEnvVar); v == "" || json.Unmarshal([]byte(v), &s) != nil || s.GraphRoot == "" {
		return "", "", "", false
	}
	return s.GraphRoot, s.RunRoot, s.Driver, true
}

// Close releases the engine's resources.
func (e *Engine) Close() {
	if e == nil {
		return
	}
	if e.swept != nil {
		<-e.swept
	}
	if e.state != nil {
		e.state.Close()
	}
	if e.store != nil {
		// What the driver probed, this command or before, for the next
		// namespace's run root (some probes run at the first mount).
		if c := e.store.Config; e.store.GraphDriverName() == "overlay" {
			storage.SaveProbes(e.layout.StorageProbes(c.GraphRoot), c.RunRoot, "overlay")
		}
		e.store.Close()
	}
}

// containerDir keeps a container's log and exit status across namespaces.
func (e *Engine) containerDir(id string) string { return e.paths.Container(id) }

// bundleDir is the OCI bundle of a container in the current namespace. A
// container with a user namespace of its own has it where that
// namespace's root can reach it (nestedBundleRoot).
func (e *Engine) bundleDir(rec *config.ContainerRecord) string {
	if len(rec.Config.Security.UIDMap) > 0 {
		return filepath.Join(e.layout.NestedBundles(e.ns), rec.ID)
	}
	return e.ns.Bundle(rec.ID)
}

// nestedBundleRoot makes the parent of the bundles of containers with a
// user namespace of their own: their root is not the user, so it cannot
// pass the runtime directory (0700). A directory of the user's in /tmp,
// mode 0711, checked like the runtime directory fallback.
func (e *Engine) nestedBundleRoot(bundle string) error {
	top := filepath.Dir(filepath.Dir(bundle))
	if err := os.Mkdir(top, 0o711); err != nil && !os.IsExist(err) {
		return err
	}
	st, err := os.Lstat(top)
	if err != nil {
		return err
	}
	if sys, ok := st.Sys().(*syscall.Stat_t); !st.IsDir() || !ok || int(sys.Uid) != os.Getuid() || st.Mode().Perm() != 0o711 {
		return fmt.Errorf("%s is not a directory of mode 0711 owned by this user; remove it", top)
	}
	return os.MkdirAll(filepath.Dir(bundle), 0o711)
}

// nestedBundle makes the bundle of a container with a user namespace of
// its own. The runtime, in that namespace, binds the bundle's files
// (hosts, resolv.conf, hostname) into the container as the container's
// root, which is not the user: the bundle belongs to that root, mode 0700.
// So the container's root reaches it, the user too (root of skiff's
// namespace, where the container's ids are mapped), and no other user of
// the host reaches any file in it, whatever its mode (the container's
// users must read /etc/hosts: 0644), though the path is no secret (the
// parents are 0711; pasta's command line names the container).
func (e *Engine) nestedBundle(bundle string, s config.Security) error {
	if err := e.nestedBundleRoot(bundle); err != nil {
		return err
	}
	if err := os.Mkdir(bundle, 0o700); err != nil && !os.IsExist(err) {
		return err
	}
	if err := os.Lchown(bundle, int(containerRoot(s.UIDMap)), int(containerRoot(s.GIDMap))); err != nil {
		return fmt.Errorf("giving the bundle to the container's root: %w", err)
	}
	return os.Chmod(bundle, 0o700)
}

// containerRoot is the id of skiff's namespace that a container's id 0
// maps to (the first mapped one when 0 is not mapped).
func containerRoot(m []config.IDMapping) uint32 {
	for _, x := range m {
		if x.ContainerID == 0 {
			return x.HostID
		}
	}
	if len(m) > 0 {
		return m[0].HostID
	}
	return 0
}

// runtimeRoot is where the OCI runtime keeps its state for this namespace.
func (e *Engine) runtimeRoot() string { return e.ns.RuntimeRoot() }

// LogPath is the container's log file.
func (e *Engine) LogPath(id string) string { return e.paths.Log(id) }

func (e *Engine) exitPath(id string) string { return e.paths.Exit(id) }

// MonitorPidPath is where a detached container's monitor pid is kept,
// the same path in every namespace of the user's.
func (e *Engine) MonitorPidPath(id string) string {
	return e.paths.MonitorPid(id)
}

// pidPath is where the runtime writes the container's pid: kept with the
// container, so the pid is known from any namespace (a killed `run`).
func (e *Engine) pidPath(id string) string { return e.paths.Pid(id) }

// seccompDir keeps the user's compiled seccomp profiles.
func (e *Engine) seccompDir() string { return e.layout.SeccompDir() }

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// sweepNamespaceDirs removes the directories of the user's namespaces that
// ended: those moved aside when the kernel gave their inode again, and
// those no process lives in any more (their mounts, bundles and runtime
// state went with them).
func (e *Engine) sweepNamespaceDirs() {
	defer phase("sweep ended namespaces", time.Now())
	for _, d := range e.layout.StaleNamespaces() {
		_ = os.RemoveAll(d)
	}
	namespaces := e.layout.Namespaces()
	for _, ns := range namespaces {
		if ns != e.ns {
			// A killed build's RUN keeps its namespace alive unseen.
			e.endBuildRunsIn(context.Background(), ns)
		}
	}
	// A few ended namespaces' directories wait for the next sweep: with
	// no container running, every command makes a namespace, and looking
	// through every process each time costs more than they do.
	if len(namespaces) <= keptNamespaceDirs {
		return
	}
	live := rootless.LiveNamespaces()
	for _, ns := range namespaces {
		if inode, ok := ns.Inode(); ok && ns != e.ns && !live[inode] && !e.namespaceInUse(ns) {
			_ = os.RemoveAll(ns.Dir)
		}
	}
}

// keptNamespaceDirs is how many namespace directories, this one's with
// them, may be left before a sweep looks for those that ended.
const keptNamespaceDirs = 8

// namespaceInUse tells whether a process the user may not look at still
// lives in the namespace of ns: from a sibling namespace, /proc/PID/ns of
// a process that is not dumpable (pasta, slirp4netns, a container's
// program that made itself so) cannot be read, so LiveNamespaces misses
// it. The namespace's own files name those processes: its helpers' pid
// files, and its containers' runtime state (their init's pid is in the
// state directory). A reused PID keeps a dead namespace's directory until
// a later sweep, which is harmless; removing a live one is not.
func (e *Engine) namespaceInUse(ns rootless.NamespacePaths) bool {
	var pidfiles []string
	if helpers, err := filepath.Glob(ns.Netns("*") + ".pid"); err == nil {
		pidfiles = append(pidfiles, helpers...)
	}
	if entries, err := os.ReadDir(ns.RuntimeRoot()); err == nil {
		for _, ent := range entries {
			pidfiles = append(pidfiles, e.paths.Pid(ent.Name()))
		}
	}
	for _, f := range pidfiles {
		if pid := monitor.ReadPidFile(f); pid > 0 && processAlive(pid, time.Time{}) {
			return true
		}
	}
	// A build's RUN, its pid beside its bundle.
	runs, _ := filepath.Glob(filepath.Join(ns.Bundles(), "build-*-*", "skiff-rootfs-*"))
	return slices.ContainsFunc(runs, buildRunAlive)
}
