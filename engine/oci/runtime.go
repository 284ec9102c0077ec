// Package oci runs the OCI runtime (crun or runc): it finds one that works
// on this host (crun on a hybrid cgroup host only once the unified
// hierarchy's controllers are hidden in skiff's mount namespace), lays out
// bundles, fits a configuration to the runtime (crun's spec version and its
// precompiled seccomp program, cached per profile, runtime and kernel),
// holds back the runtime's stderr until the container's process runs, and
// turns the runtime's log into errors with docker's exit codes (125, 126,
// 127). It knows no container record: the verbs of engine say what to run.
package oci

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiff-project/skiff/rootless"
	"golang.org/x/sys/unix"
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

// HybridCgroups tells whether the host mounts cgroup v1 with a v2 hierarchy
// beside it, which crun refuses.
func HybridCgroups() bool {
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) != nil || st.Type == unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	return unix.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC
}

// DefaultRuntimes are tried in order when neither --runtime nor
// containers.conf names one: crun first, as podman does (a C program, it
// starts a container in a third of runc's time), then runc.
var DefaultRuntimes = []string{"crun", "runc"}

// IsCrun tells whether the runtime at path is crun.
func IsCrun(path string) bool { return filepath.Base(path) == "crun" }

// Find finds the runtime name and makes sure it can run
// containers here.
func Find(name string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%w: %s is not installed (apt-get install %s), or use --runtime runc", ErrRuntimeUnusable, name, filepath.Base(name))
	}
	if IsCrun(path) && HybridCgroups() {
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
	l, err := rootless.UserLayout()
	if err != nil {
		return err
	}
	empty := l.NoControllers()
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

// LogError turns the runtime's JSON log into an error, mapped to the
// docker exit codes: 127 for a missing command, 126 for one that cannot
// run, 125 for the rest.
func LogError(logPath string, fallback error) error {
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
			if ExitCode(err) != 125 {
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

// ExitCode is docker's exit status for an error of the runtime:
// 127 when the command or its working directory is not found, 126 when
// the command cannot be invoked, 125 otherwise.
func ExitCode(err error) int {
	switch {
	case errors.Is(err, ErrCommandNotFound), errors.Is(err, ErrNoWorkdir):
		return 127
	case errors.Is(err, ErrCannotInvoke):
		return 126
	}
	return 125
}

// InitProcess reads the pid of a container's init from the runtime's state
// directory (crun's status, runc's state.json), and when it was created
// (the state's file time: the init existed by then, a reused pid did not).
func InitProcess(stateDir string) (pid int, created time.Time, ok bool) {
	for _, f := range []struct{ name, key string }{{"status", "pid"}, {"state.json", "init_process_pid"}} {
		path := filepath.Join(stateDir, f.name)
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var st map[string]json.RawMessage
		if json.Unmarshal(data, &st) != nil {
			return 0, time.Time{}, false
		}
		if json.Unmarshal(st[f.key], &pid) != nil || pid <= 0 {
			return 0, time.Time{}, false
		}
		info, err := os.Stat(path)
		if err != nil {
			return 0, time.Time{}, false
		}
		return pid, info.ModTime(), true
	}
	return 0, time.Time{}, false
}
