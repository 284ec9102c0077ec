package engine

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"
)

// Runtime resolves the OCI runtime to use: --runtime, else containers.conf,
// else the first of oci.DefaultRuntimes that works here. It says why when the
// one chosen cannot work on this host.
func (e *Engine) Runtime(name string) (string, error) {
	if name = e.configuredRuntime(name); name != "" {
		return e.findRuntime(name)
	}
	var errs []error
	for _, candidate := range oci.DefaultRuntimes {
		path, err := e.findRuntime(candidate)
		if err == nil {
			return path, nil
		}
		errs = append(errs, err)
	}
	return "", errs[len(errs)-1]
}

// runtimeOf is the runtime of an existing container: the one recorded with
// it, or for a container recorded before skiff kept it, the runtime chosen
// then (--runtime, containers.conf, else runc). A container records the
// runtime's name, not its path, so that it keeps working when the binary
// moves; the name is resolved once per engine (one command), so run's
// create and start look it up once.
func (e *Engine) runtimeOf(rec *config.ContainerRecord) (string, error) {
	return e.findRuntime(cmp.Or(e.configuredRuntime(rec.Config.Runtime), "runc"))
}

// runtimePaths are the runtimes an engine has resolved, by the name asked
// for: an engine is one command's, so a runtime installed or moved while
// it runs is seen by the next command.
type runtimePaths struct {
	mu    sync.Mutex
	paths map[string]string
}

// findRuntime is oci.Find, once per name for the engine.
func (e *Engine) findRuntime(name string) (string, error) {
	r := &e.runtimes
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.paths[name]; ok {
		return p, nil
	}
	p, err := oci.Find(name)
	if err != nil {
		return "", err
	}
	if r.paths == nil {
		r.paths = map[string]string{}
	}
	r.paths[name] = p
	return p, nil
}

// configuredRuntime is the runtime name asked for: name, else the global
// --runtime, else containers.conf; "" when none names one.
func (e *Engine) configuredRuntime(name string) string {
	return cmp.Or(name, e.runtimeName, config.ContainersConf().Runtime)
}

// containerRuntime is the runtime recorded with a new container (the one
// that starts a container must stop it: runc and crun keep their state in
// different shapes): the name asked for, as given, else the default that
// resolved.
//
// crun runs attached containers as a subreaper that waits for every
// process below it, and the network helper of a container with a user
// namespace of its own is started by the runtime's hook (NetworkHook), so
// it is one: `crun run` would wait for it past the container's end. Such
// containers get runc by default, and crun is refused for them.
func (e *Engine) containerRuntime(asked, resolved string, c *config.ContainerConfig) (string, error) {
	configured := e.configuredRuntime(asked)
	if !oci.IsCrun(resolved) || len(c.Security.UIDMap) == 0 || !config.OwnNetns(c.Network) {
		return cmp.Or(configured, filepath.Base(resolved)), nil
	}
	if configured == "" {
		if _, err := e.findRuntime("runc"); err == nil {
			return "runc", nil
		}
	}
	return "", fmt.Errorf("%w: crun cannot run a container with a user namespace of its own (--userns, --uidmap) on a network: its run would wait for the network helper; use --runtime runc or --network none", config.ErrBadOption)
}

// runtimeCmd builds an invocation of the runtime for this namespace.
func (e *Engine) runtimeCmd(ctx context.Context, runtime string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, runtime, append([]string{"--root", e.runtimeRoot()}, args...)...)
}

// runtimeOutput runs a short runtime command and returns its error with
// whatever it printed.
func (e *Engine) runtimeRun(ctx context.Context, runtime string, args ...string) error {
	cmd := e.runtimeCmd(ctx, runtime, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", filepath.Base(runtime), args[0], err, strings.TrimSpace(out.String()))
	}
	return nil
}
