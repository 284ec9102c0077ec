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
	// And it is the holder's own namespace: the holder entered it itself
	// (enter.c), or its copy inside, its child, did.
	if inner := holderNamespace(t, holder.Process.Pid); inner != first {
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

// holderNamespace is the user namespace inode of pid, or of its first child
// when pid is still in the namespace it started in.
func holderNamespace(t *testing.T, pid int) string {
	t.Helper()
	var own, init syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d/ns/user", pid), &own) == nil && syscall.Stat("/proc/self/ns/user", &init) == nil && own.Ino != init.Ino {
		return strconv.FormatUint(own.Ino, 10)
	}
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

// TestFirstProcessEntersTheNamespace: once a namespace has been made the slow
// way (a second copy of skiff whose maps the first one writes), a command
// enters in its constructor with the same maps, in one process; a change
// of /etc/subuid or /etc/subgid, or a global flag before the command, sends
// it the slow way again, and both ways give the same namespace.
func TestFirstProcessEntersTheNamespace(t *testing.T) {
	e := newEnv(t)
	const fast = "entered the user namespace in the constructor"
	entered := func(args ...string) bool {
		t.Helper()
		r := e.run(args...)
		if r.code != 0 {
			t.Fatalf("%s", r)
		}
		return strings.Contains(r.stderr, fast)
	}
	if entered("images", "--log-level", "debug") {
		t.Fatal("the first command of a new runtime directory entered the fast way: it has no maps to use")
	}
	if !entered("images", "--log-level", "debug") {
		t.Fatal("the second command did not enter in its constructor")
	}
	if entered("--log-level", "debug", "images") {
		t.Fatal("a global flag before the command should take the slow way")
	}
	// The same full mapping either way, and a container runs.
	e.ok("pull", "-q", busybox)
	out := e.ok("run", "--rm", busybox, "cat", "/proc/self/uid_map")
	if len(lines(out)) != 2 {
		t.Fatalf("uid_map after a fast entry:\n%s", out)
	}
	// A touched /etc/subuid may hold other ranges: the maps are not reused.
	now := time.Now()
	if err := os.Chtimes("/etc/subuid", now, now); err != nil {
		t.Fatal(err)
	}
	if entered("images", "--log-level", "debug") {
		t.Fatal("entered with maps older than /etc/subuid")
	}
	if !entered("images", "--log-level", "debug") {
		t.Fatal("the maps were not renewed")
	}
	waitNoProcesses(t, e)
}

// TestEndedNamespacesLeaveNoDirectories: each namespace the user has had
// since boot kept a directory in the runtime directory (bundles, the
// runtime's state, network namespaces), which piled up, and a new
// namespace given an ended one's inode by the kernel took over that
// one's directory as its own (user trial). A namespace's first command
// clears the directories of those that ended, and a directory of the new
// namespace's own inode is never taken over: decoys for every inode the
// kernel is likely to give, each holding a stray bundle, are gone after.
func TestEndedNamespacesLeaveNoDirectories(t *testing.T) {
	e := runEnv(t)
	run := filepath.Join(e.root, "run", "skiff")
	for i := 0; i < 3; i++ {
		e.ok("run", "--rm", "--network", "none", busybox, "true") // a namespace each: none lives between
	}
	const first = 4026531840 // the kernel's first namespace inode (PROC_DYNAMIC_FIRST)
	for i := uint64(0); i < 20000; i++ {
		ghost := filepath.Join(run, fmt.Sprintf("ns-%d", first+i), "containers", "ghost")
		if err := os.MkdirAll(ghost, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.chownAll()
	e.ok("run", "-d", "--name", "holder", "--network", "none", busybox, "sleep", "60")
	dirs, _ := filepath.Glob(filepath.Join(run, "ns-*"))
	if len(dirs) != 1 {
		t.Fatalf("%d namespace directories after a new namespace's first command, want its own: %v", len(dirs), dirs[:min(len(dirs), 5)])
	}
	if _, err := os.Stat(filepath.Join(dirs[0], "containers", "ghost")); err == nil {
		t.Fatalf("the new namespace took over the directory of an ended one of its inode: %s", dirs[0])
	}
	e.ok("exec", "holder", "true")
	e.ok("rm", "-f", "-t", "0", "holder")
}
