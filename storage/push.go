package storage

import (
	"context"
	"fmt"
	"io"
	"strings"

	"go.podman.io/image/v5/copy"
	"go.podman.io/image/v5/docker"
	"go.podman.io/image/v5/manifest"
	"go.podman.io/image/v5/transports/alltransports"
	"go.podman.io/image/v5/types"
)

// PushOptions are the options of one push.
type PushOptions struct {
	RegistryOptions
	Source      string // a local image
	Destination string // a registry reference, or TRANSPORT:DETAILS; "" = Source
	Format      string // "", "oci", "v2s2"
	Progress    io.Writer
}

// Push copies a local image to a registry (or any image-library transport).
func (s *Store) Push(ctx context.Context, o PushOptions) error {
	sys, err := o.SystemContext()
	if err != nil {
		return err
	}
	img, err := s.Lookup(sys, o.Source)
	if err != nil {
		return err
	}
	destText := o.Destination
	if destText == "" {
		destText = o.Source
	}
	var dest types.ImageReference
	if t, _, ok := strings.Cut(destText, ":"); ok && alltransports.TransportFromImageName(destText) != nil && t != "docker" {
		dest, err = alltransports.ParseImageName(destText)
	} else {
		named, perr := ParseReference(destText)
		if perr != nil {
			return perr
		}
		dest, err = docker.NewReference(named)
	}
	if err != nil {
		return fmt.Errorf("%w %q: %v", ErrBadReference, destText, err)
	}
	src, err := s.imageRef(img)
	if err != nil {
		return err
	}
	var mime string
	switch o.Format {
	case "":
	case "oci":
		mime = "application/vnd.oci.image.manifest.v1+json"
	case "v2s2", "docker":
		mime = manifest.DockerV2Schema2MediaType
	default:
		return fmt.Errorf("unknown --format %q: use oci or v2s2", o.Format)
	}
	err = s.copyImage(ctx, sys, dest, src, o.Progress, func(c *copy.Options) { c.ForceManifestMIMEType = mime })
	if err != nil {
		return fmt.Errorf("pushing %s: %w", destText, wrapRegistryErr(err))
	}
	return nil
}
