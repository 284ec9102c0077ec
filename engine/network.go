package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/spec"

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
	Aliases    []string // --network-alias, on each user-defined network
	IP         string   // --ip, on the first user-defined network
}

// DefaultNetwork is the rootless network: containers.conf's
// [network] default_rootless_network_cmd (pasta or slirp4netns) when it
// is installed, else pasta, else slirp4netns, else none.
func DefaultNetwork() string {
	mode := config.ContainersConf().NetworkCmd
	for _, m := range []string{mode, network.ModePasta, network.ModeSlirp4netns} {
		if m == network.ModePasta || m == network.ModeSlirp4netns {
			if _, err := exec.LookPath(m); err == nil {
				return m
			}
		}
	}
	return network.ModeNone
}

// NetworkChoice is run's and create's --network, parsed (ParseNetwork):
// a mode, or the user-defined networks the container is on.
type NetworkChoice struct {
	// Mode is none, host, pasta, slirp4netns or container; "" is the
	// default network (--network private or bridge too), and the mode
	// of a container on user-defined networks.
	Mode string
	// Container is the container whose network container:NAME shares.
	Container string
	// PastaOptions are the options of pasta:OPTS: nil unless given, and
	// for pasta: alone an empty list, pasta's own defaults without skiff's.
	PastaOptions []string
	// Networks are the user-defined networks, by name, the first first.
	Networks []string
}

// modeContainer is NetworkChoice's Mode of --network container:NAME.
const modeContainer = "container"

// ParseNetwork reads the --network values: one mode (pasta,
// slirp4netns, none, host, private, bridge, pasta:OPTS, container:NAME),
// or the names of user-defined networks, one per value or
// comma-separated (whether they exist, Create finds out).
func ParseNetwork(values []string) (NetworkChoice, error) {
	if len(values) == 1 {
		v := values[0]
		switch {
		case v == "" || v == "private" || v == "bridge":
			return NetworkChoice{}, nil
		case isNetworkMode(v):
			return NetworkChoice{Mode: v}, nil
		case strings.HasPrefix(v, "container:") && len(v) > len("container:"):
			return NetworkChoice{Mode: modeContainer, Container: strings.TrimPrefix(v, "container:")}, nil
		case strings.HasPrefix(v, "pasta:"):
			// pasta's own options, as podman passes them: comma-separated.
			opts := []string{}
			for _, opt := range strings.Split(strings.TrimPrefix(v, "pasta:"), ",") {
				if opt != "" {
					opts = append(opts, opt)
				}
			}
			return NetworkChoice{Mode: network.ModePasta, PastaOptions: opts}, nil
		}
	}
	var choice NetworkChoice
	for _, v := range values {
		for _, name := range strings.Split(v, ",") {
			if config.CheckName(name) != nil || isNetworkMode(name) {
				return NetworkChoice{}, fmt.Errorf("%w: --network %q: use pasta, slirp4netns, none, host, private, bridge, container:NAME or the names of networks", config.ErrBadOption, strings.Join(values, ","))
			}
			choice.Networks = append(choice.Networks, name)
		}
	}
	return choice, nil
}

func isNetworkMode(n string) bool {
	return n == "" || n == network.ModeNone || n == network.ModeHost || n == network.ModePasta || n == network.ModeSlirp4netns || n == "private" || n == "bridge"
}

