package test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestStartedProcessesHoldNoCallersDescriptors: a script's descriptors
// above stderr (bats' fd 3, a `$(...)` pipe given as 5>&1) are not kept by
// what skiff leaves running (the monitor, pasta): the script's capture
// returns at once, not when the container ends. Seen with the container
// running and without (the joining path and the first one).
func TestStartedProcessesHoldNoCallersDescriptors(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	for i, name := range []string{"fd1", "fd2"} {
		// The first runs while no container does, the second joins it.
		script := `start=$(date +%s); out=$( { "$SKIFF" run -d --name ` + name + ` ` + busybox + ` sleep 30 >/dev/null; } 5>&1 3>&1 ); echo "$(( $(date +%s) - start ))"`
		r := e.sh(`timeout 25 sh -c '` + strings.ReplaceAll(script, `'`, `'\''`) + `'`)
		if r.code != 0 {
			t.Fatalf("run %d: the capture did not return while the container ran\n%s", i, r)
		}
		if secs := strings.TrimSpace(r.stdout); secs != "0" && secs != "1" && secs != "2" && secs != "3" {
			t.Fatalf("run %d: the capture took %ss", i, secs)
		}
	}
	e.ok("exec", "fd1", "true")
	e.ok("rm", "-f", "-t", "0", "fd1", "fd2")
}

// TestDetachedExecOutputGoesNowhere: exec -d's process has /dev/null for
// its output, as docker discards it: not the caller's (a script waiting),
// nor a file of no name that would fill /tmp for as long as it writes.
func TestDetachedExecOutputGoesNowhere(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "ex", busybox, "sleep", "60")
	e.ok("exec", "-d", "ex", "sleep", "4321")
	var pids []int
	waitFor(t, func() bool {
		pids = userPids(e.uid(), func(pid string) bool {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
			return string(cmdline) == "sleep\x004321\x00"
		})
		return len(pids) == 1
	})
	for _, fd := range []string{"0", "1", "2"} {
		if target, err := os.Readlink(filepath.Join("/proc", strconv.Itoa(pids[0]), "fd", fd)); err != nil || target != "/dev/null" {
			t.Fatalf("exec -d's process has %q (%v) as descriptor %s, want /dev/null", target, err, fd)
		}
	}
	e.ok("rm", "-f", "-t", "0", "ex")
}
