package test

import (
	"strings"
	"testing"
	"time"
)

func inspectField(e *env, name, format string) string {
	e.t.Helper()
	return strings.TrimSpace(e.ok("inspect", "--format", format, name))
}

// TestRestartOnFailure: the monitor restarts a failing container exactly
// N times with back-off, with no skiff command run meanwhile, and then it
// stays exited.
func TestRestartOnFailure(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "flaky", "--restart", "on-failure:3", busybox, "sh", "-c", "echo attempt; exit 4")
	if got := inspectField(e, "flaky", "{{.HostConfig.RestartPolicy.Name}}:{{.HostConfig.RestartPolicy.MaximumRetryCount}}"); got != "on-failure:3" {
		t.Fatalf("restart policy %q", got)
	}
	// Back-off 100+200+400 ms: done well within 5 s. No skiff command
	// runs in this time; only the container's monitor works.
	time.Sleep(5 * time.Second)
	if got := inspectField(e, "flaky", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"); got != "3 exited 4" {
		t.Fatalf("after the retries: %q, want 3 exited 4", got)
	}
	if got := strings.Count(e.ok("logs", "flaky"), "attempt"); got != 4 {
		t.Fatalf("the container ran %d times, want 4", got)
	}
	time.Sleep(time.Second)
	if got := inspectField(e, "flaky", "{{.RestartCount}} {{.State.Status}}"); got != "3 exited" {
		t.Fatalf("it went on: %q", got)
	}
	// A success ends on-failure restarts at once.
	e.ok("run", "-d", "--name", "fine", "--restart", "on-failure", busybox, "true")
	time.Sleep(time.Second)
	if got := inspectField(e, "fine", "{{.RestartCount}} {{.State.Status}}"); got != "0 exited" {
		t.Fatalf("on-failure after exit 0: %q", got)
	}
	e.ok("rm", "flaky", "fine")
	waitNoProcesses(t, e)
}

// TestRestartAlwaysAndStop: always and unless-stopped restart whatever the
// exit code; stop (also during a back-off) and rm -f end it for good;
// start brings it back.
func TestRestartAlwaysAndStop(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	for _, policy := range []string{"always", "unless-stopped"} {
		e.ok("run", "-d", "--name", policy, "--restart", policy, busybox, "usleep", "200000")
		waitFor(t, func() bool {
			n := inspectField(e, policy, "{{.RestartCount}}")
			return n != "0" && n != "1"
		})
		e.ok("stop", policy)
		n := inspectField(e, policy, "{{.RestartCount}}")
		time.Sleep(1500 * time.Millisecond)
		if got := inspectField(e, policy, "{{.RestartCount}} {{.State.Status}}"); got != n+" exited" {
			t.Fatalf("%s after stop: %q, want %s exited", policy, got, n)
		}
		e.ok("start", policy)
		if got := inspectField(e, policy, "{{.State.Status}}"); got != "running" {
			t.Fatalf("%s after start: %s", policy, got)
		}
		e.ok("rm", "-f", policy)
	}
	// A container that fails at once spends its time in back-off; stop
	// and rm -f find it there too.
	for i := 0; i < 3; i++ {
		e.ok("run", "-d", "--name", "failing", "--restart", "always", busybox, "false")
		time.Sleep(time.Duration(100*i) * time.Millisecond)
		if i%2 == 0 {
			e.ok("stop", "failing")
			if got := inspectField(e, "failing", "{{.State.Status}}"); got != "exited" {
				t.Fatalf("stop during restarts: %s", got)
			}
		}
		e.ok("rm", "-f", "failing")
	}
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("left: %q", got)
	}
	waitNoProcesses(t, e)
	for _, bad := range []string{"sometimes", "on-failure:x", "on-failure:-1", "always:3"} {
		e.fails(125, "--restart", "run", "-d", "--restart", bad, busybox, "true")
	}
	e.fails(125, "exclude each other", "run", "--rm", "--restart", "always", busybox, "true")
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("bad input left: %q", got)
	}
}
