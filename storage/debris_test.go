package storage

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

// A command killed while the overlay driver probed the kernel leaves the
// probe's directory; RemoveCheckDebris removes old ones and leaves a young
// one, which may be another command's probe under way, and the layers.
func TestRemoveCheckDebris(t *testing.T) {
	root := t.TempDir()
	home := filepath.Join(root, "overlay")
	old := time.Now().Add(-time.Hour)
	mk := func(name string, at time.Time) string {
		d := filepath.Join(home, name)
		if err := os.MkdirAll(filepath.Join(d, "merged"), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(d, at, at); err != nil {
			t.Fatal(err)
		}
		return d
	}
	stale := []string{mk("compat123", old), mk("metacopy-check9", old), mk("opaque-bug-check1", old), mk("volatile-check2", old)}
	young := mk("compat456", time.Now())
	layer := mk("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", old)
	s := &Store{Config: Config{GraphRoot: root}}
	s.RemoveCheckDebris(time.Minute)
	for _, d := range stale {
		if _, err := os.Stat(d); !os.IsNotExist(err) {
			t.Errorf("%s is left (%v)", filepath.Base(d), err)
		}
	}
	for _, d := range []string{young, layer} {
		if _, err := os.Stat(d); err != nil {
			t.Errorf("%s was removed: %v", filepath.Base(d), err)
		}
	}
}

func TestProcessStartTicks(t *testing.T) {
	if processStartTicks(os.Getpid()) == 0 {
		t.Fatal("no start time for this process")
	}
	if processStartTicks(1<<22+12345) != 0 {
		t.Fatal("a start time for a pid that cannot exist")
	}
}
