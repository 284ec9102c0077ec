package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/engine/spec"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/idtools"

	"github.com/skiff-project/skiff/rootless"
)

// ErrNoCgroupLimits means resource limits were asked for on a host where a
// rootless user cannot set them (no delegated cgroup v2).
var ErrNoCgroupLimits = errors.New("resource limits need cgroup v2 with a delegated controller")

// RunOptions are the run/create flags beyond the core ones: security,
// identity, limits and devices.
type RunOptions struct {
	Init        bool
	CapAdd      []string
	CapDrop     []string
	Privileged  bool
	SecurityOpt []string
	Userns      string // "", host, keep-id, auto[:size=N]
	UIDMap      []string
	GIDMap      []string
	Ulimits     []string
	ShmSize     string
	StopSignal  string // as given, checked by Create and kept as given
	// StopTimeout is how long stop waits for the stop signal to work
	// before it kills, kept in whole seconds; nil: 10 s.
	StopTimeout *time.Duration
	GroupAdd    []string
	Devices     []string
	Sysctls     []string
	Memory      string
	CPUs        string
	PidsLimit   string
	Restart     string // no, always, unless-stopped, on-failure[:N]
}

// resolveRunOptions checks the flags and turns them into the container's
// Security; nothing is created here, so bad input changes nothing.
func (e *Engine) resolveRunOptions(ctx context.Context, o RunOptions, c *config.ContainerConfig) error {
	if o.Memory != "" || o.CPUs != "" || o.PidsLimit != "" {
		if err := checkLimits(o); err != nil {
			return err
		}
	}
	s := &c.Security
	s.Init, s.Privileged = o.Init, o.Privileged
	caps, err := spec.CapabilitySet(o.CapAdd, o.CapDrop, o.Privileged)
	if err != nil {
		return err
	}
	s.Caps = caps
	if err := resolveSecurityOpts(o.SecurityOpt, s); err != nil {
		return err
	}
	if err := e.resolveUserns(ctx, o, s); err != nil {
		return err
	}
	for _, u := range o.Ulimits {
		ul, err := config.ParseUlimit(u)
		if err != nil {
			return err
		}
		s.Ulimits = append(s.Ulimits, ul)
	}
	if o.ShmSize != "" {
		n, err := config.ParseSize(o.ShmSize)
		if err != nil || n == 0 {
			return config.Badf("--shm-size %q: want a size such as 64m", o.ShmSize)
		}
		s.ShmSize = int64(n)
	}
	if o.StopSignal != "" {
		sig, err := config.ParseSignal(o.StopSignal)
		if err != nil {
			return config.Badf("--stop-signal %q: unknown signal", o.StopSignal)
		}
		c.StopSignal = sig
	}
	if c.Restart, err = config.ParseRestart(o.Restart); err != nil {
		return err
	}
	if c.AutoRemove && c.Restart.Name != config.RestartNo {
		return config.Badf("--restart %s and --rm exclude each other", o.Restart)
	}
	if o.StopTimeout != nil {
		t := int(*o.StopTimeout / time.Second)
		if *o.StopTimeout < 0 {
			return config.Badf("--stop-timeout %d: want seconds, 0 or more", t)
		}
		s.StopTimeout = &t
	}
	if slices.Contains(o.GroupAdd, "keep-groups") {
		return config.Badf("--group-add keep-groups: keeping the user's own groups needs crun with run.oci.keep_original_groups; runc cannot")
	}
	s.GroupAdd = o.GroupAdd
	for _, d := range o.Devices {
		dev, err := parseDevice(d)
		if err != nil {
			return err
		}
		s.Devices = append(s.Devices, dev)
	}
	return nil
}

