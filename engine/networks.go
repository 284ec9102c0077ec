package engine

import (
	"context"
	"database/sql"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"slices"
	"strings"
	"time"

	"github.com/mattn/go-sqlite3"
	"go.podman.io/storage/pkg/stringid"

	"github.com/skiff-project/skiff/network"
)

// Network errors.
var (
	ErrNoSuchNetwork  = errors.New("no such network")
	ErrAmbiguousNet   = errors.New("ambiguous network id prefix")
	ErrNetworkExists  = errors.New("network already exists")
	ErrNetworkInUse   = errors.New("network is in use")
	ErrIPInUse        = errors.New("IP address is in use")
	ErrNotConnected   = errors.New("container is not connected to the network")
	ErrAlreadyOnIt    = errors.New("container is already connected to the network")
	errNoFreeAddress  = errors.New("no free address left")
	reservedNetworks  = []string{"none", "host", "private", "bridge", "pasta", "slirp4netns", "default"}
	defaultSubnetBase = net.IPv4(10, 89, 0, 0).To4()
)

// NetworkAttachment is how a container is on a user-defined network.
type NetworkAttachment struct {
	Name    string   `json:"Name"`
	IP      string   `json:"IPAddress,omitempty"`
	Aliases []string `json:"Aliases"`
	// Interface is the container's interface on the network's bridge.
	Interface string `json:"Interface,omitempty"`
}

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

const networkSchema = `
CREATE TABLE IF NOT EXISTS networks (
	name    TEXT PRIMARY KEY,
	id      TEXT NOT NULL UNIQUE,
	config  TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS network_ips (
	network   TEXT NOT NULL,
	ip        TEXT NOT NULL,
	container TEXT NOT NULL,
	PRIMARY KEY (network, ip)
);
CREATE INDEX IF NOT EXISTS network_ips_container ON network_ips (container);`

