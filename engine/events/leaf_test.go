package events

import (
	"os/exec"
	"strings"
	"testing"
)

// TestLeafPackage keeps the package a leaf: none of skiff's packages, no CLI
// library, and outside the standard library only the Engine API's event
// types and x/sys.
func TestLeafPackage(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Skipf("go list: %v\n%s", err, out)
	}
	allowed := map[string]bool{
		"github.com/skiff-project/skiff/engine/events": true,
		"github.com/moby/moby/api/types/events":        true,
		"golang.org/x/sys/unix":                        true,
	}
	for _, dep := range strings.Fields(string(out)) {
		first, _, _ := strings.Cut(dep, "/")
		if strings.Contains(first, ".") && !allowed[dep] {
			t.Errorf("engine/events depends on %s", dep)
		}
	}
}
