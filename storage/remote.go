package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/opencontainers/go-digest"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/docker/reference"
)

// FullyQualified tells whether name starts with a registry, as docker
// tells one: a first component with a dot or a colon, or localhost.
func FullyQualified(name string) bool {
	domain, _, ok := strings.Cut(name, "/")
	return ok && (strings.ContainsAny(domain, ".:") || domain == "localhost")
}

// RemoteDigest is the digest of the manifest that a fully qualified name
// (registry/repository:tag) has in its registry now: one HEAD request.
func RemoteDigest(ctx context.Context, o RegistryOptions, name string) (digest.Digest, error) {
	if !FullyQualified(name) {
		return "", fmt.Errorf("%w %q: a fully qualified name is needed (registry/repository:tag)", ErrBadReference, name)
	}
	named, err := reference.ParseNormalizedNamed(name)
	if err != nil {
		return "", fmt.Errorf("%w %q: %v", ErrBadReference, name, err)
	}
	ref, err := docker.NewReference(reference.TagNameOnly(named))
	if err != nil {
		return "", err
	}
	sys, err := o.SystemContext()
	if err != nil {
		return "", err
	}
	d, err := docker.GetDigest(ctx, sys, ref)
	if err != nil {
		return "", wrapRegistryErr(err)
	}
	return d, nil
}
