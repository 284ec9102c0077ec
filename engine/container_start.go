package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/engine/spec"

	"github.com/skiff-project/skiff/engine/config"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/ioutils"
	"golang.org/x/sys/unix"
)

// ErrNotRunning and ErrRunning are state errors of lifecycle verbs.
var (
	ErrNotRunning = errors.New("container is not running")
	ErrIsRunning  = errors.New("container is running")
)

// prepare mounts the root filesystem and writes the bundle: config.json and
// the files bind-mounted into the container. console, when set, is the size
// of the terminal the container's pty starts with (runc sizes it before the
// process runs; a resize after start would race with the process).
// notifySocket, with --sdnotify=container, is bound into the container as
// its NOTIFY_SOCKET.
func (e *Engine) prepare(ctx context.Context, rec *config.ContainerRecord, runtime string, console *specs.Box, notifySocket string) (bundle string, err error) {
	defer phase("prepare (mount, config.json)", time.Now())
	rootfs, err := e.store.MountContainer(rec.ID)
	if err != nil {
		return "", fmt.Errorf("mounting the root filesystem: %w", err)
	}
	defer func() {
		if err != nil {
			_ = e.store.UnmountContainer(rec.ID, true)
		}
	}()
	bundle = e.bundleDir(rec)
	filesDir := e.filesDir(rec)
	if len(rec.Config.Security.UIDMap) > 0 {
		if err := e.nestedBundle(bundle, rec.Config.Security); err != nil {
			return "", err
		}
	}
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return "", err
	}
	for _, f := range []string{"runtime.log"} {
		_ = os.Remove(filepath.Join(bundle, f))
	}
	_ = os.Remove(e.exitPath(rec.ID))
	_ = os.Remove(e.pidPath(rec.ID))
	c := rec.Config
	if err := e.writeEtcFiles(rec); err != nil {
		return "", err
	}
	var mounts []specs.Mount
	for _, name := range etcFilesOf(c) {
		mounts = append(mounts, specs.Mount{Destination: "/etc/" + name, Type: "bind", Source: filepath.Join(filesDir, name), Options: []string{"rbind", "rprivate"}})
	}
	u, err := resolveUser(rootfs, c)
	if err != nil {
		return "", err
	}
	userMounts, err := e.specMounts(rec, rootfs, u.Uid, u.Gid)
	if err != nil {
		return "", err
	}
	mounts = append(mounts, userMounts...)
	env := c.Env
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+u.Home)
	}
	if !hasEnv(env, "PATH") {
		env = append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
	}
	// docker's and podman's: the container's hostname as HOSTNAME.
	if c.Hostname != "" && !hasEnv(env, "HOSTNAME") {
		env = append(env, "HOSTNAME="+c.Hostname)
	}
	if c.Tty && !hasEnv(env, "TERM") {
		env = append(env, "TERM=xterm")
	}
	if (c.SdNotify == "" || c.SdNotify == config.SdNotifyContainer) && strings.HasPrefix(notifySocket, "/") {
		const inside = "/run/notify/notify.sock"
		mounts = append(mounts, specs.Mount{Destination: inside, Type: "bind", Source: notifySocket, Options: []string{"bind"}})
		env = mergeEnv(env, []string{"NOTIFY_SOCKET=" + inside})
	}
	opts := spec.Options{
		Rootfs: rootfs, Args: append(append([]string{}, c.Entrypoint...), c.Cmd...), Env: env,
		Cwd: c.WorkingDir, UID: uint32(u.Uid), GID: uint32(u.Gid), Hostname: c.Hostname,
		Terminal: c.Tty, ConsoleSize: console, Mounts: mounts, ReadOnly: c.ReadOnly,
	}
	for _, g := range u.Sgids {
		opts.AdditionalGids = append(opts.AdditionalGids, uint32(g))
	}
	t := time.Now()
	rs, err := spec.New(opts)
	phase("spec", t)
	if err != nil {
		return "", err
	}
	if err := spec.Apply(rs, &c); err != nil {
		return "", err
	}
	if err := e.setupNetwork(rec, rs); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			e.teardownNetwork(rec)
		}
	}()
	return bundle, oci.WriteBundle(ctx, runtime, e.seccompDir(), bundle, rootfs, rs)
}

func hasEnv(env []string, key string) bool {
	for _, kv := range env {
		if config.EnvKey(kv) == key {
			return true
		}
	}
	return false
}

// StartOptions control how a container starts.
type StartOptions struct {
	// Attach runs the container in the foreground with the caller's stdio
	// (run without -d, start -a); its exit code is returned.
	Attach bool
	// Interactive passes Stdin to the container (start -i); run -i keeps
	// it open through the container's own configuration.
	Interactive bool
	Stdin       io.Reader
	Stdout      io.Writer
	Stderr      io.Writer
	// DetachKeys, read from Stdin of an attached -t container, end the
	// attach and leave the container running (ParseDetachKeys).
	DetachKeys []byte
	// Resize has the caller's window size each time it changes: an
	// attached -t container's terminal follows it.
	Resize <-chan TerminalSize
	// Signals, for an attached container without a terminal, are passed on
	// to it (the caller's SIGINT, SIGTERM, SIGHUP and SIGQUIT, as docker's
	// run proxies them).
	Signals <-chan os.Signal
	// NotifySocket is systemd's NOTIFY_SOCKET for a unit of Type=notify:
	// told the service's main pid (the monitor's) and, with
	// --sdnotify=conmon, READY=1 once the container started.
	NotifySocket string
}

