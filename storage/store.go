package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/BurntSushi/toml"
	cstorage "go.podman.io/storage"
	"go.podman.io/storage/types"

	"github.com/skiff-project/skiff/rootless"
)

// Config says where the store lives and which driver it uses.
type Config struct {
	GraphRoot     string
	RunRoot       string
	Driver        string   // "" = overlay, falling back to vfs
	DriverOptions []string // from storage.conf
	ConfFile      string   // the storage.conf that was read, if any
}

// DefaultConfig is the store configuration for the current user: skiff's own
// paths ($XDG_DATA_HOME/skiff/storage, and a run root per user namespace in
// the runtime dir) rootless, and
// /var/lib/skiff/storage and /run/skiff/storage as root; a storage.conf
// (CONTAINERS_STORAGE_CONF, ~/.config/containers/storage.conf rootless,
// /etc/containers/storage.conf as root) overrides paths, driver and options.
func DefaultConfig() (Config, error) {
	var c Config
	l, err := rootless.UserLayout()
	if err != nil {
		return c, err
	}
	// Mounts live in the user's namespace, so the store's record of them
	// does too: a new namespace starts with none, as after a reboot.
	c.GraphRoot, c.RunRoot = l.DefaultGraphRoot(), l.Namespace(rootless.NamespaceID()).StorageRunRoot()
	conf, err := storageConfPath()
	if err != nil || conf == "" {
		return c, err
	}
	var tc types.TomlConfig
	if _, err := toml.DecodeFile(conf, &tc); err != nil {
		return c, fmt.Errorf("reading %s: %w", conf, err)
	}
	c.ConfFile = conf
	if tc.Storage.GraphRoot != "" {
		c.GraphRoot = os.ExpandEnv(tc.Storage.GraphRoot)
	} else if tc.Storage.RootlessStoragePath != "" && rootless.IsRootless() {
		c.GraphRoot = os.ExpandEnv(tc.Storage.RootlessStoragePath)
	}
	if tc.Storage.RunRoot != "" {
		c.RunRoot = os.ExpandEnv(tc.Storage.RunRoot)
	}
	c.Driver = tc.Storage.Driver
	if c.Driver == "overlay2" {
		c.Driver = "overlay"
	}
	// The library turns the [storage.options] tables into driver options.
	if opts, err := types.LoadStoreOptions(types.LoadOptions{}); err == nil {
		c.DriverOptions = opts.GraphDriverOptions
	}
	return c, nil
}

func storageConfPath() (string, error) {
	if p := os.Getenv("CONTAINERS_STORAGE_CONF"); p != "" {
		return p, nil
	}
	candidates := []string{"/etc/containers/storage.conf"}
	if rootless.IsRootless() {
		cfg, err := rootless.ConfigHome()
		if err != nil {
			return "", err
		}
		candidates = []string{filepath.Join(cfg, "containers", "storage.conf")}
	}
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", nil
}

// Store is an open image store. It holds the storage library's store and
// offers what skiff does with it as methods of its own.
type Store struct {
	lib    cstorage.Store
	Config Config
}

// Open opens (creating when needed) the store. Rootless, it must run inside
// the user namespace, and the caller has checked the graph root
// (CheckGraphRoot) before it wrote anything beside it. With no driver
// configured it uses native overlay and falls back to vfs where overlay
// cannot be mounted.
func Open(c Config) (*Store, error) {
	opts := types.StoreOptions{
		GraphRoot:          c.GraphRoot,
		RunRoot:            c.RunRoot,
		GraphDriverName:    c.Driver,
		GraphDriverOptions: c.DriverOptions,
	}
	if c.Driver == "" {
		opts.GraphDriverPriority = []string{"overlay", "vfs"}
	}
	if err := checkMountProgramLock(c); err != nil {
		return nil, err
	}
	s, err := cstorage.GetStore(opts)
	if err != nil {
		return nil, fmt.Errorf("opening the image store at %s: %w", c.GraphRoot, err)
	}
	c.Driver = s.GraphDriverName()
	return &Store{lib: s, Config: c}, nil
}

// checkMountProgramLock refuses, with the fix, a store that the storage
// library has locked to fuse-overlayfs (it does so for good once its native
// overlay check fails while fuse-overlayfs is installed) when the user cannot
// open /dev/fuse: every mount would fail later, obscurely.
func checkMountProgramLock(c Config) error {
	if c.Driver == "vfs" {
		return nil
	}
	for _, o := range c.DriverOptions {
		if strings.Contains(o, "mount_program") {
			return nil // configured on purpose
		}
	}
	flag := filepath.Join(c.GraphRoot, "overlay", ".has-mount-program")
	data, err := os.ReadFile(flag)
	if err != nil || strings.TrimSpace(string(data)) != "true" {
		return nil
	}
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if err == nil {
		f.Close()
		return nil
	}
	return fmt.Errorf("the image store at %s is marked for fuse-overlayfs (%s), but /dev/fuse cannot be opened (%v): if no image was stored through fuse-overlayfs, delete that file to use native overlay; otherwise give the user access to /dev/fuse",
		c.GraphRoot, flag, err)
}

// Close releases the store; layers mounted by this process stay mounted.
func (s *Store) Close() {
	_, _ = s.lib.Shutdown(false)
}

// CheckGraphRoot refuses a graph root that the user's namespace does not see
// as the host has it (a mount of the host's made later that did not
// propagate): before anything is written under it, by the store or beside it.
func CheckGraphRoot(graphRoot string) error {
	if err := rootless.CheckHostView(graphRoot); err != nil {
		return fmt.Errorf("opening the image store at %s: %w", graphRoot, err)
	}
	return nil
}
