package spec

import (
	"fmt"
	"maps"
	"os/exec"
	"slices"
	"strings"

	"github.com/moby/profiles/seccomp"
	"github.com/moby/sys/capability"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/skiff-project/skiff/engine/config"
)

// CapabilitySet is the final capability list: the defaults (or all of them
// for --privileged), with --cap-add and --cap-drop applied; ALL works for
// both. nil, with none of them, is the defaults; an empty list is no
// capability at all (--cap-drop ALL), in every set the runtime has
// (bounding, effective, permitted), as docker gives it.
func CapabilitySet(add, drop []string, privileged bool) ([]string, error) {
	if len(add) == 0 && len(drop) == 0 && !privileged {
		return nil, nil
	}
	known := map[string]bool{}
	var all []string
	for _, c := range capability.ListKnown() {
		name := "CAP_" + strings.ToUpper(c.String())
		known[name] = true
		all = append(all, name)
	}
	norm := func(flag, c string) (string, error) {
		c = strings.ToUpper(c)
		if c == "ALL" {
			return c, nil
		}
		if !strings.HasPrefix(c, "CAP_") {
			c = "CAP_" + c
		}
		if !known[c] {
			return "", config.Badf("%s %s: unknown capability", flag, c)
		}
		return c, nil
	}
	set := slices.Clone(DefaultCapabilities)
	if privileged {
		set = slices.Clone(all)
	}
	for _, d := range drop {
		c, err := norm("--cap-drop", d)
		if err != nil {
			return nil, err
		}
		if c == "ALL" {
			set = nil
			continue
		}
		set = slices.DeleteFunc(set, func(s string) bool { return s == c })
	}
	for _, a := range add {
		c, err := norm("--cap-add", a)
		if err != nil {
			return nil, err
		}
		if c == "ALL" {
			set = slices.Clone(all)
			continue
		}
		if !slices.Contains(set, c) {
			set = append(set, c)
		}
	}
	if set == nil {
		set = []string{}
	}
	return set, nil
}

// InitPath is where --init's init sits in the container.
const InitPath = "/run/skiff-init"

// Apply adds to a default spec what the container's Security asks.
func Apply(spec *specs.Spec, c *config.ContainerConfig) error {
	s := c.Security
	caps := spec.Process.Capabilities
	if s.Caps != nil {
		caps.Bounding, caps.Effective, caps.Permitted = slices.Clone(s.Caps), slices.Clone(s.Caps), slices.Clone(s.Caps)
	}
	spec.Process.NoNewPrivileges = s.NoNewPrivs
	switch {
	case s.Privileged || s.Seccomp == "unconfined":
		spec.Linux.Seccomp = nil
	case s.Seccomp != "":
		profile, err := seccomp.LoadProfile(s.Seccomp, spec)
		if err != nil {
			return config.Badf("seccomp profile: %v", err)
		}
		profile.Architectures = runnableArchitectures(profile.Architectures)
		spec.Linux.Seccomp = profile
	}
	if s.Privileged || slices.Contains(s.Unmask, "ALL") {
		spec.Linux.MaskedPaths, spec.Linux.ReadonlyPaths = nil, nil
	} else {
		keep := func(p string) bool { return slices.Contains(s.Unmask, p) }
		spec.Linux.MaskedPaths = slices.DeleteFunc(spec.Linux.MaskedPaths, keep)
		spec.Linux.ReadonlyPaths = slices.DeleteFunc(spec.Linux.ReadonlyPaths, keep)
	}
	spec.Linux.MaskedPaths = append(spec.Linux.MaskedPaths, s.Mask...)
	if len(s.UIDMap) > 0 {
		spec.Linux.Namespaces = append(spec.Linux.Namespaces, specs.LinuxNamespace{Type: specs.UserNamespace})
		for _, m := range s.UIDMap {
			spec.Linux.UIDMappings = append(spec.Linux.UIDMappings, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
		}
		for _, m := range s.GIDMap {
			spec.Linux.GIDMappings = append(spec.Linux.GIDMappings, specs.LinuxIDMapping{ContainerID: m.ContainerID, HostID: m.HostID, Size: m.Size})
		}
	}
	for _, u := range s.Ulimits {
		spec.Process.Rlimits = append(spec.Process.Rlimits, specs.POSIXRlimit{Type: u.Rlimit(), Hard: u.Hard, Soft: u.Soft})
	}
	if s.ShmSize > 0 {
		for i, m := range spec.Mounts {
			if m.Destination == "/dev/shm" {
				opts := slices.DeleteFunc(slices.Clone(m.Options), func(o string) bool { return strings.HasPrefix(o, "size=") })
				spec.Mounts[i].Options = append(opts, fmt.Sprintf("size=%d", s.ShmSize))
			}
		}
	}
	for _, d := range s.Devices {
		opts := []string{"bind", "nosuid", "noexec"}
		if !strings.Contains(d.Perms, "w") {
			opts = append(opts, "ro")
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: d.Container, Type: "bind", Source: d.Host, Options: opts})
	}
	if len(s.Sysctls) > 0 {
		spec.Linux.Sysctl = maps.Clone(s.Sysctls)
	}
	if s.Init {
		path, err := exec.LookPath("catatonit")
		if err != nil {
			return fmt.Errorf("%w: --init needs catatonit (apt-get install catatonit)", config.ErrBadOption)
		}
		spec.Mounts = append(spec.Mounts, specs.Mount{Destination: InitPath, Type: "bind", Source: path, Options: []string{"bind", "ro", "nosuid", "nodev"}})
		spec.Process.Args = append([]string{InitPath, "--"}, spec.Process.Args...)
	}
	return nil
}
