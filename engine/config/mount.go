package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
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

	// Inherited marks a mount from --volumes-from while create resolves
	// the mounts; not stored.
	Inherited bool `json:"-"`
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
			if _, perr := ParseSize(val); perr != nil {
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
				if _, err := ParseSize(v); err != nil {
					return Mount{}, fmt.Errorf("%w: --tmpfs %s: size %q: %v", ErrBadOption, spec, v, err)
				}
			}
			m.Options = append(m.Options, o)
		}
	}
	return m, nil
}

// ParseSize reads sizes such as 64m, 1g, 512k or bytes.
func ParseSize(s string) (uint64, error) {
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
