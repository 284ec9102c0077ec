package storage

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	cstorage "go.podman.io/storage"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"
)

// The containers' writable layers, as the engine uses them.

// CreateContainerLayer makes the writable layer of container id on the
// image imageID (the store's container record of that id). The store's
// record names this process as the layer's maker: one killed before the
// engine recorded the container left a layer no container owns, which
// OrphanContainerLayers finds once its maker is gone.
func (s *Store) CreateContainerLayer(id, imageID string, opts *cstorage.ContainerOptions) error {
	maker, _ := json.Marshal(layerMaker{Kind: containerLayerKind, Pid: os.Getpid(), Start: processStartTicks(os.Getpid())})
	_, err := s.lib.CreateContainer(id, nil, imageID, "", string(maker), opts)
	return err
}

const containerLayerKind = "skiff-container"

// layerMaker is the store's metadata of a container layer skiff made: the
// process that made it, by its pid and start time (a reused pid starts
// later).
type layerMaker struct {
	Kind  string `json:"skiff"`
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// OrphanContainerLayers are the container layers skiff made whose maker
// has ended and that recorded(id), asked after that, does not claim: what a create killed
// between making the layer and recording the container left. A layer of
// another program (buildah's, an older skiff's without a maker) is never
// one.
func (s *Store) OrphanContainerLayers(recorded func(id string) bool) ([]string, error) {
	all, err := s.lib.Containers()
	if err != nil {
		return nil, err
	}
	var orphans []string
	for _, c := range all {
		var m layerMaker
		if json.Unmarshal([]byte(c.Metadata), &m) != nil || m.Kind != containerLayerKind {
			continue
		}
		if m.Pid > 0 && processStartTicks(m.Pid) == m.Start {
			continue // still being made
		}
		// Asked once the maker is gone: it recorded the container, or
		// never will.
		if !recorded(c.ID) {
			orphans = append(orphans, c.ID)
		}
	}
	return orphans, nil
}

// processStartTicks is pid's start time in clock ticks after boot (field
// 22 of /proc/PID/stat); 0 when it has ended.
func processStartTicks(pid int) uint64 {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (the state); the start time is field 22.
	if len(f) < 20 || f[0] == "Z" {
		return 0
	}
	v, _ := strconv.ParseUint(f[19], 10, 64)
	return v
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

// checkDebris are the directories the overlay driver makes to probe the
// kernel as a store opens, and removes after: a command killed meanwhile
// leaves them.
var checkDebris = []string{"compat*", "metacopy-check*", "opaque-bug-check*", "volatile-check*"}

// RemoveCheckDebris removes the driver's probe directories older than age
// (a probe takes milliseconds; a younger one may be another command's).
func (s *Store) RemoveCheckDebris(age time.Duration) {
	home := filepath.Join(s.Config.GraphRoot, "overlay")
	for _, pattern := range checkDebris {
		dirs, _ := filepath.Glob(filepath.Join(home, pattern))
		for _, d := range dirs {
			if st, err := os.Lstat(d); err != nil || !st.IsDir() || time.Since(st.ModTime()) < age {
				continue
			}
			_ = unix.Unmount(filepath.Join(d, "merged"), unix.MNT_DETACH)
			_ = os.RemoveAll(d)
		}
	}
}
