package main

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/skiff-project/skiff"

// layers says which of skiff's packages each package may depend on,
// directly or not (go list -deps). A key names a package and, unless a
// longer key names one of them, the packages below it. The engine's rooms
// (its sub-packages) never depend on the verbs package, engine, and each
// depends only on the data room (config) and rooms below it: no sub-package
// depends on engine or on a sibling that depends on it back.
//
// The same check by hand, for one package:
//
//	go list -deps -tags "containers_image_openpgp exclude_graphdriver_btrfs" ./engine/oci | grep skiff-project
var layers = map[string][]string{
	"engine":         {"engine/config", "engine/state", "engine/spec", "engine/oci", "engine/monitor", "engine/systemd", "engine/build", "storage", "network", "rootless"},
	"engine/config":  {"network", "rootless"},
	"engine/state":   {"engine/config", "network", "rootless"},
	"engine/spec":    {"engine/config", "network", "rootless"},
	"engine/oci":     {"rootless"},
	"engine/monitor": {},
	"engine/systemd": {},
	"engine/events":  {},
	"engine/build":   {},
	"storage":        {"rootless"},
	"network":        {"rootless"},
	"rootless":       {},
	"completions":    {},
}

// TestImportGraph keeps the layering of DESIGN.md: only cmd/skiff uses the
// CLI libraries, and each package depends only on the layers layers gives.
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "containers_image_openpgp exclude_graphdriver_btrfs",
		"-f", `{{.ImportPath}}{{range .Deps}} {{.}}{{end}}`, "./../../...").CombinedOutput()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, out)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg, ours := strings.CutPrefix(fields[0], module+"/")
		if !ours {
			continue
		}
		rule, ok := ruleFor(pkg)
		if !ok {
			continue // cmd/..., test/..., bench: front ends and tests
		}
		checked++
		if rule == "engine" && pkg != "engine" {
			t.Errorf("%s has no entry in layers: a room of the engine says what it may depend on", pkg)
		}
		for _, dep := range fields[1:] {
			if strings.HasPrefix(dep, "github.com/spf13/cobra") || strings.HasPrefix(dep, "github.com/spf13/pflag") {
				t.Errorf("%s depends on %s: only cmd/skiff may use the CLI libraries", pkg, dep)
			}
			d, ours := strings.CutPrefix(dep, module+"/")
			if !ours || d == pkg || strings.HasPrefix(d, pkg+"/internal") {
				continue
			}
			if !allowed(rule, d) {
				t.Errorf("%s depends on %s: allowed are %v", pkg, d, layers[rule])
			}
		}
	}
	if checked < len(layers) {
		t.Fatalf("checked %d packages, fewer than the %d layers", checked, len(layers))
	}
}

// ruleFor is the longest key of layers that is pkg or a parent of it.
func ruleFor(pkg string) (string, bool) {
	best := ""
	for k := range layers {
		if (pkg == k || strings.HasPrefix(pkg, k+"/")) && len(k) > len(best) {
			best = k
		}
	}
	return best, best != ""
}

// allowed tells whether a package under rule may depend on dep: dep falls
// under one of the rule's layers.
func allowed(rule, dep string) bool {
	depRule, _ := ruleFor(dep)
	for _, m := range layers[rule] {
		if depRule == m {
			return true
		}
	}
	return false
}
