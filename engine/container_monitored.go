package engine

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"
)

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
		mon.Abandon()
		return err
	}
	_, err = e.startDetached(ctx, rec, runtime, bundle, mon, nil)
	return err
}

// spawnMonitor starts the container's monitor, waiting at its gate. It
// reads its configuration, in the bundle, only once past the gate.
func (e *Engine) spawnMonitor(rec *config.ContainerRecord) (*monitor.Gated, error) {
	return monitor.StartGated(rec.ID, filepath.Join(e.bundleDir(rec), monitor.ConfFile), append(e.StoreEnv(), "_SKIFF_USERNS=1"))
}

// startDetached records the container as running under its monitor, lets
// the monitor through its gate, and waits for its report: the monitor
// creates and starts the container itself. The record comes before the
// "go", so a SIGKILL of this process in any window leaves state that says
// what runs: before the record the monitor cleans up, after it the monitor
// runs the container it is recorded with.
//
// attached, when set, is an attached run's: its monitor passes the output
// and input through attached's pipes, and startDetached returns once the
// container runs (its PID), leaving the gate and report open.
func (e *Engine) startDetached(ctx context.Context, rec *config.ContainerRecord, runtime, bundle string, mon *monitor.Gated, attached *monitor.Attached) (int, error) {
	conf, err := e.monitorConf(rec, runtime, bundle)
	if err == nil {
		conf.Report = true
		if attached != nil {
			conf.Attach, conf.Stdin = true, attached.Stdin != nil
		}
		err = conf.Write(filepath.Join(bundle, monitor.ConfFile))
	}
	if err != nil {
		mon.Abandon()
		return 0, e.abortStart(rec, err)
	}
	monPid := mon.Pid()
	// FinishedAt stays the last run's until this one ends, as docker's: a
	// start that never got to run (its monitor ended at the gate) is
	// recorded created again, or exited (Cleanup).
	rec.State, rec.Pid, rec.StartedAt, rec.MonitorPid, rec.ExitCode = config.StateRunning, 0, time.Now(), monPid, 0
	err = e.state.SetUserStopped(ctx, rec.ID, false)
	if err == nil {
		err = e.state.Update(ctx, rec)
	}
	if err != nil {
		mon.Abandon()
		return 0, e.abortStart(rec, err)
	}
	// For systemd units of Type=forking (generate systemd without --new).
	_ = monitor.WritePidFile(e.MonitorPidPath(rec.ID), monPid)
	var pid int
	if attached != nil {
		pid, err = mon.GoAttached()
	} else {
		pid, err = mon.Go()
	}
	if err != nil {
		err := oci.LogError(filepath.Join(bundle, "runtime.log"), fmt.Errorf("the monitor failed: %w", err))
		e.deleteRuntimeState(ctx, rec)
		return 0, e.abortStart(rec, err)
	}
	// The database keeps pid 0, which stands for the runtime's pid file
	// (containerPid), as after a restart: one write per start.
	rec.Pid = pid
	return pid, nil
}
