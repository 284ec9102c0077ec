package config

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/BurntSushi/toml"
	"github.com/skiff-project/skiff/rootless"
)

// ContainersConf is what skiff takes from containers.conf, read once per
// process: [engine] runtime, [network] default_rootless_network_cmd and
// pasta_options, and [containers] default_sysctls (nil when no file sets
// it; empty when one sets none).
// Later files override earlier ones; CONTAINERS_CONF replaces them all.
var ContainersConf = sync.OnceValue(func() (c EngineConf) {
	type file struct {
		path string
		user bool
	}
	files := []file{{"/usr/share/containers/containers.conf", false}, {"/etc/containers/containers.conf", false}}
	if cfg, err := rootless.ConfigHome(); err == nil {
		files = append(files, file{filepath.Join(cfg, "containers", "containers.conf"), true})
	}
	if p := os.Getenv("CONTAINERS_CONF"); p != "" {
		files = []file{{p, false}}
	}
	for _, f := range files {
		var conf struct {
			Containers struct {
				DefaultSysctls []string `toml:"default_sysctls"`
			} `toml:"containers"`
			Engine struct {
				Runtime string `toml:"runtime"`
			} `toml:"engine"`
			Network struct {
				Cmd          string   `toml:"default_rootless_network_cmd"`
				PastaOptions []string `toml:"pasta_options"`
			} `toml:"network"`
		}
		if _, err := toml.DecodeFile(f.path, &conf); err != nil {
			continue
		}
		// The user's own file names the runtime only for a rootless user.
		if conf.Engine.Runtime != "" && (!f.user || rootless.IsRootless()) {
			c.Runtime = conf.Engine.Runtime
		}
		if conf.Network.Cmd != "" {
			c.NetworkCmd = conf.Network.Cmd
		}
		if conf.Network.PastaOptions != nil {
			c.PastaOptions = conf.Network.PastaOptions
		}
		if conf.Containers.DefaultSysctls != nil {
			c.DefaultSysctls = conf.Containers.DefaultSysctls
		}
	}
	return c
})

// EngineConf is what skiff takes from containers.conf.
type EngineConf struct {
	// Runtime is [engine] runtime: the OCI runtime's name or path.
	Runtime string
	// NetworkCmd is [network] default_rootless_network_cmd.
	NetworkCmd string
	// PastaOptions are [network] pasta_options (nil: none set).
	PastaOptions []string
	// DefaultSysctls are [containers] default_sysctls (nil: none set).
	DefaultSysctls []string
}