// resolveNetwork fills the container's network configuration at create:
// the mode, the published ports (free host ports chosen now and checked,
// so that a taken one costs no container), DNS and extra hosts.
func (e *Engine) resolveNetwork(ctx context.Context, choice NetworkChoice, o NetworkOptions, exposed map[string]struct{}, c *config.ContainerConfig) error {
	mode := choice.Mode
	switch {
	case len(choice.Networks) > 0:
		// User-defined networks: the container's way out is the default
		// network unless every one of them is internal.
		outbound := false
		for i, name := range choice.Networks {
			n, err := e.Network(ctx, name)
			if err != nil {
				return fmt.Errorf("--network %s: %w", name, err)
			}
			a := config.NetworkAttachment{Name: n.Name, Aliases: o.Aliases}
			if i == 0 {
				a.IP = o.IP
			}
			c.Networks = append(c.Networks, a)
			outbound = outbound || !n.Internal
		}
		mode = config.ModeBridgeOnly
		if outbound {
			mode = DefaultNetwork()
		}
		if err := checkAliases(o.Aliases); err != nil {
			return err
		}
	case mode == "":
		mode = DefaultNetwork()
	case mode == network.ModePasta:
		// nil: skiff's defaults, below.
		c.PastaOptions = choice.PastaOptions
	}
	if len(c.Networks) == 0 && (len(o.Aliases) > 0 || o.IP != "") {
		return fmt.Errorf("%w: --network-alias and --ip need a user-defined network (network create)", config.ErrBadOption)
	}
	if mode == modeContainer {
		other, err := e.state.Lookup(ctx, choice.Container)
		if err != nil {
			return err
		}
		mode = "container:" + other.ID
	}
	c.Network = mode
	if mode == network.ModePasta && c.PastaOptions == nil {
		c.PastaOptions = config.ContainersConf().PastaOptions
	}
	if err := resolvePorts(o, exposed, c); err != nil {
		return err
	}
	return resolveNames(o, c)
}

// resolvePorts sets the container's published ports (-p, and with -P the
// image's EXPOSEd ones), free host ports chosen now and checked, so that a
// taken one costs no container.
func resolvePorts(o NetworkOptions, exposed map[string]struct{}, c *config.ContainerConfig) error {
	mode := c.Network
	var ports []network.PortMapping
	for _, p := range o.Publish {
		m, err := network.ParsePublish(p)
		if err != nil {
			return fmt.Errorf("%w: %v", config.ErrBadOption, err)
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
				return fmt.Errorf("%w: the image's EXPOSE %s: %v", config.ErrBadOption, k, err)
			}
			if !slices.ContainsFunc(ports, func(p network.PortMapping) bool {
				return p.ContainerPort == m[0].ContainerPort && p.Protocol == m[0].Protocol
			}) {
				ports = append(ports, m...)
			}
		}
	}
	if len(ports) > 0 && !config.HasHelper(mode) {
		return fmt.Errorf("%w: publishing ports needs the pasta or slirp4netns network, not %s", config.ErrBadOption, mode)
	}
	var err error
	c.Ports, err = network.AssignPorts(ports)
	return err
}

// resolveNames sets the container's DNS servers and search domains and
// its extra hosts, each checked.
func resolveNames(o NetworkOptions, c *config.ContainerConfig) error {
	for _, d := range o.DNS {
		if d == config.DNSNone && len(o.DNS) > 1 {
			return fmt.Errorf("%w: --dns none keeps the image's own /etc/resolv.conf: give it alone, or give servers", config.ErrBadOption)
		}
		if d != config.DNSNone && net.ParseIP(d) == nil {
			return fmt.Errorf("%w: --dns %q is not an IP address (or none, for the image's own /etc/resolv.conf)", config.ErrBadOption, d)
		}
	}
	for _, h := range o.AddHosts {
		name, ip, ok := strings.Cut(h, ":")
		if ip == "host-gateway" {
			ip = network.Gateway()
		}
		if !ok || name == "" || net.ParseIP(ip) == nil {
			return fmt.Errorf("%w: --add-host %q: want NAME:IP", config.ErrBadOption, h)
		}
		c.AddHosts = append(c.AddHosts, name+":"+ip)
	}
	for _, d := range o.DNSSearch {
		if d != "." && !validDomain(d) {
			return fmt.Errorf("%w: --dns-search %q is not a valid domain", config.ErrBadOption, d)
		}
	}
	c.DNS, c.DNSSearch = o.DNS, o.DNSSearch
	return nil
}

// domainName is docker's rule for a --dns-search domain (opts.ValidateDNSSearch):
// labels of letters, digits and inner hyphens, dot-separated.
var domainName = regexp.MustCompile(`^(([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])\.)*([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9\-]*[a-zA-Z0-9])$`)

// validDomain tells whether d is a domain name that may stand in
// resolv.conf's search line (never a newline, a space or a second entry).
func validDomain(d string) bool {
	d = strings.TrimSuffix(d, ".")
	return len(d) > 0 && len(d) <= 255 && domainName.MatchString(d) && strings.ContainsAny(strings.ToLower(d), "abcdefghijklmnopqrstuvwxyz")
}

// ownResolvConf tells whether the container keeps the image's resolv.conf.
func ownResolvConf(c config.ContainerConfig) bool {
	return slices.Equal(c.DNS, []string{config.DNSNone})
}

