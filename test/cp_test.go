package test

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// cpRow is one documented case of docker cp (docs.docker.com, "docker
// container cp": the SRC_PATH/DEST_PATH table, -L, symlinks): args use C:
// for the container, H for the row's own host directory and X for the
// row's own container directory (/dst/rN).
type cpRow struct {
	name   string
	args   []string
	pre    string // what the destination's x is before: "", "dir", "file", "dirlink", "hostlink"
	stdin  string // a file whose contents go to stdin; "tar" for a tar stream
	fail   string // the one stderr line, when cp must fail (exit 125)
	host   func(h string, stdout []byte) error
	inside string // a shell test that holds in the container afterwards
}

func fileIs(p, want string) error {
	b, err := os.ReadFile(p)
	if err != nil {
		return err
	}
	if string(b) != want {
		return fmt.Errorf("%s holds %q, want %q", p, b, want)
	}
	if st, _ := os.Lstat(p); !st.Mode().IsRegular() {
		return fmt.Errorf("%s is %v, not a regular file", p, st.Mode())
	}
	return nil
}

func linkIs(p, want string) error {
	got, err := os.Readlink(p)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s points to %q, want %q", p, got, want)
	}
	return nil
}

func absent(p string) error {
	if _, err := os.Lstat(p); err == nil {
		return fmt.Errorf("%s exists after a failed cp", p)
	}
	return nil
}

// tarHas checks a one-entry tar stream.
func tarHas(name string, typ byte, linkOrContent string) func(string, []byte) error {
	return func(_ string, out []byte) error {
		tr := tar.NewReader(bytes.NewReader(out))
		h, err := tr.Next()
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(tr)
		got := string(body)
		if typ == tar.TypeSymlink {
			got = h.Linkname
		}
		if h.Name != name || h.Typeflag != typ || got != linkOrContent {
			return fmt.Errorf("entry %q type %c holds %q, want %q type %c holding %q", h.Name, h.Typeflag, got, name, typ, linkOrContent)
		}
		return nil
	}
}

