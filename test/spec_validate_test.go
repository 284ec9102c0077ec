package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-project/skiff/test/specvalidate"
)

// TestGeneratedConfigPassesValidation takes the config.json of a running
// container and runs every check of `oci-runtime-tool validate` on it (the
// JSON schema against the runtime-spec module's own schema files: the tool
// itself would fetch them from the internet).
func TestGeneratedConfigPassesValidation(t *testing.T) {
	e := runEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "-e", "A=1", "-w", "/tmp", busybox, "sleep", "30"))
	defer e.ok("rm", "-f", id)
	matches, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "ns-*", "containers", id, "config.json"))
	if len(matches) != 1 {
		t.Fatalf("config.json of %s not found", id)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	specvalidate.Check(t, &spec, filepath.Dir(matches[0]))
}

func TestDetachedTTY(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "-t", "--name", "ttybox", busybox, "sh", "-c", "tty; echo typed")
	waitFor(t, func() bool {
		return strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}"), "ttybox exited")
	})
	if got := e.ok("logs", "ttybox"); !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "typed") {
		t.Fatalf("logs of a -t container: %q", got)
	}
	e.ok("rm", "ttybox")
}
