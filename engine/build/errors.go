package build

import (
	"errors"
	"fmt"
)

// Sentinels for the ways a build can be refused before it runs. Each is
// wrapped in an [*Error] that names the Containerfile line.
var (
	// ErrSyntax: the Containerfile does not parse (unknown instruction, bad
	// flag, bad JSON form, unterminated heredoc, ...).
	ErrSyntax = errors.New("syntax error")
	// ErrNoSuchStage: a --target, COPY --from or --mount from= names no stage.
	ErrNoSuchStage = errors.New("no such stage")
	// ErrCycle: stages need each other through COPY --from or --mount from=.
	ErrCycle = errors.New("circular dependency between stages")
	// ErrNoSource: a COPY or ADD source matches nothing in the build context.
	ErrNoSource = errors.New("no such file in the build context")
	// ErrBadSource: a source or bind-mount path leaves its build context, or an
	// ADD download fails or does not match its --checksum.
	ErrBadSource = errors.New("bad source")
	// ErrNoSecret: a RUN --mount=type=secret,required names a secret not given.
	ErrNoSecret = errors.New("secret not provided")
	// ErrBadChange: a commit/import --change instruction is invalid.
	ErrBadChange = errors.New("invalid --change")
)

// Error is a refusal tied to a place in the Containerfile. It prints as
// "Containerfile:LINE: message", the form compilers use, on one line.
type Error struct {
	File string // the Containerfile's name as the user gave it
	Line int    // 1-based; 0 when the error has no line (e.g. --target)
	Err  error  // wraps one of the sentinels above
}

func (e *Error) Error() string {
	if e.Line <= 0 {
		return fmt.Sprintf("%s: %v", e.File, e.Err)
	}
	return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// lineError makes an *Error that reads "FILE:LINE: sentinel: detail".
func lineError(file string, line int, sentinel error, format string, args ...any) error {
	return &Error{File: file, Line: line, Err: fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))}
}
