package engine

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-project/skiff/network"
)

// NetworkOptions are run/create's network flags.
type NetworkOptions struct {
	Publish    []string // -p
	PublishAll bool     // -P
	DNS        []string
	DNSSearch  []string
	AddHosts   []string // NAME:IP
}

// DefaultNetwork is the rootless network: containers.conf's
// [network] default_rootless_network_cmd (pasta or slirp4netns) when it
// is installed, else pasta, else slirp4netns, else none.
func DefaultNetwork() string {
	mode := containersConf().networkCmd
	for _, m := range []string{mode, network.ModePasta, network.ModeSlirp4netns} {
		if m == network.ModePasta || m == network.ModeSlirp4netns {
			if _, err := exec.LookPath(m); err == nil {
				return m
			}
		}
	}
	return network.ModeNone
}

// ValidateNetwork checks a --network value this engine supports.
func ValidateNetwork(n string) error {
	switch {
	case n == "" || n == network.ModeNone || n == network.ModeHost || n == network.ModePasta || n == network.ModeSlirp4netns || n == "private":
		return nil
	case strings.HasPrefix(n, "container:") && len(n) > len("container:"):
		return nil
	}
	return fmt.Errorf("%w: --network %q: use pasta, slirp4netns, none, host, private or container:NAME", ErrBadOption, n)
}

// resolveNetwork fills the container's network configuration at create:
// the mode, the published ports (free host ports chosen now and checked,
// so that a taken one costs no container), DNS and extra hosts.
func (e *Engine) resolveNetwork(ctx context.Context, mode string, o NetworkOptions, exposed map[string]struct{}, c *ContainerConfig) error {
	if mode == "" || mode == "private" {
		mode = DefaultNetwork()
	}
	if after, ok := strings.CutPrefix(mode, "container:"); ok {
		other, err := e.state.Lookup(ctx, after)
		if err != nil {
			return err
		}
		mode = "container:" + other.ID
	}
	c.Network = mode
	var ports []network.PortMapping
	for _, p := range o.Publish {
		m, err := network.ParsePublish(p)
		if err != nil {
			return fmt.Errorf("%w: %v", ErrBadOption, err)
		}
		ports = append(ports, m...)
	}
	if o.PublishAll {
		keys := make([]string, 0, len(exposed))
		for k := range exposed {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			m, err := network.ParsePublish(k)
			if err != nil {
				return fmt.Errorf("%w: the image's EXPOSE %s: %v", ErrBadOption, k, err)
			}
			if !slices.ContainsFunc(ports, func(p network.PortMapping) bool {
				return p.ContainerPort == m[0].ContainerPort && p.Protocol == m[0].Protocol
			}) {
				ports = append(ports, m...)
			}
		}
	}
	if len(ports) > 0 && !hasHelper(mode) {
		return fmt.Errorf("%w: publishing ports needs the pasta or slirp4netns network, not %s", ErrBadOption, mode)
	}
	var err error
	if c.Ports, err = network.AssignPorts(ports); err != nil {
		return err
	}
	for _, d := range o.DNS {
		if net.ParseIP(d) == nil {
			return fmt.Errorf("%w: --dns %q is not an IP address", ErrBadOption, d)
		}
	}
	for _, h := range o.AddHosts {
		name, ip, ok := strings.Cut(h, ":")
		if ip == "host-gateway" {
			ip = network.Gateway()
		}
		if !ok || name == "" || net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: --add-host %q: want NAME:IP", ErrBadOption, h)
		}
		c.AddHosts = append(c.AddHosts, name+":"+ip)
	}
	c.DNS, c.DNSSearch = o.DNS, o.DNSSearch
	return nil
}

func (e *Engine) netnsPath(id string) string { return filepath.Join(e.nsDir, "netns", id) }

