package config

import "github.com/skiff-project/skiff/network"

// NetworkAttachment is how a container is on a user-defined network.
type NetworkAttachment struct {
	Name    string   `json:"Name"`
	IP      string   `json:"IPAddress,omitempty"`
	Aliases []string `json:"Aliases"`
	// Interface is the container's interface on the network's bridge.
	Interface string `json:"Interface,omitempty"`
}

// DNSNone, as the only --dns, keeps the image's own /etc/resolv.conf: skiff
// writes none for the container, as podman does.
const DNSNone = "none"

// HasHelper tells whether a network mode runs a helper process (pasta or
// slirp4netns) for a namespace of the container's own.
func HasHelper(mode string) bool { return mode == network.ModePasta || mode == network.ModeSlirp4netns }

// OwnNetns tells whether a network mode gives the container a namespace
// skiff made, which networks can be added to.
func OwnNetns(mode string) bool { return HasHelper(mode) || mode == ModeBridgeOnly }

// ModeBridgeOnly is the mode of a container on internal networks only:
// a namespace of its own with the bridges and no way out.
const ModeBridgeOnly = "bridge-only"
