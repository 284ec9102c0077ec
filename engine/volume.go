package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"

	"go.podman.io/storage/pkg/stringid"
)

// VolumeOptions describe a volume to create.
type VolumeOptions struct {
	Name      string
	Driver    string
	Labels    map[string]string
	Options   map[string]string
	Anonymous bool
	// IgnoreExisting returns an existing volume of that name instead of
	// failing (volume create --ignore, and -v NAME:/path).
	IgnoreExisting bool
}

// checkVolumeOptions accepts what the local driver can do without root:
// o=uid=N,gid=N (the owner of the data). Mounting a device or a file
// system (type=, device=) needs privileges a rootless user lacks.
func checkVolumeOptions(driver string, opts map[string]string) error {
	if driver != "" && driver != "local" {
		return fmt.Errorf("%w: volume driver %q: only local is available", config.ErrBadOption, driver)
	}
	for k, v := range opts {
		switch k {
		case "o":
			for _, o := range strings.Split(v, ",") {
				key, val, _ := strings.Cut(o, "=")
				if key != "uid" && key != "gid" {
					return fmt.Errorf("%w: volume option o=%s: only uid= and gid= are supported rootless", config.ErrBadOption, o)
				}
				if _, err := strconv.ParseUint(val, 10, 32); err != nil {
					return fmt.Errorf("%w: volume option o=%s: not a number", config.ErrBadOption, o)
				}
			}
		case "type", "device":
			return fmt.Errorf("%w: volume option %s=%s: mounting a device or file system needs root; rootless volumes are directories", config.ErrBadOption, k, v)
		default:
			return fmt.Errorf("%w: unknown volume option %q (want o=uid=N,gid=N)", config.ErrBadOption, k)
		}
	}
	return nil
}

func (e *Engine) volumeDir(name string) string { return e.paths.Volume(name) }

// CreateVolume makes a volume, under the name's lock: its record first
// (the name is claimed by the database's constraint), then its directory,
// made aside and renamed into place whole. A create killed in between
// leaves a record without data, which the next look at the volume
// completes (Volume, Volumes): no volume is ever listed without its data.
func (e *Engine) CreateVolume(ctx context.Context, o VolumeOptions) (*config.Volume, error) {
	if o.Name == "" {
		o.Name = stringid.GenerateRandomID()
	} else if err := config.CheckName(o.Name); err != nil {
		return nil, fmt.Errorf("%w: volume name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", config.ErrBadOption, o.Name)
	}
	if err := checkVolumeOptions(o.Driver, o.Options); err != nil {
		return nil, err
	}
	v := &config.Volume{Name: o.Name, Driver: "local", CreatedAt: time.Now(), Labels: o.Labels, Options: o.Options, Scope: "local", Anonymous: o.Anonymous}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	if v.Options == nil {
		v.Options = map[string]string{}
	}
	v.Mountpoint = filepath.Join(e.volumeDir(v.Name), "_data")
	lock, err := e.state.VolumeLock(v.Name)
	if err != nil {
		return nil, err
	}
	if err := e.state.AddVolume(ctx, v); err != nil {
		lock.Close()
		if errors.Is(err, config.ErrVolumeExists) && o.IgnoreExisting {
			return e.Volume(ctx, o.Name)
		}
		return nil, err
	}
	defer lock.Close()
	if err := e.makeVolumeDir(v); err != nil {
		_ = e.state.RemoveVolume(ctx, v.Name)
		_ = os.RemoveAll(e.volumeDir(v.Name))
		return nil, err
	}
	return v, nil
}

