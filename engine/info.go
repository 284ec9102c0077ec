package engine

import (
	"os"
	"os/exec"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/rootless"
)

// Version is the skiff version; the build sets it with -ldflags.
var Version = "0.1.0-dev"

// VersionInfo is what `version` prints.
type VersionInfo struct {
	Version    string `json:"Version"`
	GoVersion  string `json:"GoVersion"`
	OsArch     string `json:"OsArch"`
	APIVersion string `json:"APIVersion"`
}

// GetVersion describes this build.
func GetVersion() VersionInfo {
	return VersionInfo{Version: Version, GoVersion: runtime.Version(), OsArch: runtime.GOOS + "/" + runtime.GOARCH, APIVersion: "1.41"}
}

// RuntimeInfo describes one OCI runtime found on the host.
type RuntimeInfo struct {
	Name    string `json:"Name"`
	Path    string `json:"Path"`
	Version string `json:"Version"`
}

// StoreInfo describes the image store.
type StoreInfo struct {
	GraphRoot       string `json:"GraphRoot"`
	RunRoot         string `json:"RunRoot"`
	GraphDriverName string `json:"GraphDriverName"`
	ConfigFile      string `json:"ConfigFile"`
	ImageCount      int    `json:"ImageCount"`
}

// HostInfo describes the host as skiff sees it.
type HostInfo struct {
	Hostname      string           `json:"Hostname"`
	Kernel        string           `json:"Kernel"`
	OS            string           `json:"OS"`
	Arch          string           `json:"Arch"`
	CPUs          int              `json:"CPUs"`
	Rootless      bool             `json:"Rootless"`
	UID           int              `json:"UID"`
	CgroupVersion string           `json:"CgroupVersion"`
	UIDMap        []rootless.IDMap `json:"UIDMap"`
	GIDMap        []rootless.IDMap `json:"GIDMap"`
	OCIRuntime    RuntimeInfo      `json:"OCIRuntime"`
	Runtimes      []RuntimeInfo    `json:"Runtimes"`
	RuntimeDir    string           `json:"RuntimeDir"`
	NamespaceID   uint64           `json:"NamespaceID"`
	// NetworkBackend is what containers get without --network.
	NetworkBackend string `json:"NetworkBackend"`
}

// Info is what `info` prints.
type Info struct {
	Host    HostInfo    `json:"Host"`
	Store   StoreInfo   `json:"Store"`
	Version VersionInfo `json:"Version"`
}

// Info gathers facts about the host, the store and the runtimes.
func (e *Engine) Info() (*Info, error) {
	info := &Info{Version: GetVersion()}
	h := &info.Host
	h.Hostname, _ = os.Hostname()
	var uts unix.Utsname
	if unix.Uname(&uts) == nil {
		h.Kernel = unix.ByteSliceToString(uts.Release[:])
	}
	h.OS, h.Arch, h.CPUs = runtime.GOOS, runtime.GOARCH, runtime.NumCPU()
	h.Rootless, h.UID = rootless.IsRootless(), rootless.UID()
	h.CgroupVersion = cgroupVersion()
	h.UIDMap, h.GIDMap, _ = rootless.CurrentMappings()
	h.RuntimeDir, _ = rootless.RuntimeDir()
	h.NamespaceID = rootless.NamespaceID()
	h.NetworkBackend = DefaultNetwork()
	h.Runtimes = FindRuntimes()
	if path, err := e.Runtime(""); err == nil {
		for _, r := range h.Runtimes {
			if r.Path == path {
				h.OCIRuntime = r // the one a new container gets
			}
		}
	}
	cfg := e.store.Config
	info.Store = StoreInfo{GraphRoot: e.store.GraphRoot(), RunRoot: e.store.RunRoot(), GraphDriverName: e.store.GraphDriverName(), ConfigFile: cfg.ConfFile}
	if imgs, err := e.store.AllImages(); err == nil {
		info.Store.ImageCount = len(imgs)
	}
	return info, nil
}

func cgroupVersion() string {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		return "v2"
	}
	return "v1"
}

// FindRuntimes lists the OCI runtimes on PATH, in the order of preference.
func FindRuntimes() []RuntimeInfo {
	var out []RuntimeInfo
	for _, name := range oci.DefaultRuntimes {
		path, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		ri := RuntimeInfo{Name: name, Path: path}
		if b, err := exec.Command(path, "--version").Output(); err == nil {
			first, _, _ := strings.Cut(string(b), "\n")
			ri.Version = strings.TrimSpace(first)
		}
		out = append(out, ri)
	}
	return out
}
