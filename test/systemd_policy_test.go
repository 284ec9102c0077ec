package test

import (
	"strings"
	"testing"
	"time"
)

// TestGenerateSystemdFollowsTheContainer: the unit takes the container's
// own restart policy (always → Restart=always, unless-stopped → always,
// on-failure:42 → Restart=on-failure and StartLimitBurst=42, as podman's
// generate systemd does) and its --stop-timeout as given (5 → -t 5, 0 →
// -t 0); --restart-policy and --time override them. stop and inspect read
// the same stop timeout.
func TestGenerateSystemdFollowsTheContainer(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("create", "--name", "always5", "--restart=always", "--stop-timeout", "5", busybox, "sleep", "60")
	e.ok("create", "--name", "failing", "--restart", "on-failure:42", "--stop-timeout", "0", busybox, "sleep", "60")
	e.ok("create", "--name", "unless", "--restart", "unless-stopped", busybox, "sleep", "60")
	e.ok("create", "--name", "plain", busybox, "sleep", "60")
	for _, c := range []struct {
		args     []string
		want     []string
		unwanted []string
	}{
		{[]string{"always5"}, []string{"Restart=always\n", " stop -t 5 ", "TimeoutStopSec=65\n"}, []string{"-t 6", "Restart=on-failure"}},
		{[]string{"--new", "always5"}, []string{"Restart=always\n", "stop --ignore -t 5 "}, []string{"-t 6", "--restart"}},
		{[]string{"failing"}, []string{"Restart=on-failure\n", "StartLimitBurst=42\n", " stop -t 0 "}, []string{"-t 1 "}},
		{[]string{"--new", "failing"}, []string{"Restart=on-failure\n", "StartLimitBurst=42\n", "stop --ignore -t 0 "}, []string{"--restart"}},
		{[]string{"unless"}, []string{"Restart=always\n", " stop -t 10 "}, nil},
		{[]string{"plain"}, []string{"Restart=on-failure\n", " stop -t 10 "}, []string{"StartLimitBurst"}},
		{[]string{"--restart-policy", "no", "-t", "3", "always5"}, []string{"Restart=no\n", " stop -t 3 "}, []string{"Restart=always"}},
	} {
		out := e.ok(append([]string{"generate", "systemd", "--name", "--no-header"}, c.args...)...)
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("generate systemd %v: missing %q in\n%s", c.args, w, out)
			}
		}
		for _, w := range c.unwanted {
			if strings.Contains(out, w) {
				t.Errorf("generate systemd %v: unwanted %q in\n%s", c.args, w, out)
			}
		}
	}
	for name, want := range map[string]string{"always5": "5", "failing": "0", "plain": "10"} {
		if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.Config.StopTimeout}}", name)); got != want {
			t.Errorf("inspect %s: StopTimeout %q, want %s", name, got, want)
		}
	}
	// stop waits the container's --stop-timeout for a process that ignores
	// SIGTERM, then kills it.
	e.ok("run", "-d", "--name", "stubborn", "--stop-timeout", "2", busybox, "sh", "-c", "trap '' TERM; while :; do sleep 1; done")
	start := time.Now()
	e.ok("stop", "stubborn")
	if d := time.Since(start); d < 2*time.Second || d > 6*time.Second {
		t.Fatalf("stop of a --stop-timeout 2 container took %v", d)
	}
}