// CheckNetworkName refuses names that are modes of --network.
func CheckNetworkName(name string) error {
	if err := CheckName(name); err != nil {
		return fmt.Errorf("%w: network name %q: use letters, digits, '_', '.' and '-', starting with a letter or digit", ErrBadOption, name)
	}
	if slices.Contains(reservedNetworks, name) {
		return fmt.Errorf("%w: %q is a network mode, not a name for a network", ErrBadOption, name)
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
		return nil, fmt.Errorf("%w: network driver %q: only bridge is available", ErrBadOption, o.Driver)
	}
	if o.IPv6 {
		return nil, fmt.Errorf("%w: --ipv6: IPv6 networks are not supported", ErrBadOption)
	}
	for k := range o.Options {
		return nil, fmt.Errorf("%w: network option %q is not supported", ErrBadOption, k)
	}
	var subnet *net.IPNet
	if o.Subnet != "" {
		ip, n, err := net.ParseCIDR(o.Subnet)
		if err != nil || ip.To4() == nil || !ip.Equal(n.IP) {
			return nil, fmt.Errorf("%w: --subnet %q: want an IPv4 network such as 10.90.0.0/24", ErrBadOption, o.Subnet)
		}
		if ones, _ := n.Mask.Size(); ones > 30 {
			return nil, fmt.Errorf("%w: --subnet %q: too small for containers", ErrBadOption, o.Subnet)
		}
		subnet = n
	} else if o.Gateway != "" {
		return nil, fmt.Errorf("%w: --gateway needs --subnet", ErrBadOption)
	}
	var gateway net.IP
	if o.Gateway != "" {
		gateway = net.ParseIP(o.Gateway).To4()
		if gateway == nil || !subnet.Contains(gateway) || gateway.Equal(subnet.IP) || gateway.Equal(broadcast(subnet)) {
			return nil, fmt.Errorf("%w: --gateway %q: want an address in %s", ErrBadOption, o.Gateway, subnet)
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
	err := e.state.tx(ctx, func(tx *sql.Tx) error {
		nets, err := listNetworks(ctx, tx)
		if err != nil {
			return err
		}
		if o.Name != "" {
			for _, other := range nets {
				if other.Name == o.Name {
					if o.IgnoreExisting {
						*n = *other
						return nil
					}
					return fmt.Errorf("%w: %q", ErrNetworkExists, o.Name)
				}
			}
		}
		used := map[string]bool{}
		var taken []*net.IPNet
		for _, other := range nets {
			used[other.NetworkInterface] = true
			used["name:"+other.Name] = true
			for _, s := range other.Subnets {
				if _, sn, err := net.ParseCIDR(s.Subnet); err == nil {
					taken = append(taken, sn)
				}
			}
		}
		taken = append(taken, hostNetworks()...)
		if subnet == nil {
			for i := 0; i < 256 && subnet == nil; i++ {
				ip := slices.Clone(defaultSubnetBase)
				ip[2] = byte(i)
				cand := &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}
				if !overlapsAny(cand, taken) {
					subnet = cand
				}
			}
			if subnet == nil {
				return fmt.Errorf("no free subnet in 10.89.0.0/16: give one with --subnet")
			}
		} else if overlapsAny(subnet, taken) {
			return fmt.Errorf("%w: --subnet %s overlaps a network of the host or another network", ErrBadOption, subnet)
		}
		if gateway == nil {
			gateway = nthAddress(subnet, 1)
		}
		n.Subnets = []network.Subnet{{Subnet: subnet.String(), Gateway: gateway.String()}}
		for i := 0; ; i++ {
			if name := fmt.Sprintf("skiff%d", i); !used[name] {
				n.NetworkInterface = name
				break
			}
		}
		if n.Name == "" {
			for i := 1; ; i++ {
				if name := fmt.Sprintf("skiff%d", i); !used["name:"+name] {
					n.Name = name
					break
				}
			}
		}
		cfg, err := json.Marshal(n)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO networks (name, id, config) VALUES (?, ?, ?)`, n.Name, n.ID, string(cfg))
		return err
	})
	if err != nil {
		return nil, err
	}
	return n, nil
}

// Network finds a network by name, id or id prefix.
func (e *Engine) Network(ctx context.Context, nameOrID string) (*network.Network, error) {
	return lookupNetwork(ctx, e.state.db, nameOrID)
}

// Networks lists the user's networks by name.
func (e *Engine) Networks(ctx context.Context) ([]*network.Network, error) {
	return listNetworks(ctx, e.state.db)
}

// NetworkContainers are the ids of the containers on a network.
func (e *Engine) NetworkContainers(ctx context.Context, name string) ([]string, error) {
	return queryAll(ctx, e.state.db, func(sc interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, `SELECT container FROM network_ips WHERE network = ? ORDER BY container`, name)
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
		return "", fmt.Errorf("%w: %s has %d container(s) on it (rm them, or network rm -f)", ErrNetworkInUse, n.Name, len(users))
	}
	for _, id := range users {
		if err := e.Remove(ctx, id, RemoveOptions{Force: true}); err != nil && !errors.Is(err, ErrNoSuchContainer) {
			return "", err
		}
	}
	err = e.state.tx(ctx, func(tx *sql.Tx) error {
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM network_ips WHERE network = ?`, n.Name).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return fmt.Errorf("%w: %s", ErrNetworkInUse, n.Name)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM networks WHERE name = ?`, n.Name)
		return err
	})
	return n.Name, err
}

// PruneNetworks removes the networks no container is on, those with all
// the labels given (KEY or KEY=VALUE) when some are.
func (e *Engine) PruneNetworks(ctx context.Context, labels []string) ([]string, error) {
	nets, err := e.Networks(ctx)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range nets {
		if !MatchLabels(n.Labels, labels) {
			continue
		}
		if _, err := e.RemoveNetwork(ctx, n.Name, false); err == nil {
			removed = append(removed, n.Name)
		} else if !errors.Is(err, ErrNetworkInUse) {
			return removed, err
		}
	}
	return removed, nil
}

// Connect puts a container on a network, at once if it runs.
func (e *Engine) Connect(ctx context.Context, netName, nameOrID string, att NetworkAttachment) error {
	if err := checkAliases(att.Aliases); err != nil {
		return err
	}
	n, rec, lock, err := e.lockOnNetwork(ctx, netName, nameOrID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if !ownNetns(rec.Config.Network) && len(rec.Config.Networks) == 0 {
		return fmt.Errorf("%w: %s has the %s network mode; only a container with a network namespace of its own joins networks", ErrBadOption, rec.Name, rec.Config.Network)
	}
	att.Name = n.Name
	rec, err = e.state.AddAttachment(ctx, rec.ID, att)
	if err != nil {
		return err
	}
	if e.observedState(rec) != StateRunning {
		return nil
	}
	added := rec.Config.Networks[len(rec.Config.Networks)-1]
	if err := e.hub().Attach(rec.ID, rec.Name, e.netnsPath(rec.ID), []network.Network{*n}, []network.Attachment{added.forNetavark(rec.ID)}); err != nil {
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
	i := slices.IndexFunc(rec.Config.Networks, func(a NetworkAttachment) bool { return a.Name == n.Name })
	if i < 0 {
		return fmt.Errorf("%w: %s is not on %s", ErrNotConnected, rec.Name, n.Name)
	}
	running := e.observedState(rec) == StateRunning
	if running {
		if err := e.hub().Disconnect(rec.ID, rec.Name, e.netnsPath(rec.ID), []network.Network{*n}, []network.Attachment{rec.Config.Networks[i].forNetavark(rec.ID)}); err != nil {
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
func (e *Engine) lockOnNetwork(ctx context.Context, netName, nameOrID string) (*network.Network, *ContainerRecord, *ContainerLock, error) {
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

func (a NetworkAttachment) forNetavark(id string) network.Attachment {
	// The short id names the container too, as with docker and podman.
	aliases := append(slices.Clone(a.Aliases), id[:12])
	return network.Attachment{IP: a.IP, Aliases: aliases, Interface: a.Interface}
}

func checkAliases(aliases []string) error {
	for _, a := range aliases {
		if err := CheckName(a); err != nil {
			return fmt.Errorf("%w: --network-alias %q: use letters, digits, '_', '.' and '-'", ErrBadOption, a)
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
	return network.Hub{Dir: e.nsDir + "/hub", Outbound: func(ns, pidfile string) error {
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
func (e *Engine) attachNetworks(ctx context.Context, rec *ContainerRecord) error {
	nets, atts, err := e.attachments(ctx, rec)
	if err != nil {
		return err
	}
	return e.hub().Attach(rec.ID, rec.Name, e.netnsPath(rec.ID), nets, atts)
}

// detachNetworks takes an ending container off its networks.
func (e *Engine) detachNetworks(ctx context.Context, rec *ContainerRecord) {
	nets, atts, _ := e.attachments(ctx, rec)
	_ = e.hub().Detach(rec.ID, rec.Name, e.netnsPath(rec.ID), nets, atts)
}

func (e *Engine) attachments(ctx context.Context, rec *ContainerRecord) ([]network.Network, []network.Attachment, error) {
	var nets []network.Network
	var atts []network.Attachment
	for _, a := range rec.Config.Networks {
		n, err := lookupNetwork(ctx, e.state.db, a.Name)
		if err != nil {
			return nil, nil, err
		}
		nets = append(nets, *n)
		atts = append(atts, a.forNetavark(rec.ID))
	}
	return nets, atts, nil
}

// ownNetns tells whether a network mode gives the container a namespace
// skiff made, which networks can be added to.
func ownNetns(mode string) bool { return hasHelper(mode) || mode == modeBridgeOnly }

// modeBridgeOnly is the mode of a container on internal networks only:
// a namespace of its own with the bridges and no way out.
const modeBridgeOnly = "bridge-only"

// networkGateways are the DNS servers (aardvark-dns) of the container's
// networks.
func (e *Engine) networkDNS(ctx context.Context, c ContainerConfig) []string {
	var servers []string
	for _, a := range c.Networks {
		if n, err := lookupNetwork(ctx, e.state.db, a.Name); err == nil && n.DNSEnabled {
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

type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func scanNetwork(sc interface{ Scan(...any) error }) (*network.Network, error) {
	var cfg string
	if err := sc.Scan(&cfg); err != nil {
		return nil, err
	}
	var n network.Network
	if err := json.Unmarshal([]byte(cfg), &n); err != nil {
		return nil, fmt.Errorf("a damaged network record: %w", err)
	}
	return &n, nil
}

func listNetworks(ctx context.Context, q queryer) ([]*network.Network, error) {
	return queryAll(ctx, q, scanNetwork, `SELECT config FROM networks ORDER BY name`)
}

func lookupNetwork(ctx context.Context, q queryer, nameOrID string) (*network.Network, error) {
	if nameOrID == "" {
		return nil, fmt.Errorf("%w: %q", ErrNoSuchNetwork, nameOrID)
	}
	// A name, a full id, or (as docker) any unique prefix of an id.
	hex := strings.Trim(nameOrID, "0123456789abcdef") == ""
	found, err := queryAll(ctx, q, scanNetwork, `SELECT config FROM networks WHERE name = ? OR id = ? OR (? AND id LIKE ? || '%')`, nameOrID, nameOrID, hex, nameOrID)
	if err != nil {
		return nil, err
	}
	for _, n := range found {
		if n.Name == nameOrID || n.ID == nameOrID {
			return n, nil
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("%w: %q", ErrNoSuchNetwork, nameOrID)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: %q matches %d networks; give more of the id", ErrAmbiguousNet, nameOrID, len(found))
}

// tx runs fn in one write transaction (begun immediate: writers wait for
// each other, so what fn reads stays true until it commits).
func (s *State) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	return tx.Commit()
}

// allocate gives a container's attachment its address on the network (the
// one asked for, or the lowest free one) and an interface name not used by
// its other attachments; first is the number of its first bridge
// interface (eth1 when pasta has eth0).
func allocate(ctx context.Context, tx *sql.Tx, id string, a *NetworkAttachment, others []NetworkAttachment, first int) error {
	n, err := lookupNetwork(ctx, tx, a.Name)
	if err != nil {
		return err
	}
	a.Name = n.Name
	if slices.ContainsFunc(others, func(o NetworkAttachment) bool { return o.Name == n.Name }) {
		return fmt.Errorf("%w: %s", ErrAlreadyOnIt, n.Name)
	}
	_, subnet, err := net.ParseCIDR(n.Subnets[0].Subnet)
	if err != nil {
		return err
	}
	gateway := net.ParseIP(n.Subnets[0].Gateway).To4()
	insert := func(ip net.IP) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO network_ips (network, ip, container) VALUES (?, ?, ?)`, n.Name, ip.String(), id)
		var serr sqlite3.Error
		if errors.As(err, &serr) && serr.Code == sqlite3.ErrConstraint {
			return fmt.Errorf("%w: %s on %s", ErrIPInUse, ip, n.Name)
		}
		if err == nil {
			a.IP = ip.String()
		}
		return err
	}
	if a.IP != "" {
		ip := net.ParseIP(a.IP).To4()
		if ip == nil || !subnet.Contains(ip) || ip.Equal(subnet.IP) || ip.Equal(broadcast(subnet)) || ip.Equal(gateway) {
			return fmt.Errorf("%w: --ip %q: want a free address in %s", ErrBadOption, a.IP, subnet)
		}
		if err := insert(ip); err != nil {
			return err
		}
	} else {
		used := map[string]bool{gateway.String(): true}
		ips, err := queryAll(ctx, tx, func(sc interface{ Scan(...any) error }) (string, error) {
			var ip string
			return ip, sc.Scan(&ip)
		}, `SELECT ip FROM network_ips WHERE network = ?`, n.Name)
		if err != nil {
			return err
		}
		for _, ip := range ips {
			used[ip] = true
		}
		ones, bits := subnet.Mask.Size()
		size := 1 << (bits - ones)
		found := false
		for i := 1; i < size-1 && !found; i++ {
			if ip := nthAddress(subnet, i); !used[ip.String()] {
				if err := insert(ip); err != nil {
					return err
				}
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%w on %s (%s)", errNoFreeAddress, n.Name, subnet)
		}
	}
	for i := first; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(others, func(o NetworkAttachment) bool { return o.Interface == name }) {
			a.Interface = name
			return nil
		}
	}
}