// TestCopyFollowsDockerRules runs docker's documented cp cases both ways,
// into and out of a running container and a stopped one: files and
// directories onto new names, files and directories, trailing / and /.,
// absolute and relative symlinks copied as links or followed with -L,
// links resolved inside the container (a link to a host path never
// reaches the host), missing parents, and tar streams. Every failure is
// exit 125 with one line and leaves nothing behind.
func TestCopyFollowsDockerRules(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	work := filepath.Join(e.root, "work")
	secret := e.writeFile("work/host-only/secret", "host secret\n")
	victim := filepath.Join(work, "host-only", "victim")
	os.MkdirAll(victim, 0o755)
	src := filepath.Join(work, "src")
	os.MkdirAll(filepath.Join(src, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "file"), []byte("host\n"), 0o644)
	os.WriteFile(filepath.Join(src, "dir", "sub", "inner"), []byte("host inner\n"), 0o644)
	os.Symlink(filepath.Join(src, "file"), filepath.Join(src, "abs-link"))
	os.Symlink("file", filepath.Join(src, "rel-link"))
	e.chownAll()
	// A host file the user cannot read (outside e.root, which chownAll
	// gives to the user).
	private, err := os.MkdirTemp("", "skiff-cp-private-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(private) })
	os.Chmod(private, 0o755)
	unreadable := filepath.Join(private, "unreadable")
	os.WriteFile(unreadable, []byte("root only\n"), 0o600)

	out := []cpRow{
		{name: "file to a new name", args: []string{"C:/data/file", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x", "inside\n") }},
		{name: "file to a missing directory", args: []string{"C:/data/file", "H/x/"}, fail: "no such directory", host: func(h string, _ []byte) error { return absent(h + "/x") }},
		{name: "file onto a file", pre: "file", args: []string{"C:/data/file", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x", "inside\n") }},
		{name: "file into a directory", pre: "dir", args: []string{"C:/data/file", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/file", "inside\n") }},
		{name: "directory to a new name", args: []string{"C:/data/dir", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/sub/inner", "inner\n") }},
		{name: "directory onto a file", pre: "file", args: []string{"C:/data/dir", "H/x"}, fail: "cannot copy a directory onto the file", host: func(h string, _ []byte) error { return fileIs(h+"/x", "old\n") }},
		{name: "directory into a directory", pre: "dir", args: []string{"C:/data/dir", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/dir/sub/inner", "inner\n") }},
		{name: "directory contents into a directory", pre: "dir", args: []string{"C:/data/dir/.", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/sub/inner", "inner\n") }},
		{name: "directory contents to a new name", args: []string{"C:/data/dir/.", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/sub/inner", "inner\n") }},
		{name: "absolute link is copied as a link", args: []string{"C:/data/abs-link", "H/x"}, host: func(h string, _ []byte) error { return linkIs(h+"/x", "/data/file") }},
		{name: "relative link is copied as a link", pre: "dir", args: []string{"C:/data/rel-link", "H/x"}, host: func(h string, _ []byte) error { return linkIs(h+"/x/rel-link", "file") }},
		{name: "-L follows an absolute link inside the container", args: []string{"-L", "C:/data/abs-link", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x", "inside\n") }},
		{name: "-L follows a relative link, keeping its name", pre: "dir", args: []string{"--follow-link", "C:/data/rel-link", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/rel-link", "inside\n") }},
		{name: "a link to a directory with a trailing slash is followed", pre: "dir", args: []string{"C:/data/abs-dirlink/", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x/abs-dirlink/sub/inner", "inner\n") }},
		{name: "a link inside the path resolves in the container", args: []string{"C:/data/rel-dirlink/sub/inner", "H/x"}, host: func(h string, _ []byte) error { return fileIs(h+"/x", "inner\n") }},
		{name: "-L never follows a link to the host's files", args: []string{"-L", "C:/data/host-link", "H/x"}, fail: "does not exist in the container", host: func(h string, _ []byte) error { return absent(h + "/x") }},
		{name: "a link to a host directory never reaches it", args: []string{"C:/data/host-dirlink/secret", "H/x"}, fail: "does not exist in the container", host: func(h string, _ []byte) error { return absent(h + "/x") }},
		{name: "missing source", args: []string{"C:/data/nothing", "H/x"}, fail: "C:/data/nothing does not exist in the container", host: func(h string, _ []byte) error { return absent(h + "/x") }},
		{name: "a file with a trailing slash", args: []string{"C:/data/file/", "H/x"}, fail: "not a directory", host: func(h string, _ []byte) error { return absent(h + "/x") }},
		{name: "missing host parent", args: []string{"C:/data/file", "H/no/x"}, fail: "does not exist", host: func(h string, _ []byte) error { return absent(h + "/no") }},
		{name: "a link to a tar stream", args: []string{"C:/data/abs-link", "-"}, host: tarHas("abs-link", tar.TypeSymlink, "/data/file")},
		{name: "-L to a tar stream", args: []string{"-L", "C:/data/abs-link", "-"}, host: tarHas("abs-link", tar.TypeReg, "inside\n")},
	}
	in := []cpRow{
		{name: "file to a new name", args: []string{src + "/file", "C:X/x"}, inside: `[ "$(cat X/x)" = host ]`},
		{name: "file to a missing directory", args: []string{src + "/file", "C:X/x/"}, fail: "no such directory in the container", inside: `! [ -e X/x ]`},
		{name: "file onto a file", pre: "file", args: []string{src + "/file", "C:X/x"}, inside: `[ "$(cat X/x)" = host ]`},
		{name: "file into a directory", pre: "dir", args: []string{src + "/file", "C:X/x"}, inside: `[ "$(cat X/x/file)" = host ]`},
		{name: "directory to a new name", args: []string{src + "/dir", "C:X/x"}, inside: `[ "$(cat X/x/sub/inner)" = "host inner" ]`},
		{name: "directory onto a file", pre: "file", args: []string{src + "/dir", "C:X/x"}, fail: "cannot copy a directory onto the file", inside: `[ "$(cat X/x)" = old ]`},
		{name: "directory into a directory", pre: "dir", args: []string{src + "/dir", "C:X/x"}, inside: `[ "$(cat X/x/dir/sub/inner)" = "host inner" ]`},
		{name: "directory contents into a directory", pre: "dir", args: []string{src + "/dir/.", "C:X/x"}, inside: `[ "$(cat X/x/sub/inner)" = "host inner" ]`},
		{name: "absolute link is copied as a link", args: []string{src + "/abs-link", "C:X/x"}, inside: `[ "$(readlink X/x)" = ` + src + `/file ]`},
		{name: "relative link is copied as a link", pre: "dir", args: []string{src + "/rel-link", "C:X/x"}, inside: `[ "$(readlink X/x/rel-link)" = file ]`},
		{name: "-L follows an absolute link", args: []string{"-L", src + "/abs-link", "C:X/x"}, inside: `[ -f X/x ] && [ "$(cat X/x)" = host ]`},
		{name: "-L follows a relative link, keeping its name", pre: "dir", args: []string{"-L", src + "/rel-link", "C:X/x"}, inside: `[ -f X/x/rel-link ] && [ "$(cat X/x/rel-link)" = host ]`},
		{name: "a destination link resolves in the container", pre: "dirlink", args: []string{src + "/file", "C:X/x"}, inside: `[ "$(cat X/target/file)" = host ]`},
		{name: "a destination link to a host directory never reaches it", pre: "hostlink", args: []string{src + "/file", "C:X/x"}, fail: "does not exist in the container",
			host: func(string, []byte) error {
				if ents, _ := os.ReadDir(victim); len(ents) > 0 {
					return fmt.Errorf("cp wrote into the host's %s", victim)
				}
				return nil
			}},
		{name: "missing parent in the container", args: []string{src + "/file", "C:X/no/x"}, fail: "does not exist in the container", inside: `! [ -e X/no ]`},
		{name: "/dev/stdin is copied as the link it is", pre: "dir", args: []string{"/dev/stdin", "C:X/x"}, inside: `[ "$(readlink X/x/stdin)" = /proc/self/fd/0 ]`},
		{name: "-L /dev/stdin copies what stdin is", stdin: src + "/file", args: []string{"-L", "/dev/stdin", "C:X/x"}, inside: `[ "$(cat X/x)" = host ]`},
		{name: "a tar stream into a directory", pre: "dir", stdin: "tar", args: []string{"-", "C:X/x"}, inside: `[ "$(cat X/x/from-stdin)" = hi ]`},
		{name: "a tar stream needs a directory", pre: "file", stdin: "tar", args: []string{"-", "C:X/x"}, fail: "must be a directory", inside: `[ "$(cat X/x)" = old ]`},
		{name: "missing host source", args: []string{src + "/nothing", "C:X/x"}, fail: src + "/nothing does not exist", inside: `! [ -e X/x ]`},
		{name: "an unreadable host file", args: []string{unreadable, "C:X/x"}, fail: "cannot copy " + unreadable + ": .*permission denied", inside: `! [ -e X/x ]`},
		{name: "a host file with a trailing slash", args: []string{src + "/file/", "C:X/x"}, fail: "not a directory", inside: `! [ -e X/x ]`},
	}

	// The container's side: its own files, links (absolute, relative, to
	// the host's paths) and each in-row's directory with what x is.
	fixture := []string{"mkdir -p /data/dir/sub", "echo inside > /data/file", "echo inner > /data/dir/sub/inner",
		"ln -s /data/file /data/abs-link", "ln -s file /data/rel-link", "ln -s /data/dir /data/abs-dirlink", "ln -s dir /data/rel-dirlink",
		"ln -s " + secret + " /data/host-link", "ln -s " + filepath.Dir(secret) + " /data/host-dirlink"}
	for i, r := range in {
		x := fmt.Sprintf("/dst/r%d", i)
		fixture = append(fixture, "mkdir -p "+x)
		switch r.pre {
		case "dir":
			fixture = append(fixture, "mkdir "+x+"/x")
		case "file":
			fixture = append(fixture, "echo old > "+x+"/x")
		case "dirlink":
			fixture = append(fixture, "mkdir "+x+"/target", "ln -s "+x+"/target "+x+"/x")
		case "hostlink":
			fixture = append(fixture, "ln -s "+victim+" "+x+"/x")
		}
	}
	script := strings.Join(fixture, "; ")
	e.ok("run", "-d", "--name", "cprunning", busybox, "sleep", "600")
	e.ok("exec", "cprunning", "sh", "-c", script)
	e.ok("run", "--name", "cpstopped", busybox, "sh", "-c", "if [ -e /data ]; then exec sleep 600; fi; "+script)

	for _, ctr := range []string{"cprunning", "cpstopped"} {
		for i, r := range out {
			t.Run(ctr+"/out/"+r.name, func(t *testing.T) {
				h := filepath.Join(work, ctr, fmt.Sprintf("out%d", i))
				os.MkdirAll(h, 0o755)
				switch r.pre {
				case "dir":
					os.Mkdir(h+"/x", 0o755)
				case "file":
					os.WriteFile(h+"/x", []byte("old\n"), 0o644)
				}
				e.chownAll()
				res := runCp(e.at(t), r, ctr, h, "")
				if r.host != nil {
					if err := r.host(h, []byte(res.stdout)); err != nil {
						t.Fatalf("%v\n%s", err, res)
					}
				}
			})
		}
		var checks []string
		for i, r := range in {
			x := fmt.Sprintf("/dst/r%d", i)
			t.Run(ctr+"/in/"+r.name, func(t *testing.T) {
				res := runCp(e.at(t), r, ctr, "", x)
				if r.host != nil {
					if err := r.host("", nil); err != nil {
						t.Fatalf("%v\n%s", err, res)
					}
				}
			})
			if r.inside != "" {
				checks = append(checks, fmt.Sprintf(`if %s; then echo "ok %d"; else echo "FAILED %d"; fi`, strings.ReplaceAll(r.inside, "X", x), i, i))
			}
		}
		if ctr == "cpstopped" {
			e.ok("start", ctr)
		}
		got := e.ok("exec", ctr, "sh", "-c", strings.Join(checks, "; "))
		for _, l := range lines(got) {
			var n int
			if _, err := fmt.Sscanf(l, "FAILED %d", &n); err == nil {
				t.Errorf("%s/in/%s: in the container, %s does not hold", ctr, in[n].name, in[n].inside)
			}
		}
	}
	e.ok("rm", "-f", "cprunning", "cpstopped")
}

// runCp runs one row's cp and checks its exit: 0 with a clean stderr, or
// 125 with the one line the row expects.
func runCp(e *env, r cpRow, ctr, h, x string) result {
	e.t.Helper()
	args := append([]string{"cp"}, r.args...)
	for i, a := range args {
		a = strings.Replace(a, "C:", ctr+":", 1)
		if h != "" {
			a = strings.Replace(a, "H/", h+"/", 1)
		}
		if x != "" {
			a = strings.Replace(a, ":X", ":"+x, 1)
		}
		args[i] = a
	}
	fail := strings.ReplaceAll(r.fail, "C:", ctr+":")
	var res result
	switch r.stdin {
	case "":
		res = e.run(args...)
	case "tar":
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		tw.WriteHeader(&tar.Header{Name: "from-stdin", Mode: 0o644, Size: 3, Typeflag: tar.TypeReg})
		tw.Write([]byte("hi\n"))
		tw.Close()
		res = e.runIn(buf.String(), args...)
	default:
		// stdin is a file, as in cp -L /dev/stdin C:/x < file.
		f, err := os.Open(r.stdin)
		if err != nil {
			e.t.Fatal(err)
		}
		defer f.Close()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := e.command(ctx, args...)
		var o, se bytes.Buffer
		cmd.Stdin, cmd.Stdout, cmd.Stderr = f, &o, &se
		err = cmd.Run()
		res = result{args: args, stdout: o.String(), stderr: se.String()}
		if err != nil {
			res.code = cmd.ProcessState.ExitCode()
		}
	}
	if fail != "" {
		checkFailure(e.t, res, 125, fail)
	} else if res.code != 0 || strings.TrimSpace(res.stderr) != "" {
		e.t.Fatalf("expected success with a clean stderr\n%s", res)
	}
	return res
}

// TestCopySeesTheContainersMounts: cp into and out of a running container
// sees what the container sees at the path: a --tmpfs, a bind mount (whose
// host directory gets the file), a named volume; a read-only root refuses
// with one line while a tmpfs on it takes the file; a keep-id container's
// files come out as the user's. A stopped container is copied through its
// root file system, and its bind mounts and volumes at their sources.
func TestCopySeesTheContainersMounts(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	work := filepath.Join(e.root, "work")
	bind := filepath.Join(work, "bind")
	os.MkdirAll(bind, 0o755)
	os.WriteFile(filepath.Join(bind, "made"), []byte("made\n"), 0o644)
	in := e.writeFile("work/in", "copied in\n")
	e.chownAll()
	e.ok("volume", "create", "cpvol")
	e.ok("run", "-d", "--name", "mounts", "--tmpfs", "/tmp", "-v", bind+":/x", "-v", "cpvol:/v", busybox, "sleep", "600")
	e.ok("exec", "mounts", "sh", "-c", "echo made > /tmp/made; echo made > /v/made")
	for _, dir := range []string{"/tmp", "/x", "/v"} {
		t.Run(dir, func(t *testing.T) {
			e := e.at(t)
			e.ok("cp", in, "mounts:"+dir+"/")
			if got := e.ok("exec", "mounts", "cat", dir+"/in"); got != "copied in\n" {
				t.Fatalf("after cp into %s, the container reads %q", dir, got)
			}
			back := filepath.Join(work, "back"+strings.ReplaceAll(dir, "/", "-"))
			e.ok("cp", "mounts:"+dir+"/made", back)
			if err := fileIs(back, "made\n"); err != nil {
				t.Fatalf("cp out of %s: %v", dir, err)
			}
		})
	}
	if err := fileIs(filepath.Join(bind, "in"), "copied in\n"); err != nil {
		t.Fatalf("cp into the bind mount did not reach its host directory: %v", err)
	}
	if got := e.ok("run", "--rm", "-v", "cpvol:/v", busybox, "cat", "/v/in"); got != "copied in\n" {
		t.Fatalf("cp into the volume did not reach the volume: %q", got)
	}

	e.ok("run", "-d", "--name", "readonly", "--read-only", "--tmpfs", "/scratch", busybox, "sleep", "600")
	e.fails(125, "read-only", "cp", in, "readonly:/etc/")
	if r := e.run("exec", "readonly", "test", "-e", "/etc/in"); r.code == 0 {
		t.Fatalf("a refused cp left /etc/in in the read-only container")
	}
	e.ok("cp", in, "readonly:/scratch/")
	if got := e.ok("exec", "readonly", "cat", "/scratch/in"); got != "copied in\n" {
		t.Fatalf("cp into a tmpfs of a read-only container: %q", got)
	}
	e.ok("create", "--name", "readonly-stopped", "--read-only", busybox)
	e.fails(125, "read-only", "cp", in, "readonly-stopped:/etc/")

	// A --userns keep-id container's files are the user's own on the host.
	e.ok("run", "-d", "--name", "keepid", "--userns", "keep-id", "--tmpfs", "/tmp", busybox, "sleep", "600")
	e.ok("exec", "keepid", "sh", "-c", "echo mine > /tmp/mine")
	mine := filepath.Join(work, "mine")
	e.ok("cp", "keepid:/tmp/mine", mine)
	if st, err := os.Lstat(mine); err != nil || int(st.Sys().(*syscall.Stat_t).Uid) != e.uid() {
		t.Fatalf("a keep-id container's file came out as %v (%v), want owned by the user %d", st, err, e.uid())
	}

	// Stopped: through the root file system, both ways.
	e.ok("create", "--name", "stopped", busybox, "cat", "/root/in")
	e.ok("cp", in, "stopped:/root/")
	e.ok("cp", "stopped:/root/in", filepath.Join(work, "stopped-back"))
	if err := fileIs(filepath.Join(work, "stopped-back"), "copied in\n"); err != nil {
		t.Fatal(err)
	}
	if got := e.ok("start", "-a", "stopped"); got != "copied in\n" {
		t.Fatalf("the stopped container's copy: %q", got)
	}
	// A stopped container's bind mounts and volumes are found at their
	// sources (docker and podman), a read-only root notwithstanding.
	bind2 := filepath.Join(work, "bind2")
	os.MkdirAll(bind2, 0o755)
	os.WriteFile(filepath.Join(bind2, "made"), []byte("made\n"), 0o644)
	e.chownAll()
	e.ok("volume", "create", "cpvol2")
	e.ok("create", "--name", "stopped-mounts", "--read-only", "-v", bind2+":/x", "-v", "cpvol2:/v", busybox)
	e.ok("cp", in, "stopped-mounts:/x/")
	e.ok("cp", in, "stopped-mounts:/v/in2")
	if err := fileIs(filepath.Join(bind2, "in"), "copied in\n"); err != nil {
		t.Fatalf("cp into a stopped container's bind mount: %v", err)
	}
	if got := e.ok("run", "--rm", "-v", "cpvol2:/v", busybox, "cat", "/v/in2"); got != "copied in\n" {
		t.Fatalf("cp into a stopped container's volume: %q", got)
	}
	e.ok("cp", "stopped-mounts:/x/made", filepath.Join(work, "made-back"))
	e.ok("cp", "stopped-mounts:/v", filepath.Join(work, "v-back"))
	if err := fileIs(filepath.Join(work, "made-back"), "made\n"); err != nil {
		t.Fatal(err)
	}
	if err := fileIs(filepath.Join(work, "v-back", "in2"), "copied in\n"); err != nil {
		t.Fatalf("cp of a stopped container's whole volume: %v", err)
	}
	e.fails(125, "read-only", "cp", in, "stopped-mounts:/etc/")
	e.ok("rm", "-f", "mounts", "readonly", "readonly-stopped", "keepid", "stopped", "stopped-mounts")
	e.ok("volume", "rm", "cpvol", "cpvol2")
}
