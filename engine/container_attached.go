package engine

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/engine/state"
)

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
