package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNetworkHelperErrorsReachTheMessage: when a network helper fails, the
// one line skiff prints carries the helper's own words. netavark writes
// {"error": "..."} on its standard output (Debian's netavark 1.4 without
// iptables says "No such file or directory (os error 2)"); pasta and
// slirp4netns complain on standard error.
func TestNetworkHelperErrorsReachTheMessage(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("network", "create", "helpernet")

	t.Run("netavark", func(t *testing.T) {
		e := e.at(t)
		// iptables lives in /usr/sbin: without it netavark 1.4 fails.
		e.path = "/usr/local/bin:/usr/bin:/bin"
		r := e.fails(125, `netavark setup: .*No such file or directory \(os error 2\).*apt-get install iptables`,
			"run", "--rm", "--network", "helpernet", busybox, "true")
		if strings.Contains(r.stderr, "exit status 1:\n") {
			t.Fatalf("netavark's text is lost\n%s", r)
		}
	})
	t.Run("pasta", func(t *testing.T) {
		e := e.at(t)
		e.fails(125, `pasta.*Invalid address: 300\.1\.1\.1`, "run", "--rm", "--network", "pasta:-a,300.1.1.1", busybox, "true")
	})
	t.Run("slirp4netns", func(t *testing.T) {
		e := e.at(t)
		// The real slirp4netns, given an MTU it refuses, on a PATH of its own.
		bin := filepath.Join(e.root, "bin")
		os.MkdirAll(bin, 0o755)
		os.WriteFile(filepath.Join(bin, "slirp4netns"), []byte("#!/bin/sh\nexec /usr/bin/slirp4netns \"$@\" --mtu=99999\n"), 0o755)
		e.chownAll()
		e.path = bin + ":" + e.path
		e.fails(125, `slirp4netns.*MTU must be a positive integer`, "run", "--rm", "--network", "slirp4netns", busybox, "true")
	})
}
