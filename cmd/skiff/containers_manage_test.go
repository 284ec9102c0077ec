package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
)

// TestRmExitCodes: rm's exit codes are decided here, from the engine's
// reports, as podman's man page gives them: 2 when a container runs, 1
// when every failure is a missing container, else 125; the names that
// were removed are printed.
func TestRmExitCodes(t *testing.T) {
	missing := fmt.Errorf("%w: x", config.ErrNoSuchContainer)
	running := fmt.Errorf("%w: y", engine.ErrIsRunning)
	other := errors.New("disk on fire")
	for _, c := range []struct {
		errs []error
		code int
	}{
		{[]error{nil, nil}, 0},
		{[]error{nil, missing}, 1},
		{[]error{missing, missing}, 1},
		{[]error{missing, running}, 2},
		{[]error{other, running}, 2},
		{[]error{missing, other}, 125},
		{[]error{other}, 125},
	} {
		var reports []engine.RmReport
		for i, err := range c.errs {
			reports = append(reports, engine.RmReport{RawInput: fmt.Sprint("c", i), Err: err})
		}
		var out bytes.Buffer
		_ = printNames(&out, reports, func(r engine.RmReport) (string, error) { return r.RawInput, r.Err })
		if code := exitCode(io.Discard, rmStatus(reports)); code != c.code {
			t.Errorf("%v: exit %d, want %d", c.errs, code, c.code)
		}
		for i, err := range c.errs {
			if printed := strings.Contains(out.String(), fmt.Sprint("c", i, "\n")); printed != (err == nil) {
				t.Errorf("%v: c%d printed %v", c.errs, i, printed)
			}
		}
	}
}
