package engine

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/skiff-project/skiff/engine/config"

	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/rootless"
)

var (
	// ErrRuntimeUnusable means the chosen OCI runtime cannot run here.
	ErrRuntimeUnusable = errors.New("OCI runtime unusable")
	// ErrCannotInvoke means the container's command exists but cannot run (126).
	ErrCannotInvoke = errors.New("container command cannot be invoked")
	// ErrCommandNotFound means the container's command does not exist (127).
	ErrCommandNotFound = errors.New("container command not found")
	// ErrNoWorkdir means the process's working directory does not exist
	// in the container (127, as docker and podman give).
	ErrNoWorkdir = errors.New("working directory not found in the container")
)

// hybridCgroups tells whether the host mounts cgroup v1 with a v2 hierarchy
// beside it, which crun refuses.
func hybridCgroups() bool {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	return unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// defaultRuntimes are tried in order when neither --runtime nor
// containers.conf names one: crun first, as podman does (a C program, it
// starts a container in a third of runc's time), then runc.
var defaultRuntimes = []string{"crun", "runc"}

// Runtime resolves the OCI runtime to use: --runtime, else containers.conf,
// else the first of defaultRuntimes that works here. It says why when the
// one chosen cannot work on this host.
func (e *Engine) Runtime(name string) (string, error) {
	if name = e.configuredRuntime(name); name != "" {
		return usableRuntime(name)
	}
	var errs []error
	for _, candidate := range defaultRuntimes {
		path, err := usableRuntime(candidate)
		if err == nil {
			return path, nil
		}
		errs = append(errs, err)
	}
	return "", errs[len(errs)-1]
}

// runtimeOf is the runtime of an existing container: the one recorded with
// it, or for a container recorded before skiff kept it, the runtime chosen
// then (--runtime, containers.conf, else runc).
func (e *Engine) runtimeOf(rec *config.ContainerRecord) (string, error) {
	return usableRuntime(cmp.Or(e.configuredRuntime(rec.Config.Runtime), "runc"))
}

// configuredRuntime is the runtime name asked for: name, else the global
// --runtime, else containers.conf; "" when none names one.
func (e *Engine) configuredRuntime(name string) string {
	return cmp.Or(name, e.runtimeName, config.ContainersConf().Runtime)
}

// isCrun tells whether the runtime at path is crun.
func isCrun(path string) bool { return filepath.Base(path) == "crun" }

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
	if !isCrun(resolved) || len(c.Security.UIDMap) == 0 || !config.OwnNetns(c.Network) {
		return cmp.Or(configured, filepath.Base(resolved)), nil
	}
	if configured == "" {
		if _, err := usableRuntime("runc"); err == nil {
			return "runc", nil
		}
	}
	return "", fmt.Errorf("%w: crun cannot run a container with a user namespace of its own (--userns, --uidmap) on a network: its run would wait for the network helper; use --runtime runc or --network none", config.ErrBadOption)
}

// usableRuntime finds the runtime name and makes sure it can run
// containers here.
func usableRuntime(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed (apt-get install %s), or use --runtime runc", ErrRuntimeUnusable, name, filepath.Base(name))
	}
	if isCrun(path) && hybridCgroups() {
		if err := hideUnifiedControllers(); err != nil {
			return "", fmt.Errorf("%w: crun cannot run containers on this host: cgroups in hybrid mode (cgroup v1 with a unified hierarchy): %v; use --runtime runc", ErrRuntimeUnusable, err)
		}
	}
	return path, nil
}

// unifiedControllers is the file crun reads to refuse a hybrid host: it
// runs there only when the v2 hierarchy has no controller of its own.
const unifiedControllers = "/sys/fs/cgroup/unified/cgroup.controllers"

// hideUnifiedControllers lets crun run on a hybrid host. Rootless there,
// no runtime can use cgroups at all (v1 is not delegated to users), so
// nothing is lost when, in skiff's own mount namespace and nowhere else,
// the v2 hierarchy's controller list reads empty: an empty file is
// bind-mounted over it, once per namespace. As root, skiff shares the
// host's mount namespace and leaves it alone: crun stays refused.
func hideUnifiedControllers() error {
	data, err := os.ReadFile(unifiedControllers)
	if err != nil || len(bytes.TrimSpace(data)) == 0 {
		return err
	}
	if !rootless.InNamespace() {
		return fmt.Errorf("the unified hierarchy has controllers (%s)", strings.TrimSpace(string(data)))
	}
	runDir, err := rootless.RuntimeDir()
	if err != nil {
		return err
	}
	empty := filepath.Join(runDir, "skiff", "no-controllers")
	f, err := os.OpenFile(empty, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return err
	}
	f.Close()
	if err := unix.Mount(empty, unifiedControllers, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("hiding %s: %w", unifiedControllers, err)
	}
	return nil
}

// runtimeCmd builds an invocation of the runtime for this namespace.
func (e *Engine) runtimeCmd(ctx context.Context, runtime string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, runtime, append([]string{"--root", e.runtimeRoot()}, args...)...)
}

// runtimeError turns the runtime's JSON log into an error, mapped to the
// docker exit codes: 127 for a missing command, 126 for one that cannot
// run, 125 for the rest.
func runtimeError(logPath string, fallback error) error {
	f, err := os.Open(logPath)
	if err != nil {
		return fallback
	}
	defer f.Close()
	var last error
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && (entry.Level == "error" || entry.Level == "fatal") {
			err := classifyRuntimeError(entry.Msg)
			if runtimeExitCode(err) != 125 {
				// The cause (crun may log "read FD: connection closed"
				// after it, when the terminal's end goes too).
				return err
			}
			last = err
		}
	}
	if last == nil {
		return fallback
	}
	return last
}

// classifyRuntimeError maps one error message of the runtime to the
// errors of docker's exit codes.
func classifyRuntimeError(last string) error {
	msg := last
	if i := strings.Index(msg, "exec: "); i >= 0 {
		msg = msg[i:]
	}
	// runc: "exec: \"x\": executable file not found in $PATH"; crun:
	// "executable file `x` not found in $PATH: No such file or directory".
	lower := strings.ToLower(last)
	switch {
	case strings.Contains(lower, "executable file") && strings.Contains(lower, "not found") ||
		strings.Contains(lower, "exec: ") && strings.Contains(lower, "no such file or directory"):
		return fmt.Errorf("%w: %s", ErrCommandNotFound, msg)
	case strings.Contains(lower, "permission denied") || strings.Contains(lower, "is a directory") || strings.Contains(lower, "exec format error") ||
		strings.Contains(lower, "open executable"): // crun, for a directory: "open executable: Operation not permitted"
		return fmt.Errorf("%w: %s", ErrCannotInvoke, msg)
	// runc: "chdir to cwd (\"/x\") set in config.json failed: no such file
	// or directory"; crun: "chdir `/x`: No such file or directory".
	case strings.Contains(lower, "chdir") && strings.Contains(lower, "no such file or directory"):
		if i := strings.Index(lower, "chdir"); i >= 0 {
			msg = last[i:]
		}
		return fmt.Errorf("%w: %s", ErrNoWorkdir, msg)
	}
	return fmt.Errorf("the OCI runtime failed: %s", last)
}

// runtimeExitCode is docker's exit status for an error of the runtime:
// 127 when the command or its working directory is not found, 126 when
// the command cannot be invoked, 125 otherwise.
func runtimeExitCode(err error) int {
	switch {
	case errors.Is(err, ErrCommandNotFound), errors.Is(err, ErrNoWorkdir):
		return 127
	case errors.Is(err, ErrCannotInvoke):
		return 126
	}
	return 125
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
