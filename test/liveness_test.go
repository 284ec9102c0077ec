package test

import (
	"os"
	"strings"
	"testing"
	"time"
)

// TestLongRunningContainerStaysRunning: a container that runs for a while
// is still reported running once the kernel has dropped its /proc inodes
// (memory pressure, or here drop_caches): a process's age is its start
// time in /proc/PID/stat, never the mtime of /proc/PID, which is when the
// kernel last made that inode. Users saw running containers turn
// "Exited (-1)" after half a minute on a loaded machine.
func TestLongRunningContainerStaysRunning(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "long", "--network", "none", busybox, "sleep", "600")
	e.ok("run", "-d", "--name", "longk", "--network", "none", "--userns", "keep-id", busybox, "sleep", "600")
	time.Sleep(3500 * time.Millisecond)
	// Every /proc inode of a process nobody holds open goes with the
	// dentry cache; a parent goes only once its children have, so drop
	// more than once.
	for i := 0; i < 3; i++ {
		if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("2\n"), 0o200); err != nil {
			t.Fatalf("dropping the dentry and inode caches: %v", err)
		}
	}
	for _, name := range []string{"long", "longk"} {
		if st := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Status}}", name)); st != "running" {
			t.Fatalf("%s is %q after the kernel dropped its /proc inodes, want running\n%s", name, st, e.ok("ps", "-a"))
		}
		e.ok("exec", name, "true")
	}
	if out := e.ok("ps", "--format", "{{.Names}} {{.Status}}"); strings.Count(out, " Up ") != 2 {
		t.Fatalf("ps does not show both running:\n%s", out)
	}
	e.ok("rm", "-f", "-t", "0", "long", "longk")
}
