package test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKilledSeccompCompileLeavesNothing: skiff has crun compile the seccomp
// profile once (a container created and never started). A SIGKILL of the
// command after crun's create used to leave that container's init waiting
// for ever. Here a wrapper named crun holds the compile open right after
// its create (once) and the test kills skiff then: nothing of the compile
// may run on, and its directory is gone once the next command compiled.
func TestKilledSeccompCompileLeavesNothing(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	wrapper := e.writeFile("rt/crun", `#!/bin/sh
/usr/bin/crun "$@"; rc=$?
case " $* " in *" create "*seccomp-compile*)
	[ -e "$0.held" ] || { : > "$0.held"; sleep 30; } ;;
esac
exit $rc
`)
	if err := os.Chmod(wrapper, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(wrapper), 0o755)
	cmd := e.command(context.Background(), "run", "-d", "--runtime", wrapper, "--name", "sc", busybox, "sleep", "100")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { _, err := os.Stat(wrapper + ".held"); return err == nil })
	compiling := func() []int {
		return userPids(e.uid(), func(pid string) bool {
			cmdline, _ := os.ReadFile(filepath.Join("/proc", pid, "cmdline"))
			stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat"))
			return !zombie(string(stat)) && strings.Contains(string(cmdline), "seccomp-compile")
		})
	}
	if len(compiling()) == 0 {
		t.Fatal("the compile's processes are not there while it is held")
	}
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	deadline := time.Now().Add(5 * time.Second)
	for len(compiling()) > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if p := compiling(); len(p) > 0 {
		t.Fatalf("a killed compile left processes %v", p)
	}
	if st := psState(e, "sc"); st != "" && st != "created" && st != "exited" {
		t.Fatalf("after the killed run, sc is %q", st)
	}
	e.run("rm", "-f", "sc")
	e.ok("run", "-d", "--runtime", wrapper, "--name", "sc", busybox, "sleep", "100")
	e.ok("exec", "sc", "true")
	if d, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "seccomp", "compile-*")); len(d) > 0 {
		t.Fatalf("a killed compile left directories %v", d)
	}
	e.ok("rm", "-f", "-t", "0", "sc")
}
