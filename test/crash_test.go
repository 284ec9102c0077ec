package test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKillPullAtSeveralPoints SIGKILLs `skiff pull` of the multi-layer image
// at points spread over a whole pull, and checks after each kill that no
// skiff process is left, that `images` reports the truth, and that a second
// pull completes to the same image.
func TestKillPullAtSeveralPoints(t *testing.T) {
	e := newEnv(t)
	start := time.Now()
	wantID := strings.TrimSpace(e.ok("pull", "-q", multilayer))
	full := time.Since(start)
	wantSize := e.ok("images", "--format", "{{.VirtualSize}}", multilayer)
	e.ok("rmi", multilayer)

	fractions := []float64{0, 0.05, 0.15, 0.3, 0.45, 0.6, 0.75, 0.9}
	for _, f := range fractions {
		delay := time.Duration(f * float64(full))
		t.Run(fmt.Sprintf("at_%02.0f%%", f*100), func(t *testing.T) {
			e := e.at(t)
			cmd := e.command(context.Background(), "pull", "-q", multilayer)
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(delay)
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
			waitNoProcesses(t, e)
			t.Logf("killed after %v; layer directories left: %d", delay, countEntries(filepath.Join(e.home, ".local/share/skiff/storage/overlay")))

			// The store answers truthfully: the image is complete or absent.
			listed := strings.TrimSpace(e.ok("images", "-a", "--no-trunc", "--format", "{{.ID}} {{.VirtualSize}}"))
			if listed != "" && listed != "sha256:"+wantID+" "+strings.TrimSpace(wantSize) {
				t.Fatalf("after a kill at %v images lists %q", delay, listed)
			}
			got := strings.TrimSpace(e.ok("pull", "-q", multilayer))
			if got != wantID {
				t.Fatalf("second pull gave %s, want %s", got, wantID)
			}
			if size := e.ok("images", "--format", "{{.VirtualSize}}", multilayer); size != wantSize {
				t.Fatalf("size after recovery %s, want %s", size, wantSize)
			}
			// Every layer reads back whole: export them all.
			if r := e.sh(`"$SKIFF" save ` + multilayer + ` | tar -t >/dev/null`); r.code != 0 {
				t.Fatalf("layers unreadable after recovery\n%s", r)
			}
			e.ok("rmi", multilayer)
			if left := e.ok("images", "-a", "-q"); left != "" {
				t.Fatalf("images left after rmi: %q", left)
			}
		})
	}
}

// waitNoProcesses waits until no skiff process of the test user runs (the
// command, its copy in the namespace, layer extractors): the copy dies with
// the killed parent (PR_SET_PDEATHSIG), the extractors with their input.
func waitNoProcesses(t *testing.T, e *env) {
	t.Helper()
	waitNoSkiffWithin(t, e, 3*time.Second)
}

func countEntries(dir string) int {
	entries, _ := os.ReadDir(dir)
	n := 0
	for _, e := range entries {
		if e.Name() != "l" {
			n++
		}
	}
	return n
}
