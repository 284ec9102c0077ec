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

// waitNoProcesses waits until no process of the test user runs the skiff
// binary (the command, its copy in the namespace, layer extractors).
func waitNoProcesses(t *testing.T, e *env) {
	t.Helper()
	// The copy in the namespace dies with the killed parent (PR_SET_PDEATHSIG)
	// and the layer extractors with their input pipe: quickly.
	deadline := time.Now().Add(3 * time.Second)
	for {
		left := skiffProcesses(e.uid())
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("skiff processes of %s still running: %v", e.user.Username, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// skiffProcesses lists "PID CMDLINE" of uid's processes whose executable is
// the skiff binary under test.
func skiffProcesses(uid int) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, ent := range entries {
		pid := ent.Name()
		if pid[0] < '0' || pid[0] > '9' {
			continue
		}
		st, err := os.Stat("/proc/" + pid)
		if err != nil || uidOf(st) != uid {
			continue
		}
		exe, err := os.Readlink("/proc/" + pid + "/exe")
		if err != nil || strings.TrimSuffix(exe, " (deleted)") != skiffBin {
			continue
		}
		cmdline, _ := os.ReadFile("/proc/" + pid + "/cmdline")
		out = append(out, pid+" "+strings.ReplaceAll(string(cmdline), "\x00", " "))
	}
	return out
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
