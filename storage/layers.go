package storage

import (
	cstorage "go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
)

// The containers' writable layers, as the engine uses them.

// CreateContainerLayer makes the writable layer of container id on the
// image imageID (the store's container record of that id).
func (s *Store) CreateContainerLayer(id, imageID string, opts *cstorage.ContainerOptions) error {
	_, err := s.lib.CreateContainer(id, nil, imageID, "", "", opts)
	return err
}

// DeleteContainerLayer removes container id's layer and the store's
// record of it.
func (s *Store) DeleteContainerLayer(id string) error { return s.lib.DeleteContainer(id) }

// ContainerLayer is the store's record of container id.
func (s *Store) ContainerLayer(id string) (*cstorage.Container, error) { return s.lib.Container(id) }

// MountContainer mounts container id's root file system and returns where.
func (s *Store) MountContainer(id string) (string, error) { return s.lib.Mount(id, "") }

// UnmountContainer drops one mount of container id's root file system,
// every one with force.
func (s *Store) UnmountContainer(id string, force bool) error {
	_, err := s.lib.Unmount(id, force)
	return err
}

// LayerChanges are the changes of layer to against from ("" for its parent).
func (s *Store) LayerChanges(from, to string) ([]archive.Change, error) {
	return s.lib.Changes(from, to)
}

// Image is the image of that exact id.
func (s *Store) Image(id string) (*cstorage.Image, error) { return s.lib.Image(id) }

// AllImages lists the store's images.
func (s *Store) AllImages() ([]cstorage.Image, error) { return s.lib.Images() }

// GraphRoot is where the store keeps its layers and images.
func (s *Store) GraphRoot() string { return s.lib.GraphRoot() }

// RunRoot is where the store keeps its mount records.
func (s *Store) RunRoot() string { return s.lib.RunRoot() }

// GraphDriverName is the storage driver the store uses.
func (s *Store) GraphDriverName() string { return s.lib.GraphDriverName() }
