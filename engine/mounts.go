package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"

	"github.com/skiff-project/skiff/engine/config"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/stringid"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/rootless"
)

// resolveMounts checks the container's mounts before anything is made:
// bind sources exist (made absolute), destinations are not mounted twice;
// --volumes-from adds the mounts of other containers; the image's VOLUMEs
// not covered get anonymous volumes.
func (e *Engine) resolveMounts(ctx context.Context, mounts []config.Mount, from []string, imageVolumes map[string]struct{}) ([]config.Mount, error) {
	var out []config.Mount
	for _, f := range from {
		name, mode, _ := strings.Cut(f, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("%w: --volumes-from %s: want CONTAINER[:ro|rw]", config.ErrBadOption, f)
		}
		src, err := e.state.Lookup(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, m := range src.Config.Mounts {
			if m.Type == config.MountTmpfs {
				continue
			}
			m.Anonymous = false // they belong to the other container
			m.Inherited = true
			if mode != "" {
				m.ReadOnly = mode == "ro"
			}
			out = append(out, m)
		}
	}
	for _, m := range mounts {
		if m.Type == config.MountBind {
			abs, err := filepath.Abs(m.Source)
			if err != nil {
				return nil, fmt.Errorf("%w: bind source %s: %v", config.ErrBadOption, m.Source, err)
			}
			// Asked first: a source inside a mount the namespace cannot
			// see does not exist here, and the hint says why.
			if err := rootless.CheckHostView(abs); err != nil {
				return nil, fmt.Errorf("%w: bind source %s: %w", config.ErrBadOption, m.Source, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("%w: bind source %s does not exist or cannot be reached: %v", config.ErrBadOption, m.Source, errors.Unwrap(err))
			}
			m.Source = abs
		}
		m.Destination = filepath.Clean(m.Destination)
		// The container's own mount replaces one --volumes-from brought;
		// two of its own at one destination are an error (below).
		out = slices.DeleteFunc(out, func(o config.Mount) bool { return o.Inherited && o.Destination == m.Destination })
		out = append(out, m)
	}
	for dst := range imageVolumes {
		dst = filepath.Clean(dst)
		if !slices.ContainsFunc(out, func(m config.Mount) bool { return m.Destination == dst }) {
			out = append(out, config.Mount{Type: config.MountVolume, Destination: dst, Anonymous: true})
		}
	}
	// Anonymous volumes are named now, so that the record names them
	// before they exist (createVolumes makes them, idempotently).
	for i := range out {
		if out[i].Type == config.MountVolume && out[i].Source == "" {
			out[i].Source = stringid.GenerateRandomID()
		}
	}
	seen := map[string]bool{}
	for _, m := range out {
		if seen[m.Destination] {
			return nil, fmt.Errorf("%w: %s is mounted twice", config.ErrBadOption, m.Destination)
		}
		seen[m.Destination] = true
	}
	// Parents before children, so that a mount inside another lands on it.
	slices.SortStableFunc(out, func(a, b config.Mount) int {
		return strings.Count(a.Destination, "/") - strings.Count(b.Destination, "/")
	})
	return out, nil
}

// createVolumes makes the volumes of a container that do not exist yet:
// its anonymous ones, and named ones as docker makes them on first use. It
// returns the named ones it made, which a failed create removes again.
func (e *Engine) createVolumes(ctx context.Context, mounts []config.Mount) (made []string, err error) {
	for _, m := range mounts {
		if m.Type != config.MountVolume {
			continue
		}
		_, lerr := e.state.LookupVolume(ctx, m.Source)
		if _, err := e.CreateVolume(ctx, VolumeOptions{Name: m.Source, Anonymous: m.Anonymous, IgnoreExisting: true}); err != nil {
			return made, err
		}
		if errors.Is(lerr, config.ErrNoSuchVolume) && !m.Anonymous {
			made = append(made, m.Source)
		}
	}
	return made, nil
}

// specMounts turns the container's mounts into runtime mounts, filling
// empty volumes with the image's files at their path first (unless
// nocopy) and handing U sources to the container's user.
func (e *Engine) specMounts(rec *config.ContainerRecord, rootfs string, uid, gid int) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, m := range rec.Config.Mounts {
		switch m.Type {
		case config.MountTmpfs:
			out = append(out, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: m.Options})
			continue
		case config.MountVolume:
			v, err := e.Volume(context.Background(), m.Source)
			if err != nil {
				return nil, fmt.Errorf("volume of %s: %w", m.Destination, err)
			}
			if !m.NoCopy {
				// The image's own symlinks resolve inside its root, never
				// to the host.
				src, err := securejoin.SecureJoin(rootfs, m.Destination)
				if err != nil {
					return nil, err
				}
				if err := copyUp(src, v.Mountpoint); err != nil {
					return nil, fmt.Errorf("copying the image's %s into volume %s: %w", m.Destination, v.Name, err)
				}
			}
			m.Source = v.Mountpoint
		}
		if m.Chown {
			if err := chownTree(m.Source, uid, gid); err != nil {
				return nil, fmt.Errorf("giving %s to the container's user (U): %w", m.Source, err)
			}
		}
		opts := []string{"rbind"}
		if m.ReadOnly {
			opts = append(opts, "ro")
		}
		opts = append(opts, m.Options...)
		if m.Propagation != "" {
			opts = append(opts, m.Propagation)
		} else {
			opts = append(opts, "rprivate")
		}
		out = append(out, specs.Mount{Destination: m.Destination, Type: "bind", Source: m.Source, Options: opts})
	}
	if rec.Config.ReadOnly && rec.Config.ReadOnlyTmpfs {
		for _, dst := range []string{"/tmp", "/var/tmp", "/run"} {
			if !slices.ContainsFunc(rec.Config.Mounts, func(m config.Mount) bool { return m.Destination == dst }) {
				out = append(out, specs.Mount{Destination: dst, Type: "tmpfs", Source: "tmpfs", Options: []string{"rw", "nosuid", "nodev"}})
			}
		}
	}
	return out, nil
}

