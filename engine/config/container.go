package config

import (
	"time"

	"github.com/skiff-project/skiff/network"
)

// ContainerRecord is what the state database keeps of one container.
type ContainerRecord struct {
	ID         string
	Name       string
	Image      string // as the user named it
	ImageID    string
	Created    time.Time
	State      string // created, running, exited
	Pid        int
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	MonitorPid int
	// RestartCount is how often the restart policy restarted it;
	// UserStopped, that stop ended it, so the policy leaves it be.
	RestartCount int
	UserStopped  bool
	Config       ContainerConfig
	// MadeVolumes are the named volumes the Create that returned the
	// record made on first use (RemoveCreated removes them); not stored.
	MadeVolumes []string `json:"-"`
}

// ContainerConfig is the container's configuration, kept as JSON. No list
// or map field is omitted when empty (a test walks them all): what create
// resolved comes back from the database as it was, an empty list as empty
// and not as nil, which means "the defaults" (no capability at all is not
// the default set; no pasta option is not skiff's default options).
type ContainerConfig struct {
	Cmd        []string          `json:"Cmd"`
	Entrypoint []string          `json:"Entrypoint"`
	Env        []string          `json:"Env"`
	Labels     map[string]string `json:"Labels"`
	WorkingDir string            `json:"WorkingDir"`
	User       string            `json:"User"`
	Hostname   string            `json:"Hostname"`
	Tty        bool              `json:"Tty"`
	OpenStdin  bool              `json:"OpenStdin"`
	AutoRemove bool              `json:"AutoRemove"`
	StopSignal string            `json:"StopSignal"`
	Network    string            `json:"NetworkMode"`
	// Networks are the user-defined networks the container is on.
	Networks []NetworkAttachment `json:"Networks"`
	Runtime  string              `json:"Runtime"`
	Mounts   []Mount             `json:"Mounts"`
	ReadOnly bool                `json:"ReadonlyRootfs,omitempty"`
	// ReadOnlyTmpfs puts tmpfs on /tmp, /var/tmp and /run of a read-only
	// container, as podman does by default.
	ReadOnlyTmpfs bool                  `json:"ReadOnlyTmpfs,omitempty"`
	Security      Security              `json:"Security"`
	Restart       Restart               `json:"RestartPolicy"`
	Ports         []network.PortMapping `json:"Ports"`
	DNS           []string              `json:"Dns"`
	DNSSearch     []string              `json:"DnsSearch"`
	AddHosts      []string              `json:"ExtraHosts"`
	SdNotify      string                `json:"SdNotifyMode,omitempty"`
	// PastaOptions are pasta's options (--network pasta:OPTS, or
	// containers.conf's pasta_options); nil: skiff's defaults.
	PastaOptions  []string `json:"PastaOptions"`
	CreateCommand []string `json:"CreateCommand"`
}

// Container states as docker names them.
const (
	StateCreated = "created"
	StateRunning = "running"
	StateExited  = "exited"
)

// Notify modes of --sdnotify, for containers run by systemd units of
// Type=notify (NOTIFY_SOCKET set): container passes the socket into the
// container, whose process says READY=1 itself; conmon has skiff say it
// once the container started; ignore does neither. In all of them skiff
// gives systemd the monitor's pid as the service's main process, and the
// runtime never sees the socket.
const (
	SdNotifyContainer = "container"
	SdNotifyConmon    = "conmon"
	SdNotifyIgnore    = "ignore"
)
