package test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The global --root (and --storage-driver) chooses a store, and a store's containers, volumes and
// networks belong to it (podman keeps them in its graph root): each store's
// ps sees its own, rm in one leaves the other alone, rmi works in each, and
// the monitor of a container cleans up in the container's store.
func TestRootScopesContainerState(t *testing.T) {
	e := newEnv(t)
	other := filepath.Join(e.root, "other")
	if err := os.Mkdir(other, 0o700); err != nil {
		t.Fatal(err)
	}
	os.Chown(other, e.uid(), e.gid())
	o := func(args ...string) []string { return append([]string{"--root", other}, args...) }
	names := func(global ...string) string {
		return strings.TrimSpace(e.ok(append(global, "ps", "-a", "--format", "{{.Names}}")...))
	}

	e.ok("pull", "-q", busybox)
	e.ok(o("pull", "-q", busybox)...)
	e.ok("create", "--name", "mine", "-v", "myvol:/v", busybox, "true")
	e.ok(o("create", "--name", "theirs", "-v", "theirvol:/v", busybox, "true")...)
	e.ok(o("create", "--name", "mine", busybox, "true")...) // names are per store
	e.ok(o("run", "-d", "--name", "running", busybox, "sleep", "60")...)

	if got := names(); got != "mine" {
		t.Fatalf("default store's ps -a: %q, want only mine", got)
	}
	if got := names("--root", other); got != "running\nmine\ntheirs" {
		t.Fatalf("other store's ps -a: %q", got)
	}
	if got := strings.TrimSpace(e.ok("volume", "ls", "-q")); got != "myvol" {
		t.Fatalf("default store's volumes: %q", got)
	}
	if got := strings.TrimSpace(e.ok(o("volume", "ls", "-q")...)); got != "theirvol" {
		t.Fatalf("other store's volumes: %q", got)
	}

	// Another driver on the same graph root cannot reach the layers of
	// its containers: refused, rather than an rm that leaves them behind.
	e.fails(125, `container\(s\) of the overlay driver, which vfs cannot reach`, "--storage-driver", "vfs", "rm", "-f", "mine")
	if got := names(); got != "mine" {
		t.Fatalf("rm -f with another driver changed the store: %q", got)
	}

	// A container of the other store is no container here.
	if r := e.run("rm", "theirs"); r.code == 0 || !strings.Contains(r.stderr, "no such container") {
		t.Fatalf("rm of the other store's container in the default one\n%s", r)
	}
	e.run("rm", "-f", "theirs")
	e.ok(o("rm", "-f", "theirs", "running")...)
	if got := names(); got != "mine" {
		t.Fatalf("rm -f in the other store changed the default one: %q", got)
	}

	// A --rm container's monitor removes it from its own store.
	e.ok(o("run", "-d", "--rm", "--name", "brief", busybox, "true")...)
	deadline := time.Now().Add(20 * time.Second)
	for names("--root", other) != "mine" {
		if time.Now().After(deadline) {
			t.Fatalf("the --rm container stays in its store: %q", names("--root", other))
		}
		time.Sleep(100 * time.Millisecond)
	}

	e.ok(o("rm", "-f", "mine")...)
	e.ok(o("rmi", busybox)...)
	if ids := storeIDs(t, filepath.Join(other, "overlay-containers", "containers.json")); len(ids) != 0 {
		t.Fatalf("the other store keeps containers %v", ids)
	}
	if got := names(); got != "mine" {
		t.Fatalf("default store after the other's rmi: %q", got)
	}
	if r := e.run("rmi", busybox); r.code == 0 {
		t.Fatalf("rmi of an image the default store's container uses\n%s", r)
	}
	e.ok("rm", "-f", "mine")
	e.ok("rmi", busybox)
}

// Before the state belonged to its store, one database per user held the
// containers of every store. A store first opened takes its own from there:
// here, the default store's directory is moved elsewhere and opened with
// --root, as a store once used with --root would be.
func TestStoreTakesItsContainersFromTheUserWideState(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("create", "--name", "moved", "-v", "onlyits:/v", busybox, "true")
	e.ok("create", "--name", "kept", busybox, "true")
	logs := filepath.Join(e.home, ".local/share/skiff/containers")
	before, _ := os.ReadDir(logs)
	// The legacy state now holds containers of a store elsewhere.
	other := filepath.Join(e.root, "other")
	if err := os.Rename(filepath.Join(e.home, ".local/share/skiff/storage"), other); err != nil {
		t.Fatal(err)
	}
	e.ok("--root", other, "images", "-q")
	if got := strings.TrimSpace(e.ok("--root", other, "ps", "-a", "--format", "{{.Names}}")); got != "kept\nmoved" {
		t.Fatalf("the store's own containers: %q", got)
	}
	if got := strings.TrimSpace(e.ok("--root", other, "volume", "ls", "-q")); got != "onlyits" {
		t.Fatalf("the store's volumes: %q", got)
	}
	if got := strings.TrimSpace(e.ok("ps", "-a", "--format", "{{.Names}}")); got != "" {
		t.Fatalf("the user-wide state keeps %q", got)
	}
	if after, _ := os.ReadDir(logs); len(after) != 0 || len(before) != 2 {
		t.Fatalf("container directories: %d before, %d left behind", len(before), len(after))
	}
	e.ok("--root", other, "rm", "-v", "moved", "kept")
	e.ok("--root", other, "volume", "rm", "onlyits")
	e.ok("--root", other, "rmi", busybox)
}
