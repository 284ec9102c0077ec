package test

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// What a user trial found different from docker's and podman's lifecycle
// verbs: each case is what both of them do.

// start of a running container is no error (exit 0, its name); start -a
// attaches to it.
func TestStartOfARunningContainer(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "up", busybox, "sleep", "30")
	if out := e.ok("start", "up"); out != "up\n" {
		t.Fatalf("start of a running container printed %q", out)
	}
	e.ok("run", "-d", "--name", "late", busybox, "sh", "-c", "sleep 1; echo late")
	if out := e.ok("start", "-a", "late"); out != "late\n" {
		t.Fatalf("start -a of a running container printed %q", out)
	}
	e.ok("rm", "-f", "-t", "0", "up", "late")
}

// rm -f of a name no container has says nothing and exits 0; plain rm
// still fails on it.
func TestRmForceOfAMissingName(t *testing.T) {
	e := newEnv(t)
	r := e.run("rm", "-f", "nosuch")
	if r.code != 0 || r.stdout != "" || r.stderr != "" {
		t.Fatalf("rm -f of a missing name\n%s", r)
	}
	e.fails(1, "no such container: nosuch", "rm", "nosuch")
}

// restart of a --rm container restarts it: it is not removed as its first
// run ends.
func TestRestartKeepsARmContainer(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--rm", "--name", "brief", busybox, "sleep", "30")
	e.ok("restart", "-t", "0", "brief")
	if got := strings.TrimSpace(e.ok("ps", "--format", "{{.Names}} {{.State}}")); got != "brief running" {
		t.Fatalf("after restart: %q", got)
	}
	// It is still a --rm container: it goes when it ends.
	e.ok("stop", "-t", "0", "brief")
	deadline := time.Now().Add(10 * time.Second)
	for strings.TrimSpace(e.ok("ps", "-a", "--format", "{{.Names}}")) != "" {
		if time.Now().After(deadline) {
			t.Fatal("the restarted --rm container stays after it ended")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// wait on a --rm container tells its exit code, though the container is
// gone by the time it ends.
func TestWaitTellsTheExitOfARmContainer(t *testing.T) {
	e := runEnv(t)
	for i := 0; i < 3; i++ {
		e.ok("run", "-d", "--rm", "--name", "rw", busybox, "sh", "-c", "sleep 0.5; exit 5")
		if out := e.ok("wait", "rw"); out != "5\n" {
			t.Fatalf("wait of a --rm container printed %q", out)
		}
	}
}

// kill of a container with a restart policy leaves it ended (podman's
// kill, and docker's: the user ended it); start brings the policy back.
func TestKillLeavesARestartPolicyBe(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "ra", "--restart", "always", busybox, "sleep", "1")
	e.ok("kill", "ra")
	time.Sleep(2500 * time.Millisecond) // the policy's first back-off is 100 ms
	if got := inspectField(e, "ra", "{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}"); got != "0 exited 137" {
		t.Fatalf("after kill: %q", got)
	}
	e.ok("start", "ra") // it ends by itself after a second: the policy restarts it
	deadline := time.Now().Add(10 * time.Second)
	for inspectField(e, "ra", "{{.RestartCount}}") == "0" {
		if time.Now().After(deadline) {
			t.Fatal("after start, the policy does not restart the container")
		}
		time.Sleep(100 * time.Millisecond)
	}
	e.ok("rm", "-f", "-t", "0", "ra")
}

// logs gives the output back as the container wrote it: a last line
// without its newline has none (podman's and docker's logs).
func TestLogsKeepALastLineWithoutNewline(t *testing.T) {
	e := runEnv(t)
	if out := e.ok("run", "--name", "lg", busybox, "sh", "-c", "echo out1; printf nonl"); out != "out1\nnonl" {
		t.Fatalf("run printed %q", out)
	}
	for _, args := range [][]string{{"logs", "lg"}, {"logs", "-f", "lg"}, {"logs", "--tail", "1", "lg"}} {
		want := "out1\nnonl"
		if args[1] == "--tail" {
			want = "nonl"
		}
		if out := e.ok(args...); out != want {
			t.Errorf("%v printed %q, want %q", args, out, want)
		}
	}
	e.ok("rm", "lg")
}

// ps --filter as docker's and podman's: values of one key are
// alternatives, names are regular expressions, and a status filter lists
// containers of every state without -a.
func TestPsFiltersAsDockerHasThem(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "kt1", busybox, "sleep", "30")
	e.ok("create", "--name", "kt2", busybox, "true")
	e.ok("run", "--name", "done", busybox, "true")
	names := func(args ...string) string {
		out := e.ok(append(append([]string{"ps"}, args...), "--format", "{{.Names}}")...)
		ls := lines(out)
		slices.Sort(ls)
		return strings.Join(ls, " ")
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-a", "--filter", "status=running", "--filter", "status=created"}, "kt1 kt2"},
		{[]string{"-a", "--filter", "name=kt1", "--filter", "name=done"}, "done kt1"},
		{[]string{"-a", "--filter", "name=^kt1$"}, "kt1"},
		{[]string{"-a", "--filter", "name=k.2"}, "kt2"},
		{[]string{"--filter", "status=exited"}, "done"},
		{[]string{"-a", "--filter", "status=created", "--filter", "name=kt"}, "kt2"},
	} {
		if got := names(c.args...); got != c.want {
			t.Errorf("ps %v: %q, want %q", c.args, got, c.want)
		}
	}
	e.fails(125, "error parsing regexp", "ps", "--filter", "name=(")
	e.ok("rm", "-f", "-t", "0", "kt1", "kt2", "done")
}

// The container's environment names its hostname, as docker's and
// podman's do; exec's processes see it too.
func TestHostnameInTheEnvironment(t *testing.T) {
	e := runEnv(t)
	// env, not a shell: busybox's sh sets HOSTNAME itself.
	if out := e.ok("run", "--rm", "--hostname", "boxy", busybox, "env"); !slices.Contains(lines(out), "HOSTNAME=boxy") {
		t.Fatalf("no HOSTNAME=boxy in %q", out)
	}
	id := strings.TrimSpace(e.ok("run", "-d", busybox, "sleep", "30"))
	if out := e.ok("exec", id, "env"); !slices.Contains(lines(out), "HOSTNAME="+id[:12]) {
		t.Fatalf("no HOSTNAME=%s in exec's %q", id[:12], out)
	}
	e.ok("rm", "-f", "-t", "0", id)
}
