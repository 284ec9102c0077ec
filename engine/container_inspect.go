package engine

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/skiff-project/skiff/engine/config"
)

// ContainerInspect is what `inspect` prints for a container, field for
// field as docker does.
type ContainerInspect struct {
	Id      string    `json:"Id"` //nolint:revive // docker's name, used by --format templates
	Name    string    `json:"Name"`
	Created time.Time `json:"Created"`
	Path    string    `json:"Path"`
	Args    []string  `json:"Args"`
	State   struct {
		Status     string    `json:"Status"`
		Running    bool      `json:"Running"`
		Paused     bool      `json:"Paused"`
		Restarting bool      `json:"Restarting"`
		OOMKilled  bool      `json:"OOMKilled"`
		Dead       bool      `json:"Dead"`
		Pid        int       `json:"Pid"`
		ExitCode   int       `json:"ExitCode"`
		Error      string    `json:"Error"`
		StartedAt  time.Time `json:"StartedAt"`
		FinishedAt time.Time `json:"FinishedAt"`
	} `json:"State"`
	Image        string `json:"Image"`
	RestartCount int    `json:"RestartCount"`
	LogPath      string `json:"LogPath"`
	Driver       string `json:"Driver"`
	Config       struct {
		Hostname   string            `json:"Hostname"`
		User       string            `json:"User"`
		Tty        bool              `json:"Tty"`
		OpenStdin  bool              `json:"OpenStdin"`
		Env        []string          `json:"Env"`
		Cmd        []string          `json:"Cmd"`
		Image      string            `json:"Image"`
		WorkingDir string            `json:"WorkingDir"`
		Entrypoint []string          `json:"Entrypoint"`
		Labels     map[string]string `json:"Labels"`
		StopSignal string            `json:"StopSignal"`
		// StopTimeout is the seconds stop waits (podman shows its
		// default, 10, too).
		StopTimeout int `json:"StopTimeout"`
	} `json:"Config"`
	Mounts     []InspectMount `json:"Mounts"`
	HostConfig struct {
		NetworkMode string `json:"NetworkMode"`
		AutoRemove  bool   `json:"AutoRemove"`
		Runtime     string `json:"Runtime"`
		// Binds as docker lists them: SOURCE:DEST[:ro] of bind mounts and
		// named volumes.
		Binds          []string       `json:"Binds"`
		ReadonlyRootfs bool           `json:"ReadonlyRootfs"`
		RestartPolicy  config.Restart `json:"RestartPolicy"`
	} `json:"HostConfig"`
	NetworkSettings struct {
		Networks map[string]EndpointSettings `json:"Networks"`
		Ports    map[string]any              `json:"Ports"`
		// IPAddress is the address on the first user-defined network.
		IPAddress string `json:"IPAddress"`
	} `json:"NetworkSettings"`
}

// EndpointSettings are a container's settings on one network, as docker
// shows them.
type EndpointSettings struct {
	NetworkID   string   `json:"NetworkID"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	Gateway     string   `json:"Gateway"`
	Aliases     []string `json:"Aliases"`
	Interface   string   `json:"Interface"`
}

// InspectContainer describes one container.
func (e *Engine) InspectContainer(ctx context.Context, nameOrID string) (*ContainerInspect, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	s := e.summary(rec)
	c := rec.Config
	out := &ContainerInspect{Id: rec.ID, Name: rec.Name, Created: rec.Created, Image: "sha256:" + rec.ImageID,
		LogPath: e.LogPath(rec.ID), Driver: e.store.GraphDriverName(), Mounts: e.inspectMounts(rec)}
	args := append(append([]string{}, c.Entrypoint...), c.Cmd...)
	if len(args) > 0 {
		out.Path, out.Args = args[0], args[1:]
	}
	if out.Args == nil {
		out.Args = []string{}
	}
	st := &out.State
	st.Status, st.Running, st.Pid, st.ExitCode = s.State, s.State == config.StateRunning, s.Pid, s.ExitCode
	st.StartedAt, st.FinishedAt = s.StartedAt, s.FinishedAt
	cfg := &out.Config
	cfg.Hostname, cfg.User, cfg.Tty, cfg.OpenStdin, cfg.Env = c.Hostname, c.User, c.Tty, c.OpenStdin, c.Env
	cfg.Cmd, cfg.Image, cfg.WorkingDir, cfg.Entrypoint, cfg.Labels, cfg.StopSignal = c.Cmd, rec.Image, c.WorkingDir, c.Entrypoint, c.Labels, c.StopSignal
	cfg.StopTimeout = 10
	if t, ok := c.Security.StopTimeoutSeconds(); ok {
		cfg.StopTimeout = t
	}
	runtime := c.Runtime
	if runtime == "" {
		runtime = "runc"
	}
	out.HostConfig.NetworkMode, out.HostConfig.AutoRemove, out.HostConfig.Runtime = c.Network, c.AutoRemove, runtime
	out.HostConfig.ReadonlyRootfs, out.HostConfig.Binds = c.ReadOnly, []string{}
	out.HostConfig.RestartPolicy, out.RestartCount = c.Restart, rec.RestartCount
	if out.HostConfig.RestartPolicy.Name == "" {
		out.HostConfig.RestartPolicy.Name = config.RestartNo
	}
	for _, m := range c.Mounts {
		if m.Type == config.MountTmpfs || m.Anonymous {
			continue
		}
		b := m.Source + ":" + m.Destination
		if m.ReadOnly {
			b += ":ro"
		}
		out.HostConfig.Binds = append(out.HostConfig.Binds, b)
	}
	out.NetworkSettings.Networks = map[string]EndpointSettings{}
	for i, a := range c.Networks {
		es := EndpointSettings{IPAddress: a.IP, Aliases: append(slices.Clone(a.Aliases), rec.ID[:12]), Interface: a.Interface}
		if n, err := e.Network(ctx, a.Name); err == nil && len(n.Subnets) > 0 {
			es.NetworkID, es.Gateway = n.ID, n.Subnets[0].Gateway
			if _, sn, err := net.ParseCIDR(n.Subnets[0].Subnet); err == nil {
				es.IPPrefixLen, _ = sn.Mask.Size()
			}
		}
		out.NetworkSettings.Networks[a.Name] = es
		if i == 0 {
			out.NetworkSettings.IPAddress = a.IP
			out.HostConfig.NetworkMode = a.Name
		}
	}
	out.NetworkSettings.Ports = map[string]any{}
	for _, p := range c.Ports {
		key := fmt.Sprintf("%d/%s", p.ContainerPort, p.Protocol)
		binds, _ := out.NetworkSettings.Ports[key].([]map[string]string)
		ip := p.HostIP
		if ip == "" {
			ip = "0.0.0.0"
		}
		out.NetworkSettings.Ports[key] = append(binds, map[string]string{"HostIp": ip, "HostPort": fmt.Sprint(p.HostPort)})
	}
	return out, nil
}

// IsContainer tells whether a name or id refers to a container.
func (e *Engine) IsContainer(ctx context.Context, nameOrID string) bool {
	_, err := e.state.Lookup(ctx, nameOrID)
	return err == nil
}

// LookupContainer is a container's record, by name, id or id prefix.
func (e *Engine) LookupContainer(ctx context.Context, nameOrID string) (*config.ContainerRecord, error) {
	return e.state.Lookup(ctx, nameOrID)
}

// IsRunning tells whether rec's container runs, as its processes say.
func (e *Engine) IsRunning(rec *config.ContainerRecord) bool {
	return e.observedState(rec) == config.StateRunning
}
