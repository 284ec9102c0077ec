package spec

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/network"
)

// DefaultSysctls are what a container with a network namespace of its own
// gets unless containers.conf's [containers] default_sysctls says
// otherwise: podman's default, which lets the container's root group use
// ICMP echo sockets (ping as iputils does it) without CAP_NET_RAW, which
// skiff, like podman, does not grant.
var DefaultSysctls = []string{"net.ipv4.ping_group_range=0 0"}

// sysctlName is a dotted sysctl name: no empty part, no path of its own.
var sysctlName = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_@:+-]+)+$`)

// parseSysctls reads NAME=VALUE entries of source (--sysctl, or
// containers.conf's default_sysctls), namespaced ones only.
func parseSysctls(source string, list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, config.Badf("%s %q: want NAME=VALUE", source, kv)
		}
		if !sysctlName.MatchString(k) {
			return nil, config.Badf("%s %q: %q is not a dotted sysctl name such as net.ipv4.ip_forward", source, kv, k)
		}
		if sysctlNamespace(k) == 0 {
			return nil, config.Badf("%s %s: not a namespaced sysctl (net.*, kernel.shm*, kernel.msg*, kernel.sem, fs.mqueue.*, kernel.domainname)", source, k)
		}
		out[k] = v
	}
	return out, nil
}

// sysctlNamespace is the kind of namespace a sysctl belongs to (its
// CLONE_ flag), or 0 for one of the host's alone.
func sysctlNamespace(k string) int {
	switch {
	case strings.HasPrefix(k, "net."):
		return unix.CLONE_NEWNET
	case strings.HasPrefix(k, "kernel.shm"), strings.HasPrefix(k, "kernel.msg"), k == "kernel.sem", strings.HasPrefix(k, "fs.mqueue."):
		return unix.CLONE_NEWIPC
	case k == "kernel.domainname":
		return unix.CLONE_NEWUTS
	}
	return 0
}

// sharesHostNetwork tells whether the container's network namespace is
// not its own: the host's, or another container's.
func sharesHostNetwork(c *config.ContainerConfig) (host, other bool) {
	return c.Network == network.ModeHost, strings.HasPrefix(c.Network, "container:")
}

// ResolveSysctls sets the container's sysctls, once its network mode is
// known: the user's --sysctl, tried first (trySysctls), and the defaults
// (containers.conf's default_sysctls, else DefaultSysctls) the user did
// not set, for the namespaces the container has of its own: no net.* one
// in the host's network namespace or another container's, as podman
// leaves them out.
func ResolveSysctls(user []string, c *config.ContainerConfig) error {
	set, err := parseSysctls("--sysctl", user)
	if err != nil {
		return err
	}
	host, other := sharesHostNetwork(c)
	for _, k := range slices.Sorted(maps.Keys(set)) {
		if host && sysctlNamespace(k) == unix.CLONE_NEWNET {
			return config.Badf("--sysctl %s: with --network host the network namespace is the host's, whose sysctls a container may not set", k)
		}
	}
	if err := trySysctls("--sysctl", set); err != nil {
		return err
	}
	defaults, source := config.ContainersConf().DefaultSysctls, "containers.conf default_sysctls"
	if defaults == nil {
		defaults, source = DefaultSysctls, ""
	}
	def, err := parseSysctls(source, defaults)
	if err != nil {
		return err
	}
	maps.DeleteFunc(def, func(k, _ string) bool {
		_, given := set[k]
		return given || (host || other) && sysctlNamespace(k) == unix.CLONE_NEWNET
	})
	if source != "" {
		if err := trySysctls(source, def); err != nil {
			return err
		}
	}
	maps.Copy(set, def)
	c.Security.Sysctls = nil
	if len(set) > 0 {
		c.Security.Sysctls = set
	}
	return nil
}

// trySysctls writes each sysctl as the runtime would, in new namespaces of
// their kinds made for the trial by a thread of its own, which ends with
// them: a name the kernel lacks or a value it refuses fails here, with the
// kernel's reason, before anything of the container exists (from the
// runtime it would be a failed start). Where no namespace can be made,
// the runtime alone judges.
func trySysctls(source string, sysctls map[string]string) error {
	flags := 0
	for k := range sysctls {
		flags |= sysctlNamespace(k)
	}
	if flags == 0 {
		return nil
	}
	defer phase("sysctls tried", time.Now())
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, in its own namespaces, ends with
		// this goroutine and is never given back to the scheduler.
		runtime.LockOSThread()
		if err := unix.Unshare(flags); err != nil {
			errc <- nil
			return
		}
		for _, k := range slices.Sorted(maps.Keys(sysctls)) {
			if err := writeSysctl(trialName(k), sysctls[k]); err != nil {
				errc <- sysctlError(source, k, sysctls[k], err)
				return
			}
		}
		errc <- nil
	}()
	return <-errc
}

// trialName is the sysctl tried for k: a per-interface one names an
// interface of the container's, which a new namespace does not have yet;
// its value is tried on the namespace's defaults for new interfaces.
func trialName(k string) string {
	parts := strings.Split(k, ".")
	if len(parts) > 4 && parts[0] == "net" && (parts[1] == "ipv4" || parts[1] == "ipv6") && (parts[2] == "conf" || parts[2] == "neigh") &&
		parts[3] != "all" && parts[3] != "default" {
		parts[3] = "default"
	}
	return strings.Join(parts, ".")
}

// writeSysctl writes value to sysctl k of this thread's namespaces.
func writeSysctl(k, value string) error {
	fd, err := unix.Open("/proc/sys/"+strings.ReplaceAll(k, ".", "/"), unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	_, err = unix.Write(fd, []byte(value))
	return err
}

func sysctlError(source, k, v string, err error) error {
	why := err.Error()
	switch {
	case errors.Is(err, unix.ENOENT):
		why = "this kernel has no such sysctl in a container's namespaces"
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ERANGE):
		why = fmt.Sprintf("the kernel refuses the value %q (%v)", v, err)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		why = fmt.Sprintf("a container of this user may not set it (%v)", err)
	}
	return config.Badf("%s %s=%s: %s", source, k, v, why)
}

// SetNetSysctls writes the spec's net.* sysctls in the network namespace at
// path (one skiff made, or another container's), which the container
// joins by its path, and takes them out of the spec. The runtime would
// write them as well, but a spec that sets net.* sysctls for a network
// namespace it does not create is one runtime-tools' validator refuses.
// Per-interface ones need the interfaces: call it once the namespace is
// connected.
func SetNetSysctls(path string, spec *specs.Spec) error {
	netSysctls := map[string]string{}
	for k, v := range spec.Linux.Sysctl {
		if sysctlNamespace(k) == unix.CLONE_NEWNET {
			netSysctls[k] = v
		}
	}
	if len(netSysctls) == 0 {
		return nil
	}
	defer phase("network sysctls", time.Now())
	errc := make(chan error, 1)
	go func() {
		// Never unlocked: the thread, in the container's network
		// namespace, ends with this goroutine.
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err == nil {
			err = unix.Setns(fd, unix.CLONE_NEWNET)
			unix.Close(fd)
		}
		if err != nil {
			errc <- fmt.Errorf("joining the container's network namespace to set its sysctls: %w", err)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(netSysctls)) {
			if err := writeSysctl(k, netSysctls[k]); err != nil {
				errc <- fmt.Errorf("%w: sysctl %s=%s of the container's network namespace: %v", config.ErrBadOption, k, netSysctls[k], err)
				return
			}
		}
		errc <- nil
	}()
	if err := <-errc; err != nil {
		return err
	}
	maps.DeleteFunc(spec.Linux.Sysctl, func(k, _ string) bool { _, ok := netSysctls[k]; return ok })
	if len(spec.Linux.Sysctl) == 0 {
		spec.Linux.Sysctl = nil
	}
	return nil
}
