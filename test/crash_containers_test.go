package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// containerProcs lists the test user's live processes named comm.
func containerProcs(uid int, comm string) []int {
	return userPids(uid, func(pid string) bool {
		stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat"))
		c, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		return !zombie(string(stat)) && strings.TrimSpace(string(c)) == comm
	})
}

// checkTruthful compares what ps -a says of name with the processes that
// run: "running" needs the container's process, anything else its absence.
func checkTruthful(t *testing.T, e *env, name, comm string) {
	t.Helper()
	state := ""
	for _, line := range lines(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}")) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == name {
			state = f[1]
		}
	}
	alive := len(containerProcs(e.uid(), comm)) > 0
	switch {
	case state == "running" && !alive:
		t.Fatalf("ps says %s runs, but no %s process exists", name, comm)
	case state != "running" && alive:
		// The process may be on its way out; give it a moment.
		time.Sleep(500 * time.Millisecond)
		if len(containerProcs(e.uid(), comm)) > 0 && !strings.Contains(e.ok("ps", "--format", "{{.Names}}"), name) {
			t.Fatalf("ps says %s is %q, but its process runs", name, state)
		}
	}
}

// cleanAll removes every container with rm -f and checks nothing is left.
func cleanAll(t *testing.T, e *env, comm string) {
	t.Helper()
	for _, id := range lines(e.ok("ps", "-a", "-q")) {
		e.ok("rm", "-f", id)
	}
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("rm -f left %q", got)
	}
	waitFor(t, func() bool { return len(containerProcs(e.uid(), comm)) == 0 })
	waitNoSkiffLeft(t, e)
}

func killAfter(t *testing.T, e *env, delay time.Duration, args ...string) {
	t.Helper()
	cmd := e.command(context.Background(), args...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(delay)
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
}

func TestCrashSafetyKilledRun(t *testing.T) {
	e := runEnv(t)
	for _, d := range []time.Duration{0, 30, 80, 150, 250, 400, 700} {
		delay := d * time.Millisecond
		t.Run(fmt.Sprintf("run_killed_after_%v", delay), func(t *testing.T) {
			e := e.at(t)
			killAfter(t, e, delay, "run", "--name", "victim", busybox, "sleep", "31")
			// The killed run's monitor carries on: its start, if it
			// was under way, finishes first.
			checkContainerTruth(t, e, "victim")
			cleanAll(t, e, "sleep")
		})
	}
}

func TestCrashSafetyKilledMonitor(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "orphan", busybox, "sleep", "32")
	mon := monitorPids(e.uid())
	if len(mon) != 1 {
		t.Fatalf("want one monitor, found %v", mon)
	}
	syscall.Kill(mon[0], syscall.SIGKILL)
	time.Sleep(200 * time.Millisecond)
	// The container runs on; ps says so; commands still reach it, also
	// those that must join it (its monitor held the user's namespace
	// alone: the next command adopts that namespace rather than making
	// another, from which exec could not reach the container).
	checkTruthful(t, e, "orphan", "sleep")
	if out := e.ok("exec", "orphan", "echo", "reached"); out != "reached\n" {
		t.Fatalf("exec after the monitor was killed: %q", out)
	}
	if out := e.ok("top", "orphan"); !strings.Contains(out, "sleep 32") {
		t.Fatalf("top after the monitor was killed: %q", out)
	}
	e.ok("stop", "-t", "1", "orphan")
	if got := strings.TrimSpace(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}")); got != "orphan exited" {
		t.Fatalf("after stop: %q", got)
	}
	cleanAll(t, e, "sleep")

	// A monitor killed while its container still runs, then rm -f.
	e.ok("run", "-d", "--name", "orphan2", busybox, "sleep", "33")
	for _, p := range monitorPids(e.uid()) {
		syscall.Kill(p, syscall.SIGKILL)
	}
	cleanAll(t, e, "sleep")
}

func TestCrashSafetyKilledRm(t *testing.T) {
	e := runEnv(t)
	for _, d := range []time.Duration{0, 20, 60, 120, 250} {
		delay := d * time.Millisecond
		t.Run(fmt.Sprintf("rm_killed_after_%v", delay), func(t *testing.T) {
			e := e.at(t)
			e.ok("run", "-d", "--name", "target", busybox, "sleep", "34")
			killAfter(t, e, delay, "rm", "-f", "target")
			time.Sleep(100 * time.Millisecond)
			checkTruthful(t, e, "target", "sleep")
			cleanAll(t, e, "sleep")
		})
	}
}

// monitorPids finds the user's container monitors.
func monitorPids(uid int) []int {
	return userPids(uid, func(pid string) bool {
		cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
		return strings.HasPrefix(string(cmdline), "skiff-monitor\x00")
	})
}

// userPids lists the processes of uid that match.
func userPids(uid int, match func(pid string) bool) []int {
	var pids []int
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if st, err := os.Stat("/proc/" + ent.Name()); err != nil || uidOf(st) != uid {
			continue
		}
		if match(ent.Name()) {
			pids = append(pids, pid)
		}
	}
	return pids
}
