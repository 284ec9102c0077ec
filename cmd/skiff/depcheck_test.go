package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/skiff-project/skiff"

// TestImportGraph keeps the layering of DESIGN.md: only cmd/skiff uses the
// CLI libraries, and each package imports only the layers below it.
func TestImportGraph(t *testing.T) {
	allowed := map[string][]string{
		"engine":      {"storage", "network", "rootless"},
		"storage":     {"rootless"},
		"network":     {"rootless"},
		"rootless":    {},
		"completions": {},
	}
	for pkg, may := range allowed {
		out, err := exec.Command("go", "list", "-deps", "-tags", "containers_image_openpgp exclude_graphdriver_btrfs", "./../../"+pkg+"/...").CombinedOutput()
		if err != nil {
			if strings.Contains(string(out), "matched no packages") || strings.Contains(string(out), "no such file or directory") {
				continue
			}
			t.Fatalf("go list %s: %v\n%s", pkg, err, out)
		}
		for _, dep := range strings.Fields(string(out)) {
			if strings.HasPrefix(dep, "github.com/spf13/cobra") || strings.HasPrefix(dep, "github.com/spf13/pflag") {
				t.Errorf("%s depends on %s: only cmd/skiff may use the CLI libraries", pkg, dep)
			}
			rest, ours := strings.CutPrefix(dep, module+"/")
			if !ours {
				continue
			}
			top, _, _ := strings.Cut(rest, "/")
			if top == pkg {
				continue
			}
			ok := false
			for _, m := range may {
				ok = ok || m == top
			}
			if !ok {
				t.Errorf("%s imports %s: allowed are %v", pkg, dep, may)
			}
		}
	}
}
