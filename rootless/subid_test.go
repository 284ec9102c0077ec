package rootless

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeSubIDs(t *testing.T, uid, gid string) {
	t.Helper()
	dir := t.TempDir()
	old := SubIDFiles
	SubIDFiles.UID, SubIDFiles.GID = filepath.Join(dir, "subuid"), filepath.Join(dir, "subgid")
	t.Cleanup(func() { SubIDFiles = old })
	os.WriteFile(SubIDFiles.UID, []byte(uid), 0o644)
	os.WriteFile(SubIDFiles.GID, []byte(gid), 0o644)
}

func TestMappingsStackRanges(t *testing.T) {
	writeSubIDs(t, "# comment\nother:1:5\nalice:100000:65536\n1000:300000:10\nbad:line\n", "alice:200000:65536\n")
	uids, gids, err := Mappings("alice", 1000, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := []IDMap{{0, 1000, 1}, {1, 100000, 65536}, {65537, 300000, 10}}
	if len(uids) != len(want) {
		t.Fatalf("uids %v, want %v", uids, want)
	}
	for i := range want {
		if uids[i] != want[i] {
			t.Fatalf("uids %v, want %v", uids, want)
		}
	}
	if Total(uids) != 65547 || Total(gids) != 65537 || gids[1].HostID != 200000 {
		t.Fatalf("totals %d %d, gids %v", Total(uids), Total(gids), gids)
	}
}

func TestMappingsMissingRangeNamesTheFix(t *testing.T) {
	writeSubIDs(t, "bob:100000:65536\n", "alice:100000:65536\n")
	_, _, err := Mappings("alice", 1000, 1000)
	if !errors.Is(err, ErrNoSubIDs) || !strings.Contains(err.Error(), "usermod --add-subuids") {
		t.Fatalf("error %v", err)
	}
	writeSubIDs(t, "alice:100000:65536\n", "")
	if _, _, err := Mappings("alice", 1000, 1000); !errors.Is(err, ErrNoSubIDs) || !strings.Contains(err.Error(), "subgid") {
		t.Fatalf("error %v", err)
	}
}

func TestRuntimeDirPrefersOwnedXDG(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_RUNTIME_DIR", dir)
	if os.Getuid() != 0 {
		got, err := RuntimeDir()
		if err != nil || got != dir {
			t.Fatalf("RuntimeDir = %q, %v; want %q", got, err, dir)
		}
	}
	t.Setenv("XDG_RUNTIME_DIR", "/nonexistent")
	got, err := RuntimeDir()
	if err != nil {
		t.Fatal(err)
	}
	if os.Getuid() != 0 && !strings.HasPrefix(got, os.TempDir()+"/skiff-run-") {
		t.Fatalf("fallback %q", got)
	}
}