// resolveSecurityOpts applies --security-opt values to s.
func resolveSecurityOpts(opts []string, s *config.Security) error {
	for _, opt := range opts {
		key, val, _ := strings.Cut(opt, "=")
		if key == opt { // podman also takes KEY:VALUE
			key, val, _ = strings.Cut(opt, ":")
		}
		switch key {
		case "no-new-privileges":
			if val != "" && val != "true" && val != "false" {
				return config.Badf("--security-opt %s: want no-new-privileges[=true|false]", opt)
			}
			s.NoNewPrivs = val != "false"
		case "seccomp":
			if val == "unconfined" {
				s.Seccomp = "unconfined"
				break
			}
			data, err := os.ReadFile(val)
			if err != nil {
				return config.Badf("--security-opt seccomp=%s: %v", val, errors.Unwrap(err))
			}
			if _, err := seccomp.LoadProfile(string(data), &specs.Spec{Process: &specs.Process{}}); err != nil {
				return config.Badf("--security-opt seccomp=%s: %v", val, err)
			}
			s.Seccomp = string(data)
		case "mask":
			for _, p := range strings.Split(val, ":") {
				if !filepath.IsAbs(p) {
					return config.Badf("--security-opt mask=%s: %q is not an absolute path", val, p)
				}
				s.Mask = append(s.Mask, p)
			}
		case "unmask":
			for _, p := range strings.Split(val, ":") {
				if p != "ALL" && !filepath.IsAbs(p) {
					return config.Badf("--security-opt unmask=%s: want ALL or absolute paths", val)
				}
				s.Unmask = append(s.Unmask, p)
			}
		case "label", "apparmor":
			// No SELinux or AppArmor profile is applied rootless here.
		default:
			return config.Badf("--security-opt %q: use no-new-privileges, seccomp=unconfined|FILE, mask=PATHS, unmask=PATHS|ALL, label= or apparmor=", opt)
		}
	}
	return nil
}

// checkLimits refuses --memory, --cpus and --pids-limit unless cgroup v2
// delegates the controllers to this user; they are never dropped silently.
func checkLimits(o RunOptions) error {
	for name, v := range map[string]string{"--memory": o.Memory, "--cpus": o.CPUs, "--pids-limit": o.PidsLimit} {
		if v == "" {
			continue
		}
		var err error
		switch name {
		case "--memory":
			_, err = config.ParseSize(v)
		case "--cpus":
			_, err = strconv.ParseFloat(v, 64)
		case "--pids-limit":
			_, err = strconv.ParseInt(v, 10, 64)
		}
		if err != nil {
			return config.Badf("%s %q: not a valid value", name, v)
		}
	}
	var why string
	if oci.HybridCgroups() {
		why = "this host mounts cgroup v1 (hybrid mode)"
	} else if data, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err != nil {
		why = "this host has no cgroup v2 hierarchy"
	} else {
		why = fmt.Sprintf("cgroup v2 controllers %q are not delegated to this user by systemd", strings.TrimSpace(string(data)))
	}
	return fmt.Errorf("%w: %s; run without --memory, --cpus and --pids-limit", ErrNoCgroupLimits, why)
}

// parseDevice reads HOST[:CONTAINER][:PERMS]. Rootless, a device is a bind
// mount of the host's node, so the user must be able to open it.
func parseDevice(s string) (config.Device, error) {
	parts := strings.Split(s, ":")
	d := config.Device{Host: parts[0], Perms: "rwm"}
	switch len(parts) {
	case 1:
		d.Container = d.Host
	case 2:
		if strings.Trim(parts[1], "rwm") == "" {
			d.Container, d.Perms = d.Host, parts[1]
		} else {
			d.Container = parts[1]
		}
	case 3:
		d.Container, d.Perms = parts[1], parts[2]
	default:
		return d, config.Badf("--device %q: want HOST[:CONTAINER][:PERMISSIONS]", s)
	}
	if !filepath.IsAbs(d.Host) || !filepath.IsAbs(d.Container) || d.Perms == "" || strings.Trim(d.Perms, "rwm") != "" {
		return d, config.Badf("--device %q: want absolute paths and permissions of r, w and m", s)
	}
	st, err := os.Stat(d.Host)
	if err != nil {
		return d, config.Badf("--device %s: %v", d.Host, errors.Unwrap(err))
	}
	if st.Mode()&os.ModeDevice == 0 {
		return d, config.Badf("--device %s: not a device node", d.Host)
	}
	mode := os.O_RDONLY
	if strings.Contains(d.Perms, "w") {
		mode = os.O_RDWR
	}
	f, err := os.OpenFile(d.Host, mode, 0)
	if err != nil {
		return d, config.Badf("--device %s: this user cannot open it (%v); rootless containers get only devices their user can use", d.Host, errors.Unwrap(err))
	}
	f.Close()
	return d, nil
}

