package test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
)

// fullState is a fingerprint of what the user's store and state hold:
// images, containers (ps -a and the store's own records), layers, volumes
// and networks. global selects the store (--root ...).
func (e *env) fullState(global ...string) string {
	e.t.Helper()
	q := func(args ...string) string { return e.ok(append(append([]string{}, global...), args...)...) }
	var b strings.Builder
	b.WriteString("images: " + q("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.Repository}}:{{.Tag}}"))
	b.WriteString("ps: " + q("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"))
	b.WriteString("volumes: " + q("volume", "ls", "-q"))
	b.WriteString("networks: " + q("network", "ls", "-q"))
	root, driver, _ := strings.Cut(strings.TrimSpace(q("info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}")), " ")
	for _, kind := range []string{"containers", "layers"} {
		fmt.Fprintf(&b, "store %s: %v\n", kind, storeIDs(e.t, filepath.Join(root, driver+"-"+kind, kind+".json")))
	}
	return b.String()
}

// storeIDs are the ids in one of the storage library's record files.
func storeIDs(t *testing.T, path string) []string {
	t.Helper()
	data, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var recs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	sort.Strings(ids)
	return ids
}

// publishedPort is the host port of a -p HOST:CTR in args, if any.
func publishedPort(args []string) string {
	for i, a := range args {
		if a == "-p" && i+1 < len(args) {
			if host, _, ok := strings.Cut(args[i+1], ":"); ok {
				return host
			}
		}
	}
	return ""
}

// refuseNestedBundleRoot makes the directory of the bundles of containers
// with a user namespace of their own one that skiff refuses (mode 0755).
func refuseNestedBundleRoot(e *env) []string {
	dir := fmt.Sprintf("/tmp/skiff-nested-%d", e.uid())
	if st, err := os.Stat(dir); err == nil {
		mode := st.Mode().Perm()
		if err := os.Chmod(dir, 0o755); err != nil {
			e.t.Fatal(err)
		}
		e.t.Cleanup(func() { os.Chmod(dir, mode) })
		return nil
	}
	if err := os.Mkdir(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(dir, e.uid(), e.gid())
	e.t.Cleanup(func() { os.RemoveAll(dir) })
	return nil
}

// pathWithoutIptables makes a network and gives skiff a PATH with every
// program of the usual one but iptables, which Debian's netavark needs: its
// setup fails at start.
func pathWithoutIptables(e *env) []string {
	e.ok("network", "create", "h5net")
	bin := filepath.Join(e.root, "no-iptables")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		e.t.Fatal(err)
	}
	for _, dir := range filepath.SplitList(e.path) {
		entries, _ := os.ReadDir(dir)
		for _, f := range entries {
			n := f.Name()
			if strings.HasPrefix(n, "iptables") || strings.HasPrefix(n, "ip6tables") || strings.HasPrefix(n, "nft") || strings.HasPrefix(n, "xtables") {
				continue
			}
			os.Symlink(filepath.Join(dir, n), filepath.Join(bin, n)) // the first of a name wins, as in PATH
		}
	}
	e.path = bin
	return nil
}

// fullStore is a store (vfs, so that a container's layer is a copy of the
// image's) on a 4 MB tmpfs holding busybox, filled up to less than that
// copy needs.
func fullStore(e *env) []string {
	dir := filepath.Join(e.root, "small")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=4m,mode=0755"); err != nil {
		e.t.Fatalf("mounting a tmpfs for the store: %v", err)
	}
	e.t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	store := filepath.Join(dir, "store")
	if err := os.Mkdir(store, 0o700); err != nil {
		e.t.Fatal(err)
	}
	os.Chown(store, e.uid(), e.gid())
	global := []string{"--root", store, "--storage-driver", "vfs"}
	e.ok(append(global, "pull", "-q", busybox)...)
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		e.t.Fatal(err)
	}
	// busybox's copy takes about 2 MB; the state database needs a little.
	fill := int64(st.Bavail)*st.Bsize - 700<<10
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		e.t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Fallocate(int(f.Fd()), 0, 0, fill); err != nil {
		e.t.Fatalf("filling the store's tmpfs: %v", err)
	}
	return global
}

// A run whose command cannot be run (126, 127) keeps its container, as
// docker's does, unless --rm: then nothing of it remains.
func TestRunKeepsContainerWhoseCommandCannotRunUnlessRm(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	if r := e.run("run", "--name", "notfound", busybox, "/nosuchcmd"); r.code != 127 {
		t.Fatalf("expected exit 127\n%s", r)
	}
	if r := e.run("run", "--name", "noexec", busybox, "/etc/passwd"); r.code != 126 {
		t.Fatalf("expected exit 126\n%s", r)
	}
	want := "noexec exited\nnotfound exited"
	if got := strings.TrimSpace(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}")); got != want {
		t.Fatalf("ps -a: %q, want %q", got, want)
	}
	e.ok("rm", "notfound", "noexec")
	before := e.fullState()
	for _, cmd := range []string{"/nosuchcmd", "/etc/passwd"} {
		if r := e.run("run", "--rm", "-v", "/anon", busybox, cmd); r.code != 126 && r.code != 127 {
			t.Fatalf("expected exit 126 or 127\n%s", r)
		}
		if got := e.fullState(); got != before {
			t.Fatalf("run --rm %s left state:\nbefore %s\nafter  %s", cmd, before, got)
		}
	}
}