// Start starts a created or exited container under a monitor process of
// its own. Attached, Start returns the container's exit code once it ends.
func (e *Engine) Start(ctx context.Context, nameOrID string, o StartOptions) (int, error) {
	defer phase("start", time.Now())
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return 0, err
	}
	lock, err := e.state.Lock(rec.ID)
	if err != nil {
		return 0, err
	}
	rec, err = e.state.Lookup(ctx, rec.ID)
	if err != nil {
		lock.Unlock()
		return 0, err
	}
	if e.observedState(rec) == config.StateRunning {
		lock.Unlock()
		return 0, fmt.Errorf("%w: %s", ErrIsRunning, rec.Name)
	}
	runtime, err := e.runtimeOf(rec)
	if err != nil {
		lock.Unlock()
		return 0, err
	}
	// A start that was killed half way may have left runtime state behind.
	e.deleteRuntimeState(ctx, rec)
	var console *specs.Box
	if o.Attach && rec.Config.Tty {
		console = terminalSize(o.Stdin)
	}
	if o.Attach && !rec.Config.Tty {
		return e.runAttached(ctx, rec, runtime, lock, o)
	}
	// An attached -t container is a detached one attached to from its
	// first output: its monitor owns its terminal, so that the detach
	// keys can leave it running and a resize reaches it.
	var log *os.File
	if o.Attach {
		if log, err = os.OpenFile(e.LogPath(rec.ID), os.O_RDONLY|os.O_CREATE, 0o600); err != nil {
			lock.Unlock()
			return 0, err
		}
	}
	from := logSize(e.LogPath(rec.ID))
	// ctx's end ends an attach, never a start half way.
	err = e.startMonitored(context.WithoutCancel(ctx), rec, runtime, console, o.NotifySocket)
	lock.Unlock()
	if err != nil {
		if log != nil {
			log.Close()
		}
		return 0, err
	}
	if err := sdNotify(o.NotifySocket, rec.Config.SdNotify, rec.MonitorPid); err != nil {
		// The container runs: systemd not listening is worth a warning,
		// not a failed start.
		slog.Warn("systemd was not told", "container", rec.Name, "err", err)
	}
	if !o.Attach {
		return 0, nil
	}
	a := AttachOptions{DetachKeys: o.DetachKeys, Resize: o.Resize, from: from, log: log}
	if o.Stdin != nil && rec.Config.OpenStdin { // a monitor keeps input for -i containers only
		a.Stdin = o.Stdin
	}
	return e.attach(ctx, rec, a, func(en monitor.LogEntry) {
		text := en.Text
		if en.Full {
			text += "\n"
		}
		_, _ = io.WriteString(o.Stdout, text)
	})
}

// sdNotify tells systemd, at socket, the service's main process and, in
// conmon mode, that it is ready.
func sdNotify(socket, mode string, mainPid int) error {
	if socket == "" || mode == config.SdNotifyIgnore {
		return nil
	}
	msg := fmt.Sprintf("MAINPID=%d\n", mainPid)
	if mode == config.SdNotifyConmon {
		msg += "READY=1\n"
	}
	addr := &net.UnixAddr{Name: socket, Net: "unixgram"}
	if strings.HasPrefix(socket, "@") {
		addr.Name = "\x00" + socket[1:]
	}
	c, err := net.DialUnix("unixgram", nil, addr)
	if err != nil {
		return fmt.Errorf("notifying systemd at %s: %w", socket, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(msg)); err != nil {
		return fmt.Errorf("notifying systemd at %s: %w", socket, err)
	}
	return nil
}

// terminalSize is the window size of r when it is a terminal, else nil.
func terminalSize(r io.Reader) *specs.Box {
	f, ok := r.(*os.File)
	if !ok {
		return nil
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil || ws.Row == 0 || ws.Col == 0 {
		return nil
	}
	return &specs.Box{Height: uint(ws.Row), Width: uint(ws.Col)}
}

// abortStart undoes a start that failed before the container ran.
func (e *Engine) abortStart(rec *config.ContainerRecord, cause error) error {
	e.teardownNetwork(rec)
	oci.RemoveBundle(e.bundleDir(rec))
	_ = e.store.UnmountContainer(rec.ID, true)
	rec.State, rec.Pid = config.StateExited, 0
	if code := oci.ExitCode(cause); code != 125 {
		rec.ExitCode = code
	}
	_ = e.state.Update(context.Background(), rec)
	if rec.Config.AutoRemove {
		_ = e.removeContainer(context.Background(), rec, true)
	}
	return cause
}

// writeFileAtomic replaces path with data in one step, without fsync:
// readers see the old file or the new one, never a part, whatever the
// writers running at once (each writes its own temporary file).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return ioutils.AtomicWriteFileWithOpts(path, data, perm, &ioutils.AtomicFileWriterOptions{NoSync: true})
}
