package engine

import "errors"

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
