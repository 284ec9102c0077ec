package engine

import (
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"

	"context"
	"fmt"
	"path"
	"strings"
	"time"
)

// ContainerSummary is one container as ps shows it.
type ContainerSummary struct {
	ID         string
	Name       string
	Image      string
	ImageID    string
	Command    []string
	Created    time.Time
	State      string // created, running, exited
	ExitCode   int
	StartedAt  time.Time
	FinishedAt time.Time
	Pid        int
	Labels     map[string]string
	Ports      []network.PortMapping
}

// ListContainersOptions filter ps.
type ListContainersOptions struct {
	All     bool
	Last    int               // -n; 0 = no limit; -l is Last 1
	Filters []ContainerFilter // ParseContainerFilters; a container passes every one
}

// ContainerFilter is one of ps's --filter values, parsed.
type ContainerFilter func(*ContainerSummary) bool

// ParseContainerFilters reads ps --filter values: id, name, status,
// label, ancestor, exited.
func ParseContainerFilters(filters []string) ([]ContainerFilter, error) {
	var out []ContainerFilter
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		if !ok || val == "" {
			return nil, fmt.Errorf("%w: filter %q: want KEY=VALUE", config.ErrBadOption, f)
		}
		switch key {
		case "id":
			out = append(out, func(c *ContainerSummary) bool { return strings.HasPrefix(c.ID, val) })
		case "name":
			out = append(out, func(c *ContainerSummary) bool {
				ok, _ := path.Match(val, c.Name)
				return ok || strings.Contains(c.Name, val)
			})
		case "status":
			switch val {
			case "created", "running", "exited", "paused", "restarting", "removing", "dead":
			default:
				return nil, fmt.Errorf("%w: filter %q: status is created, running, exited, paused, restarting, removing or dead", config.ErrBadOption, f)
			}
			out = append(out, func(c *ContainerSummary) bool { return c.State == val })
		case "label":
			k, v, hasV := strings.Cut(val, "=")
			out = append(out, func(c *ContainerSummary) bool {
				got, ok := c.Labels[k]
				return ok && (!hasV || got == v)
			})
		case "ancestor":
			out = append(out, func(c *ContainerSummary) bool {
				return c.Image == val || strings.HasPrefix(c.ImageID, val) || strings.TrimSuffix(c.Image, ":latest") == strings.TrimSuffix(val, ":latest") ||
					strings.HasSuffix(strings.TrimSuffix(c.Image, ":latest"), "/"+strings.TrimSuffix(val, ":latest"))
			})
		case "exited":
			var code int
			if _, err := fmt.Sscanf(val, "%d", &code); err != nil {
				return nil, fmt.Errorf("%w: filter %q: exited takes an exit code", config.ErrBadOption, f)
			}
			out = append(out, func(c *ContainerSummary) bool { return c.State == config.StateExited && c.ExitCode == code })
		default:
			return nil, fmt.Errorf("%w: filter %q: unknown key %q (id, name, status, label, ancestor, exited)", config.ErrBadOption, f, key)
		}
	}
	return out, nil
}

func (e *Engine) summary(rec *config.ContainerRecord) *ContainerSummary {
	s := &ContainerSummary{
		ID: rec.ID, Name: rec.Name, Image: rec.Image, ImageID: rec.ImageID,
		Command: append(append([]string{}, rec.Config.Entrypoint...), rec.Config.Cmd...),
		Created: rec.Created, State: e.observedState(rec), ExitCode: rec.ExitCode,
		StartedAt: rec.StartedAt, FinishedAt: rec.FinishedAt, Pid: rec.Pid, Labels: rec.Config.Labels,
		Ports: rec.Config.Ports,
	}
	if s.State == config.StateExited && rec.State == config.StateRunning {
		s.ExitCode, s.FinishedAt = e.observedExit(rec)
		s.Pid = 0
	}
	if s.State != config.StateRunning {
		s.Pid = 0
	} else if s.Pid == 0 {
		s.Pid = e.containerPid(rec)
	}
	return s
}

// ListContainers lists containers, newest first.
func (e *Engine) ListContainers(ctx context.Context, o ListContainersOptions) ([]*ContainerSummary, error) {
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	var out []*ContainerSummary
	for _, r := range recs {
		if o.Last > 0 && len(out) >= o.Last {
			break
		}
		s := e.summary(r)
		if !o.All && o.Last == 0 && s.State != config.StateRunning {
			continue
		}
		keep := true
		for _, f := range o.Filters {
			keep = keep && f(s)
		}
		if keep {
			out = append(out, s)
		}
	}
	return out, nil
}

// ContainerIDs resolves names or ids to full ids (for rm -a and the like).
func (e *Engine) ContainerIDs(ctx context.Context) ([]string, error) {
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(recs))
	for i, r := range recs {
		ids[i] = r.ID
	}
	return ids, nil
}
