package oci

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestRuntimeErrorCodes: the messages of both runtimes map to docker's exit
// codes (127 not found, 126 cannot run) and nothing else does.
func TestRuntimeErrorCodes(t *testing.T) {
	for _, c := range []struct {
		msg  string
		want error
	}{
		{`runc run failed: unable to start container process: exec: "nosuch": executable file not found in $PATH`, ErrCommandNotFound},
		{`runc run failed: unable to start container process: exec: "/nosuch": stat /nosuch: no such file or directory`, ErrCommandNotFound},
		{"executable file `nosuch` not found in $PATH: No such file or directory", ErrCommandNotFound},
		{`runc run failed: unable to start container process: exec: "/etc": is a directory`, ErrCannotInvoke},
		{`runc run failed: unable to start container process: exec: "/etc/passwd": permission denied`, ErrCannotInvoke},
		{"open executable: Permission denied", ErrCannotInvoke},
		{"open executable: Operation not permitted", ErrCannotInvoke},
		{"chdir `/nowhere`: No such file or directory", ErrNoWorkdir},
		{`exec failed: unable to start container process: chdir to cwd ("/nowhere") set in config.json failed: no such file or directory`, ErrNoWorkdir},
		{"mount `/gone` to `/data`: No such file or directory", nil},
		{`runc run failed: error mounting "/gone" to rootfs at "/data": no such file or directory`, nil},
	} {
		log := filepath.Join(t.TempDir(), "runtime.log")
		line, _ := json.Marshal(map[string]string{"level": "error", "msg": c.msg})
		if err := os.WriteFile(log, append(line, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		err := LogError(log, nil)
		if err == nil {
			t.Fatalf("%q: no error", c.msg)
		}
		for _, kind := range []error{ErrCommandNotFound, ErrCannotInvoke, ErrNoWorkdir} {
			if errors.Is(err, kind) != (kind == c.want) {
				t.Errorf("%q: %v", c.msg, err)
			}
		}
	}
}
