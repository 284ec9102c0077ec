package test

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestCopyRoundTrip: cp host → container → host keeps a tree's modes and
// symlinks; ownership maps through the user's namespace both ways; - moves
// tar streams.
func TestCopyRoundTrip(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	src := filepath.Join(e.root, "work", "tree")
	for _, d := range []string{"sub/deeper"} {
		os.MkdirAll(filepath.Join(src, d), 0o755)
	}
	os.WriteFile(filepath.Join(src, "plain"), []byte("plain\n"), 0o640)
	os.WriteFile(filepath.Join(src, "sub", "tool"), []byte("#!/bin/sh\necho tool\n"), 0o755)
	os.Symlink("plain", filepath.Join(src, "rel-link"))
	os.Symlink("/etc/hostname", filepath.Join(src, "sub", "abs-link"))
	os.Chmod(filepath.Join(src, "sub"), 0o750)
	e.chownAll()
	e.ok("create", "--name", "box", busybox, "sleep", "60")
	e.ok("cp", src, "box:/tmp/")
	e.ok("cp", filepath.Join(src, "plain"), "box:/renamed")
	e.ok("start", "box")
	out := e.ok("exec", "box", "sh", "-c", "stat -c '%n %a %u:%g' /tmp/tree/plain /tmp/tree/sub /tmp/tree/sub/tool /renamed; readlink /tmp/tree/rel-link; readlink /tmp/tree/sub/abs-link; /tmp/tree/sub/tool; chown 1000:1000 /tmp/tree/plain")
	for _, want := range []string{"/tmp/tree/plain 640 0:0", "/tmp/tree/sub 750 0:0", "/tmp/tree/sub/tool 755 0:0", "/renamed 640 0:0", "plain\n/etc/hostname\ntool"} {
		if !strings.Contains(out, want) {
			t.Fatalf("in the container, missing %q:\n%s", want, out)
		}
	}
	back := filepath.Join(e.root, "work", "back")
	e.ok("cp", "box:/tmp/tree", back)
	r := exec.Command("diff", "-r", "--no-dereference", src, back)
	if o, err := r.CombinedOutput(); err != nil {
		t.Fatalf("round trip differs: %v\n%s", err, o)
	}
	for _, name := range []string{"plain", "sub", "sub/tool", "rel-link"} {
		a, _ := os.Lstat(filepath.Join(src, name))
		b, err := os.Lstat(filepath.Join(back, name))
		if err != nil || a.Mode() != b.Mode() {
			t.Fatalf("%s: mode %v, back %v (%v)", name, a.Mode(), b.Mode(), err)
		}
	}
	// Container root is the user; container uid 1000 a subordinate id.
	st, _ := os.Lstat(filepath.Join(back, "sub", "tool"))
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != e.uid() {
		t.Fatalf("a root-owned file came back owned by %d, want the user %d", sys.Uid, e.uid())
	}
	st, _ = os.Lstat(filepath.Join(back, "plain"))
	if sys, want := st.Sys().(*syscall.Stat_t), uint32(e.subStart(t)+999); sys.Uid != want {
		t.Fatalf("a file of container uid 1000 came back owned by %d, want %d", sys.Uid, want)
	}
	// Contents with /., and tar streams through -.
	dot := filepath.Join(e.root, "work", "dot")
	e.ok("cp", "box:/tmp/tree/sub/.", dot)
	if _, err := os.Stat(filepath.Join(dot, "tool")); err != nil {
		t.Fatalf("cp CTR:DIR/. did not copy the contents: %v", err)
	}
	stream := e.ok("cp", "box:/etc/hostname", "-")
	tr := tar.NewReader(strings.NewReader(stream))
	h, err := tr.Next()
	if err != nil || h.Name != "hostname" {
		t.Fatalf("cp to - : %v %+v", err, h)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	tw.WriteHeader(&tar.Header{Name: "from-stdin", Mode: 0o600, Size: 3, Typeflag: tar.TypeReg})
	tw.Write([]byte("hi\n"))
	tw.Close()
	if r := e.runIn(buf.String(), "cp", "-", "box:/tmp"); r.code != 0 {
		t.Fatalf("cp - CTR:DIR\n%s", r)
	}
	if got := e.ok("exec", "box", "cat", "/tmp/from-stdin"); got != "hi\n" {
		t.Fatalf("from stdin: %q", got)
	}
	e.fails(125, "must be CONTAINER:PATH", "cp", src, back)
	e.fails(125, "no such container", "cp", src, "nobox:/tmp")
	e.fails(125, "does not exist", "cp", filepath.Join(e.root, "nothing"), "box:/tmp")
	e.fails(125, "in the container", "cp", "box:/no/such/path", back)
	e.fails(125, "does not exist", "cp", src, "box:/no/such/dir/")
	e.ok("rm", "-f", "box")
}

// TestCommitDiffExport: commit makes an image with the container's changes
// and the --change instructions; diff lists the changes; export writes the
// whole file system.
func TestCommitDiffExport(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "--name", "base", busybox, "sh", "-c", "echo changed > /greeting; rm /bin/whoami")
	diff := e.ok("diff", "base")
	for _, want := range []string{"A /greeting", "D /bin/whoami"} {
		if !strings.Contains(diff, want) {
			t.Fatalf("diff lacks %q:\n%s", want, diff)
		}
	}
	id := strings.TrimSpace(e.ok("commit", "-m", "a greeting", "-a", "tester", "-c", `CMD ["cat", "/greeting"]`, "-c", "ENV GREETING=yes", "-c", "LABEL stage=committed", "base", "localhost/greeter:v1"))
	if len(id) != 64 {
		t.Fatalf("commit printed %q", id)
	}
	if got := e.ok("run", "--rm", "localhost/greeter:v1"); got != "changed\n" {
		t.Fatalf("the committed image's CMD prints %q", got)
	}
	if got := e.ok("run", "--rm", "localhost/greeter:v1", "sh", "-c", "echo $GREETING; test -e /bin/whoami || echo gone"); got != "yes\ngone\n" {
		t.Fatalf("env and deletion in the committed image: %q", got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.Author}} {{index .Labels \"stage\"}}", "localhost/greeter:v1")); got != "tester committed" {
		t.Fatalf("image inspect: %q", got)
	}
	if hist := e.ok("history", "localhost/greeter:v1"); !strings.Contains(hist, "a greeting") && !strings.Contains(hist, "skiff commit") {
		t.Fatalf("history lacks the commit:\n%s", hist)
	}
	e.fails(125, "--change", "commit", "-c", "FROB x", "base")
	// export: a tar of the whole root.
	out := filepath.Join(e.root, "work", "fs.tar")
	e.ok("export", "-o", out, "base")
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names[strings.TrimPrefix(h.Name, "./")] = true
	}
	if !names["greeting"] || !names["bin/busybox"] || names["bin/whoami"] {
		t.Fatalf("export: greeting %v, bin/busybox %v, bin/whoami %v", names["greeting"], names["bin/busybox"], names["bin/whoami"])
	}
}

