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
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/stringid"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/rootless"
)

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Mount is one mount of a container, as -v, --mount, --tmpfs, an image's
// VOLUME or --volumes-from gave it.
type Mount struct {
	Type        string `json:"Type"`
	Source      string `json:"Source,omitempty"` // host path, or volume name
	Destination string `json:"Destination"`
	ReadOnly    bool   `json:"ReadOnly,omitempty"`
	// Anonymous: a volume made for this container alone.
	Anonymous bool `json:"Anonymous,omitempty"`
	// NoCopy: an empty volume does not get the image's files at its path.
	NoCopy bool `json:"NoCopy,omitempty"`
	// Chown (U): the source is given to the container's user at start.
	Chown       bool     `json:"Chown,omitempty"`
	Propagation string   `json:"Propagation,omitempty"`
	Options     []string `json:"Options"` // tmpfs and extra mount flags

	inherited bool // from --volumes-from, while resolving
}

var propagations = []string{"private", "rprivate", "shared", "rshared", "slave", "rslave"}

// mountFlags are the mount(8) flags -v and --mount pass on.
var mountFlags = []string{"suid", "nosuid", "dev", "nodev", "exec", "noexec"}

// ParseVolume parses a -v value: DEST (an anonymous volume),
// SRC:DEST[:OPTIONS] where SRC is an absolute (or ./relative) host path for
// a bind mount, else a volume name. OPTIONS: ro, rw, z, Z, U, nocopy,
// copy, propagation modes and suid/dev/exec flags.
func ParseVolume(spec string) (Mount, error) {
	bad := func(format string, args ...any) (Mount, error) {
		return Mount{}, fmt.Errorf("%w: -v %s: %s", ErrBadOption, spec, fmt.Sprintf(format, args...))
	}
	parts := strings.Split(spec, ":")
	var m Mount
	var opts string
	switch len(parts) {
	case 1:
		m = Mount{Type: MountVolume, Destination: parts[0], Anonymous: true}
	case 2, 3:
		m = Mount{Source: parts[0], Destination: parts[1]}
		if len(parts) == 3 {
			opts = parts[2]
		}
	default:
		return bad("want [SOURCE:]DESTINATION[:OPTIONS]")
	}
	if m.Source != "" {
		if strings.HasPrefix(m.Source, "/") || strings.HasPrefix(m.Source, ".") {
			m.Type = MountBind
		} else {
			m.Type = MountVolume
			if CheckName(m.Source) != nil {
				return bad("%q is neither an absolute host path nor a volume name", m.Source)
			}
		}
	} else if len(parts) > 1 {
		return bad("empty source")
	}
	if err := checkDestination(m.Destination); err != nil {
		return bad("%v", err)
	}
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			if err := applyVolumeOption(&m, o); err != nil {
				return bad("%v", err)
			}
		}
	}
	return m, nil
}

func checkDestination(dst string) error {
	switch {
	case dst == "":
		return errors.New("empty destination")
	case !strings.HasPrefix(dst, "/"):
		return fmt.Errorf("destination %q is not an absolute path", dst)
	case filepath.Clean(dst) == "/":
		return errors.New("cannot mount over /")
	}
	return nil
}

func applyVolumeOption(m *Mount, o string) error {
	switch {
	case o == "ro" || o == "readonly":
		m.ReadOnly = true
	case o == "rw":
		m.ReadOnly = false
	case o == "z" || o == "Z":
		// SELinux relabelling: parsed; this host has no SELinux to label for.
	case o == "U":
		m.Chown = true
	case o == "nocopy":
		m.NoCopy = true
	case o == "copy":
		m.NoCopy = false
	case slices.Contains(propagations, o):
		m.Propagation = o
	case slices.Contains(mountFlags, o):
		m.Options = append(m.Options, o)
	default:
		return fmt.Errorf("unknown option %q (want ro, rw, z, Z, U, nocopy, a propagation or suid/dev/exec flag)", o)
	}
	if m.Type != MountVolume && (o == "nocopy" || o == "copy") {
		return fmt.Errorf("%s applies to volumes, not bind mounts", o)
	}
	return nil
}

