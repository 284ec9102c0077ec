package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestHostMountsMadeLaterReachTheNamespace: the user's namespace lives as
// long as a container runs, so what the host mounts meanwhile must reach it
// (its mounts are slaves of the host's, as in podman's): a tmpfs mounted
// after the namespace exists is what `run -v` shows and where its writes
// land, and a graph root on a freshly mounted tmpfs (storage.conf) holds
// what is pulled into it. Hosts with systemd mount / shared; the test
// makes its own directory a shared mount first, for hosts without.
func TestHostMountsMadeLaterReachTheNamespace(t *testing.T) {
	e := newEnv(t)
	shared := filepath.Join(e.root, "shared")
	mustRun(t, "mkdir", "-p", shared)
	mustRun(t, "mount", "--bind", shared, shared)
	t.Cleanup(func() { exec.Command("umount", "-R", "-l", shared).Run() })
	mustRun(t, "mount", "--make-rshared", shared)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "holder", busybox, "sleep", "600")
	defer e.run("rm", "-f", "-t", "0", "holder")

	late := filepath.Join(shared, "late")
	mustRun(t, "mkdir", late)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=0755", "h3late", late)
	if err := os.WriteFile(filepath.Join(late, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Chown(late, e.uid(), e.gid())
	if got := strings.TrimSpace(e.ok("run", "--rm", "-v", late+":/x", busybox, "cat", "/x/hello")); got != "from the host" {
		t.Fatalf("run -v %s:/x sees %q, want the file on the tmpfs", late, got)
	}
	e.ok("run", "--rm", "-v", late+":/x", busybox, "sh", "-c", "echo back > /x/back")
	if data, err := os.ReadFile(filepath.Join(late, "back")); err != nil || string(data) != "back\n" {
		t.Fatalf("a write to /x did not land on the tmpfs: %q %v", data, err)
	}

	graph := filepath.Join(shared, "graph")
	mustRun(t, "mkdir", graph)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=0700", "h3graph", graph)
	os.Chown(graph, e.uid(), e.gid())
	conf := e.writeFile("storage.conf", "[storage]\ndriver = \"overlay\"\ngraphroot = \""+graph+"\"\n")
	g := *e
	g.extra = append(append([]string{}, e.extra...), "CONTAINERS_STORAGE_CONF="+conf)
	g.ok("pull", "-q", busybox)
	if got := strings.TrimSpace(g.ok("run", "--rm", busybox, "cat", "/etc/hostname")); got == "" {
		t.Fatal("no hostname in a container of the tmpfs graph root")
	}
	if entries, err := os.ReadDir(graph); err != nil || len(entries) == 0 {
		t.Fatalf("the graph root tmpfs is empty (%v): the store was written underneath it", err)
	}
	if !strings.Contains(g.ok("images", "--format", "{{.Repository}}"), "busybox") {
		t.Fatal("the image pulled into the tmpfs graph root is not listed")
	}
}

// TestHostMountsThatCannotReachTheNamespaceAreRefused: under a host mount
// that does not propagate (private, as / is on a host without systemd), a
// tmpfs mounted after the namespace exists cannot be seen in it; a bind
// source or a graph root there is refused with one line and exit 125
// instead of silently using the directory underneath.
func TestHostMountsThatCannotReachTheNamespaceAreRefused(t *testing.T) {
	e := newEnv(t)
	priv, late := lateUnderPrivate(t, e, filepath.Join(e.root, "priv"))
	before := e.ok("ps", "-a", "-q")
	if err := os.WriteFile(filepath.Join(late, "hello"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	e.fails(125, `bind source .*late.*not as the host has it`, "run", "--rm", "-v", late+":/x", busybox, "cat", "/x/hello")
	e.fails(125, `bind source .*late.*not as the host has it`, "--log-level=warn", "create", "--mount", "type=bind,source="+late+",target=/x", busybox)
	// A source inside the late mount, which the namespace does not have
	// at all: the same hint, not "does not exist" (user trial).
	if err := os.Mkdir(filepath.Join(late, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	e.fails(125, `bind source .*late/dir.*not as the host has it.*make-rshared`, "run", "--rm", "-v", filepath.Join(late, "dir")+":/x", busybox, "true")
	// Files skiff reads or writes itself there are refused the same way:
	// an output would land, unseen, in the directory underneath.
	for _, args := range [][]string{
		{"save", "-o", filepath.Join(late, "x.tar"), busybox},
		{"run", "-d", "--cidfile", filepath.Join(late, "cid"), busybox, "true"},
		{"run", "--rm", "--env-file", filepath.Join(late, "hello"), busybox, "true"},
		{"load", "-i", filepath.Join(late, "hello")},
		{"import", filepath.Join(late, "hello"), "x"},
		{"cp", filepath.Join(late, "hello"), "holder:/tmp/"},
		{"cp", "holder:/etc/hostname", filepath.Join(late, "out")},
		{"pull", "--authfile", filepath.Join(late, "auth.json"), busybox},
	} {
		e.fails(125, `not as the host has it`, args...)
	}
	if after := e.ok("ps", "-a", "-q"); after != before {
		t.Fatalf("a refused run left containers: %q, before %q", after, before)
	}

	graph := filepath.Join(priv, "graph")
	mustRun(t, "mkdir", graph)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=0700", "h3graph", graph)
	os.Chown(graph, e.uid(), e.gid())
	conf := e.writeFile("storage.conf", "[storage]\ndriver = \"overlay\"\ngraphroot = \""+graph+"\"\n")
	g := *e
	g.extra = append(append([]string{}, e.extra...), "CONTAINERS_STORAGE_CONF="+conf)
	g.fails(125, `image store .*graph.*not as the host has it`, "pull", "-q", busybox)
	if entries, _ := os.ReadDir(graph); len(entries) != 0 {
		t.Fatalf("the refused pull wrote into the graph root: %v", entries)
	}
}

// lateUnderPrivate mounts a private tmpfs at priv, starts a container
// (so the user's namespace exists and is joined from then on), and then
// mounts another tmpfs at priv/late, which the namespace never sees. It
// returns both paths; the container and the mounts go with the test.
func lateUnderPrivate(t *testing.T, e *env, priv string) (string, string) {
	t.Helper()
	mustRun(t, "mkdir", "-p", priv)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=0755", "h3priv", priv)
	t.Cleanup(func() { exec.Command("umount", "-R", "-l", priv).Run() })
	mustRun(t, "mount", "--make-private", priv)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "holder", busybox, "sleep", "600")
	t.Cleanup(func() { e.run("rm", "-f", "-t", "0", "holder") })
	late := filepath.Join(priv, "late")
	mustRun(t, "mkdir", "-p", late)
	mustRun(t, "mount", "-t", "tmpfs", "-o", "mode=0755", "h3late", late)
	return priv, late
}
