package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"

	"github.com/skiff-project/skiff/rootless"
)

// restartDelay is the back-off before restart n (1, 2, ...): 100 ms,
// doubling, at most a minute; a container that ran 10 s starts over.
func restartDelay(n int, ran time.Duration) time.Duration {
	if ran >= 10*time.Second || n < 1 {
		return 100 * time.Millisecond
	}
	if n > 10 {
		n = 10
	}
	d := 100 * time.Millisecond << (n - 1)
	return min(d, time.Minute)
}

// shouldRestart applies the policy to a container that ended with code.
func shouldRestart(rec *config.ContainerRecord, code int) bool {
	if rec.UserStopped || rec.Config.AutoRemove {
		return false
	}
	switch p := rec.Config.Restart; p.Name {
	case config.RestartAlways, config.RestartUnlessStopped:
		return true
	case config.RestartOnFailure:
		return code != 0 && (p.MaximumRetryCount == 0 || rec.RestartCount < p.MaximumRetryCount)
	}
	return false
}

// MonitorCleanup is what a monitor becomes when its container has ended,
// in the monitor's own process, pid: the restart policy decides between
// cleaning up and a restart, which this process makes by becoming the
// container's next monitor (it keeps the PID the state records; the
// back-off is waited there, in C). Cleaning up ends the process's record
// as a holder of the user's namespace.
func (e *Engine) MonitorCleanup(ctx context.Context, id string, pid int) error {
	defer rootless.UnregisterHolder(pid)
	rec, err := e.state.Lookup(ctx, id)
	if err != nil || rec.Config.Restart.Name == "" || rec.Config.Restart.Name == config.RestartNo {
		return e.cleanup(ctx, id, pid)
	}
	lock, err := e.state.Lock(id)
	if err != nil {
		return err
	}
	if rec, err = e.state.Lookup(ctx, id); err != nil {
		lock.Unlock()
		return e.cleanup(ctx, id, pid)
	}
	code, at := e.observedExit(rec)
	// Only the container's own monitor restarts it, and only once it ran:
	// a monitor that ended at its gate hands over to Cleanup.
	if rec.State != config.StateRunning || rec.MonitorPid != pid || e.neverStarted(id) || !shouldRestart(rec, code) {
		lock.Unlock()
		return e.cleanup(ctx, id, pid)
	}
	e.deleteRuntimeState(ctx, rec)
	e.teardownNetwork(rec)
	oci.RemoveBundle(e.bundleDir(rec))
	_ = e.store.UnmountContainer(rec.ID, true)
	if at.IsZero() {
		at = time.Now()
	}
	ran := at.Sub(rec.StartedAt)
	rec.RestartCount++
	rec.ExitCode, rec.FinishedAt, rec.Pid, rec.MonitorPid, rec.StartedAt = code, at, 0, pid, time.Now()
	runtime, err := e.runtimeOf(rec)
	bundle := ""
	if err == nil {
		bundle, err = e.prepare(ctx, rec, runtime, nil, "")
	}
	if err == nil {
		err = e.state.Update(ctx, rec)
	}
	if err != nil {
		lock.Unlock()
		_ = e.cleanup(ctx, id, pid)
		return fmt.Errorf("restarting %s: %w", rec.Name, err)
	}
	conf, err := e.monitorConf(rec, runtime, bundle)
	if err == nil {
		conf.Start, conf.Delay = true, restartDelay(rec.RestartCount, ran)
		err = conf.Write(filepath.Join(bundle, monitor.ConfFile))
	}
	if err != nil {
		lock.Unlock()
		return err
	}
	lock.Unlock() // also closed by the exec
	err = monitor.Become(rec.ID, filepath.Join(bundle, monitor.ConfFile), append(e.StoreEnv(), "_SKIFF_USERNS=1"))
	return fmt.Errorf("becoming the monitor of %s again: %w", rec.Name, err)
}

// monitorConf is the configuration of rec's monitor, run in bundle.
func (e *Engine) monitorConf(rec *config.ContainerRecord, runtime, bundle string) (*monitor.Config, error) {
	holders, err := rootless.HoldersDir()
	if err != nil {
		return nil, err
	}
	return &monitor.Config{
		ID: rec.ID, Runtime: runtime, Root: e.runtimeRoot(), Bundle: bundle,
		Log: e.LogPath(rec.ID), Exit: e.exitPath(rec.ID), PidFile: e.pidPath(rec.ID), Holders: holders,
		Tty: rec.Config.Tty, Stdin: rec.Config.OpenStdin,
	}, nil
}