// copyUp copies the image's tree at src into an empty volume directory,
// keeping modes, owners, symlinks and times, as docker does on first use.
func copyUp(src, dst string) error {
	st, err := os.Lstat(src)
	if err != nil || !st.IsDir() {
		return nil // nothing in the image there
	}
	if entries, err := os.ReadDir(dst); err != nil || len(entries) > 0 {
		return err
	}
	if err := copyTree(src, dst); err != nil {
		return err
	}
	// The volume's root takes the image directory's owner and mode.
	if sys, ok := st.Sys().(*syscall.Stat_t); ok {
		_ = os.Lchown(dst, int(sys.Uid), int(sys.Gid))
	}
	return os.Chmod(dst, st.Mode().Perm())
}

// copyTree copies the contents of src into the existing directory dst.
func copyTree(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if rel == "." {
			return nil
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			err = os.Mkdir(target, info.Mode().Perm())
		case info.Mode()&fs.ModeSymlink != 0:
			var link string
			if link, err = os.Readlink(p); err == nil {
				err = os.Symlink(link, target)
			}
		case info.Mode().IsRegular():
			err = copyFile(p, target, info.Mode().Perm())
		default:
			return nil // devices, sockets and fifos stay in the image
		}
		if err != nil {
			return err
		}
		if sys, ok := info.Sys().(*syscall.Stat_t); ok {
			_ = os.Lchown(target, int(sys.Uid), int(sys.Gid))
		}
		if info.Mode()&fs.ModeSymlink == 0 {
			_ = os.Chmod(target, info.Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky))
		}
		mtime := unix.NsecToTimespec(info.ModTime().UnixNano())
		_ = unix.UtimesNanoAt(unix.AT_FDCWD, target, []unix.Timespec{mtime, mtime}, unix.AT_SYMLINK_NOFOLLOW)
		return nil
	})
}

func copyFile(src, dst string, mode fs.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// chownTree gives a tree to uid:gid, not following symlinks.
func chownTree(root string, uid, gid int) error {
	return filepath.WalkDir(root, func(p string, _ fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, uid, gid)
	})
}

// InspectMount is a mount as docker inspect shows it.
type InspectMount struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	Mode        string `json:"Mode"`
	RW          bool   `json:"RW"`
	Propagation string `json:"Propagation"`
}

// inspectMounts describes the container's mounts for inspect.
func (e *Engine) inspectMounts(rec *config.ContainerRecord) []InspectMount {
	out := []InspectMount{}
	for _, m := range rec.Config.Mounts {
		im := InspectMount{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly, Propagation: m.Propagation}
		if m.Type == config.MountVolume {
			im.Name, im.Driver = m.Source, "local"
			im.Source = filepath.Join(e.volumeDir(m.Source), "_data")
		}
		if m.Type == config.MountTmpfs {
			im.Source = "tmpfs"
		}
		if im.Propagation == "" && m.Type == config.MountBind {
			im.Propagation = "rprivate"
		}
		out = append(out, im)
	}
	return out
}