// makeVolumeDir gives a recorded volume its directory, empty and owned as
// its options say. The caller holds the volume's lock, so whatever is at
// the volume's path is a leftover (of a create or rm killed half way).
func (e *Engine) makeVolumeDir(v *config.Volume) error {
	dir := e.volumeDir(v.Name)
	tmp := filepath.Join(filepath.Dir(dir), ".new-"+v.Name) // never a volume's name: those start with a letter or digit
	_ = os.RemoveAll(tmp)
	data := filepath.Join(tmp, "_data")
	if err := os.MkdirAll(data, 0o755); err != nil {
		return fmt.Errorf("creating the volume's directory: %w", err)
	}
	uid, gid := -1, -1
	for _, kv := range strings.Split(v.Options["o"], ",") {
		key, val, _ := strings.Cut(kv, "=")
		n, _ := strconv.Atoi(val)
		switch key {
		case "uid":
			uid = n
		case "gid":
			gid = n
		}
	}
	if uid >= 0 || gid >= 0 {
		if err := os.Chown(data, uid, gid); err != nil {
			_ = os.RemoveAll(tmp)
			return fmt.Errorf("%w: volume owner uid=%d gid=%d: %v", config.ErrBadOption, uid, gid, err)
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("removing what is left at the volume's path: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("creating the volume's directory: %w", err)
	}
	return nil
}

// complete makes sure a recorded volume has its data, finishing the work
// of a create that was killed after it recorded the volume. A volume
// removed meanwhile is ErrNoSuchVolume.
func (e *Engine) complete(ctx context.Context, v *config.Volume) error {
	if _, err := os.Stat(v.Mountpoint); err == nil {
		return nil
	}
	lock, err := e.state.VolumeLock(v.Name)
	if err != nil {
		return err
	}
	defer lock.Close()
	cur, err := e.state.LookupVolume(ctx, v.Name)
	if err != nil {
		return err
	}
	if _, err := os.Stat(v.Mountpoint); err == nil {
		return nil
	}
	return e.makeVolumeDir(cur)
}

// Volume looks a volume up by name.
func (e *Engine) Volume(ctx context.Context, name string) (*config.Volume, error) {
	v, err := e.state.LookupVolume(ctx, name)
	if err != nil {
		return nil, err
	}
	v.Mountpoint = filepath.Join(e.volumeDir(v.Name), "_data")
	if err := e.complete(ctx, v); err != nil {
		return nil, err
	}
	return v, nil
}

// Volumes lists every volume, by name.
func (e *Engine) Volumes(ctx context.Context) ([]*config.Volume, error) {
	vols, err := e.state.ListVolumes(ctx)
	if err != nil {
		return nil, err
	}
	out := vols[:0]
	for _, v := range vols {
		v.Mountpoint = filepath.Join(e.volumeDir(v.Name), "_data")
		if err := e.complete(ctx, v); err != nil {
			if errors.Is(err, config.ErrNoSuchVolume) {
				continue
			}
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// VolumeUsers are the containers whose mounts name the volume.
func (e *Engine) VolumeUsers(ctx context.Context, name string) ([]string, error) {
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	var users []string
	for _, r := range recs {
		for _, m := range r.Config.Mounts {
			if m.Type == config.MountVolume && m.Source == name {
				users = append(users, r.Name)
				break
			}
		}
	}
	return users, nil
}

// RemoveVolume deletes a volume and its data; one in use by a container is
// refused, unless force, which removes those containers first (as podman).
func (e *Engine) RemoveVolume(ctx context.Context, name string, force bool) error {
	v, err := e.Volume(ctx, name)
	if err != nil {
		return err
	}
	users, err := e.VolumeUsers(ctx, v.Name)
	if err != nil {
		return err
	}
	if len(users) > 0 {
		if !force {
			return fmt.Errorf("%w: %s is used by container(s) %s (remove them first, or use -f)", config.ErrVolumeInUse, v.Name, strings.Join(users, ", "))
		}
		for _, c := range users {
			if err := e.Remove(ctx, c, RemoveOptions{Force: true}); err != nil && !errors.Is(err, config.ErrNoSuchContainer) {
				return err
			}
		}
	}
	return e.removeVolume(ctx, v.Name)
}

// removeVolume drops the record, then the data, under the volume's lock: a
// crash in between leaves an unreferenced directory, never a record
// without data; the next create of the name clears it.
func (e *Engine) removeVolume(ctx context.Context, name string) error {
	lock, err := e.state.VolumeLock(name)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := e.state.RemoveVolume(ctx, name); err != nil {
		return err
	}
	if err := os.RemoveAll(e.volumeDir(name)); err != nil {
		return err
	}
	_ = os.Remove(lock.Name())
	return nil
}

// ListVolumesOptions are the options of volume ls.
type ListVolumesOptions struct {
	Filters VolumeFilters
}

// ListVolumes lists the volumes that pass the filters, by name.
func (e *Engine) ListVolumes(ctx context.Context, o ListVolumesOptions) ([]*config.Volume, error) {
	vols, err := e.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	var used map[string]bool
	if len(o.Filters.Dangling) > 0 {
		if used, err = e.volumesInUse(ctx); err != nil {
			return nil, err
		}
	}
	var out []*config.Volume
	for _, v := range vols {
		if o.Filters.match(v, used[v.Name]) {
			out = append(out, v)
		}
	}
	return out, nil
}

// volumesInUse are the volumes some container's mounts name.
func (e *Engine) volumesInUse(ctx context.Context) (map[string]bool, error) {
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	used := map[string]bool{}
	for _, r := range recs {
		for _, m := range r.Config.Mounts {
			if m.Type == config.MountVolume {
				used[m.Source] = true
			}
		}
	}
	return used, nil
}

// VolumeRmOptions are the options of volume rm.
type VolumeRmOptions struct {
	Names []string
	All   bool // every volume, instead of Names
	// Force removes the containers that use a volume first.
	Force bool
}

// VolumeRmReport is the outcome of removing one volume.
type VolumeRmReport struct {
	Name string // the volume's, as given (or listed, with All)
	Err  error
}

// RemoveVolumes removes each volume (RemoveVolume).
func (e *Engine) RemoveVolumes(ctx context.Context, o VolumeRmOptions) ([]VolumeRmReport, error) {
	names := o.Names
	if o.All {
		vols, err := e.Volumes(ctx)
		if err != nil {
			return nil, err
		}
		names = nil
		for _, v := range vols {
			names = append(names, v.Name)
		}
	}
	reports := make([]VolumeRmReport, 0, len(names))
	for _, n := range names {
		reports = append(reports, VolumeRmReport{Name: n, Err: e.RemoveVolume(ctx, n, o.Force)})
	}
	return reports, nil
}

// PruneOptions are the options of the prune verbs (containers, volumes,
// networks).
type PruneOptions struct {
	Filters PruneFilters
}

// PruneReport is one thing a prune removed, or failed to.
type PruneReport struct {
	ID  string // a container's id; a volume's or a network's name
	Err error
}

// PruneVolumes removes the volumes no container uses and that have every
// label of the filters. It stops at the first volume it fails to remove.
func (e *Engine) PruneVolumes(ctx context.Context, o PruneOptions) ([]PruneReport, error) {
	vols, err := e.Volumes(ctx)
	if err != nil {
		return nil, err
	}
	used, err := e.volumesInUse(ctx)
	if err != nil {
		return nil, err
	}
	var reports []PruneReport
	for _, v := range vols {
		if used[v.Name] || !MatchLabels(v.Labels, o.Filters.Labels) {
			continue
		}
		err := e.removeVolume(ctx, v.Name)
		reports = append(reports, PruneReport{ID: v.Name, Err: err})
		if err != nil {
			break
		}
	}
	return reports, nil
}

// removeAnonymousVolumes drops the container's anonymous volumes that no
// other container uses (rm -v, --rm).
func (e *Engine) removeAnonymousVolumes(ctx context.Context, rec *config.ContainerRecord) {
	for _, m := range rec.Config.Mounts {
		if m.Type != config.MountVolume || !m.Anonymous {
			continue
		}
		if users, err := e.VolumeUsers(ctx, m.Source); err == nil && len(users) == 0 {
			_ = e.removeVolume(ctx, m.Source)
		}
	}
}
