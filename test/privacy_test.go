package test

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// readProbeSource tries, as whoever runs it, to read each path on its
// standard input (files: open and read a byte; directories: list one
// entry) and prints the ones it could. Symlinks and special files are
// passed over: a link's target is not the container's file, and opening a
// fifo would block.
const readProbeSource = `package main

import (
	"bufio"
	"fmt"
	"os"
	"syscall"
)

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		p := sc.Text()
		st, err := os.Lstat(p)
		if err != nil || !(st.Mode().IsRegular() || st.IsDir()) {
			continue
		}
		f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		if st.IsDir() {
			_, err = f.Readdirnames(1)
		} else {
			_, err = f.Read(make([]byte, 1))
			if err != nil && err.Error() == "EOF" {
				err = nil // an empty file opened is a file read
			}
		}
		f.Close()
		if err == nil {
			fmt.Printf("%s %s\n", st.Mode(), p)
		}
	}
}
`

// otherUser is a second unprivileged user of the host, who must not read
// the test user's files: $SKIFF_TEST_OTHER_USER, else nobody.
func otherUser(t *testing.T) *user.User {
	t.Helper()
	u, err := user.Lookup(envOr("SKIFF_TEST_OTHER_USER", "nobody"))
	if err != nil {
		t.Fatalf("no second user to read as: %v (set SKIFF_TEST_OTHER_USER)", err)
	}
	if u.Uid == testUser.Uid || u.Uid == "0" {
		t.Fatalf("the second user %s must be another unprivileged user", u.Username)
	}
	return u
}

// readableBy lists the paths, of those given, that u can read.
func readableBy(t *testing.T, u *user.User, paths []string) []string {
	t.Helper()
	dir, err := os.MkdirTemp("", "skiff-probe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(readProbeSource), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module probe\n\ngo 1.21\n"), 0o644)
	build := exec.Command("go", "build", "-o", "probe", ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the probe: %v\n%s", err, out)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	probe := exec.Command(filepath.Join(dir, "probe"))
	probe.Dir = "/"
	probe.Env = []string{"PATH=/usr/bin:/bin"}
	probe.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), Groups: []uint32{}}}
	probe.Stdin = strings.NewReader(strings.Join(paths, "\n") + "\n")
	var out, errb bytes.Buffer
	probe.Stdout, probe.Stderr = &out, &errb
	if err := probe.Run(); err != nil {
		t.Fatalf("the probe as %s: %v\n%s", u.Username, err, errb.String())
	}
	return lines(out.String())
}

// everyPath walks the roots as root: every path below them, whatever the
// modes on the way.
func everyPath(roots []string, skip func(string) bool) []string {
	var out []string
	for _, root := range roots {
		filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			if skip(p) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			out = append(out, p)
			return nil
		})
	}
	return out
}

// TestOtherUsersCannotReadContainerFiles: with containers of every kind of
// user namespace running (the user's, keep-id, auto, --uidmap), and an
// exec in progress in each, no file or directory of the user's skiff
// state can be read by another user of the host: the nested bundles in
// /tmp (whose paths pasta's command line gives away), the runtime
// directory, the data directory, exec's runtime log. The home and the
// runtime directory are made world-searchable, as homes often are, so
// that only skiff's own modes protect its files.
func TestOtherUsersCannotReadContainerFiles(t *testing.T) {
	e := runEnv(t)
	other := otherUser(t)
	opened := map[string]bool{} // the directories the test itself opens up
	for _, d := range []string{"", "home", "home/.local", "home/.local/share", "run"} {
		p := filepath.Join(e.root, d)
		os.MkdirAll(p, 0o755)
		os.Chown(p, e.uid(), e.gid())
		os.Chmod(p, 0o755)
		opened[p] = true
	}
	kinds := map[string][]string{
		"plain":  {"-v", "privatevol:/data", "-v", "/anon"},
		"keepid": {"--userns", "keep-id"},
		"auto":   {"--userns", "auto"},
		"uidmap": {"--uidmap", "0:2000:3000", "--gidmap", "0:2000:3000"},
	}
	for name, args := range kinds {
		e.ok(append(append([]string{"run", "-d", "--name", name}, args...), busybox, "sh", "-c", "echo secret > /tmp/f; [ -d /data ] && echo secret > /data/f && echo secret > /anon/f; echo started; tail -f /dev/null")...)
	}
	// An exec in each, still running while the files are read.
	var wg sync.WaitGroup
	for name := range kinds {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			e.run("exec", name, "sh", "-c", "sleep 8")
		}(name)
	}
	time.Sleep(2 * time.Second)
	nested := filepath.Join(os.TempDir(), "skiff-nested-"+e.user.Uid)
	if _, err := os.Stat(nested); err != nil {
		t.Fatalf("no nested bundles at %s: %v", nested, err)
	}
	roots := []string{e.root, nested}
	// Anything else of the user's in /tmp (runtime logs, fallbacks).
	entries, _ := os.ReadDir(os.TempDir())
	for _, ent := range entries {
		if info, err := ent.Info(); err == nil && strings.HasPrefix(ent.Name(), "skiff") && uidOf(info) == e.uid() && filepath.Join(os.TempDir(), ent.Name()) != nested {
			roots = append(roots, filepath.Join(os.TempDir(), ent.Name()))
		}
	}
	work := filepath.Join(e.root, "work") // the user's own files, not skiff's
	paths := everyPath(roots, func(p string) bool { return p == work })
	if len(paths) < 100 {
		t.Fatalf("only %d paths under %v: the walk missed the store", len(paths), roots)
	}
	var leaks []string
	for _, p := range readableBy(t, other, paths) {
		if _, path, _ := strings.Cut(p, " "); opened[path] {
			continue
		}
		leaks = append(leaks, p)
	}
	wg.Wait()
	if len(leaks) > 0 {
		if len(leaks) > 30 {
			leaks = append(leaks[:30], "...")
		}
		t.Fatalf("%s can read %d of %d paths of %s's containers:\n%s", other.Username, len(leaks), len(paths), e.user.Username, strings.Join(leaks, "\n"))
	}
	for name := range kinds {
		if got := e.ok("logs", name); got != "started\n" {
			t.Fatalf("%s: logs %q", name, got)
		}
	}
	e.ok("rm", "-f", "-v", "plain", "keepid", "auto", "uidmap")
	e.ok("volume", "rm", "privatevol")
	waitNoProcesses(t, e)
}