// resolveUserns turns --userns, --uidmap and --gidmap into the mappings of a
// user namespace of the container's own, nested in skiff's.
func (e *Engine) resolveUserns(ctx context.Context, o RunOptions, s *config.Security) error {
	mode, arg, _ := strings.Cut(o.Userns, ":")
	if len(o.UIDMap)+len(o.GIDMap) > 0 {
		if mode != "" {
			return config.Badf("--userns and --uidmap/--gidmap exclude each other")
		}
		var err error
		if s.UIDMap, err = parseIDMaps("--uidmap", o.UIDMap); err != nil {
			return err
		}
		if s.GIDMap, err = parseIDMaps("--gidmap", o.GIDMap); err != nil {
			return err
		}
		if s.GIDMap == nil {
			s.GIDMap = s.UIDMap
		}
		if s.UIDMap == nil {
			s.UIDMap = s.GIDMap
		}
		s.Userns = "private"
		return nil
	}
	total := rootless.MappedIDs()
	switch mode {
	case "", "host":
		return nil
	case "keep-id":
		if arg != "" {
			return config.Badf("--userns keep-id takes no options here")
		}
		uid, gid := uint32(rootless.UID()), uint32(rootless.GID())
		s.UIDMap, s.GIDMap = keepIDMap(uid, total), keepIDMap(gid, total)
		s.Userns = "keep-id"
		return nil
	case "auto":
		size := uint32(1024)
		if arg != "" {
			k, v, _ := strings.Cut(arg, "=")
			n, err := strconv.ParseUint(v, 10, 32)
			if k != "size" || err != nil || n == 0 {
				return config.Badf("--userns auto:%s: want auto[:size=N]", arg)
			}
			size = uint32(n)
		}
		if size >= total {
			return config.Badf("--userns auto: no %d free ids left in the %d this user's namespace maps", size, total)
		}
		// The range itself is chosen where the container is recorded, in
		// the same transaction (State.Add): concurrent creates never
		// share one. HostID 0 (the user) marks it as not chosen yet.
		s.UIDMap = []config.IDMapping{{ContainerID: 0, HostID: 0, Size: size}}
		s.GIDMap = s.UIDMap
		s.Userns = "auto"
		return nil
	}
	return config.Badf("--userns %q: use host, keep-id or auto[:size=N]", o.Userns)
}

// keepIDMap maps the user's own id inside to 0 of skiff's namespace (the
// user), the ids below it to 1.., and the rest to themselves.
func keepIDMap(id, total uint32) []config.IDMapping {
	m := []config.IDMapping{{ContainerID: id, HostID: 0, Size: 1}}
	if id > 0 {
		m = append(m, config.IDMapping{ContainerID: 0, HostID: 1, Size: id})
	}
	if id+1 < total {
		m = append(m, config.IDMapping{ContainerID: id + 1, HostID: id + 1, Size: total - id - 1})
	}
	return m
}

// parseIDMaps reads CONTAINER:HOST:SIZE mappings (HOST counted in skiff's
// namespace, where 0 is the user).
func parseIDMaps(flag string, list []string) ([]config.IDMapping, error) {
	var out []config.IDMapping
	total := rootless.MappedIDs()
	for _, s := range list {
		f := strings.Split(s, ":")
		if len(f) != 3 {
			return nil, config.Badf("%s %q: want CONTAINER:HOST:SIZE", flag, s)
		}
		var n [3]uint64
		for i := range f {
			v, err := strconv.ParseUint(f[i], 10, 32)
			if err != nil {
				return nil, config.Badf("%s %q: %q is not a number", flag, s, f[i])
			}
			n[i] = v
		}
		if n[2] == 0 || n[1]+n[2] > uint64(total) {
			return nil, config.Badf("%s %q: host ids %d..%d are outside the %d this user's namespace maps", flag, s, n[1], n[1]+n[2]-1, total)
		}
		out = append(out, config.IDMapping{ContainerID: uint32(n[0]), HostID: uint32(n[1]), Size: uint32(n[2])})
	}
	return out, nil
}

// storageMappings are the container's id mappings for the store, which
// then lays out the container's files as the nested namespace sees them.
func storageMappings(s config.Security) idtools.IDMappings {
	conv := func(m []config.IDMapping) []idtools.IDMap {
		var out []idtools.IDMap
		for _, x := range m {
			out = append(out, idtools.IDMap{ContainerID: int(x.ContainerID), HostID: int(x.HostID), Size: int(x.Size)})
		}
		return out
	}
	return *idtools.NewIDMappingsFromMaps(conv(s.UIDMap), conv(s.GIDMap))
}
