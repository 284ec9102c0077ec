package engine

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/engine/spec"
	"github.com/skiff-project/skiff/engine/state"

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
	oci.FitConfig(ctx, runtime, e.seccompDir(), rs)
	if err := e.setupNetwork(rec, rs); err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			e.teardownNetwork(rec)
		}
	}()
	// The bundle layout the rs asks for: the root filesystem at
	// bundle/rootfs, a bind mount of the mounted layer.
	if err := oci.BindRootfs(rootfs, filepath.Join(bundle, "rootfs")); err != nil {
		return "", err
	}
	rs.Root.Path = "rootfs"
	data, err := json.Marshal(rs)
	if err != nil {
		return "", err
	}
	return bundle, os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600)
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
	// NotifySocket is systemd's NOTIFY_SOCKET for a unit of Type=notify:
	// told the service's main pid (the monitor's, or this process's when
	// attached) and, with --sdnotify=conmon, READY=1 once the container
	// started.
	NotifySocket string
}

// Start starts a created or exited container. Detached, a monitor process
// owns it; attached, this process does, and Start returns the container's
// exit code once it ends.
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
		bundle, err := e.prepare(ctx, rec, runtime, console, o.NotifySocket)
		if err != nil {
			lock.Unlock()
			return 0, err
		}
		return e.runAttached(ctx, rec, runtime, bundle, lock, o)
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

// etcFiles are the files of /etc skiff writes for a container.
var etcFiles = []string{"hostname", "hosts", "resolv.conf"}

// etcFilesOf are the etcFiles skiff writes for container c: all but
// resolv.conf with --dns none, which keeps the image's.
func etcFilesOf(c config.ContainerConfig) []string {
	if ownResolvConf(c) {
		return slices.DeleteFunc(slices.Clone(etcFiles), func(name string) bool { return name == "resolv.conf" })
	}
	return etcFiles
}

// filesDir holds the container's etcFiles: with a user namespace of its
// own, the bundle, which the container's root can reach.
func (e *Engine) filesDir(rec *config.ContainerRecord) string {
	if len(rec.Config.Security.UIDMap) > 0 {
		return e.bundleDir(rec)
	}
	return e.containerDir(rec.ID)
}

