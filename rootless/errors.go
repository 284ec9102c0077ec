package rootless

import "errors"

var (
	// ErrNoSubIDs means the user has no range in /etc/subuid or /etc/subgid.
	ErrNoSubIDs = errors.New("no subordinate id range")
	// ErrNoIDMapHelper means newuidmap or newgidmap is missing or not setuid.
	ErrNoIDMapHelper = errors.New("id map helper unavailable")
	// ErrRuntimeDir means no usable runtime directory could be found or made.
	ErrRuntimeDir = errors.New("no usable runtime directory")
	// ErrHostView means a host path is not, in the user's namespace, what
	// the host has there: the host mounted something after the namespace
	// was made, under a mount that does not propagate.
	ErrHostView = errors.New("not as the host has it in the user's namespace")
)
