package config

import "time"

// Volume is a named directory that outlives containers, docker's "local"
// driver: its data is $XDG_DATA_HOME/skiff/volumes/NAME/_data.
type Volume struct {
	Name       string            `json:"Name"`
	Driver     string            `json:"Driver"`
	Mountpoint string            `json:"Mountpoint"`
	CreatedAt  time.Time         `json:"CreatedAt"`
	Labels     map[string]string `json:"Labels"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
	// Anonymous volumes are made for one container (-v /path, an image's
	// VOLUME) and go with it on rm -v or --rm.
	Anonymous bool `json:"Anonymous"`
}
