package engine

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"

	"github.com/BurntSushi/toml"
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
)

// containersConf is what skiff takes from containers.conf, read once per
// process: [engine] runtime, and [network] default_rootless_network_cmd and
// pasta_options.
// Later files override earlier ones; CONTAINERS_CONF replaces them all.
var containersConf = sync.OnceValue(func() (c struct {
	runtime, networkCmd string
	pastaOptions        []string
}) {
	type file struct {
		path string
		user bool
	}
	files := []file{{"/usr/share/containers/containers.conf", false}, {"/etc/containers/containers.conf", false}}
	if cfg, err := rootless.ConfigHome(); err == nil {
		files = append(files, file{filepath.Join(cfg, "containers", "containers.conf"), true})
	}
	if p := os.Getenv("CONTAINERS_CONF"); p != "" {
		files = []file{{p, false}}
	}
	for _, f := range files {
		var conf struct {
			Engine struct {
				Runtime string `toml:"runtime"`
			} `toml:"engine"`
			Network struct {
				Cmd          string   `toml:"default_rootless_network_cmd"`
				PastaOptions []string `toml:"pasta_options"`
			} `toml:"network"`
		}
		if _, err := toml.DecodeFile(f.path, &conf); err != nil {
			continue
		}
		// The user's own file names the runtime only for a rootless user.
		if conf.Engine.Runtime != "" && (!f.user || rootless.IsRootless()) {
			c.runtime = conf.Engine.Runtime
		}
		if conf.Network.Cmd != "" {
			c.networkCmd = conf.Network.Cmd
		}
		if conf.Network.PastaOptions != nil {
			c.pastaOptions = conf.Network.PastaOptions
		}
	}
	return c
})

// hybridCgroups tells whether the host mounts cgroup v1 with a v2 hierarchy
// beside it, which crun refuses.
func hybridCgroups() bool {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	return unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// Runtime resolves the OCI runtime to use: --runtime, else containers.conf,
// else runc. It says why when the one chosen cannot work on this host.
func (e *Engine) Runtime(name string) (string, error) {
	if name == "" {
		name = e.runtimeName
	}
	if name == "" {
		name = containersConf().runtime
	}
	if name == "" {
		name = "runc"
	}
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed (apt-get install %s), or use --runtime runc", ErrRuntimeUnusable, name, filepath.Base(name))
	}
	if filepath.Base(path) == "crun" && hybridCgroups() {
		return "", fmt.Errorf("%w: crun cannot run containers on this host: cgroups in hybrid mode are not supported (cgroup v1 with a unified hierarchy); use --runtime runc", ErrRuntimeUnusable)
	}
	return path, nil
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
	var last string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var entry struct {
			Level string `json:"level"`
			Msg   string `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) == nil && (entry.Level == "error" || entry.Level == "fatal") {
			last = entry.Msg
		}
	}
	if last == "" {
		return fallback
	}
	msg := last
	if i := strings.Index(msg, "exec: "); i >= 0 {
		msg = msg[i:]
	}
	switch {
	case strings.Contains(last, "executable file not found") || strings.Contains(last, "no such file or directory"):
		return fmt.Errorf("%w: %s", ErrCommandNotFound, msg)
	case strings.Contains(last, "permission denied") || strings.Contains(last, "is a directory") || strings.Contains(last, "exec format error"):
		return fmt.Errorf("%w: %s", ErrCannotInvoke, msg)
	}
	return fmt.Errorf("the OCI runtime failed: %s", last)
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
