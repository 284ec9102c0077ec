package completions

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestCompletionsCurrent fails when the checked-in scripts differ from what
// the current command tree generates: run `make completions`.
func TestCompletionsCurrent(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "skiff")
	build := exec.Command("go", "build", "-buildvcs=false", "-tags", "containers_image_openpgp exclude_graphdriver_btrfs", "-o", bin, "../cmd/skiff")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building skiff: %v\n%s", err, out)
	}
	for shell, file := range map[string]string{"bash": "skiff.bash", "zsh": "_skiff", "fish": "skiff.fish"} {
		want, err := exec.Command(bin, "completion", shell).Output()
		if err != nil {
			t.Fatalf("skiff completion %s: %v", shell, err)
		}
		got, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("%s missing: run make completions (%v)", file, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is stale: run make completions", file)
		}
	}
}
