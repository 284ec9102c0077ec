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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"
	"go.podman.io/storage/pkg/stringid"

	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
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
	// DetachKeys, read from Stdin of a -it process, end the exec and leave
	// the process running (ParseDetachKeys; empty: none).
	DetachKeys []byte
	// Resize has the caller's window size each time it changes (-t).
	Resize <-chan TerminalSize
}

// Exec runs a process in a running container and returns its exit code.
func (e *Engine) Exec(ctx context.Context, nameOrID string, o ExecOptions) (int, error) {
	if len(o.Cmd) == 0 {
		return 0, fmt.Errorf("%w: exec needs a command", config.ErrBadOption)
	}
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return 0, err
	}
	if e.observedState(rec) != config.StateRunning {
		return 0, fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
	}
	runtime, err := e.runtimeOf(rec)
	if err != nil {
		return 0, err
	}
	// The runtime's log goes with the container's bundle, which no other
	// user can reach (not /tmp, where it would be world-readable).
	tag := stringid.GenerateRandomID()[:16] // several execs may run from one process
	logPath := filepath.Join(e.bundleDir(rec), "exec-"+tag+".log")
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
	if o.Tty {
		return e.execTerminal(ctx, rec, runtime, logPath, procPath, o)
	}
	pidPath := filepath.Join(e.bundleDir(rec), "exec-"+tag+".pid")
	defer os.Remove(pidPath)
	args := []string{"--log", logPath, "--log-format", "json", "exec", "--process", procPath, "--pid-file", pidPath}
	if o.Detach {
		args = append(args, "--detach")
	}
	args = append(args, rec.ID)
	args = append(args, o.Cmd...)
	cmd := e.runtimeCmd(context.Background(), runtime, args...)
	if !o.Detach {
		if o.Interactive {
			cmd.Stdin = o.Stdin
		}
		cmd.Stdout = o.Stdout
	}
	// The runtime's own complaint is held back: the error carries it (from
	// its log). A detached process gets none of the caller's descriptors:
	// /dev/null for all three, or a script's $(...) would wait for it, and
	// its output is discarded, as docker's. An attached one's children
	// that outlive it get a moment to finish writing, as with docker.
	gate := oci.NewStartGate(o.Stderr, pidPath)
	if !o.Detach {
		cmd.Stderr = gate
		cmd.WaitDelay = 200 * time.Millisecond
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	err = cmd.Run()
	if errors.Is(err, exec.ErrWaitDelay) {
		err = nil
	}
	if err == nil {
		gate.Finish(false)
		return 0, nil
	}
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		gate.Finish(false)
		return 0, err
	}
	if rerr := oci.LogError(logPath, nil); rerr != nil {
		gate.Finish(true)
		return 0, rerr
	}
	gate.Finish(false)
	return exitErr.ExitCode(), nil
}

// execProcess writes the process exec runs: the container's own process
// (capabilities, limits, security labels, environment) with the command,
// environment, user, working directory and terminal of o. A user may be a
// name from the container's /etc/passwd, as with docker.
func (e *Engine) execProcess(rec *config.ContainerRecord, o ExecOptions, console *specs.Box) (string, error) {
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
			return "", fmt.Errorf("%w: user %q: %v", config.ErrBadOption, o.User, err)
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

// execTerminal runs an exec -t process: the runtime makes its terminal
// and sends the master here (--console-socket), and this process, a child
// subreaper meanwhile, inherits the process once the runtime's exec
// --detach has exited. It copies the caller's input (until the detach
// keys) and output, and sets each window size the caller has. Detached
// (-d, or by the keys), the terminal goes to a keeper of its own and the
// process runs on. When ctx ends first, so does the exec (the process
// is hung up).
func (e *Engine) execTerminal(ctx context.Context, rec *config.ContainerRecord, runtime, logPath, procPath string, o ExecOptions) (int, error) {
	cs, err := newConsoleSocket()
	if err != nil {
		return 0, err
	}
	defer cs.Close()
	pidFile := procPath + ".pid"
	defer os.Remove(pidFile)
	if !o.Detach {
		if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
			return 0, fmt.Errorf("becoming the reaper of the exec process: %w", err)
		}
	}
	cmd := e.runtimeCmd(context.Background(), runtime, "--log", logPath, "--log-format", "json", "exec", "--detach",
		"--console-socket", cs.path(), "--pid-file", pidFile, "--process", procPath, rec.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, oci.LogError(logPath, fmt.Errorf("%s exec: %v: %s", filepath.Base(runtime), err, strings.TrimSpace(string(out))))
	}
	master, err := cs.receive(2 * time.Second)
	if err != nil {
		return 0, err
	}
	defer master.Close()
	if o.Detach {
		return 0, drainTerminal(master)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return 0, fmt.Errorf("the runtime wrote no pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("the runtime wrote no pid: %q", data)
	}
	var stdin io.Reader
	if o.Interactive {
		stdin = o.Stdin
	}
	closed, detached := copyTerminal(master, stdin, o.Stdout, o.DetachKeys, o.Resize)
	exited := make(chan struct{})
	var code int
	var werr error
	go func() {
		code, werr = waitChild(pid)
		close(exited)
	}()
	select {
	case <-detached:
		if err := drainTerminal(master); err != nil {
			return 0, err
		}
		return 0, ErrDetached
	case <-ctx.Done():
		return 0, ctx.Err() // the process is hung up when the terminal closes
	case <-exited:
	}
	// What it wrote last; a process it left behind may keep the
	// terminal open, so not for long.
	select {
	case <-closed:
	case <-time.After(time.Second):
	}
	return code, werr
}