// ParseMount parses a --mount value: comma-separated KEY=VALUE with type
// (bind, volume or tmpfs; volume by default), source/src,
// target/destination/dst, readonly/ro, bind-propagation, volume-nocopy,
// relabel, U/chown, tmpfs-size, tmpfs-mode.
func ParseMount(spec string) (Mount, error) {
	bad := func(format string, args ...any) (Mount, error) {
		return Mount{}, fmt.Errorf("%w: --mount %s: %s", ErrBadOption, spec, fmt.Sprintf(format, args...))
	}
	m := Mount{Type: MountVolume}
	var tmpfs []string
	for _, field := range strings.Split(spec, ",") {
		key, val, hasValue := strings.Cut(field, "=")
		flag := func() (bool, error) {
			if !hasValue {
				return true, nil
			}
			b, err := strconv.ParseBool(val)
			if err != nil {
				return false, fmt.Errorf("%s=%s: want true or false", key, val)
			}
			return b, nil
		}
		var err error
		switch key {
		case "type":
			if val != MountBind && val != MountVolume && val != MountTmpfs {
				return bad("type %q: want bind, volume or tmpfs", val)
			}
			m.Type = val
		case "source", "src":
			m.Source = val
		case "target", "destination", "dst":
			m.Destination = val
		case "readonly", "ro":
			m.ReadOnly, err = flag()
		case "bind-propagation":
			if !slices.Contains(propagations, val) {
				return bad("bind-propagation %q: want one of %s", val, strings.Join(propagations, ", "))
			}
			m.Propagation = val
		case "volume-nocopy":
			m.NoCopy, err = flag()
		case "U", "chown":
			m.Chown, err = flag()
		case "relabel":
			if val != "shared" && val != "private" {
				return bad("relabel %q: want shared or private", val)
			}
		case "tmpfs-size":
			if _, perr := parseSize(val); perr != nil {
				return bad("tmpfs-size %q: %v", val, perr)
			}
			tmpfs = append(tmpfs, "size="+val)
		case "tmpfs-mode":
			if _, perr := strconv.ParseUint(val, 8, 32); perr != nil {
				return bad("tmpfs-mode %q: want an octal mode", val)
			}
			tmpfs = append(tmpfs, "mode="+val)
		default:
			return bad("unknown key %q", key)
		}
		if err != nil {
			return bad("%v", err)
		}
	}
	if err := checkDestination(m.Destination); err != nil {
		return bad("%v", err)
	}
	switch m.Type {
	case MountBind:
		if m.Source == "" {
			return bad("a bind mount needs a source")
		}
	case MountVolume:
		if m.Source == "" {
			m.Anonymous = true
		} else if CheckName(m.Source) != nil {
			return bad("%q is not a volume name", m.Source)
		}
	case MountTmpfs:
		if m.Source != "" {
			return bad("a tmpfs mount takes no source")
		}
		m.Options = append(defaultTmpfsOptions(), tmpfs...)
	}
	if len(tmpfs) > 0 && m.Type != MountTmpfs {
		return bad("tmpfs options on a %s mount", m.Type)
	}
	return m, nil
}

func defaultTmpfsOptions() []string { return []string{"rw", "noexec", "nosuid", "nodev"} }

// ParseTmpfs parses a --tmpfs value: DEST[:OPTIONS], OPTIONS as mount(8)
// takes them for tmpfs (size=, mode=, noexec, ...).
func ParseTmpfs(spec string) (Mount, error) {
	dst, opts, _ := strings.Cut(spec, ":")
	if err := checkDestination(dst); err != nil {
		return Mount{}, fmt.Errorf("%w: --tmpfs %s: %v", ErrBadOption, spec, err)
	}
	m := Mount{Type: MountTmpfs, Destination: dst, Options: defaultTmpfsOptions()}
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			if k, v, ok := strings.Cut(o, "="); ok && k == "size" {
				if _, err := parseSize(v); err != nil {
					return Mount{}, fmt.Errorf("%w: --tmpfs %s: size %q: %v", ErrBadOption, spec, v, err)
				}
			}
			m.Options = append(m.Options, o)
		}
	}
	return m, nil
}

