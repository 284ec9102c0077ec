package network

import (
	"encoding/binary"
	"net"
	"slices"
)

// Broadcast is the last address of the IPv4 network n.
func Broadcast(n *net.IPNet) net.IP {
	ip := slices.Clone(n.IP.To4())
	for i := range ip {
		ip[i] |= ^n.Mask[i]
	}
	return ip
}

// NthAddress is the i-th address of the IPv4 network n (0 is n itself).
func NthAddress(n *net.IPNet, i int) net.IP {
	ip := make(net.IP, 4)
	binary.BigEndian.PutUint32(ip, binary.BigEndian.Uint32(n.IP.To4())+uint32(i))
	return ip
}

// OverlapsAny tells whether n overlaps any of others.
func OverlapsAny(n *net.IPNet, others []*net.IPNet) bool {
	for _, o := range others {
		if o.Contains(n.IP) || n.Contains(o.IP) {
			return true
		}
	}
	return false
}

// HostNetworks are the IPv4 networks of the host's interfaces, which a
// new network's subnet must not hide.
func HostNetworks() []*net.IPNet {
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
