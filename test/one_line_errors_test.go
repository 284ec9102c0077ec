package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestRuntimeErrorsAreOneLine: when runc or crun cannot start the
// container's process, the user sees one line (the runtime's words folded
// into skiff's Error line, not printed again before it) and docker's exit
// code: 127 for a command or working directory not found, 126 for a
// command that cannot be invoked, 125 for the rest (docker run's
// EXIT STATUS; podman run and exec give the same).
func TestRuntimeErrorsAreOneLine(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	long := strings.Repeat("h", 300)
	for _, rt := range []string{"crun", "runc"} {
		t.Run(rt, func(t *testing.T) {
			e := e.at(t)
			name := "box-" + rt
			e.ok("run", "-d", "--runtime", rt, "--name", name, busybox, "sleep", "120")
			for _, c := range []struct {
				code int
				re   string
				args []string
			}{
				{127, `^Error: container command not found: .*/nonexistent.*(not found|no such file or directory)`, []string{"run", "--rm", "--runtime", rt, busybox, "/nonexistent"}},
				{127, `^Error: container command not found: .*nosuchcmd.*not found`, []string{"run", "--rm", "--runtime", rt, busybox, "nosuchcmd"}},
				{126, `^Error: container command cannot be invoked: .*(?i:permission denied)`, []string{"run", "--rm", "--runtime", rt, busybox, "/etc/passwd"}},
				{126, `^Error: container command cannot be invoked: `, []string{"run", "--rm", "--runtime", rt, busybox, "/etc"}},
				{125, `^Error: the OCI runtime failed: .*(?i:sethostname: invalid argument)`, []string{"run", "--rm", "--runtime", rt, "--hostname", long, busybox, "true"}},
				{127, `^Error: container command not found: .*/nonexistent`, []string{"exec", name, "/nonexistent"}},
				{126, `^Error: container command cannot be invoked: .*(?i:permission denied)`, []string{"exec", name, "/etc/passwd"}},
				{127, `^Error: working directory not found in the container: .*chdir.*/nonexistent.*(?i:no such file or directory)`, []string{"exec", "-w", "/nonexistent", name, "true"}},
				{127, `^Error: container command not found: .*/nonexistent`, []string{"exec", "-d", name, "/nonexistent"}},
			} {
				e.fails(c.code, c.re, c.args...)
			}
			// With a terminal (run -t, exec -t), from a pseudo-terminal.
			for _, args := range []string{"run -t --rm --runtime " + rt + " " + busybox + " /nonexistent", "exec -t " + name + " /nonexistent"} {
				r := e.sh(`script -qec "$SKIFF ` + args + `" /dev/null`)
				out := strings.TrimSpace(strings.ReplaceAll(strings.ReplaceAll(r.stdout, "\r", ""), "^@", ""))
				if strings.Count(out, "\n") != 0 || !strings.HasPrefix(out, "Error: ") {
					t.Fatalf("skiff %s on a terminal: want one line:\n%q\n%s", args, out, r.stderr)
				}
				// crun 1.8.1 with a terminal sometimes loses the cause
				// itself when the process fails before it has passed
				// the terminal on: it then knows only "read FD:
				// connection closed" (125), in its log as on its stderr.
				crunLost := rt == "crun" && r.code == 125 && strings.Contains(out, "read FD: connection closed")
				if !crunLost && (r.code != 127 || !strings.HasPrefix(out, "Error: container command not found: ")) {
					t.Fatalf("skiff %s on a terminal: exit %d, want 127:\n%q\n%s", args, r.code, out, r.stderr)
				}
			}
			// What the container itself writes on stderr still arrives,
			// in order with its exit code.
			r := e.run("run", "--rm", "--runtime", rt, busybox, "sh", "-c", "echo out; echo err >&2; exit 3")
			if r.code != 3 || r.stdout != "out\n" || r.stderr != "err\n" {
				t.Fatalf("the container's own output\n%s", r)
			}
			r = e.run("exec", name, "sh", "-c", "echo out; echo err >&2; exit 4")
			if r.code != 4 || r.stdout != "out\n" || r.stderr != "err\n" {
				t.Fatalf("the exec'd process's own output\n%s", r)
			}
			e.ok("rm", "-f", name)
		})
	}
}

// TestLibraryLogsStayOffTheTerminal: the storage and image libraries log
// through logrus; none of it reaches the terminal as a raw
// `time=… level=error` line: an error is the one Error line.
func TestLibraryLogsStayOffTheTerminal(t *testing.T) {
	e := newEnv(t)
	// A store on a small file system of its own, filled after the pull:
	// making the container's layer meets ENOSPC.
	small := filepath.Join(e.root, "small")
	os.MkdirAll(small, 0o700)
	if err := syscall.Mount("tmpfs", small, "tmpfs", 0, fmt.Sprintf("size=4m,mode=0700,uid=%d,gid=%d", e.uid(), e.gid())); err != nil {
		t.Fatalf("mounting a small tmpfs: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(small, syscall.MNT_DETACH) })
	store := filepath.Join(small, "storage")
	e.ok("--root", store, "pull", "-q", busybox)
	fill := e.sh("dd if=/dev/zero of=" + filepath.Join(small, "fill") + " bs=4k 2>/dev/null; true")
	if fill.code != 0 {
		t.Fatal(fill)
	}
	e.fails(125, `^Error: .*no space left on device`, "--root", store, "run", "--rm", busybox, "true")
	e.fails(125, `^Error: .*no space left on device`, "--root", store, "create", busybox, "true")
	os.Remove(filepath.Join(small, "fill"))

	// cp of an absolute link: whatever cp makes of it, the library's
	// complaint is not a raw log line.
	e.ok("run", "-d", "--name", "box", busybox, "sleep", "120")
	e.ok("exec", "box", "ln", "-s", "/nonexistent-target", "/abs-link")
	for _, args := range [][]string{
		{"cp", "box:/abs-link", filepath.Join(e.root, "work", "out")},
		{"cp", "box:/nonexistent-file", filepath.Join(e.root, "work", "out2")},
	} {
		r := e.run(args...)
		if strings.Contains(r.stderr, "level=") || strings.Count(strings.TrimRight(r.stderr, "\n"), "\n") > 0 {
			t.Fatalf("a raw library log line or more than one line\n%s", r)
		}
	}
	e.ok("rm", "-f", "box")
}
