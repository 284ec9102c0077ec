package build

import (
	"maps"
	"slices"
	"strings"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
)

// ImageConfig is an image's runtime configuration as a build sees and edits
// it: the OCI fields plus docker's Healthcheck, OnBuild and Shell, and the
// author that MAINTAINER sets (which OCI keeps beside the config).
type ImageConfig struct {
	dockerspec.DockerOCIImageConfig
	Author string `json:",omitempty"`
}

// DefaultShell is what RUN, CMD and ENTRYPOINT in shell form run under when
// no SHELL instruction or base image says otherwise.
var DefaultShell = []string{"/bin/sh", "-c"}

// shell returns the shell in effect.
func (c *ImageConfig) shell() []string {
	if len(c.Shell) > 0 {
		return c.Shell
	}
	return DefaultShell
}

// clone returns a deep copy, so edits of one stage never reach another.
func (c ImageConfig) clone() ImageConfig {
	out := c
	out.Env = slices.Clone(c.Env)
	out.Cmd = slices.Clone(c.Cmd)
	out.Entrypoint = slices.Clone(c.Entrypoint)
	out.Shell = slices.Clone(c.Shell)
	out.OnBuild = slices.Clone(c.OnBuild)
	out.Labels = maps.Clone(c.Labels)
	out.ExposedPorts = maps.Clone(c.ExposedPorts)
	out.Volumes = maps.Clone(c.Volumes)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		out.Healthcheck = &h
	}
	return out
}

// KeyValue is one NAME=value pair, in the order the Containerfile gave it.
type KeyValue struct {
	Key   string
	Value string
}

// ConfigEdit is one change to an image's configuration, as an instruction
// (ENV, LABEL, WORKDIR, USER, EXPOSE, VOLUME, CMD, ENTRYPOINT, SHELL,
// STOPSIGNAL, HEALTHCHECK, ONBUILD, MAINTAINER) or a --change gives it, with
// every argument already expanded and every path already absolute.
type ConfigEdit struct {
	Instruction string     // upper-case keyword
	Pairs       []KeyValue `json:",omitempty"` // ENV, LABEL
	Values      []string   `json:",omitempty"` // EXPOSE ports, VOLUME paths, CMD/ENTRYPOINT/SHELL argv, ONBUILD trigger
	Value       string     `json:",omitempty"` // WORKDIR, USER, STOPSIGNAL, MAINTAINER

	// ResetCmd: ENTRYPOINT clears a CMD inherited from the base image
	// (docker's rule), but not one set earlier in the same stage.
	ResetCmd bool                          `json:",omitempty"`
	Health   *dockerspec.HealthcheckConfig `json:",omitempty"` // HEALTHCHECK; Test ["NONE"] disables
}

// Apply makes the edit on c.
func (e *ConfigEdit) Apply(c *ImageConfig) {
	switch e.Instruction {
	case "ENV":
		for _, kv := range e.Pairs {
			c.Env = setEnv(c.Env, kv.Key, kv.Value)
		}
	case "LABEL":
		if c.Labels == nil && len(e.Pairs) > 0 {
			c.Labels = map[string]string{}
		}
		for _, kv := range e.Pairs {
			c.Labels[kv.Key] = kv.Value
		}
	case "WORKDIR":
		c.WorkingDir = e.Value
	case "USER":
		c.User = e.Value
	case "EXPOSE":
		c.ExposedPorts = addToSet(c.ExposedPorts, e.Values)
	case "VOLUME":
		c.Volumes = addToSet(c.Volumes, e.Values)
	case "CMD":
		c.Cmd = slices.Clone(e.Values)
	case "ENTRYPOINT":
		c.Entrypoint = slices.Clone(e.Values)
		if e.ResetCmd {
			c.Cmd = nil
		}
	case "SHELL":
		c.Shell = slices.Clone(e.Values)
	case "STOPSIGNAL":
		c.StopSignal = e.Value
	case "HEALTHCHECK":
		h := *e.Health
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	case "ONBUILD":
		c.OnBuild = append(c.OnBuild, e.Values...)
	case "MAINTAINER":
		c.Author = e.Value
	}
}

func addToSet(set map[string]struct{}, keys []string) map[string]struct{} {
	if set == nil && len(keys) > 0 {
		set = map[string]struct{}{}
	}
	for _, k := range keys {
		set[k] = struct{}{}
	}
	return set
}

// setEnv replaces or appends NAME=value, keeping the order of the others.
func setEnv(env []string, key, value string) []string {
	for i, kv := range env {
		if k, _, _ := strings.Cut(kv, "="); k == key {
			out := slices.Clone(env)
			out[i] = key + "=" + value
			return out
		}
	}
	return append(slices.Clone(env), key+"="+value)
}

// getEnv returns NAME's value in env.
func getEnv(env []string, key string) (string, bool) {
	for _, kv := range env {
		if k, v, _ := strings.Cut(kv, "="); k == key {
			return v, true
		}
	}
	return "", false
}
