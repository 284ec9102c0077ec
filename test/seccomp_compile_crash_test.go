package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKilledSeccompCompileLeavesNothing: skiff has crun compile the seccomp
// profile once (a container created and never started); a SIGKILL of the
// command between crun's create and delete used to leave that container's
// init waiting for ever. The kill here comes from a wrapper named crun that
// kills its caller right after the compile's create (once): what it left must be
// gone once the killed start's monitor has cleaned up, and the container
// must start after.
func TestKilledSeccompCompileLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	wrapper := e.writeFile("rt/crun", `#!/bin/sh
/usr/bin/crun "$@"; rc=$?
case " $* " in *" create "*seccomp-compile*)
	[ -e "$0.killed" ] || { : > "$0.killed"; kill -9 $PPID; sleep 1; } ;;
esac
exit $rc
`)
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(wrapper), 0o755)
	r := e.run("run", "-d", "--runtime", wrapper, "--name", "sc", busybox, "sleep", "100")
	if r.code != -1 && r.code != 137 { // killed by a signal
		t.Fatalf("the wrapper did not kill skiff during the compile\n%s", r)
	}
	compiling := func() []int {
		return userPids(e.uid(), func(pid string) bool {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
			return strings.Contains(string(cmdline), "seccomp-compile")
		})
	}
	leftDirs := func() []string {
		m, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "seccomp", "compile-*"))
		return m
	}
	deadline := time.Now().Add(10 * time.Second)
	for (len(compiling()) > 0 || len(leftDirs()) > 0) && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if p, d := compiling(), leftDirs(); len(p) > 0 || len(d) > 0 {
		t.Fatalf("a killed compile left processes %v and directories %v", p, d)
	}
	if st := psState(e, "sc"); st != "created" && st != "exited" {
		t.Fatalf("after the killed start, sc is %q", st)
	}
	e.ok("start", "sc")
	e.ok("exec", "sc", "true")
	e.ok("rm", "-f", "-t", "0", "sc")
}
