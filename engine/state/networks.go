package state

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/mattn/go-sqlite3"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
)

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
		return nil, fmt.Errorf("%w: %q", config.ErrNoSuchNetwork, nameOrID)
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
		return nil, fmt.Errorf("%w: %q", config.ErrNoSuchNetwork, nameOrID)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("%w: %q matches %d networks; give more of the id", config.ErrAmbiguousNet, nameOrID, len(found))
}

// allocate gives a container's attachment its address on the network (the
// one asked for, or the lowest free one) and an interface name not used by
// its other attachments; first is the number of its first bridge
// interface (eth1 when pasta has eth0).
func allocate(ctx context.Context, tx *sql.Tx, id string, a *config.NetworkAttachment, others []config.NetworkAttachment, first int) error {
	n, err := lookupNetwork(ctx, tx, a.Name)
	if err != nil {
		return err
	}
	a.Name = n.Name
	if slices.ContainsFunc(others, func(o config.NetworkAttachment) bool { return o.Name == n.Name }) {
		return fmt.Errorf("%w: %s", config.ErrAlreadyOnIt, n.Name)
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
			return fmt.Errorf("%w: %s on %s", config.ErrIPInUse, ip, n.Name)
		}
		if err == nil {
			a.IP = ip.String()
		}
		return err
	}
	if a.IP != "" {
		ip := net.ParseIP(a.IP).To4()
		if ip == nil || !subnet.Contains(ip) || ip.Equal(subnet.IP) || ip.Equal(network.Broadcast(subnet)) || ip.Equal(gateway) {
			return fmt.Errorf("%w: --ip %q: want a free address in %s", config.ErrBadOption, a.IP, subnet)
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
			if ip := network.NthAddress(subnet, i); !used[ip.String()] {
				if err := insert(ip); err != nil {
					return err
				}
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%w on %s (%s)", config.ErrNoFreeAddress, n.Name, subnet)
		}
	}
	for i := first; ; i++ {
		name := fmt.Sprintf("eth%d", i)
		if !slices.ContainsFunc(others, func(o config.NetworkAttachment) bool { return o.Interface == name }) {
			a.Interface = name
			return nil
		}
	}
}

// firstInterface is the number of a container's first bridge interface:
// pasta and slirp4netns take eth0 (pasta names its interface after the
// host's, tap0 for slirp4netns, but eth1 keeps the numbering plain).
func firstInterface(mode string) int {
	if config.HasHelper(mode) {
		return 1
	}
	return 0
}

// AddAttachment connects a container's record to a network, with an
// address of its own.
func (s *State) AddAttachment(ctx context.Context, id string, a config.NetworkAttachment) (*config.ContainerRecord, error) {
	var rec *config.ContainerRecord
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
func (s *State) RemoveAttachment(ctx context.Context, id, name string) (*config.ContainerRecord, error) {
	var rec *config.ContainerRecord
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		if rec, err = scanRecord(tx.QueryRowContext(ctx, selectRecord+` WHERE id = ?`, id)); err != nil {
			return err
		}
		rec.Config.Networks = slices.DeleteFunc(rec.Config.Networks, func(a config.NetworkAttachment) bool { return a.Name == name })
		if _, err := tx.ExecContext(ctx, `DELETE FROM network_ips WHERE network = ? AND container = ?`, name, id); err != nil {
			return err
		}
		return setConfig(ctx, tx, rec)
	})
	return rec, err
}

var defaultSubnetBase = net.IPv4(10, 89, 0, 0).To4()

// InsertNetwork records the network n, giving it a subnet (the one asked
// for, checked against the host's and the other networks', or the first
// free /24 of 10.89.0.0/16), a gateway, a bridge interface and, when it has
// none, a name; all in one transaction. A taken name is ErrNetworkExists,
// or with ignoreExisting the network of that name.
func (s *State) InsertNetwork(ctx context.Context, n *network.Network, subnet *net.IPNet, gateway net.IP, ignoreExisting bool) (*network.Network, error) {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		nets, err := listNetworks(ctx, tx)
		if err != nil {
			return err
		}
		if n.Name != "" {
			for _, other := range nets {
				if other.Name == n.Name {
					if ignoreExisting {
						*n = *other
						return nil
					}
					return fmt.Errorf("%w: %q", config.ErrNetworkExists, n.Name)
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
		taken = append(taken, network.HostNetworks()...)
		if subnet == nil {
			for i := 0; i < 256 && subnet == nil; i++ {
				ip := slices.Clone(defaultSubnetBase)
				ip[2] = byte(i)
				cand := &net.IPNet{IP: ip, Mask: net.CIDRMask(24, 32)}
				if !network.OverlapsAny(cand, taken) {
					subnet = cand
				}
			}
			if subnet == nil {
				return fmt.Errorf("no free subnet in 10.89.0.0/16: give one with --subnet")
			}
		} else if network.OverlapsAny(subnet, taken) {
			return fmt.Errorf("%w: --subnet %s overlaps a network of the host or another network", config.ErrBadOption, subnet)
		}
		if gateway == nil {
			gateway = network.NthAddress(subnet, 1)
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

// DeleteNetwork removes the record of a network no container is on.
func (s *State) DeleteNetwork(ctx context.Context, name string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var left int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM network_ips WHERE network = ?`, name).Scan(&left); err != nil {
			return err
		}
		if left > 0 {
			return fmt.Errorf("%w: %s", config.ErrNetworkInUse, name)
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM networks WHERE name = ?`, name)
		return err
	})
}

// LookupNetwork finds a network by name, id or unique id prefix.
func (s *State) LookupNetwork(ctx context.Context, nameOrID string) (*network.Network, error) {
	return lookupNetwork(ctx, s.db, nameOrID)
}

// ListNetworks lists the networks by name.
func (s *State) ListNetworks(ctx context.Context) ([]*network.Network, error) {
	return listNetworks(ctx, s.db)
}

// NetworkContainers are the ids of the containers on a network.
func (s *State) NetworkContainers(ctx context.Context, name string) ([]string, error) {
	return queryAll(ctx, s.db, func(sc interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, `SELECT container FROM network_ips WHERE network = ? ORDER BY container`, name)
}
