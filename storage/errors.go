package storage

import "errors"

var (
	// ErrNoSuchImage means no local image matches the reference or id.
	ErrNoSuchImage = errors.New("no such image")
	// ErrBadReference means the text is not a valid image reference.
	ErrBadReference = errors.New("invalid reference")
	// ErrImageInUse means a container still uses the image.
	ErrImageInUse = errors.New("image is in use by a container")
	// ErrAmbiguous means an id prefix or a multi-tag id needs -f or more detail.
	ErrAmbiguous = errors.New("ambiguous image reference")
	// ErrAuth means the registry refused the credentials.
	ErrAuth = errors.New("authentication failed")
	// ErrBadArchive means a save or load archive is unusable.
	ErrBadArchive = errors.New("invalid archive")
	// ErrStalled means a registry stopped sending for the stall timeout.
	ErrStalled = errors.New("registry stalled")
)