func (e *Engine) netnsPath(id string) string { return e.ns.Netns(id) }

// setupNetwork gives the container its network before the runtime starts
// it: for pasta a namespace of its own, connected by a pasta process that
// forwards the published ports and ends with the namespace.
func (e *Engine) setupNetwork(rec *config.ContainerRecord, rs *specs.Spec) error {
	c := rec.Config
	setNetns := func(path string) {
		for i, ns := range rs.Linux.Namespaces {
			if ns.Type == specs.NetworkNamespace {
				rs.Linux.Namespaces[i].Path = path
			}
		}
	}
	switch {
	case c.Network == network.ModeHost:
		rs.Linux.Namespaces = slices.DeleteFunc(rs.Linux.Namespaces, func(ns specs.LinuxNamespace) bool { return ns.Type == specs.NetworkNamespace })
		bindHostSys(rs)
	case strings.HasPrefix(c.Network, "container:"):
		other, err := e.state.Lookup(context.Background(), strings.TrimPrefix(c.Network, "container:"))
		if err != nil {
			return fmt.Errorf("the network's container: %w", err)
		}
		pid := e.containerPid(other)
		if pid <= 0 || e.observedState(other) != config.StateRunning {
			return fmt.Errorf("%w: %s, whose network this container shares", ErrNotRunning, other.Name)
		}
		path := fmt.Sprintf("/proc/%d/ns/net", pid)
		if err := spec.SetNetSysctls(path, rs); err != nil {
			return err
		}
		setNetns(path)
		if len(c.Security.UIDMap) > 0 {
			bindHostSys(rs)
		}
	case config.OwnNetns(c.Network) && len(c.Security.UIDMap) > 0:
		// A container with a user namespace of its own gets a network
		// namespace that namespace owns, made by the runtime, so that exec
		// (which joins the user namespace first) may join it too; the
		// runtime's createRuntime hook connects it (NetworkHook).
		e.teardownNetwork(rec)
		self, err := os.Executable()
		if err != nil {
			return err
		}
		if rs.Hooks == nil {
			rs.Hooks = &specs.Hooks{}
		}
		rs.Hooks.CreateRuntime = append(rs.Hooks.CreateRuntime, specs.Hook{
			Path: self, Args: []string{"skiff", "container", "network-hook", rec.ID},
			Env: append(e.StoreEnv(), "_SKIFF_USERNS=1"),
		})
	case config.OwnNetns(c.Network):
		path := e.netnsPath(rec.ID)
		e.teardownNetwork(rec)
		if err := network.CreateNetns(path); err != nil {
			return err
		}
		if err := e.connectNetns(rec, path, ""); err != nil {
			network.RemoveNetns(path)
			return err
		}
		if err := spec.SetNetSysctls(path, rs); err != nil {
			e.teardownNetwork(rec)
			return err
		}
		setNetns(path)
	}
	return nil
}

// connectNetns starts the container's helper for the namespace at path
// (owned by userns, when set) and puts it on its networks.
func (e *Engine) connectNetns(rec *config.ContainerRecord, path, userns string) error {
	c := rec.Config
	if config.HasHelper(c.Network) {
		h := network.Helper{Netns: path, Pidfile: path + ".pid", Userns: userns, Ports: c.Ports, PastaOptions: c.PastaOptions}
		start := network.StartPasta
		if c.Network == network.ModeSlirp4netns {
			start = network.StartSlirp4netns
		}
		if err := start(h); err != nil {
			return err
		}
	}
	if len(c.Networks) > 0 {
		if err := e.attachNetworks(context.Background(), rec); err != nil {
			network.StopHelper(path+".pid", len(c.Ports) > 0)
			return err
		}
	}
	return nil
}

// NetworkHook is the createRuntime hook of a container with a user
// namespace of its own: state is the runtime's state on the hook's
// standard input (the container's pid). The network namespace the runtime
// made is kept at the usual path, as skiff's own are, and connected.
func (e *Engine) NetworkHook(ctx context.Context, id string, state io.Reader) error {
	var st specs.State
	if err := json.NewDecoder(state).Decode(&st); err != nil || st.Pid <= 0 {
		return fmt.Errorf("reading the runtime's state: %v", err)
	}
	rec, err := e.state.Lookup(ctx, id)
	if err != nil {
		return err
	}
	path := e.netnsPath(rec.ID)
	if err := network.BindNetns(fmt.Sprintf("/proc/%d/ns/net", st.Pid), path); err != nil {
		return err
	}
	if err := e.connectNetns(rec, path, fmt.Sprintf("/proc/%d/ns/user", st.Pid)); err != nil {
		network.RemoveNetns(path)
		return err
	}
	return nil
}

