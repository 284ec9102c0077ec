package oci

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/skiff-project/skiff/engine/spec"
)

// busyboxRootfs is a root file system of Debian's busybox-static alone.
func busyboxRootfs(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running a runtime on a bare root file system needs root here (the e2e suite covers rootless runs)")
	}
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static is missing (test/setup.sh installs it): %v", err)
	}
	root := t.TempDir()
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), bb, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

// usableRuntime is the first default runtime that runs here.
func usableRuntime(t *testing.T) string {
	t.Helper()
	for _, name := range DefaultRuntimes {
		if path, err := Find(name); err == nil {
			return path
		}
	}
	t.Fatal("neither crun nor runc can run here (test/setup.sh installs them)")
	return ""
}

// TestRunOnRootfs: a process runs on a mounted root file system with no
// container record, with the default security profile (the default
// capabilities, seccomp, masked paths); its exit code, output and input
// are the caller's; a missing command is the runtime's error, on one line
// and nowhere else, with docker's 127; nothing of the run is left.
func TestRunOnRootfs(t *testing.T) {
	rootfs := busyboxRootfs(t)
	runtime := usableRuntime(t)
	stateRoot, scratch := t.TempDir(), t.TempDir()
	run := func(stdin string, args ...string) (int, string, string, error) {
		s, err := spec.New(spec.Options{Args: args, Env: []string{"PATH=/bin"}, Hostname: "rootfs-run"})
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		code, err := RunOnRootfs(context.Background(), RootfsRun{
			Runtime: runtime, Root: stateRoot, SeccompCache: filepath.Join(scratch, "seccomp"), Scratch: scratch,
			Rootfs: rootfs, Spec: s, Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		})
		return code, out.String(), errb.String(), err
	}
	code, out, stderr, err := run("from stdin\n", "/bin/busybox", "sh", "-c",
		`busybox grep -E '^(CapEff|Seccomp):' /proc/self/status; busybox hostname; busybox cat; busybox cat /proc/interrupts | busybox wc -c; echo to-stderr >&2; exit 7`)
	if err != nil || code != 7 {
		t.Fatalf("exit %d, %v; stderr %q", code, err, stderr)
	}
	for _, want := range []string{"CapEff:\t00000000800405fb", "Seccomp:\t2", "rootfs-run", "from stdin", "\n0\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if stderr != "to-stderr\n" {
		t.Errorf("stderr %q", stderr)
	}
	code, _, stderr, err = run("", "/nonexistent")
	if !errors.Is(err, ErrCommandNotFound) || code != 127 || stderr != "" {
		t.Fatalf("a missing command: exit %d, %v, stderr %q", code, err, stderr)
	}
	for _, dir := range []string{scratch, stateRoot} {
		entries, _ := os.ReadDir(dir)
		for _, en := range entries {
			if en.Name() != "seccomp" {
				t.Errorf("%s was left in %s", en.Name(), dir)
			}
		}
	}
}
