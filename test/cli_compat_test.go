package test

import (
	"strings"
	"testing"
)

// TestContainerGroupHasLsAndInspect: docker's and podman's `container ls`
// and `container inspect` (the latter containers only).
func TestContainerGroupHasLsAndInspect(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	id := strings.TrimSpace(e.ok("create", "--name", "grp", busybox, "true"))
	if out := e.ok("container", "ls", "-a", "--format", "{{.Names}}"); strings.TrimSpace(out) != "grp" {
		t.Fatalf("container ls -a: %q", out)
	}
	if out := strings.TrimSpace(e.ok("container", "inspect", "-f", "{{.Id}}", "grp")); out != id {
		t.Fatalf("container inspect: %q, want %s", out, id)
	}
	e.fails(125, `no such container`, "container", "inspect", busybox)
	e.ok("rm", "grp")
}