// bindHostSys replaces the container's sysfs with the host's, read-only:
// sysfs can only be mounted by the user namespace that owns the network
// namespace, which a container in the host's network, or with a user
// namespace of its own in a network namespace skiff made, is not.
func bindHostSys(rs *specs.Spec) {
	for i, m := range rs.Mounts {
		if m.Destination == "/sys" {
			rs.Mounts[i] = specs.Mount{Destination: "/sys", Type: "bind", Source: "/sys", Options: []string{"rbind", "nosuid", "noexec", "nodev", "ro"}}
		}
	}
}

// teardownNetwork ends the container's pasta and namespace, in this
// namespace and in any earlier one of the user's that left them.
func (e *Engine) teardownNetwork(rec *config.ContainerRecord) {
	if !config.OwnNetns(rec.Config.Network) {
		return
	}
	// Also when it left its last network while it ran: it kept its place
	// on the hub.
	e.detachNetworks(context.Background(), rec)
	path := e.netnsPath(rec.ID)
	_, err := os.Stat(path)
	unseen := err == nil && config.HasHelper(rec.Config.Network) && !network.HelperPid(path+".pid")
	for _, ns := range e.layout.Namespaces() {
		if p := ns.Netns(rec.ID) + ".pid"; fileExists(p) {
			network.StopHelper(p, len(rec.Config.Ports) > 0)
		}
	}
	network.RemoveNetns(path)
	if unseen {
		// A namespace whose helper has not written its pid (pasta
		// makes the file empty first): a start killed while it started
		// the helper, which would run on unseen. Looked for once the
		// namespace is gone, so that none can start on it after.
		network.StopHelpersOf(path)
	}
}

// hostsFile is the container's /etc/hosts; name is the container's. Its
// own address is the one on its first network, else the one its helper
// gives it; host.containers.internal is its helper's gateway.
func hostsFile(c config.ContainerConfig, name string) string {
	var b strings.Builder
	b.WriteString("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n")
	own, gateway := "127.0.1.1", ""
	switch c.Network {
	case network.ModePasta:
		own, gateway = network.HostAddress(), network.Gateway()
	case network.ModeSlirp4netns:
		own, gateway = network.SlirpAddress, network.SlirpGateway
	}
	if len(c.Networks) > 0 {
		own = c.Networks[0].IP
	}
	if own != "" {
		fmt.Fprintf(&b, "%s\t%s %s\n", own, c.Hostname, name)
	}
	if gateway != "" {
		fmt.Fprintf(&b, "%s\thost.containers.internal host.docker.internal\n", gateway)
	}
	for _, h := range c.AddHosts {
		name, ip, _ := strings.Cut(h, ":")
		fmt.Fprintf(&b, "%s\t%s\n", ip, name)
	}
	return b.String()
}

// resolvConf is the container's /etc/resolv.conf: --dns and --dns-search,
// else the host's, with a loopback resolver reached through pasta's
// gateway (which it maps to the host's loopback). On user-defined networks
// the servers are the networks' aardvark-dns (netDNS), which knows the
// containers' names and asks the host's resolvers about the rest; the
// host's search domains are left out, so that a container's name is asked
// as it is.
func resolvConf(c config.ContainerConfig, netDNS []string) string {
	servers, search := c.DNS, c.DNSSearch
	hostServers, hostSearch := len(c.DNS) == 0, len(c.DNSSearch) == 0
	if len(netDNS) > 0 && hostServers {
		servers, hostServers, hostSearch = netDNS, false, false
	}
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
				if hostServers {
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
				if hostSearch {
					search = append(search, fields[1:]...)
				}
			case "options":
				options = append(options, fields[1:]...)
			}
		}
		f.Close()
	}
	if c.Network == network.ModeNone || c.Network == config.ModeBridgeOnly && len(netDNS) == 0 {
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
