// Package spec writes the OCI runtime configuration of a process and its
// security profile: the 11 default capabilities and what --cap-add,
// --cap-drop and --privileged make of them, the default seccomp profile
// (moby's, for the architectures this kernel runs), masked and read-only
// /proc and /sys paths, id mappings of a user namespace of the container's
// own, rlimits, devices, --init, and the namespaced sysctls (containers.conf
// defaults, and the user's, tried first in throwaway namespaces). It reads
// records of engine/config and knows nothing of the state or the runtime.
package spec

import (
	"fmt"
	"log/slog"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/moby/profiles/seccomp"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/generate"
	"github.com/skiff-project/skiff/engine/config"
	"golang.org/x/sys/unix"
)

// DefaultCapabilities are the 11 capabilities a container gets by default,
// as podman grants them.
var DefaultCapabilities = []string{
	"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID", "CAP_KILL",
	"CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT",
}

// Paths hidden from, and read-only to, every container.
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
		"/proc/scsi", "/sys/firmware", "/sys/fs/selinux", "/sys/dev/block",
		"/proc/interrupts",
	}
	readonlyPaths = []string{
		"/proc/asound", "/proc/bus", "/proc/fs", "/proc/irq",
		"/proc/sys", "/proc/sysrq-trigger",
	}
)

// Options describe the process and environment of one container.
type Options struct {
	Rootfs         string
	Args           []string
	Env            []string
	Cwd            string
	UID, GID       uint32
	AdditionalGids []uint32
	Hostname       string
	Terminal       bool
	ConsoleSize    *specs.Box // the terminal's initial size
	NoNewPrivs     bool
	ReadOnly       bool // a read-only root file system
	// Mounts the engine adds (hosts, resolv.conf, hostname, volumes).
	Mounts []specs.Mount
}

// New generates a runtime configuration with the default security
// profile: the default capabilities, the default seccomp profile, masked and
// read-only /proc and /sys paths, new pid, ipc, uts, mount and network
// namespaces. Rootless, the container runs in skiff's user namespace, so it
// sees the user's whole id mapping; there is no cgroup path and there are no
// resource limits, which rootless runc cannot apply on cgroup v1.
func New(o Options) (*specs.Spec, error) {
	if len(o.Args) == 0 {
		return nil, fmt.Errorf("no command: the image has no CMD or ENTRYPOINT and none was given")
	}
	g, err := generate.New("linux")
	if err != nil {
		return nil, err
	}
	g.HostSpecific = false
	g.SetRootPath(o.Rootfs)
	g.SetRootReadonly(o.ReadOnly)
	g.SetProcessArgs(o.Args)
	g.ClearProcessEnv()
	for _, e := range o.Env {
		g.AddProcessEnv(config.EnvKey(e), config.EnvValue(e))
	}
	cwd := o.Cwd
	if cwd == "" {
		cwd = "/"
	}
	g.SetProcessCwd(cwd)
	g.SetProcessUID(o.UID)
	g.SetProcessGID(o.GID)
	for _, gid := range o.AdditionalGids {
		g.AddProcessAdditionalGid(gid)
	}
	g.SetProcessTerminal(o.Terminal)
	if o.Terminal && o.ConsoleSize != nil {
		g.SetProcessConsoleSize(o.ConsoleSize.Width, o.ConsoleSize.Height)
	}
	g.SetProcessNoNewPrivileges(o.NoNewPrivs)
	g.SetHostname(o.Hostname)

	g.ClearProcessCapabilities()
	for _, c := range DefaultCapabilities {
		for _, add := range []func(string) error{g.AddProcessCapabilityBounding, g.AddProcessCapabilityEffective, g.AddProcessCapabilityPermitted} {
			if err := add(c); err != nil {
				return nil, err
			}
		}
	}
	g.Config.Process.Capabilities.Inheritable = nil
	g.Config.Process.Capabilities.Ambient = nil
	g.ClearProcessRlimits()

	g.Config.Linux.MaskedPaths = append([]string(nil), maskedPaths...)
	g.Config.Linux.ReadonlyPaths = append([]string(nil), readonlyPaths...)
	g.Config.Linux.Resources = nil
	g.Config.Linux.CgroupsPath = ""
	g.ClearLinuxNamespaces()
	for _, ns := range []string{"pid", "ipc", "uts", "mount", "network"} {
		if err := g.AddOrReplaceLinuxNamespace(ns, ""); err != nil {
			return nil, err
		}
	}
	for _, m := range o.Mounts {
		g.AddMount(m)
	}
	profile, err := seccomp.GetDefaultProfile(g.Config)
	if err != nil {
		return nil, fmt.Errorf("building the default seccomp profile: %w", err)
	}
	profile.Architectures = runnableArchitectures(profile.Architectures)
	g.Config.Linux.Seccomp = profile
	return g.Config, nil
}

// runnableArchitectures drops from a seccomp profile the x32 ABI when this
// kernel has none (most distribution kernels leave it out or off): no x32
// program can run here, so the filter loses nothing, and the runtime
// compiles one architecture less, a third of its seccomp time.
func runnableArchitectures(arches []specs.Arch) []specs.Arch {
	if runtime.GOARCH != "amd64" || kernelHasX32() {
		return arches
	}
	return slices.DeleteFunc(slices.Clone(arches), func(a specs.Arch) bool { return a == specs.ArchX32 })
}

// kernelHasX32 asks the kernel for getpid through the x32 ABI: without x32
// support the call is unknown (ENOSYS).
var kernelHasX32 = sync.OnceValue(func() bool {
	const x32SyscallBit = 0x40000000
	_, _, errno := unix.RawSyscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
	return errno != unix.ENOSYS
})

// phase logs how long a step took, at debug level.
func phase(name string, start time.Time) {
	slog.Debug("phase", "step", name, "took", time.Since(start).Round(10*time.Microsecond))
}
