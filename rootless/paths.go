package rootless

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