// setupNetwork gives the container its network before the runtime starts
// it: for pasta a namespace of its own, connected by a pasta process that
// forwards the published ports and ends with the namespace.
func (e *Engine) setupNetwork(rec *ContainerRecord, spec *specs.Spec) error {
	c := rec.Config
	setNetns := func(path string) {
		for i, ns := range spec.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				spec.Linux.Namespaces[i].Path = path
			}
		}
	}
	switch {
	case c.Network == network.ModeHost:
		spec.Linux.Namespaces = slices.DeleteFunc(spec.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.NetworkNamespace })
		bindHostSys(spec)
	case strings.HasPrefix(c.Network, "container:"):
		other, err := e.state.Lookup(context.Background(), strings.TrimPrefix(c.Network, "container:"))
		if err != nil {
			return fmt.Errorf("the network's container: %w", err)
		}
		pid := e.containerPid(other)
		if pid <= 0 || e.observedState(other) != StateRunning {
			return fmt.Errorf("%w: %s, whose network this container shares", ErrNotRunning, other.Name)
		}
		setNetns(fmt.Sprintf("/proc/%d/ns/net", pid))
		if len(c.Security.UIDMap) > 0 {
			bindHostSys(spec)
		}
	case hasHelper(c.Network):
		path := e.netnsPath(rec.ID)
		e.teardownNetwork(rec)
		if err := network.CreateNetns(path); err != nil {
			return err
		}
		start := network.StartPasta
		if c.Network == network.ModeSlirp4netns {
			start = network.StartSlirp4netns
		}
		if err := start(path, path+".pid", c.Ports); err != nil {
			network.RemoveNetns(path)
			return err
		}
		setNetns(path)
		if len(c.Security.UIDMap) > 0 {
			bindHostSys(spec)
		}
	}
	return nil
}

// bindHostSys replaces the container's sysfs with the host's, read-only:
// sysfs can only be mounted by the user namespace that owns the network
// namespace, which a container in the host's network, or with a user
// namespace of its own in a network namespace skiff made, is not.
func bindHostSys(spec *specs.Spec) {
	for i, m := range spec.Mounts {
		if m.Destination == "/sys" {
			spec.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

// teardownNetwork ends the container's pasta and namespace, in this
// namespace and in any earlier one of the user's that left them.
func (e *Engine) teardownNetwork(rec *ContainerRecord) {
	if !hasHelper(rec.Config.Network) {
		return
	}
	pids, _ := filepath.Glob(filepath.Join(filepath.Dir(e.nsDir), "ns-*", "netns", rec.ID+".pid"))
	for _, p := range pids {
		network.StopHelper(p)
	}
	network.RemoveNetns(e.netnsPath(rec.ID))
}

// hasHelper tells whether a network mode runs a helper process (pasta or
// slirp4netns) for a namespace of the container's own.
func hasHelper(mode string) bool { return mode == network.ModePasta || mode == network.ModeSlirp4netns }

// hostsFile is the container's /etc/hosts.
func hostsFile(c ContainerConfig) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	switch c.Network {
	case network.ModePasta:
		if addr := network.HostAddress(); addr != "" {
			fmt.Fprintf(&b, "%s\t%s\n", addr, c.Hostname)
		}
		if gw := network.Gateway(); gw != "" {
			fmt.Fprintf(&b, "%s\thost.containers.internal host.docker.internal\n", gw)
		}
	case network.ModeSlirp4netns:
		fmt.Fprintf(&b, "%s\t%s\n%s\thost.containers.internal host.docker.internal\n", network.SlirpAddress, c.Hostname, network.SlirpGateway)
	default:
		fmt.Fprintf(&b, "127.0.1.1\t%s\n", c.Hostname)
	}
	for _, h := range c.AddHosts {
		name, ip, _ := strings.Cut(h, ":")
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	return b.String()
}

// resolvConf is the container's /etc/resolv.conf: --dns and --dns-search,
// else the host's, with a loopback resolver reached through pasta's
// gateway (which it maps to the host's loopback).
func resolvConf(c ContainerConfig) string {
	servers, search := c.DNS, c.DNSSearch
	var options []string
	if f, err := os.Open("/etc/resolv.conf"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			if len(fields) < 2 {
				continue
			}
			switch fields[0] {
			case "nameserver":
				if len(c.DNS) == 0 {
					ip := net.ParseIP(fields[1])
					if ip != nil && ip.IsLoopback() {
						switch c.Network {
						case network.ModeHost:
						case network.ModePasta:
							fields[1] = network.Gateway()
						case network.ModeSlirp4netns:
							fields[1] = network.SlirpDNS
						default:
							continue
						}
					}
					servers = append(servers, fields[1])
				}
			case "search":
				if len(c.DNSSearch) == 0 {
					search = append(search, fields[1:]...)
				}
			case "options":
				options = append(options, fields[1:]...)
			}
		}
		f.Close()
	}
	if c.Network == network.ModeNone {
		servers = nil
	}
	var b strings.Builder
	if len(search) > 0 && !slices.Equal(search, []string{"."}) {
		fmt.Fprintf(&b, "search %s\n", strings.Join(search, " "))
	}
	for _, s := range servers {
		fmt.Fprintf(&b, "nameserver %s\n", s)
	}
	if len(options) > 0 {
		fmt.Fprintf(&b, "options %s\n", strings.Join(options, " "))
	}
	return b.String()
}
