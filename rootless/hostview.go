package rootless

/*
#include "keep.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// CheckHostView returns ErrHostView when the host path is not, in the
// user's namespace, the file the host has there. The namespace's mounts are
// slaves of the host's, so what the host mounts later shows in it — except
// under a mount of the host's that does not propagate (a host without
// systemd, whose / is private): a tmpfs mounted there after the namespace
// was made would be a plain directory here, silently. The nearest part of
// path that the host has is compared. Only a process that joined the
// namespace can tell (it kept the host's root); others made the namespace
// from the host's mounts as they are, and get nil.
func CheckHostView(path string) error {
	fd := int(C.skiff_host_root)
	if fd < 0 || !filepath.IsAbs(path) {
		return nil
	}
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		rel := strings.TrimPrefix(p, "/")
		if rel == "" {
			rel = "."
		}
		var host, here unix.Stat_t
		err := unix.Fstatat(fd, rel, &host, 0)
		if err == nil {
			if unix.Stat(p, &here) != nil || here.Dev != host.Dev || here.Ino != host.Ino {
				return fmt.Errorf("%w: the host mounted %s after the namespace was made, and its mounts there do not propagate (make them shared, as systemd does with mount --make-rshared /, or stop every container so that the next command makes a new namespace)", ErrHostView, p)
			}
			return nil
		}
		if (!errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.ENOTDIR)) || p == "/" {
			return nil // cannot tell
		}
	}
}