// writeEtcFiles writes the container's hostname, hosts and resolv.conf;
// in place, so that a running container sees them change (network
// connect and disconnect).
func (e *Engine) writeEtcFiles(rec *config.ContainerRecord) error {
	c := rec.Config
	content := map[string]string{
		"hostname":    c.Hostname + "\n",
		"hosts":       hostsFile(c, rec.Name),
		"resolv.conf": resolvConf(c, e.networkDNS(context.Background(), c)),
	}
	for _, name := range etcFilesOf(c) {
		if err := os.WriteFile(filepath.Join(e.filesDir(rec), name), []byte(content[name]), 0o644); err != nil {
			return err
		}
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

// gatedMonitor is a container's monitor that waits at its gate for the
// start to be recorded (see monitor.c).
type gatedMonitor struct {
	cmd          *exec.Cmd
	gate, report *os.File // our ends: "go" goes in, the report comes out
	done         chan struct{}
}

// startMonitored starts the container under a monitor of its own. The
// monitor comes first: from then on, whatever becomes of this process, it
// undoes what prepare makes or runs the container.
func (e *Engine) startMonitored(ctx context.Context, rec *config.ContainerRecord, runtime string, console *specs.Box, notifySocket string) error {
	mon, err := e.spawnMonitor(rec)
	if err != nil {
		return err
	}
	bundle, err := e.prepare(ctx, rec, runtime, console, notifySocket)
	if err != nil {
		mon.abandon()
		return err
	}
	return e.startDetached(ctx, rec, runtime, bundle, mon)
}

// spawnMonitor starts the container's monitor, waiting at its gate. It
// reads its configuration, in the bundle, only once past the gate.
func (e *Engine) spawnMonitor(rec *config.ContainerRecord) (*gatedMonitor, error) {
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		reportR.Close()
		reportW.Close()
		return nil, err
	}
	mon := exec.Command("/proc/self/exe")
	mon.Args = []string{"skiff-monitor", rec.ID}
	mon.Env = append(e.StoreEnv(), "_SKIFF_MONITOR="+filepath.Join(e.bundleDir(rec), "monitor.conf"),
		"_SKIFF_MONITOR_GATE=4:"+rec.ID, "_SKIFF_USERNS=1")
	mon.ExtraFiles = []*os.File{reportW, gateR} // 3 and 4
	mon.Dir = "/"
	err = mon.Start()
	reportW.Close()
	gateR.Close()
	if err != nil {
		reportR.Close()
		gateW.Close()
		return nil, fmt.Errorf("starting the monitor: %w", err)
	}
	m := &gatedMonitor{cmd: mon, gate: gateW, report: reportR, done: make(chan struct{})}
	go func() { _ = mon.Wait(); close(m.done) }() // it outlives this command; no zombie meanwhile
	return m, nil
}

// abandon ends a monitor that was never let through its gate: there is
// nothing of the container for it to look after or undo.
func (m *gatedMonitor) abandon() {
	_ = m.cmd.Process.Kill()
	m.gate.Close()
	m.report.Close()
	<-m.done
}

// startDetached records the container as running under its monitor, lets
// the monitor through its gate, and waits for its report: the monitor
// creates and starts the container itself. The record comes before the
// "go", so a SIGKILL of this process in any window leaves state that says
// what runs: before the record the monitor cleans up, after it the monitor
// runs the container it is recorded with.
func (e *Engine) startDetached(ctx context.Context, rec *config.ContainerRecord, runtime, bundle string, mon *gatedMonitor) error {
	if _, err := e.monitorConf(rec, runtime, bundle, "sync=3\n"); err != nil {
		mon.abandon()
		return e.abortStart(rec, err)
	}
	monPid := mon.cmd.Process.Pid
	// FinishedAt stays the last run's until this one ends, as docker's: a
	// start that never got to run (its monitor ended at the gate) is
	// recorded created again, or exited (Cleanup).
	rec.State, rec.Pid, rec.StartedAt, rec.MonitorPid, rec.ExitCode = config.StateRunning, 0, time.Now(), monPid, 0
	err := e.state.SetUserStopped(ctx, rec.ID, false)
	if err == nil {
		err = e.state.Update(ctx, rec)
	}
	if err != nil {
		mon.abandon()
		return e.abortStart(rec, err)
	}
	// For systemd units of Type=forking (generate systemd without --new).
	_ = os.WriteFile(e.MonitorPidPath(rec.ID), []byte(strconv.Itoa(monPid)), 0o644)
	_, _ = mon.gate.Write([]byte("go\n"))
	mon.gate.Close()
	reply, _ := io.ReadAll(bufio.NewReader(mon.report))
	mon.report.Close()
	line := strings.TrimSpace(string(reply))
	if !strings.HasPrefix(line, "ok ") {
		err := oci.LogError(filepath.Join(bundle, "runtime.log"), fmt.Errorf("the monitor failed: %s", strings.TrimPrefix(line, "err ")))
		e.deleteRuntimeState(ctx, rec)
		return e.abortStart(rec, err)
	}
	// The database keeps pid 0, which stands for the runtime's pid file
	// (containerPid), as after a restart: one write per start.
	rec.Pid, _ = strconv.Atoi(strings.TrimPrefix(line, "ok "))
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
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

// runAttached runs the container in the foreground: this process owns its
// stdio, copies its output to the log as the monitor would, passes on
// signals, and cleans up when it ends.
func (e *Engine) runAttached(ctx context.Context, rec *config.ContainerRecord, runtime, bundle string, lock *state.ContainerLock, o StartOptions) (int, error) {
	cmd := e.runtimeCmd(context.Background(), runtime, "--log", filepath.Join(bundle, "runtime.log"), "--log-format", "json",
		"run", "--bundle", bundle, "--pid-file", e.pidPath(rec.ID), rec.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if o.Stdin != nil && (rec.Config.OpenStdin || rec.Config.Tty || o.Interactive) {
		cmd.Stdin = o.Stdin
	}
	var logW *monitor.LogWriter
	var gate *oci.StartGate
	if rec.Config.Tty {
		gate = oci.NewStartGate(o.Stderr, e.pidPath(rec.ID))
		cmd.Stdout, cmd.Stderr = o.Stdout, gate
	} else {
		var err error
		if logW, err = monitor.OpenLog(e.LogPath(rec.ID)); err != nil {
			lock.Unlock()
			return 0, err
		}
		defer logW.Close()
		gate = oci.NewStartGate(logW.Stream("stderr", o.Stderr), e.pidPath(rec.ID))
		cmd.Stdout, cmd.Stderr = logW.Stream("stdout", o.Stdout), gate
	}
	t := time.Now()
	if err := cmd.Start(); err != nil {
		gate.Finish(false)
		lock.Unlock()
		return 0, e.abortStart(rec, err)
	}
	defer phase("runtime run", t)
	rec.State, rec.StartedAt, rec.MonitorPid, rec.ExitCode = config.StateRunning, time.Now(), os.Getpid(), 0
	rec.FinishedAt = time.Time{}
	_ = e.state.Update(ctx, rec)
	lock.Unlock()
	if err := sdNotify(o.NotifySocket, rec.Config.SdNotify, os.Getpid()); err != nil {
		slog.Warn("systemd was not told", "container", rec.Name, "err", err)
	}
	if !rec.Config.AutoRemove {
		// Kept with the record too; a --rm container lives for this run
		// only, and its pid file (containerPid) serves meanwhile.
		go e.recordPid(rec, e.pidPath(rec.ID), cmd.Process)
	}

	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	go func() {
		for s := range sigs {
			_ = cmd.Process.Signal(s)
		}
	}()
	err := cmd.Wait()
	signal.Stop(sigs)
	close(sigs)
	code := 0
	if err != nil {
		var exitErr *exec.ExitError
		if !errors.As(err, &exitErr) {
			gate.Finish(false)
			return 0, err
		}
		code = exitErr.ExitCode()
		if ws, ok := exitErr.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
	}
	var runErr error
	if code != 0 {
		if rerr := oci.LogError(filepath.Join(bundle, "runtime.log"), nil); rerr != nil {
			runErr = rerr
			code = oci.ExitCode(rerr)
		}
	}
	gate.Finish(runErr != nil)
	if logW != nil {
		logW.Exit(code)
		logW.Close()
	}
	monitor.WriteExitFile(e.exitPath(rec.ID), code)
	if err := e.Cleanup(context.Background(), rec.ID); err != nil && runErr == nil {
		runErr = err
	}
	return code, runErr
}

// recordPid stores the container's pid once the runtime has written it.
func (e *Engine) recordPid(rec *config.ContainerRecord, pidfile string, runtime *os.Process) {
	for i := 0; i < 200; i++ {
		if data, err := os.ReadFile(pidfile); err == nil && len(data) > 0 {
			if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil {
				lock, err := e.state.Lock(rec.ID)
				if err != nil {
					return
				}
				if cur, err := e.state.Lookup(context.Background(), rec.ID); err == nil && cur.State == config.StateRunning && cur.Pid == 0 {
					cur.Pid = pid
					_ = e.state.Update(context.Background(), cur)
				}
				lock.Unlock()
			}
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// writeFileAtomic replaces path with data in one step, without fsync:
// readers see the old file or the new one, never a part, whatever the
// writers running at once (each writes its own temporary file).
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	return ioutils.AtomicWriteFileWithOpts(path, data, perm, &ioutils.AtomicFileWriterOptions{NoSync: true})
}