// parseSize reads sizes such as 64m, 1g, 512k or bytes.
func parseSize(s string) (uint64, error) {
	mult := uint64(1)
	if s != "" {
		switch strings.ToLower(s[len(s)-1:]) {
		case "k":
			mult, s = 1<<10, s[:len(s)-1]
		case "m":
			mult, s = 1<<20, s[:len(s)-1]
		case "g":
			mult, s = 1<<30, s[:len(s)-1]
		case "b":
			s = s[:len(s)-1]
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, errors.New("want a number with an optional unit b, k, m or g")
	}
	return n * mult, nil
}

// resolveMounts checks the container's mounts before anything is made:
// bind sources exist (made absolute), destinations are not mounted twice;
// --volumes-from adds the mounts of other containers; the image's VOLUMEs
// not covered get anonymous volumes.
func (e *Engine) resolveMounts(ctx context.Context, mounts []Mount, from []string, imageVolumes map[string]struct{}) ([]Mount, error) {
	var out []Mount
	for _, f := range from {
		name, mode, _ := strings.Cut(f, ":")
		if mode != "" && mode != "ro" && mode != "rw" {
			return nil, fmt.Errorf("%w: --volumes-from %s: want CONTAINER[:ro|rw]", ErrBadOption, f)
		}
		src, err := e.state.Lookup(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, m := range src.Config.Mounts {
			if m.Type == MountTmpfs {
				continue
			}
			m.Anonymous = false // they belong to the other container
			m.inherited = true
			if mode != "" {
				m.ReadOnly = mode == "ro"
			}
			out = append(out, m)
		}
	}
	for _, m := range mounts {
		if m.Type == MountBind {
			abs, err := filepath.Abs(m.Source)
			if err != nil {
				return nil, fmt.Errorf("%w: bind source %s: %v", ErrBadOption, m.Source, err)
			}
			if _, err := os.Stat(abs); err != nil {
				return nil, fmt.Errorf("%w: bind source %s does not exist or cannot be reached: %v", ErrBadOption, m.Source, errors.Unwrap(err))
			}
			if err := rootless.CheckHostView(abs); err != nil {
				return nil, fmt.Errorf("%w: bind source %s: %w", ErrBadOption, m.Source, err)
			}
			m.Source = abs
		}
		m.Destination = filepath.Clean(m.Destination)
		// The container's own mount replaces one --volumes-from brought;
		// two of its own at one destination are an error (below).
		out = slices.DeleteFunc(out, func(o Mount) bool { return o.inherited && o.Destination == m.Destination })
		out = append(out, m)
	}
	for dst := range imageVolumes {
		dst = filepath.Clean(dst)
		if !slices.ContainsFunc(out, func(m Mount) bool { return m.Destination == dst }) {
			out = append(out, Mount{Type: MountVolume, Destination: dst, Anonymous: true})
		}
	}
	// Anonymous volumes are named now, so that the record names them
	// before they exist (createVolumes makes them, idempotently).
	for i := range out {
		if out[i].Type == MountVolume && out[i].Source == "" {
			out[i].Source = stringid.GenerateRandomID()
		}
	}
	seen := map[string]bool{}
	for _, m := range out {
		if seen[m.Destination] {
			return nil, fmt.Errorf("%w: %s is mounted twice", ErrBadOption, m.Destination)
		}
		seen[m.Destination] = true
	}
	// Parents before children, so that a mount inside another lands on it.
	slices.SortStableFunc(out, func(a, b Mount) int {
		return strings.Count(a.Destination, "/") - strings.Count(b.Destination, "/")
	})
	return out, nil
}

// createVolumes makes the volumes of a container that do not exist yet:
// its anonymous ones, and named ones as docker makes them on first use. It
// returns the named ones it made, which a failed create removes again.
func (e *Engine) createVolumes(ctx context.Context, mounts []Mount) (made []string, err error) {
	for _, m := range mounts {
		if m.Type != MountVolume {
			continue
		}
		_, lerr := e.state.LookupVolume(ctx, m.Source)
		if _, err := e.CreateVolume(ctx, VolumeOptions{Name: m.Source, Anonymous: m.Anonymous, IgnoreExisting: true}); err != nil {
			return made, err
		}
		if errors.Is(lerr, ErrNoSuchVolume) && !m.Anonymous {
			made = append(made, m.Source)
		}
	}
	return made, nil
}

// specMounts turns the container's mounts into runtime mounts, filling
// empty volumes with the image's files at their path first (unless
// nocopy) and handing U sources to the container's user.
func (e *Engine) specMounts(rec *ContainerRecord, rootfs string, uid, gid int) ([]specs.Mount, error) {
	var out []specs.Mount
	for _, m := range rec.Config.Mounts {
		switch m.Type {
		case MountTmpfs:
			out = append(out, specs.Mount{Destination: m.Destination, Type: "tmpfs", Source: "tmpfs", Options: m.Options})
			continue
		case MountVolume:
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
			if !slices.ContainsFunc(rec.Config.Mounts, func(m Mount) bool { return m.Destination == dst }) {
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
func (e *Engine) inspectMounts(rec *ContainerRecord) []InspectMount {
	out := []InspectMount{}
	for _, m := range rec.Config.Mounts {
		im := InspectMount{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly, Propagation: m.Propagation}
		if m.Type == MountVolume {
			im.Name, im.Driver = m.Source, "local"
			im.Source = filepath.Join(e.volumeDir(m.Source), "_data")
		}
		if m.Type == MountTmpfs {
			im.Source = "tmpfs"
		}
		if im.Propagation == "" && m.Type == MountBind {
			im.Propagation = "rprivate"
		}
		out = append(out, im)
	}
	return out
}
