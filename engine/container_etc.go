package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"

	"github.com/skiff-project/skiff/engine/config"
)

// etcFiles are the files of /etc skiff writes for a container.
var etcFiles = []string{"hostname", "hosts", "resolv.conf"}

// etcFilesOf are the etcFiles skiff writes for container c: all but
// resolv.conf with --dns none, which keeps the image's.
func etcFilesOf(c config.ContainerConfig) []string {
	if ownResolvConf(c) {
		return slices.DeleteFunc(slices.Clone(etcFiles), func(name string) bool { return name == "resolv.conf" })
	}
	return etcFiles
}

// filesDir holds the container's etcFiles: with a user namespace of its
// own, the bundle, which the container's root can reach.
func (e *Engine) filesDir(rec *config.ContainerRecord) string {
	if len(rec.Config.Security.UIDMap) > 0 {
		return e.bundleDir(rec)
	}
	return e.containerDir(rec.ID)
}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf;
// in place, so that a running container sees them change (network
// connect and disconnect).
func (e *Engine) writeEtcFiles(rec *config.ContainerRecord) error {
	c := rec.Config
	content := map[string]string{
		"hostname":    c.Hostname + "\n",
		"hosts":       hostsFile(c, rec.Name),
		"resolv.conf": resolvConf(c, e.networkDNS(context.Background(), c)),
	}
	for _, name := range etcFilesOf(c) {
		if err := os.WriteFile(filepath.Join(e.filesDir(rec), name), []byte(content[name]), 0o644); err != nil {
			return err
		}
	}
	return nil
}
