package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestCheckGlobalFlags: flags before the command are known ones (with
// their values skipped), else refused by name.
func TestCheckGlobalFlags(t *testing.T) {
	var out bytes.Buffer
	root := newRootCmd(&globalOptions{stdin: strings.NewReader(""), stdout: &out, stderr: &out})
	for _, c := range []struct {
		args string
		want string // "" for no error
	}{
		{"ps -a", ""},
		{"--log-level error stop -t 0 x", ""},
		{"--log-level=error --root /r --runroot /rr --storage-driver vfs ps", ""},
		{"-v", ""},
		{"--help", ""},
		{"--noout stop -t 0 x", "unknown flag: --noout"},
		{"--log-level error --bogus=1 ps", "unknown flag: --bogus"},
		{"-q ps", "unknown shorthand flag: 'q'"},
		{"ps --noout", ""}, // the command's own flags are the command's to judge
		{"-- --noout", ""},
	} {
		err := checkGlobalFlags(root, strings.Fields(c.args))
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%q: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%q: %v, want %q", c.args, err, c.want)
		}
	}
}