// TestContainerAdmin: rename, container prune, top, stats --no-stream,
// port, and pause refused with the reason on this host.
func TestContainerAdmin(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "live", busybox, "sleep", "60")
	e.ok("run", "--name", "done1", "--label", "tier=x", busybox, "true")
	e.ok("create", "--name", "fresh", busybox, "true")
	e.ok("rename", "fresh", "renamed")
	e.fails(125, "in use", "rename", "renamed", "live")
	e.fails(125, "no such container", "rename", "ghost", "x")
	if got := strings.TrimSpace(e.ok("ps", "-a", "--filter", "name=renamed", "--format", "{{.Names}}")); got != "renamed" {
		t.Fatalf("after rename: %q", got)
	}
	top := e.ok("top", "live")
	if !strings.Contains(top, "PID") || !strings.Contains(top, "sleep 60") {
		t.Fatalf("top:\n%s", top)
	}
	stats := e.ok("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", "live")
	if strings.TrimSpace(stats) != "live 1" {
		t.Fatalf("stats: %q", stats)
	}
	if got := e.ok("port", "live"); got != "" {
		t.Fatalf("port with nothing published: %q", got)
	}
	e.fails(125, "freezer", "pause", "live")
	e.fails(125, "freezer", "unpause", "live")
	e.fails(125, "not running", "top", "renamed")
	if got := lines(e.ok("container", "prune", "-f", "--filter", "label=tier=x")); len(got) != 1 {
		t.Fatalf("prune --filter removed %v", got)
	}
	// Container names complete for every command that takes them.
	for _, verb := range [][]string{{"cp"}, {"commit"}, {"diff"}, {"export"}, {"rename"}, {"top"}, {"stats"}, {"attach"}, {"port"}, {"pause"}, {"run", "--volumes-from"}} {
		r := e.run(append(append([]string{"__complete"}, verb...), "li")...)
		if !strings.Contains(r.stdout, "live") {
			t.Fatalf("completion for %v lacks the container: %q", verb, r.stdout)
		}
	}
	e.ok("container", "prune", "-f")
	if got := strings.TrimSpace(e.ok("ps", "-a", "--format", "{{.Names}}")); got != "live" {
		t.Fatalf("after prune: %q", got)
	}
	e.ok("rm", "-f", "live")
}

// TestAttach: attach follows a running container's output and ends with
// its exit code; with -i, what attach reads reaches the container.
func TestAttach(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "-i", "--name", "echoer", busybox, "sh", "-c", `while read l; do echo "got $l"; [ "$l" = quit ] && exit 7; done`)
	// ctrl-p ctrl-q: detached, the container runs on; the keys never reach
	// it, and the next attach goes on where this one left.
	r := e.sh(`(echo first; sleep 1; printf '\020\021more\n') | $SKIFF attach echoer`)
	if r.code != 0 || r.stdout != "got first\n" {
		t.Fatalf("attach, then the detach keys:\n%s", r)
	}
	if got := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Status}}", "echoer")); got != "running" {
		t.Fatalf("after detaching: %s", got)
	}
	e.fails(125, "--detach-keys", "attach", "--detach-keys", "ctrl-1", "echoer")
	r = e.runIn("hello\nquit\n", "attach", "--detach-keys", "ctrl-a,d", "echoer")
	if r.code != 7 || r.stdout != "got hello\ngot quit\n" {
		t.Fatalf("attach with input:\n%s", r)
	}
	if log := e.ok("logs", "echoer"); strings.Contains(log, "more") || strings.ContainsAny(log, "\x10\x11") {
		t.Fatalf("what followed the detach keys reached the container:\n%q", log)
	}
	e.ok("run", "-d", "--name", "talker", busybox, "sh", "-c", "usleep 500000; echo out; echo err >&2; exit 3")
	r = e.run("attach", "--no-stdin", "talker")
	if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
		t.Fatalf("attach to output:\n%s", r)
	}
	e.fails(125, "start it first", "attach", "talker")
	e.fails(125, "no such container", "attach", "ghost")
	e.ok("rm", "echoer", "talker")
	waitNoProcesses(t, e)
}