// firstInterface is the number of a container's first bridge interface:
// pasta and slirp4netns take eth0 (pasta names its interface after the
// host's, tap0 for slirp4netns, but eth1 keeps the numbering plain).
func firstInterface(mode string) int {
	if hasHelper(mode) {
		return 1
	}
	return 0
}

// AddAttachment connects a container's record to a network, with an
// address of its own.
func (s *State) AddAttachment(ctx context.Context, id string, a NetworkAttachment) (*ContainerRecord, error) {
	var rec *ContainerRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if rec, err = scanRecord(tx.QueryRowContext(ctx, selectRecord+` WHERE id = ?`, id)); err != nil {
			return err
		}
		if err := allocate(ctx, tx, id, &a, rec.Config.Networks, firstInterface(rec.Config.Network)); err != nil {
			return err
		}
		rec.Config.Networks = append(rec.Config.Networks, a)
		return setConfig(ctx, tx, rec)
	})
	return rec, err
}

// RemoveAttachment disconnects a container's record from a network and
// frees its address.
func (s *State) RemoveAttachment(ctx context.Context, id, name string) (*ContainerRecord, error) {
	var rec *ContainerRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if rec, err = scanRecord(tx.QueryRowContext(ctx, selectRecord+` WHERE id = ?`, id)); err != nil {
			return err
		}
		rec.Config.Networks = slices.DeleteFunc(rec.Config.Networks, func(a NetworkAttachment) bool { return a.Name == name })
		if _, err := tx.ExecContext(ctx, `DELETE FROM network_ips WHERE network = ? AND container = ?`, name, id); err != nil {
			return err
		}
		return setConfig(ctx, tx, rec)
	})
	return rec, err
}

func setConfig(ctx context.Context, tx *sql.Tx, rec *ContainerRecord) error {
	cfg, err := json.Marshal(rec.Config)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `UPDATE containers SET config = ? WHERE id = ?`, string(cfg), rec.ID)
	return err
}

// --- addresses ---

func broadcast(n *net.IPNet) net.IP {
	ip := slices.Clone(n.IP.To4())
	for i := range ip {
		ip[i] |= ^n.Mask[i]
	}
	return ip
}

func nthAddress(n *net.IPNet, i int) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(n.IP.To4())+uint32(i))
	return ip
}

func overlapsAny(n *net.IPNet, others []*net.IPNet) bool {
	for _, o := range others {
		if o.Contains(n.IP) || n.Contains(o.IP) {
			return true
		}
	}
	return false
}

// hostNetworks are the IPv4 networks of the host's interfaces, which a
// new network's subnet must not hide.
func hostNetworks() []*net.IPNet {
	addrs, _ := net.InterfaceAddrs()
	var out []*net.IPNet
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() {
			_, sn, _ := net.ParseCIDR(n.String())
			out = append(out, sn)
		}
	}
	return out
}
