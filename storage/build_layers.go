package storage

import (
	"encoding/json"
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
	Pid     int       // the build's process
	Created time.Time // when the layer was made
}

type workMetadata struct {
	SkiffBuild *struct {
		Pid     int       `json:"pid"`
		Created time.Time `json:"created"`
	} `json:"skiffBuild,omitempty"`
}

// CreateWorkLayer makes a build's working layer id on the image imageID
// ("" for scratch), recording the build's process pid.
func (s *Store) CreateWorkLayer(id, imageID string, pid int) error {
	var m workMetadata
	m.SkiffBuild = &struct {
		Pid     int       `json:"pid"`
		Created time.Time `json:"created"`
	}{pid, time.Now().UTC()}
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
		var m workMetadata
		if json.Unmarshal([]byte(c.Metadata), &m) != nil || m.SkiffBuild == nil {
			continue
		}
		out = append(out, WorkLayer{ID: c.ID, LayerID: c.LayerID, Pid: m.SkiffBuild.Pid, Created: m.SkiffBuild.Created})
	}
	return out, nil
}
