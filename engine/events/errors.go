package events

import "errors"

var (
	// ErrFellBehind: a follower's next generation file was removed by
	// rotation before it got there (it was more than one generation behind
	// the writers), or the log was removed under it. Events were lost to
	// this reader; the log itself is intact.
	ErrFellBehind = errors.New("events log rotated past this reader")

	// ErrRotation: the event was appended, but retiring the full
	// generation failed; the next append tries again.
	ErrRotation = errors.New("rotating events log")

	// ErrNotLog: PATH exists but is not the symbolic link this package
	// keeps there.
	ErrNotLog = errors.New("not an events log")

	// ErrInvalidTime: a --since or --until value is neither a time, a Unix
	// timestamp nor a duration.
	ErrInvalidTime = errors.New("invalid time")

	// ErrInvalidRange: Until is before Since.
	ErrInvalidRange = errors.New("since is after until")

	// ErrInvalidFilter: a --filter is not KEY=VALUE or names an unknown key.
	ErrInvalidFilter = errors.New("invalid filter")
)
