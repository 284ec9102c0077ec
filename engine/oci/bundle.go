package oci

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// BindRootfs mounts the container's root filesystem at bundle/rootfs.
func BindRootfs(rootfs, target string) error {
	_ = unix.Unmount(target, unix.MNT_DETACH)
	if err := os.MkdirAll(target, 0o700); err != nil {
		return err
	}
	if err := unix.Mount(rootfs, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("binding the root filesystem into the bundle: %w", err)
	}
	return nil
}

// RemoveBundle takes a bundle apart without ever descending into the root
// filesystem: unmount it, then remove the bundle's own files one by one.
func RemoveBundle(bundle string) {
	rootfs := filepath.Join(bundle, "rootfs")
	_ = unix.Unmount(rootfs, unix.MNT_DETACH)
	entries, err := os.ReadDir(bundle)
	if err != nil {
		return
	}
	for _, ent := range entries {
		p := filepath.Join(bundle, ent.Name())
		if ent.IsDir() {
			// rootfs is empty once unmounted; if it is not, leave it.
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				continue
			}
			continue
		}
		_ = os.Remove(p)
	}
	_ = os.Remove(bundle)
}
