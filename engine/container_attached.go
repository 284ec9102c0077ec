package engine

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/engine/state"
)

// runAttached runs the container in the foreground: this process owns its
// stdio, copies its output to the log as the monitor would, passes on the
// signals the caller gives, and cleans up when it ends.
func (e *Engine) runAttached(ctx context.Context, rec *config.ContainerRecord, runtime, bundle string, lock *state.ContainerLock, o StartOptions) (int, error) {
	ro := oci.RunOptions{Runtime: runtime, Root: e.runtimeRoot(), ID: rec.ID, Bundle: bundle, PidFile: e.pidPath(rec.ID), Signals: o.Signals}
	if o.Stdin != nil && (rec.Config.OpenStdin || rec.Config.Tty || o.Interactive) {
		ro.Stdin = o.Stdin
	}
	var logW *monitor.LogWriter
	if rec.Config.Tty {
		ro.Stdout, ro.Stderr = o.Stdout, o.Stderr
	} else {
		var err error
		if logW, err = monitor.OpenLog(e.LogPath(rec.ID)); err != nil {
			lock.Unlock()
			return 0, err
		}
		defer logW.Close()
		ro.Stdout, ro.Stderr = logW.Stream("stdout", o.Stdout), logW.Stream("stderr", o.Stderr)
	}
	started := false
	ro.Started = func() {
		started = true
		rec.State, rec.StartedAt, rec.MonitorPid, rec.ExitCode = config.StateRunning, time.Now(), o.CallerPid, 0
		rec.FinishedAt = time.Time{}
		_ = e.state.Update(ctx, rec)
		lock.Unlock()
		if err := sdNotify(o.NotifySocket, rec.Config.SdNotify, o.CallerPid); err != nil {
			slog.Warn("systemd was not told", "container", rec.Name, "err", err)
		}
		if !rec.Config.AutoRemove {
			// Kept with the record too; a --rm container lives for this
			// run only, and its pid file (containerPid) serves meanwhile.
			go e.recordPid(rec, e.pidPath(rec.ID))
		}
	}
	defer phase("runtime run", time.Now())
	code, err := oci.Run(ctx, ro)
	if !started {
		lock.Unlock()
		return 0, e.abortStart(rec, err)
	}
	if logW != nil {
		logW.Exit(code)
		logW.Close()
	}
	monitor.WriteExitFile(e.exitPath(rec.ID), code)
	if cerr := e.cleanup(context.Background(), rec.ID, o.CallerPid); cerr != nil && err == nil {
		err = cerr
	}
	return code, err
}

// recordPid stores the container's pid once the runtime has written it.
func (e *Engine) recordPid(rec *config.ContainerRecord, pidfile string) {
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
