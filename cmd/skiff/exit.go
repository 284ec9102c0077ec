package main

import (
	"errors"
	"fmt"
	"io"
	"strings"
)

// Exit codes, as docker and podman use them.
const (
	exitEngine       = 125
	exitCannotInvoke = 126
	exitNotFound     = 127
)

// exitStatus carries an exit code that needs no message: the code of a copy
// of skiff that ran in the user namespace, or of a container.
type exitStatus struct{ code int }

func (e *exitStatus) Error() string { return fmt.Sprintf("exit status %d", e.code) }

// usageError marks bad input; it exits 125 like every engine error, and is
// kept apart so the message can point at --help.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, a ...any) error { return &usageError{fmt.Errorf(format, a...)} }

// codedError is an error a command documents its own exit code for (rm's
// 1 and 2); its message is printed as any other.
type codedError struct {
	err  error
	code int
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// exitCode prints err as one line on stderr and maps it to a process status.
func exitCode(stderr io.Writer, err error) int {
	if err == nil {
		return 0
	}
	var st *exitStatus
	if errors.As(err, &st) {
		return st.code
	}
	msg := strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", "; ")
	fmt.Fprintf(stderr, "Error: %s\n", msg)
	var coded *codedError
	if errors.As(err, &coded) {
		return coded.code
	}
	if code, ok := containerExitCode(err); ok {
		return code
	}
	return exitEngine
}
