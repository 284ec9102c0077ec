package engine

import (
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/network"
	"github.com/skiff-project/skiff/storage"

	"context"
	"fmt"
	"regexp"
	"slices"
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
	Mounts     []string // each mount's volume name or host path (docker's ps .Mounts)
	Networks   []string // the networks it is on, or its network mode
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
	s.Mounts, s.Networks = mountsAndNetworks(rec)
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

// StateStorage is the state ps --external shows for a container that is
// the store's alone: no container of skiff's, with no process, config or
// log (podman's "storage" containers).
const StateStorage = "storage"

// ExternalContainers are the store's containers that are no container of
// skiff's, as podman's ps --external lists them: the working containers a
// build kept (build --rm=false, --force-rm=false) and other programs'
// (buildah's). A running build's working layers are not listed.
func (e *Engine) ExternalContainers(ctx context.Context) ([]*ContainerSummary, error) {
	all, err := e.store.StoreContainers()
	if err != nil {
		return nil, err
	}
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	ours := make(map[string]bool, len(recs))
	for _, r := range recs {
		ours[r.ID] = true
	}
	var out []*ContainerSummary
	for _, c := range all {
		if w, isWork := storage.WorkLayerOf(c); ours[c.ID] || (isWork && !w.Kept) {
			continue
		}
		s := &ContainerSummary{ID: c.ID, ImageID: c.ImageID, Image: c.ImageID, Created: c.Created, State: StateStorage}
		if len(c.Names) > 0 {
			s.Name = c.Names[0]
		}
		if c.ImageID != "" {
			if img, err := e.store.Image(c.ImageID); err == nil && len(img.Names) > 0 {
				s.Image = img.Names[0]
			} else {
				s.Image = c.ImageID[:12]
			}
		}
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b *ContainerSummary) int { return b.Created.Compare(a.Created) })
	return out, nil
}

// RemoveExternal removes a container of the store's alone (rm --storage),
// found by full or short id or name: its layer goes, and nothing else
// exists of it. A container of skiff's is refused: rm removes those.
func (e *Engine) RemoveExternal(ctx context.Context, nameOrID string) (string, error) {
	list, err := e.ExternalContainers(ctx)
	if err != nil {
		return "", err
	}
	var match *ContainerSummary
	for _, s := range list {
		if s.Name == nameOrID || s.ID == nameOrID || (len(nameOrID) >= 3 && strings.HasPrefix(s.ID, nameOrID)) {
			if match != nil && match.ID != s.ID {
				return "", fmt.Errorf("%w: %s names more than one storage container", config.ErrBadOption, nameOrID)
			}
			match = s
		}
	}
	if match == nil {
		return "", fmt.Errorf("%w: no storage container %s (ps --external lists them)", config.ErrNoSuchContainer, nameOrID)
	}
	_ = e.store.UnmountContainer(match.ID, true)
	if err := e.store.DeleteContainerLayer(match.ID); err != nil {
		return "", fmt.Errorf("removing storage container %s: %w", nameOrID, err)
	}
	return match.ID, nil
}

// mountsAndNetworks are what ps shows of a container's mounts (each one's
// volume name or host path) and networks (their names, or the network
// mode when it is on none).
func mountsAndNetworks(rec *config.ContainerRecord) (mounts, networks []string) {
	for _, m := range rec.Config.Mounts {
		if m.Source != "" {
			mounts = append(mounts, m.Source)
		}
	}
	for _, n := range rec.Config.Networks {
		networks = append(networks, n.Name)
	}
	if len(networks) == 0 && rec.Config.Network != "" {
		networks = []string{rec.Config.Network}
	}
	return mounts, networks
}
