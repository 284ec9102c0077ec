package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

// ExecOptions describe a process to run in a running container.
type ExecOptions struct {
	Cmd         []string
	Interactive bool
	Tty         bool
	Detach      bool
	Env         []string
	User        string
	WorkingDir  string
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
}

// Exec runs a process in a running container and returns its exit code.
func (e *Engine) Exec(ctx context.Context, nameOrID string, o ExecOptions) (int, error) {
	if len(o.Cmd) == 0 {
		return 0, fmt.Errorf("%w: exec needs a command", ErrBadOption)
	}
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return 0, err
	}
	if e.observedState(rec) != StateRunning {
		return 0, fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
	}
	runtime, err := e.Runtime(rec.Config.Runtime)
	if err != nil {
		return 0, err
	}
	logPath := filepath.Join(os.TempDir(), fmt.Sprintf("skiff-exec-%d.log", os.Getpid()))
	defer os.Remove(logPath)
	args := []string{"--log", logPath, "--log-format", "json", "exec"}
	if o.Tty {
		args = append(args, "--tty")
	}
	if o.Detach {
		args = append(args, "--detach")
	}
	for _, kv := range mergeEnv(nil, o.Env) {
		args = append(args, "--env", kv)
	}
	if o.User != "" {
		args = append(args, "--user", o.User)
	}
	if o.WorkingDir != "" {
		args = append(args, "--cwd", o.WorkingDir)
	}
	args = append(args, rec.ID)
	args = append(args, o.Cmd...)
	cmd := e.runtimeCmd(context.Background(), runtime, args...)
	if o.Interactive || o.Tty {
		cmd.Stdin = o.Stdin
	}
	cmd.Stdout, cmd.Stderr = o.Stdout, o.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	if err == nil {
		return 0, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		return 0, err
	}
	if rerr := runtimeError(logPath, nil); rerr != nil {
		return 0, rerr
	}
	return exitErr.ExitCode(), nil
}
