package rootless

import "errors"

var (
	// ErrNoSubIDs means the user has no range in /etc/subuid or /etc/subgid.
	ErrNoSubIDs = errors.New("no subordinate id range")
	// ErrNoIDMapHelper means newuidmap or newgidmap is missing or not setuid.
	ErrNoIDMapHelper = errors.New("id map helper unavailable")
	// ErrRuntimeDir means no usable runtime directory could be found or made.
	ErrRuntimeDir = errors.New("no usable runtime directory")
)
