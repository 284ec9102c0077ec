package storage

import (
	"bytes"
	"os"
	"path/filepath"
)

// The overlay driver records what it probed of the kernel and the graph
// root's file system (overlay-true, metacopy()-false, native-diff()-true,
// idmapped-lower-dir-false …) as files in its run root, and probes with
// test mounts when they are missing. Each user namespace has a run root of
// its own, so a new namespace's first command would probe again; the
// results hold for the whole boot, so they are kept aside and given to
// the run roots of namespaces made later.

const bootIDFile = "/proc/sys/kernel/random/boot_id"

// SeedProbes copies the probe results kept in cache into runRoot's driver
// directory, when they were kept in this boot; it reports whether it did.
func SeedProbes(cache, runRoot, driver string) bool {
	boot, err := os.ReadFile(bootIDFile)
	if err != nil {
		return false
	}
	kept, err := os.ReadFile(filepath.Join(cache, "boot_id"))
	if err != nil || !bytes.Equal(kept, boot) {
		return false
	}
	entries, err := os.ReadDir(filepath.Join(cache, driver))
	if err != nil || len(entries) == 0 {
		return false
	}
	dst := filepath.Join(runRoot, driver)
	if err := os.MkdirAll(dst, 0o700); err != nil {
		return false
	}
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(cache, driver, ent.Name()))
		if err != nil || os.WriteFile(filepath.Join(dst, ent.Name()), data, 0o600) != nil {
			return false
		}
	}
	return true
}

// SaveProbes keeps the probe results in runRoot's driver directory in
// cache, with the boot they hold for, unless cache has them all already. It writes a directory aside and
// renames it into place, so that a reader sees all of them or none.
func SaveProbes(cache, runRoot, driver string) {
	boot, err := os.ReadFile(bootIDFile)
	if err != nil {
		return
	}
	entries, err := os.ReadDir(filepath.Join(runRoot, driver))
	if err != nil || keptAlready(cache, driver, boot, entries) {
		return
	}
	if err := os.MkdirAll(filepath.Dir(cache), 0o700); err != nil {
		return
	}
	tmp, err := os.MkdirTemp(filepath.Dir(cache), ".probes-")
	if err != nil {
		return
	}
	defer os.RemoveAll(tmp)
	if os.Mkdir(filepath.Join(tmp, driver), 0o700) != nil {
		return
	}
	saved := 0
	for _, ent := range entries {
		if !ent.Type().IsRegular() {
			continue
		}
		data, err := os.ReadFile(filepath.Join(runRoot, driver, ent.Name()))
		if err != nil || os.WriteFile(filepath.Join(tmp, driver, ent.Name()), data, 0o600) != nil {
			return
		}
		saved++
	}
	if saved == 0 || os.WriteFile(filepath.Join(tmp, "boot_id"), boot, 0o600) != nil {
		return
	}
	_ = os.RemoveAll(cache)
	_ = os.Rename(tmp, cache)
}

// keptAlready tells whether cache holds, for this boot, every probe result
// of entries.
func keptAlready(cache, driver string, boot []byte, entries []os.DirEntry) bool {
	kept, err := os.ReadFile(filepath.Join(cache, "boot_id"))
	if err != nil || !bytes.Equal(kept, boot) {
		return false
	}
	for _, ent := range entries {
		if _, err := os.Lstat(filepath.Join(cache, driver, ent.Name())); ent.Type().IsRegular() && err != nil {
			return false
		}
	}
	return true
}
