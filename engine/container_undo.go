package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"
	cstorage "go.podman.io/storage"

	"github.com/moby/sys/user"

	"github.com/skiff-project/skiff/rootless"
)

// A failed create or run changes nothing: exit 125 means the state is as it
// was. Create undoes its own steps; run, whose container was made before
// its start failed, calls UndoRun. Both end in RemoveCreated.

// RemoveCreated removes a container that Create made and what that Create
// made for it: its record (with its network addresses and its --userns auto
// range), its name, its layer, bundle and files, its anonymous volumes and
// the named volumes it made on first use. A container already gone is no
// error.
func (e *Engine) RemoveCreated(ctx context.Context, rec *config.ContainerRecord) error {
	lock, err := e.state.Lock(rec.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if cur, err := e.state.Lookup(ctx, rec.ID); err == nil {
		if err := e.removeContainer(ctx, cur, true); err != nil {
			return err
		}
	} else if !errors.Is(err, config.ErrNoSuchContainer) {
		return err
	} else {
		// Not recorded (yet): what Create made before the record.
		if err := e.store.DeleteContainerLayer(rec.ID); err != nil && !errors.Is(err, cstorage.ErrContainerUnknown) && !errors.Is(err, cstorage.ErrNotAContainer) {
			return fmt.Errorf("removing the container's layer: %w", err)
		}
		_ = os.RemoveAll(e.containerDir(rec.ID))
		e.state.RemoveLockFile(rec.ID)
	}
	for _, name := range rec.MadeVolumes {
		if users, err := e.VolumeUsers(ctx, name); err == nil && len(users) == 0 {
			_ = e.removeVolume(ctx, name)
		}
	}
	return nil
}

// UndoRun is what run does when the container it made failed to start
// (cause): a container whose command could not be run (exit 126 or 127)
// stays, as docker keeps it, unless --rm; anything else (exit 125) is
// removed with everything its Create made. It tells whether the container
// stays.
func (e *Engine) UndoRun(ctx context.Context, rec *config.ContainerRecord, cause error) (kept bool) {
	if errors.Is(cause, oci.ErrCommandNotFound) || errors.Is(cause, oci.ErrCannotInvoke) {
		if !rec.Config.AutoRemove {
			return true
		}
		rec.MadeVolumes = nil // it ran as far as a --rm container runs
	}
	if err := e.RemoveCreated(context.WithoutCancel(ctx), rec); err != nil {
		slog.Warn("removing the container that failed to start", "container", rec.Name, "err", err)
		return true
	}
	return false
}

// undoCreate removes what a failed Create made and returns its error.
func (e *Engine) undoCreate(ctx context.Context, rec *config.ContainerRecord, cause error) error {
	if err := e.RemoveCreated(context.WithoutCancel(ctx), rec); err != nil {
		slog.Warn("removing the container that failed to be created", "container", rec.Name, "err", err)
	}
	return cause
}

// userSpec is the USER[:GROUP] the container's process runs as: its own,
// or with --userns keep-id the caller's ids.
func userSpec(c config.ContainerConfig) string {
	if c.User == "" && c.Security.Userns == "keep-id" {
		return fmt.Sprintf("%d:%d", rootless.UID(), rootless.GID())
	}
	return c.User
}

// resolveUser finds the container's user, group and supplementary groups
// (--group-add) in the files of rootfs ("" when they need no files: ids
// only).
func resolveUser(rootfs string, c config.ContainerConfig) (*user.ExecUser, error) {
	passwd, group := "/dev/null", "/dev/null"
	if rootfs != "" {
		passwd, group = filepath.Join(rootfs, "etc/passwd"), filepath.Join(rootfs, "etc/group")
	}
	spec := userSpec(c)
	u, err := user.GetExecUserPath(spec, &user.ExecUser{Home: "/"}, passwd, group)
	if err != nil {
		return nil, fmt.Errorf("%w: user %q: %v", config.ErrBadOption, spec, err)
	}
	if len(c.Security.GroupAdd) > 0 {
		gids, err := user.GetAdditionalGroupsPath(c.Security.GroupAdd, group)
		if err != nil {
			return nil, fmt.Errorf("%w: --group-add: %v", config.ErrBadOption, err)
		}
		u.Sgids = append(u.Sgids, gids...)
	}
	return u, nil
}

// checkUser refuses at create, as start would, a user or group that the
// container's files lack or an id out of range. The layer is mounted only
// when a name needs looking up.
func (e *Engine) checkUser(rec *config.ContainerRecord) error {
	c := rec.Config
	if !namesInUser(userSpec(c), c.Security.GroupAdd) {
		_, err := resolveUser("", c)
		return err
	}
	rootfs, err := e.store.MountContainer(rec.ID)
	if err != nil {
		return fmt.Errorf("mounting the root filesystem: %w", err)
	}
	defer func() { _ = e.store.UnmountContainer(rec.ID, false) }()
	_, err = resolveUser(rootfs, c)
	return err
}

// namesInUser tells whether a user spec or a supplementary group is given
// by name rather than id.
func namesInUser(spec string, groups []string) bool {
	isID := func(s string) bool { return s == "" || strings.Trim(s, "0123456789") == "" }
	u, g, _ := strings.Cut(spec, ":")
	if !isID(u) || !isID(g) {
		return true
	}
	for _, grp := range groups {
		if !isID(grp) {
			return true
		}
	}
	return false
}
