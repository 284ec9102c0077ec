package test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestCommandsJoinTheLiveNamespace: while a skiff process lives in the
// user's namespace, every other command joins that namespace instead of
// making its own; once it is gone the next command makes a new one, and
// nothing of skiff is left running.
func TestCommandsJoinTheLiveNamespace(t *testing.T) {
	e := newEnv(t)
	nsID := func() string { return strings.TrimSpace(e.ok("info", "--format", "{{.Host.NamespaceID}}")) }

	// `load` from a pipe that stays open lives in the namespace until EOF.
	holder := e.command(context.Background(), "load")
	stdin, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	var first string
	deadline := time.Now().Add(10 * time.Second)
	for {
		// The holder registers itself once its namespace is set up.
		first = nsID()
		if second := nsID(); second == first || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var wg sync.WaitGroup
	ids := make([]string, 8)
	for i := range ids {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.run("info", "--format", "{{.Host.NamespaceID}}")
			ids[i] = strings.TrimSpace(r.stdout)
			if r.code != 0 {
				ids[i] = r.String()
			}
		}(i)
	}
	wg.Wait()
	for _, id := range ids {
		if id != first {
			t.Fatalf("concurrent commands saw namespaces %v, want all %s", ids, first)
		}
	}
	// And it is the holder's own namespace (its copy inside is its child).
	if inner := childNamespace(t, holder.Process.Pid); inner != first {
		t.Fatalf("commands joined namespace %s, the holder lives in %s", first, inner)
	}
	// Images pulled from a joined command are seen by all.
	e.ok("pull", "-q", busybox)
	io.WriteString(stdin, "")
	stdin.Close()
	_ = holder.Wait()
	waitNoProcesses(t, e)
	// A new namespace now (its inode may be the old one's again: the
	// kernel reuses them), and the store is the same.
	if got := e.ok("images", "-q"); strings.TrimSpace(got) == "" {
		t.Fatal("image lost across namespaces")
	}
	waitNoProcesses(t, e)
}

// childNamespace is the user namespace inode of pid's first child.
func childNamespace(t *testing.T, pid int) string {
	t.Helper()
	// Any of its threads may have forked it.
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", pid))
	var kids []string
	for _, task := range tasks {
		data, _ := os.ReadFile(task)
		kids = append(kids, strings.Fields(string(data))...)
	}
	if len(kids) == 0 {
		t.Fatalf("process %d has no child", pid)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/proc/"+kids[0]+"/ns/user", &st); err != nil {
		t.Fatal(err)
	}
	return strconv.FormatUint(st.Ino, 10)
}
