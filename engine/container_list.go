package engine

import (
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"

	"context"
	"fmt"
	"regexp"
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
	Last    int              // -n; 0 = no limit; -l is Last 1
	Filters ContainerFilters // ParseContainerFilters
}

// ContainerFilters are ps's --filter values, parsed: a container passes
// when it matches one value of each key given (docker's and podman's
// rule: values of one key are alternatives, keys add up).
type ContainerFilters struct {
	keys []func(*ContainerSummary) bool
	// status: a status filter lists containers of every state, as if with
	// -a (docker's and podman's ps).
	status bool
}

func (f ContainerFilters) match(c *ContainerSummary) bool {
	for _, k := range f.keys {
		if !k(c) {
			return false
		}
	}
	return true
}

// ParseContainerFilters reads ps --filter values: id, name (a regular
// expression, as docker's and podman's), status, label, ancestor, exited.
func ParseContainerFilters(filters []string) (ContainerFilters, error) {
	var order []string
	byKey := map[string][]func(*ContainerSummary) bool{}
	for _, f := range filters {
		key, val, ok := strings.Cut(f, "=")
		if !ok || val == "" {
			return ContainerFilters{}, fmt.Errorf("%w: filter %q: want KEY=VALUE", config.ErrBadOption, f)
		}
		m, err := containerFilter(f, key, val)
		if err != nil {
			return ContainerFilters{}, err
		}
		if _, seen := byKey[key]; !seen {
			order = append(order, key)
		}
		byKey[key] = append(byKey[key], m)
	}
	var out ContainerFilters
	for _, key := range order {
		alternatives := byKey[key]
		out.keys = append(out.keys, func(c *ContainerSummary) bool {
			for _, m := range alternatives {
				if m(c) {
					return true
				}
			}
			return false
		})
		out.status = out.status || key == "status"
	}
	return out, nil
}

// containerFilter is the test of one --filter value f, KEY=VAL.
func containerFilter(f, key, val string) (func(*ContainerSummary) bool, error) {
	switch key {
	case "id":
		return func(c *ContainerSummary) bool { return strings.HasPrefix(c.ID, val) }, nil
	case "name":
		re, err := regexp.Compile(val)
		if err != nil {
			return nil, fmt.Errorf("%w: filter %q: %v", config.ErrBadOption, f, err)
		}
		return func(c *ContainerSummary) bool { return re.MatchString(c.Name) }, nil
	case "status":
		switch val {
		case "created", "running", "exited", "paused", "restarting", "removing", "dead":
		default:
			return nil, fmt.Errorf("%w: filter %q: status is created, running, exited, paused, restarting, removing or dead", config.ErrBadOption, f)
		}
		return func(c *ContainerSummary) bool { return c.State == val }, nil
	case "label":
		k, v, hasV := strings.Cut(val, "=")
		return func(c *ContainerSummary) bool {
			got, ok := c.Labels[k]
			return ok && (!hasV || got == v)
		}, nil
	case "ancestor":
		return func(c *ContainerSummary) bool {
			return c.Image == val || strings.HasPrefix(c.ImageID, val) || strings.TrimSuffix(c.Image, ":latest") == strings.TrimSuffix(val, ":latest") ||
				strings.HasSuffix(strings.TrimSuffix(c.Image, ":latest"), "/"+strings.TrimSuffix(val, ":latest"))
		}, nil
	case "exited":
		var code int
		if _, err := fmt.Sscanf(val, "%d", &code); err != nil {
			return nil, fmt.Errorf("%w: filter %q: exited takes an exit code", config.ErrBadOption, f)
		}
		return func(c *ContainerSummary) bool { return c.State == config.StateExited && c.ExitCode == code }, nil
	}
	return nil, fmt.Errorf("%w: filter %q: unknown key %q (id, name, status, label, ancestor, exited)", config.ErrBadOption, f, key)
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
		if !o.All && !o.Filters.status && o.Last == 0 && s.State != config.StateRunning {
			continue
		}
		if o.Filters.match(s) {
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
