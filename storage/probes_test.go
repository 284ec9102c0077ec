package storage

import (
	"os"
	"path/filepath"
	"testing"
)

// A new namespace's run root gets the probe results an earlier one kept,
// and only those kept in this boot.
func TestProbesKeptForTheNextRunRoot(t *testing.T) {
	dir := t.TempDir()
	first, next, cache := filepath.Join(dir, "ns-1"), filepath.Join(dir, "ns-2"), filepath.Join(dir, "probes", "x")
	if SeedProbes(cache, first, "overlay") {
		t.Fatal("seeded from nothing")
	}
	if err := os.MkdirAll(filepath.Join(first, "overlay"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"overlay-true", "metacopy()-false"} {
		if err := os.WriteFile(filepath.Join(first, "overlay", name), nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	SaveProbes(cache, first, "overlay")
	// A probe made later (at the first mount) is kept too.
	if err := os.WriteFile(filepath.Join(first, "overlay", "idmapped-lower-dir-false"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	SaveProbes(cache, first, "overlay")
	if !SeedProbes(cache, next, "overlay") {
		t.Fatal("not seeded")
	}
	for _, name := range []string{"overlay-true", "metacopy()-false", "idmapped-lower-dir-false"} {
		if _, err := os.Stat(filepath.Join(next, "overlay", name)); err != nil {
			t.Errorf("%s not seeded: %v", name, err)
		}
	}
	// Kept in another boot: the kernel may be another.
	if err := os.WriteFile(filepath.Join(cache, "boot_id"), []byte("another boot\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if SeedProbes(cache, filepath.Join(dir, "ns-3"), "overlay") {
		t.Fatal("seeded with another boot's results")
	}
}
