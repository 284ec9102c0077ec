// Package config holds the data of skiff's engine: the records of
// containers, volumes and networks as the state database keeps them, the
// values a container is made with (security, mounts, restart policy,
// network attachments), the parsers of those values, and the sentinel
// errors every room of the engine shares. It does no I/O but reading
// containers.conf; every other package of the engine may import it.
package config

import (
	"errors"
	"fmt"
)

var (
	// ErrNoSuchContainer means no container has that name or id (prefix).
	ErrNoSuchContainer = errors.New("no such container")
	// ErrNameInUse means another container already has the name.
	ErrNameInUse = errors.New("name is already in use")
	// ErrAmbiguousID means an id prefix matches several containers.
	ErrAmbiguousID = errors.New("ambiguous container id prefix")
	// ErrBadName means a container name has characters docker refuses.
	ErrBadName = errors.New("invalid container name")
)

// ErrBadOption means an option value is invalid.
var ErrBadOption = errors.New("invalid option")

// Network errors.
var (
	ErrNoSuchNetwork = errors.New("no such network")
	ErrAmbiguousNet  = errors.New("ambiguous network id prefix")
	ErrNetworkExists = errors.New("network already exists")
	ErrNetworkInUse  = errors.New("network is in use")
	ErrIPInUse       = errors.New("IP address is in use")
	ErrNotConnected  = errors.New("container is not connected to the network")
	ErrAlreadyOnIt   = errors.New("container is already connected to the network")
	// ErrNoFreeAddress means a network has no address left to give.
	ErrNoFreeAddress = errors.New("no free address left")
)

// Volume errors.
var (
	ErrNoSuchVolume = errors.New("no such volume")
	ErrVolumeExists = errors.New("volume already exists")
	ErrVolumeInUse  = errors.New("volume is in use")
)

// Badf is an ErrBadOption with a message.
func Badf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrBadOption, fmt.Sprintf(format, args...))
}
