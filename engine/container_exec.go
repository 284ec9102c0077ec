package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
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
	runtime, err := e.runtimeOf(rec)
	if err != nil {
		return 0, err
	}
	// The runtime's log goes with the container's bundle, which no other
	// user can reach (not /tmp, where it would be world-readable).
	logPath := filepath.Join(e.bundleDir(rec), fmt.Sprintf("exec-%d.log", os.Getpid()))
	defer os.Remove(logPath)
	var console *specs.Box
	if o.Tty {
		console = terminalSize(o.Stdin)
	}
	procPath, err := e.execProcess(rec, o, console)
	if err != nil {
		return 0, err
	}
	defer os.Remove(procPath)
	pidPath := filepath.Join(os.TempDir(), fmt.Sprintf("skiff-exec-%d.pid", os.Getpid()))
	defer os.Remove(pidPath)
	args := []string{"--log", logPath, "--log-format", "json", "exec", "--process", procPath, "--pid-file", pidPath}
	if o.Detach {
		args = append(args, "--detach")
	}
	args = append(args, rec.ID)
	args = append(args, o.Cmd...)
	cmd := e.runtimeCmd(context.Background(), runtime, args...)
	if o.Interactive || o.Tty {
		cmd.Stdin = o.Stdin
	}
	// The runtime's own complaint is held back: the error carries it. A
	// detached process keeps the runtime's standard error, so it gets a
	// file rather than a pipe that would keep this command waiting; an
	// attached one's children that outlive it get a moment to finish
	// writing, as with docker.
	var gate *startGate
	var errFile *os.File
	if o.Detach {
		if errFile, err = os.CreateTemp("", "skiff-exec-*.err"); err != nil {
			return 0, err
		}
		_ = os.Remove(errFile.Name())
		defer errFile.Close()
		gate = newStartGate(o.Stderr, pidPath)
		cmd.Stdout, cmd.Stderr = o.Stdout, errFile
	} else {
		gate = newStartGate(o.Stderr, pidPath)
		cmd.Stdout, cmd.Stderr = o.Stdout, gate
		cmd.WaitDelay = 200 * time.Millisecond
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	if errFile != nil {
		// What the runtime said before it detached, for the gate to judge.
		if _, serr := errFile.Seek(0, io.SeekStart); serr == nil {
			_, _ = io.Copy(gate, io.LimitReader(errFile, 1<<16))
		}
	}
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	if err == nil {
		gate.finish(false)
		return 0, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		gate.finish(false)
		return 0, err
	}
	if rerr := runtimeError(logPath, nil); rerr != nil {
		gate.finish(true)
		return 0, rerr
	}
	gate.finish(false)
	return exitErr.ExitCode(), nil
}

// execProcess writes the process exec runs: the container's own process
// (capabilities, limits, security labels, environment) with the command,
// environment, user, working directory and terminal of o. A user may be a
// name from the container's /etc/passwd, as with docker.
func (e *Engine) execProcess(rec *ContainerRecord, o ExecOptions, console *specs.Box) (string, error) {
	bundle := e.bundleDir(rec)
	data, err := os.ReadFile(filepath.Join(bundle, "config.json"))
	if err != nil {
		return "", err
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil || spec.Process == nil || spec.Root == nil {
		return "", fmt.Errorf("reading the container's configuration: %v", err)
	}
	p := *spec.Process
	p.Args = o.Cmd
	p.Terminal = o.Tty
	p.ConsoleSize = console
	p.Env = mergeEnv(p.Env, o.Env)
	if o.WorkingDir != "" {
		p.Cwd = o.WorkingDir
	}
	if o.User != "" {
		rootfs := spec.Root.Path
		if !filepath.IsAbs(rootfs) {
			rootfs = filepath.Join(bundle, rootfs)
		}
		u, err := user.GetExecUserPath(o.User, &user.ExecUser{Home: "/"}, filepath.Join(rootfs, "etc/passwd"), filepath.Join(rootfs, "etc/group"))
		if err != nil {
			return "", fmt.Errorf("%w: user %q: %v", ErrBadOption, o.User, err)
		}
		p.User = specs.User{UID: uint32(u.Uid), GID: uint32(u.Gid)}
		for _, g := range u.Sgids {
			p.User.AdditionalGids = append(p.User.AdditionalGids, uint32(g))
		}
		if !hasEnv(o.Env, "HOME") {
			p.Env = mergeEnv(p.Env, []string{"HOME=" + u.Home})
		}
	}
	out, err := json.Marshal(&p)
	if err != nil {
		return "", err
	}
	f, err := os.CreateTemp(bundle, "exec-*.json")
	if err != nil {
		return "", err
	}
	defer f.Close()
	if _, err := f.Write(out); err != nil {
		os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
