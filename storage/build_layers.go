package storage

import (
	"encoding/json"
	"fmt"
	"time"

	cstorage "go.podman.io/storage"
)

// A build's working layers are container records of the store's that no
// container of skiff's owns: their metadata names the build process, so
// that one a killed build left can be told from one a running build uses.

// WorkLayer is a build's working layer.
type WorkLayer struct {
	ID      string
	LayerID string    // its layer in the store: a RUN's root file system
	Kept    bool      // kept by build --rm=false or --force-rm=false
	ImageID string    // the image it was made on ("" for scratch)
	Pid     int       // the build's process
	Created time.Time // when the layer was made
}

type workMetadata struct {
	SkiffBuild *workMaker `json:"skiffBuild,omitempty"`
}

type workMaker struct {
	Pid     int       `json:"pid"`
	Created time.Time `json:"created"`
	Kept    bool      `json:"kept,omitempty"`
}

// CreateWorkLayer makes a build's working layer id on the image imageID
// ("" for scratch), recording the build's process pid.
func (s *Store) CreateWorkLayer(id, imageID string, pid int) error {
	m := workMetadata{SkiffBuild: &workMaker{Pid: pid, Created: time.Now().UTC()}}
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	_, err = s.lib.CreateContainer(id, nil, imageID, "", string(data), &cstorage.ContainerOptions{})
	return err
}

// WorkLayers lists the builds' working layers in the store.
func (s *Store) WorkLayers() ([]WorkLayer, error) {
	containers, err := s.lib.Containers()
	if err != nil {
		return nil, err
	}
	var out []WorkLayer
	for _, c := range containers {
		if w, ok := WorkLayerOf(c); ok {
			out = append(out, w)
		}
	}
	return out, nil
}

// WorkLayerOf is the working layer a container record of the store's is,
// when it is a build's.
func WorkLayerOf(c cstorage.Container) (WorkLayer, bool) {
	var m workMetadata
	if json.Unmarshal([]byte(c.Metadata), &m) != nil || m.SkiffBuild == nil {
		return WorkLayer{}, false
	}
	return WorkLayer{ID: c.ID, LayerID: c.LayerID, Kept: m.SkiffBuild.Kept, ImageID: c.ImageID, Pid: m.SkiffBuild.Pid, Created: m.SkiffBuild.Created}, true
}

// KeepWorkLayer marks a build's working layer as kept (build --rm=false,
// --force-rm=false): no later build or prune takes it for a killed
// build's, and it is listed with ps --external until rm --storage.
func (s *Store) KeepWorkLayer(id string) error {
	c, err := s.lib.Container(id)
	if err != nil {
		return err
	}
	var m workMetadata
	if json.Unmarshal([]byte(c.Metadata), &m) != nil || m.SkiffBuild == nil {
		return fmt.Errorf("%s is not a build's working layer", id)
	}
	m.SkiffBuild.Kept = true
	data, err := json.Marshal(m)
	if err != nil {
		return err
	}
	return s.lib.SetMetadata(id, string(data))
}

// StoreContainers are every container record of the store's: skiff's
// containers' layers, builds' working layers, other programs' containers.
func (s *Store) StoreContainers() ([]cstorage.Container, error) { return s.lib.Containers() }
