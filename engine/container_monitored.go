package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"
)

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
