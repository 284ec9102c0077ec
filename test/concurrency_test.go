package test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestEngineVerbsRunConcurrentlyInOneProcess: one process (as the API
// server will be) opens the engine once and, from goroutines at once,
// takes 6 containers through create, start, exec, stop, start and rm -f,
// runs 6 attached --rm containers whose output and exit codes must stay
// their own, and lists containers all the while; then nothing is left.
func TestEngineVerbsRunConcurrentlyInOneProcess(t *testing.T) {
	e := runEnv(t)
	bin := filepath.Join(e.root, "concurrent")
	build := exec.Command("go", "build", "-buildvcs=false", "-tags", "containers_image_openpgp exclude_graphdriver_btrfs", "-o", bin, "./test/fixtures/concurrent")
	build.Dir = ".."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the test program: %v\n%s", err, out)
	}
	os.Chmod(bin, 0o755)
	cmd := exec.Command(bin, busybox, "6")
	cmd.Dir = filepath.Join(e.root, "work")
	cmd.Env = e.environ()
	cmd.SysProcAttr = e.command(t.Context()).SysProcAttr
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		t.Fatalf("concurrent verbs: %v\n%s", err, out)
	}
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("left: %q", got)
	}
	waitNoSkiffLeft(t, e)
}
