package engine

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"time"

	"github.com/skiff-project/skiff/engine/state"

	"github.com/skiff-project/skiff/engine/config"

	"go.podman.io/storage/pkg/stringid"

	"github.com/skiff-project/skiff/network"
)

var reservedNetworks = []string{"none", "host", "private", "bridge", "pasta", "slirp4netns", "default"}

// NetworkCreateOptions describe a network to create.
type NetworkCreateOptions struct {
	Name       string
	Driver     string
	Subnet     string
	Gateway    string
	Internal   bool
	DisableDNS bool
	IPv6       bool
	Labels     map[string]string
	Options    map[string]string
	// IgnoreExisting returns the existing network of that name.
	IgnoreExisting bool
}

// CheckNetworkName refuses names that are modes of --network.
func CheckNetworkName(name string) error {
	if err := config.CheckName(name); err != nil {
		return fmt.Errorf("%w: network name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", config.ErrBadOption, name)
	}
	if slices.Contains(reservedNetworks, name) {
		return fmt.Errorf("%w: %q is a network mode, not a name for a network", config.ErrBadOption, name)
	}
	return nil
}

// CreateNetwork makes a user-defined network: a record only; its bridge
// exists while a container on it runs.
func (e *Engine) CreateNetwork(ctx context.Context, o NetworkCreateOptions) (*network.Network, error) {
	if o.Name != "" {
		if err := CheckNetworkName(o.Name); err != nil {
			return nil, err
		}
	}
	if o.Driver != "" && o.Driver != "bridge" {
		return nil, fmt.Errorf("%w: network driver %q: only bridge is available", config.ErrBadOption, o.Driver)
	}
	if o.IPv6 {
		return nil, fmt.Errorf("%w: --ipv6: IPv6 networks are not supported", config.ErrBadOption)
	}
	for k := range o.Options {
		return nil, fmt.Errorf("%w: network option %q is not supported", config.ErrBadOption, k)
	}
	var subnet *net.IPNet
	if o.Subnet != "" {
		ip, n, err := net.ParseCIDR(o.Subnet)
		if err != nil || ip.To4() == nil || !ip.Equal(n.IP) {
			return nil, fmt.Errorf("%w: --subnet %q: want an IPv4 network such as 10.90.0.0/24", config.ErrBadOption, o.Subnet)
		}
		if ones, _ := n.Mask.Size(); ones > 30 {
			return nil, fmt.Errorf("%w: --subnet %q: too small for containers", config.ErrBadOption, o.Subnet)
		}
		subnet = n
	} else if o.Gateway != "" {
		return nil, fmt.Errorf("%w: --gateway needs --subnet", config.ErrBadOption)
	}
	var gateway net.IP
	if o.Gateway != "" {
		gateway = net.ParseIP(o.Gateway).To4()
		if gateway == nil || !subnet.Contains(gateway) || gateway.Equal(subnet.IP) || gateway.Equal(network.Broadcast(subnet)) {
			return nil, fmt.Errorf("%w: --gateway %q: want an address in %s", config.ErrBadOption, o.Gateway, subnet)
		}
	}
	if err := network.NetavarkAvailable(); err != nil {
		return nil, err
	}
	n := &network.Network{
		Name: o.Name, ID: stringid.GenerateRandomID(), Driver: "bridge", Created: time.Now(),
		Internal: o.Internal, DNSEnabled: !o.DisableDNS, Labels: o.Labels,
		IPAMOptions: map[string]string{"driver": "host-local"},
	}
	n, err := e.state.InsertNetwork(ctx, n, subnet, gateway, o.IgnoreExisting)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Network finds a network by name, id or id prefix.
func (e *Engine) Network(ctx context.Context, nameOrID string) (*network.Network, error) {
	return e.state.LookupNetwork(ctx, nameOrID)
}

// Networks lists the user's networks by name.
func (e *Engine) Networks(ctx context.Context) ([]*network.Network, error) {
	return e.state.ListNetworks(ctx)
}

// NetworkContainers are the ids of the containers on a network.
func (e *Engine) NetworkContainers(ctx context.Context, name string) ([]string, error) {
	return e.state.NetworkContainers(ctx, name)
}

// RemoveNetwork removes a network no container is on; force removes
// those containers first.
func (e *Engine) RemoveNetwork(ctx context.Context, nameOrID string, force bool) (string, error) {
	n, err := e.Network(ctx, nameOrID)
	if err != nil {
		return "", err
	}
	users, err := e.NetworkContainers(ctx, n.Name)
	if err != nil {
		return "", err
	}
	if len(users) > 0 && !force {
		return "", fmt.Errorf("%w: %s has %d container(s) on it (rm them, or network rm -f)", config.ErrNetworkInUse, n.Name, len(users))
	}
	for _, id := range users {
		if err := e.Remove(ctx, id, RemoveOptions{Force: true}); err != nil && !errors.Is(err, config.ErrNoSuchContainer) {
			return "", err
		}
	}
	err = e.state.DeleteNetwork(ctx, n.Name)
	return n.Name, err
}

// ListNetworksOptions are the options of network ls.
type ListNetworksOptions struct {
	Filters NetworkFilters
}

// ListNetworks lists the networks that pass the filters, by name.
func (e *Engine) ListNetworks(ctx context.Context, o ListNetworksOptions) ([]*network.Network, error) {
	nets, err := e.Networks(ctx)
	if err != nil {
		return nil, err
	}
	var out []*network.Network
	for _, n := range nets {
		if o.Filters.match(n) {
			out = append(out, n)
		}
	}
	return out, nil
}

// NetworkRmOptions are the options of network rm.
type NetworkRmOptions struct {
	Names []string
	// Force removes the containers on a network first.
	Force bool
}

// NetworkRmReport is the outcome of removing one network.
type NetworkRmReport struct {
	Name     string // the network's name, once found
	RawInput string // its name, id or id prefix as given
	Err      error
}

// RemoveNetworks removes each network (RemoveNetwork).
func (e *Engine) RemoveNetworks(ctx context.Context, o NetworkRmOptions) []NetworkRmReport {
	reports := make([]NetworkRmReport, 0, len(o.Names))
	for _, n := range o.Names {
		name, err := e.RemoveNetwork(ctx, n, o.Force)
		reports = append(reports, NetworkRmReport{Name: name, RawInput: n, Err: err})
	}
	return reports
}

// PruneNetworks removes the networks no container is on that have every
// label of the filters. It stops at the first it fails to remove.
func (e *Engine) PruneNetworks(ctx context.Context, o PruneOptions) ([]PruneReport, error) {
	nets, err := e.Networks(ctx)
	if err != nil {
		return nil, err
	}
	var reports []PruneReport
	for _, n := range nets {
		if !MatchLabels(n.Labels, o.Filters.Labels) {
			continue
		}
		_, err := e.RemoveNetwork(ctx, n.Name, false)
		if errors.Is(err, config.ErrNetworkInUse) {
			continue
		}
		reports = append(reports, PruneReport{ID: n.Name, Err: err})
		if err != nil {
			break
		}
	}
	return reports, nil
}

// Connect puts a container on a network, at once if it runs.
func (e *Engine) Connect(ctx context.Context, netName, nameOrID string, att config.NetworkAttachment) error {
	if err := checkAliases(att.Aliases); err != nil {
		return err
	}
	n, rec, lock, err := e.lockOnNetwork(ctx, netName, nameOrID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if !config.OwnNetns(rec.Config.Network) && len(rec.Config.Networks) == 0 {
		return fmt.Errorf("%w: %s has the %s network mode; only a container with a network namespace of its own joins networks", config.ErrBadOption, rec.Name, rec.Config.Network)
	}
	att.Name = n.Name
	rec, err = e.state.AddAttachment(ctx, rec.ID, att)
	if err != nil {
		return err
	}
	if e.observedState(rec) != config.StateRunning {
		return nil
	}
	added := rec.Config.Networks[len(rec.Config.Networks)-1]
	if err := e.hub().Attach(rec.ID, rec.Name, e.netnsPath(rec.ID), []network.Network{*n}, []network.Attachment{forNetavark(added, rec.ID)}); err != nil {
		_, _ = e.state.RemoveAttachment(ctx, rec.ID, n.Name)
		return err
	}
	// Its resolver becomes the network's, its address in hosts the new one.
	return e.writeEtcFiles(rec)
}

// Disconnect takes a container off a network.
func (e *Engine) Disconnect(ctx context.Context, netName, nameOrID string) error {
	n, rec, lock, err := e.lockOnNetwork(ctx, netName, nameOrID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	i := slices.IndexFunc(rec.Config.Networks, func(a config.NetworkAttachment) bool { return a.Name == n.Name })
	if i < 0 {
		return fmt.Errorf("%w: %s is not on %s", config.ErrNotConnected, rec.Name, n.Name)
	}
	running := e.observedState(rec) == config.StateRunning
	if running {
		if err := e.hub().Disconnect(rec.ID, rec.Name, e.netnsPath(rec.ID), []network.Network{*n}, []network.Attachment{forNetavark(rec.Config.Networks[i], rec.ID)}); err != nil {
			return err
		}
	}
	if rec, err = e.state.RemoveAttachment(ctx, rec.ID, n.Name); err != nil || !running {
		return err
	}
	return e.writeEtcFiles(rec)
}

// lockOnNetwork finds the network and the container, and locks the
// container; its record is read under the lock.
func (e *Engine) lockOnNetwork(ctx context.Context, netName, nameOrID string) (*network.Network, *config.ContainerRecord, *state.ContainerLock, error) {
	n, err := e.Network(ctx, netName)
	if err != nil {
		return nil, nil, nil, err
	}
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, nil, nil, err
	}
	lock, err := e.state.Lock(rec.ID)
	if err != nil {
		return nil, nil, nil, err
	}
	if rec, err = e.state.Lookup(ctx, rec.ID); err != nil {
		lock.Unlock()
		return nil, nil, nil, err
	}
	return n, rec, lock, nil
}

func forNetavark(a config.NetworkAttachment, id string) network.Attachment {
	// The short id names the container too, as with docker and podman.
	aliases := append(slices.Clone(a.Aliases), id[:12])
	return network.Attachment{IP: a.IP, Aliases: aliases, Interface: a.Interface}
}

func checkAliases(aliases []string) error {
	for _, a := range aliases {
		if err := config.CheckName(a); err != nil {
			return fmt.Errorf("%w: --network-alias %q: use letters, digits, '_', '.' and '-'", config.ErrBadOption, a)
		}
	}
	return nil
}

// hub is where the bridges of the user's networks live. Its way out, for
// aardvark-dns's questions about other names to the host's resolvers, is
// slirp4netns when installed: 4 MB against pasta's 30 MB (measured, RSS),
// and DNS needs no throughput. The helper is looked for only when the hub
// is made, not on every detach.
func (e *Engine) hub() network.Hub {
	return network.Hub{Dir: e.ns.Hub(), Outbound: func(ns, pidfile string) error {
		h := network.Helper{Netns: ns, Pidfile: pidfile}
		if _, err := exec.LookPath(network.ModeSlirp4netns); err == nil {
			return network.StartSlirp4netns(h)
		}
		if _, err := exec.LookPath(network.ModePasta); err == nil {
			return network.StartPasta(h)
		}
		return nil // no way out: names on the networks still resolve
	}}
}

// attachNetworks puts a starting container on its networks.
func (e *Engine) attachNetworks(ctx context.Context, rec *config.ContainerRecord) error {
	nets, atts, err := e.attachments(ctx, rec)
	if err != nil {
		return err
	}
	return e.hub().Attach(rec.ID, rec.Name, e.netnsPath(rec.ID), nets, atts)
}

// detachNetworks takes an ending container off its networks.
func (e *Engine) detachNetworks(ctx context.Context, rec *config.ContainerRecord) {
	nets, atts, _ := e.attachments(ctx, rec)
	_ = e.hub().Detach(rec.ID, rec.Name, e.netnsPath(rec.ID), nets, atts)
}

func (e *Engine) attachments(ctx context.Context, rec *config.ContainerRecord) ([]network.Network, []network.Attachment, error) {
	var nets []network.Network
	var atts []network.Attachment
	for _, a := range rec.Config.Networks {
		n, err := e.state.LookupNetwork(ctx, a.Name)
		if err != nil {
			return nil, nil, err
		}
		nets = append(nets, *n)
		atts = append(atts, forNetavark(a, rec.ID))
	}
	return nets, atts, nil
}

// networkGateways are the DNS servers (aardvark-dns) of the container's
// networks.
func (e *Engine) networkDNS(ctx context.Context, c config.ContainerConfig) []string {
	var servers []string
	for _, a := range c.Networks {
		if n, err := e.state.LookupNetwork(ctx, a.Name); err == nil && n.DNSEnabled {
			for _, s := range n.Subnets {
				if !slices.Contains(servers, s.Gateway) {
					servers = append(servers, s.Gateway)
				}
			}
		}
	}
	return servers
}

// --- the state: networks and their addresses ---

// --- addresses ---
