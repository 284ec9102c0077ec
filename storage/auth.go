package storage

import (
	"context"
	"fmt"
	"strings"

	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/pkg/docker/config"
)

// registryKey reduces "docker://host/path:tag" or "https://host/" to the key
// auth.json uses.
func registryKey(server string) string {
	server = strings.TrimPrefix(server, "docker://")
	server = strings.TrimPrefix(server, "https://")
	server = strings.TrimPrefix(server, "http://")
	return strings.TrimSuffix(server, "/")
}

// Login checks the credentials against the registry and stores them in the
// auth file.
func Login(ctx context.Context, o RegistryOptions, server, user, password string) error {
	sys, err := o.SystemContext()
	if err != nil {
		return err
	}
	key := registryKey(server)
	if key == "" || strings.ContainsAny(key, " \t") {
		return fmt.Errorf("%w %q: want a registry such as 127.0.0.1:5000", ErrBadReference, server)
	}
	host, _, _ := strings.Cut(key, "/")
	if err := docker.CheckAuth(ctx, sys, user, password, host); err != nil {
		return fmt.Errorf("logging in to %s: %w", key, wrapRegistryErr(err))
	}
	if _, err := config.SetCredentials(sys, key, user, password); err != nil {
		return fmt.Errorf("storing credentials for %s: %w", key, err)
	}
	return nil
}

// Logout removes stored credentials for one registry, or for all.
func Logout(o RegistryOptions, server string, all bool) error {
	sys, err := o.SystemContext()
	if err != nil {
		return err
	}
	if all {
		return config.RemoveAllAuthentication(sys)
	}
	key := registryKey(server)
	if err := config.RemoveAuthentication(sys, key); err != nil {
		return fmt.Errorf("logging out of %s: %w", key, err)
	}
	return nil
}

// LoggedInUser returns the user name stored for a registry (login --get-login).
func LoggedInUser(o RegistryOptions, server string) (string, error) {
	sys, err := o.SystemContext()
	if err != nil {
		return "", err
	}
	key := registryKey(server)
	auth, err := config.GetCredentials(sys, key)
	if err != nil {
		return "", err
	}
	if auth.Username == "" {
		return "", fmt.Errorf("not logged in to %s", key)
	}
	return auth.Username, nil
}
