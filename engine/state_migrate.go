package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/state"
	"github.com/skiff-project/skiff/rootless"

	"golang.org/x/sys/unix"
)

// Before the state belonged to its store, one database per user
// ($XDG_DATA_HOME/skiff/state.db, the legacy directory) held the
// containers of every store. A store whose state lives elsewhere takes its
// own containers from there once, the first time it is opened: those whose
// layer is in the store, with their files, and the volumes only they use.

// adoptedVersion is the state database's user_version once the store has
// taken its containers from the legacy database.
const adoptedVersion = 1

func (e *Engine) adoptLegacyState(ctx context.Context, legacy rootless.StatePaths) error {
	if v, err := e.state.UserVersion(ctx); err != nil || v >= adoptedVersion {
		return err
	}
	// One adopter at a time (the kernel drops the lock of a killed one).
	f, err := os.OpenFile(filepath.Join(e.paths.Locks(), "adopt"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX); err != nil {
		return err
	}
	if v, err := e.state.UserVersion(ctx); err != nil || v >= adoptedVersion {
		return err
	}
	if _, err := os.Stat(legacy.DB()); err == nil {
		old, err := state.Open(legacy)
		if err != nil {
			return err
		}
		defer old.Close()
		if err := e.adoptFrom(ctx, old, legacy); err != nil {
			return err
		}
	}
	return e.state.SetUserVersion(ctx, adoptedVersion)
}

// adoptFrom moves this store's containers out of the legacy state old.
func (e *Engine) adoptFrom(ctx context.Context, old *state.State, legacy rootless.StatePaths) error {
	recs, err := old.List(ctx)
	if err != nil {
		return err
	}
	volumes := map[string]bool{}
	for _, r := range recs {
		if _, err := e.store.ContainerLayer(r.ID); err != nil {
			continue // not this store's
		}
		if err := e.adoptContainer(ctx, old, legacy, r); err != nil {
			return fmt.Errorf("container %s: %w", r.Name, err)
		}
		for _, m := range r.Config.Mounts {
			if m.Type == config.MountVolume {
				volumes[m.Source] = true
			}
		}
	}
	left, err := old.List(ctx)
	if err != nil {
		return err
	}
	for _, r := range left {
		for _, m := range r.Config.Mounts {
			delete(volumes, m.Source) // still used there: it stays
		}
	}
	for name := range volumes {
		if err := e.adoptVolume(ctx, old, legacy, name); err != nil {
			return fmt.Errorf("volume %s: %w", name, err)
		}
	}
	return nil
}

// adoptContainer moves one container's record, addresses, networks and
// files from old into this store's state, under its lock there.
func (e *Engine) adoptContainer(ctx context.Context, old *state.State, legacy rootless.StatePaths, r *config.ContainerRecord) error {
	lock, err := old.Lock(r.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if err := e.state.AdoptContainer(ctx, old, r); err != nil {
		return err
	}
	from, to := legacy.Container(r.ID), e.containerDir(r.ID)
	if err := moveDir(from, to); err != nil {
		return err
	}
	if e.observedState(r) == config.StateRunning {
		// Its monitor writes the exit and the log where they were.
		_ = os.Symlink(to, from)
	}
	if err := old.Remove(ctx, r.ID); err != nil {
		return err
	}
	old.RemoveLockFile(r.ID)
	return nil
}

// adoptVolume moves a volume's record and directory from old.
func (e *Engine) adoptVolume(ctx context.Context, old *state.State, legacy rootless.StatePaths, name string) error {
	v, err := old.LookupVolume(ctx, name)
	if errors.Is(err, config.ErrNoSuchVolume) {
		return nil
	} else if err != nil {
		return err
	}
	if err := e.state.AddVolume(ctx, v); err != nil && !errors.Is(err, config.ErrVolumeExists) {
		return err
	}
	if err := os.MkdirAll(e.paths.Volumes(), 0o700); err != nil {
		return err
	}
	if err := moveDir(legacy.Volume(name), e.volumeDir(name)); err != nil {
		return err
	}
	return old.RemoveVolume(ctx, name)
}

// moveDir renames from to to, copying across file systems; a from that
// does not exist is nothing to move.
func moveDir(from, to string) error {
	err := os.Rename(from, to)
	if err == nil || errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if !errors.Is(err, syscall.EXDEV) {
		return err
	}
	if err := copyTree(from, to); err != nil {
		return err
	}
	return os.RemoveAll(from)
}

// ErrOtherDriver means the store's containers were made with another
// storage driver than the one asked for.
var ErrOtherDriver = errors.New("the store's containers belong to another storage driver")

// checkDriver keeps the state with the driver whose layers its containers
// have: a store opened with another driver (--storage-driver) does not see
// those layers, so its rm would leave them behind. With no container, the
// state passes to the new driver.
func (e *Engine) checkDriver(ctx context.Context, graphRoot, driver string) error {
	path := e.paths.Driver()
	data, err := os.ReadFile(path)
	if err == nil && string(data) == driver {
		return nil
	}
	if err == nil && len(data) > 0 {
		n, err := e.state.CountContainers(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("%w: the store at %s keeps %d container(s) of the %s driver, which %s cannot reach: use --storage-driver %s, or another --root for %s", ErrOtherDriver, graphRoot, n, data, driver, data, driver)
		}
	}
	return writeFileAtomic(path, []byte(driver), 0o600)
}
