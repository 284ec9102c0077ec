package rootless

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// UID is the id of the user skiff acts for: the caller's own uid outside the
// namespace, and the original uid once inside it.
func UID() int {
	if v := os.Getenv(envUID); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return os.Getuid()
}

// GID is the primary gid of the user skiff acts for.
func GID() int {
	if v := os.Getenv(envGID); v != "" {
		if n, err := strconv.Atoi(v); err == nil {
			return n
		}
	}
	return os.Getgid()
}

// IsRootless tells whether skiff acts for an unprivileged user.
func IsRootless() bool { return UID() != 0 }

// HomeDir is the user's home directory.
func HomeDir() (string, error) {
	if h := os.Getenv("HOME"); h != "" {
		return h, nil
	}
	h, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("finding the home directory: set HOME: %w", err)
	}
	return h, nil
}

// DataHome is $XDG_DATA_HOME, or ~/.local/share.
func DataHome() (string, error) {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return d, nil
	}
	h, err := HomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".local", "share"), nil
}

// ConfigHome is $XDG_CONFIG_HOME, or ~/.config.
func ConfigHome() (string, error) {
	if d := os.Getenv("XDG_CONFIG_HOME"); d != "" {
		return d, nil
	}
	h, err := HomeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".config"), nil
}

// RuntimeDir is $XDG_RUNTIME_DIR when it is set and usable; otherwise a
// private directory /tmp/skiff-run-UID (mode 0700, owned by the user), as
// podman does on hosts without logind. It is created when missing.
func RuntimeDir() (string, error) {
	uid := UID()
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" {
		if st, err := os.Stat(d); err == nil && st.IsDir() && ownedBy(st, uid) {
			return d, nil
		}
	}
	if uid == 0 {
		return "/run", nil
	}
	d := filepath.Join(os.TempDir(), fmt.Sprintf("skiff-run-%d", uid))
	if err := os.Mkdir(d, 0o700); err != nil && !os.IsExist(err) {
		return "", fmt.Errorf("%w: creating %s: %v; set XDG_RUNTIME_DIR to a directory you own", ErrRuntimeDir, d, err)
	}
	st, err := os.Lstat(d)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrRuntimeDir, err)
	}
	if !st.IsDir() || !ownedBy(st, uid) || st.Mode().Perm() != 0o700 {
		return "", fmt.Errorf("%w: %s is not a directory of mode 0700 owned by uid %d; remove it or set XDG_RUNTIME_DIR", ErrRuntimeDir, d, uid)
	}
	return d, nil
}

// ownedBy compares against the host uid; inside the namespace the user is 0.
func ownedBy(st os.FileInfo, uid int) bool {
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	return int(sys.Uid) == uid || (InNamespace() && sys.Uid == 0)
}
