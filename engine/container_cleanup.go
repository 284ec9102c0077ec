package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"

	cstorage "go.podman.io/storage"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/network"
)

// observedState is the truth about a container, not only what the database
// says: a "running" container whose process is gone has exited, whether or
// not anyone recorded it (a killed monitor, a killed `run`).
func (e *Engine) observedState(rec *config.ContainerRecord) string {
	if rec.State != config.StateRunning {
		return rec.State
	}
	pid := e.containerPid(rec)
	if pid > 0 && processAlive(pid, e.startedBy(rec)) {
		return config.StateRunning
	}
	if pid == 0 && rec.MonitorPid > 0 && processAlive(rec.MonitorPid, time.Time{}) {
		// Starting: its monitor (or attached run) has not had the
		// runtime's pid yet. Once it has, the container's own process
		// decides, also while the monitor's cleanup runs.
		return config.StateRunning
	}
	return config.StateExited
}

// containerPid is the container's main pid: as recorded, or, when it was
// not (yet), as the runtime wrote it (a killed `run` never records it).
func (e *Engine) containerPid(rec *config.ContainerRecord) int {
	if rec.Pid > 0 {
		return rec.Pid
	}
	return monitor.ReadPidFile(e.pidPath(rec.ID))
}

// startedBy is a time by which the container's process had started: the
// runtime writes its pid file once the process exists, so a process of that
// pid started later is another one (the pid reused). Without the file, the
// recorded start, which comes after the process's when the pid is recorded.
func (e *Engine) startedBy(rec *config.ContainerRecord) time.Time {
	if rec.Pid == 0 {
		if st, err := os.Stat(e.pidPath(rec.ID)); err == nil {
			return st.ModTime()
		}
	}
	return rec.StartedAt
}

// observedExit fills in the exit code of a container found dead.
func (e *Engine) observedExit(rec *config.ContainerRecord) (int, time.Time) {
	if code, at, ok := monitor.ReadExitFile(e.exitPath(rec.ID)); ok {
		return code, at
	}
	if rec.State == config.StateExited {
		return rec.ExitCode, rec.FinishedAt
	}
	return -1, time.Time{}
}

// processAlive tells whether pid runs and, when started is known, had
// started by then (a reused pid starts after).
func processAlive(pid int, started time.Time) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	fields := strings.Fields(s[i+2:])
	if len(fields) > 0 && fields[0] == "Z" {
		return false // a zombie has ended
	}
	if started.IsZero() {
		return true
	}
	at, ok := processStart(fields)
	return !ok || !at.After(started.Add(time.Second))
}

// processStart is when the process of /proc/PID/stat's fields (those after
// its name, from the state on) started: field 22, starttime, counts clock
// ticks (USER_HZ, 100 on Linux) since boot. The mtime of /proc/PID is no
// such time: it is when the kernel made that inode, again after its cache
// dropped it, so a long-running process would look new.
func processStart(fields []string) (time.Time, bool) {
	const startField, userHZ = 22 - 3, 100
	if len(fields) <= startField {
		return time.Time{}, false
	}
	ticks, err := strconv.ParseUint(fields[startField], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &now) != nil {
		return time.Time{}, false
	}
	age := time.Duration(now.Nano()) - time.Duration(ticks)*(time.Second/userHZ)
	return time.Now().Add(-age), true
}

// cleanup runs when a container has ended: record the exit, release the
// runtime state and the mount, apply --rm. owner is the pid of the process
// that ran the container and calls now (its monitor, or an attached run),
// 0 for any other: a container recorded as run by another live process is
// that process's to clean up.
func (e *Engine) cleanup(ctx context.Context, id string, owner int) error {
	defer phase("cleanup", time.Now())
	lock, err := e.state.Lock(id)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	rec, err := e.state.Lookup(ctx, id)
	if err != nil {
		if errors.Is(err, config.ErrNoSuchContainer) {
			return nil // removed meanwhile (rm -f)
		}
		return err
	}
	if rec.State == config.StateRunning && rec.MonitorPid > 0 && rec.MonitorPid != owner && processAlive(rec.MonitorPid, time.Time{}) {
		// A monitor that ended at its gate, late: a start since has a
		// live monitor of its own, whose container this is now.
		return nil
	}
	// A start killed before the container ran (its monitor ended at the
	// gate) may have left a network helper that is still starting.
	if rec.State != config.StateRunning || e.neverStarted(rec.ID) {
		defer e.stopStartingHelpers(rec)
	}
	// The directory of a seccomp compile that a killed command left goes
	// here too: cleanup is what runs after a killed start.
	defer oci.SweepSeccompCompiles(e.seccompDir())
	// An attached `runc run` deletes its own state; a monitored container's
	// state is deleted here.
	e.deleteRuntimeState(ctx, rec)
	if rec.Config.AutoRemove && !e.restarting(rec.ID) {
		return e.removeContainer(ctx, rec, true) // the network too
	}
	e.teardownNetwork(rec)
	oci.RemoveBundle(e.bundleDir(rec))
	_ = e.store.UnmountContainer(rec.ID, true)
	if rec.State == config.StateRunning {
		if e.neverStarted(rec.ID) {
			// Recorded as starting, but its start was killed before the
			// runtime made it: it is what it was before, created unless
			// it ran once (FinishedAt is still the last run's).
			rec.State, rec.Pid, rec.MonitorPid = config.StateCreated, 0, 0
			if rec.FinishedAt.IsZero() {
				rec.StartedAt = time.Time{}
			} else {
				rec.State = config.StateExited
			}
		} else {
			code, at := e.observedExit(rec)
			if at.IsZero() {
				at = time.Now()
			}
			rec.State, rec.ExitCode, rec.FinishedAt, rec.Pid, rec.MonitorPid = config.StateExited, code, at, 0, 0
		}
		if err := e.state.Update(ctx, rec); err != nil {
			return err
		}
	}
	return nil
}

// stopStartingHelpers ends, after teardownNetwork, the container's network
// helpers found by their command line: one whose starter was killed may
// not have written its pid, nor be watching its namespace yet.
func (e *Engine) stopStartingHelpers(rec *config.ContainerRecord) {
	if config.OwnNetns(rec.Config.Network) && config.HasHelper(rec.Config.Network) {
		network.StopHelpersOf(e.netnsPath(rec.ID))
	}
}

// neverStarted tells whether the last start of a container recorded as
// running never got as far as the runtime's create: no pid file from the
// runtime, no exit status from a monitor (prepare removes both).
func (e *Engine) neverStarted(id string) bool {
	if _, err := os.Stat(e.pidPath(id)); !os.IsNotExist(err) {
		return false
	}
	_, err := os.Stat(e.exitPath(id))
	return os.IsNotExist(err)
}

// RemoveOptions are the options of rm.
type RemoveOptions struct {
	Force bool // kill a running container first, as docker rm -f does
	// Volumes removes the container's anonymous volumes too (rm -v).
	Volumes bool
}

// Remove deletes a container: its layer, its record, its log.
func (e *Engine) Remove(ctx context.Context, nameOrID string, o RemoveOptions) error {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	if e.observedState(rec) == config.StateRunning {
		if !o.Force {
			return fmt.Errorf("%w: %s: stop it first or use rm -f", ErrIsRunning, rec.Name)
		}
		if err := e.markStopped(ctx, rec.ID); err != nil {
			return err
		}
		if rec, err = e.state.Lookup(ctx, rec.ID); err != nil {
			return err
		}
		if ended, err := e.endRestartBackoff(ctx, rec); err != nil {
			return err
		} else if !ended {
			if err := e.Kill(ctx, rec.ID, syscall.SIGKILL); err != nil && !errors.Is(err, ErrNotRunning) {
				return err
			}
		}
		e.waitGone(rec, 10*time.Second)
	}
	lock, err := e.state.Lock(rec.ID)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	if rec, err = e.state.Lookup(ctx, rec.ID); err != nil {
		if errors.Is(err, config.ErrNoSuchContainer) {
			return nil // --rm got there first
		}
		return err
	}
	e.deleteRuntimeState(ctx, rec)
	return e.removeContainer(ctx, rec, o.Volumes)
}

// deleteRuntimeState has the runtime forget a container it still knows in
// this namespace; a runtime run costs milliseconds, so only when it does.
func (e *Engine) deleteRuntimeState(ctx context.Context, rec *config.ContainerRecord) {
	dir := filepath.Join(e.runtimeRoot(), rec.ID)
	if _, err := os.Stat(dir); err != nil {
		return
	}
	// The state of a container whose init has ended is a directory and
	// nothing more (no cgroup rootless, no poststop hook skiff sets):
	// removed here, it costs no run of the runtime, a few milliseconds of
	// every short run.
	if pid, started, ok := oci.InitProcess(dir); ok && !processAlive(pid, started) {
		if os.RemoveAll(dir) == nil {
			return
		}
	}
	if runtime, err := e.runtimeOf(rec); err == nil {
		_ = e.runtimeRun(ctx, runtime, "delete", "--force", rec.ID)
	}
}

// killRuntimeLeftovers ends what the runtime left of a container in any
// namespace, the current one or one that is gone: an init process that never
// got to run the container (its `run` was killed before the pid was
// written) keeps waiting otherwise.
func (e *Engine) killRuntimeLeftovers(id string) {
	for _, ns := range e.layout.Namespaces() {
		path := filepath.Join(ns.RuntimeRoot(), id, "state.json")
		data, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		var st struct {
			InitPid int `json:"init_process_pid"`
		}
		if json.Unmarshal(data, &st) == nil && st.InitPid > 0 && processAlive(st.InitPid, time.Time{}) {
			_ = syscall.Kill(st.InitPid, syscall.SIGKILL)
		}
		_ = os.RemoveAll(filepath.Dir(path))
	}
}

// removeContainer deletes what a container owns. The caller holds its lock.
func (e *Engine) removeContainer(ctx context.Context, rec *config.ContainerRecord, volumes bool) error {
	e.killRuntimeLeftovers(rec.ID)
	e.teardownNetwork(rec)
	oci.RemoveBundle(e.bundleDir(rec))
	_ = e.store.UnmountContainer(rec.ID, true)
	if err := e.store.DeleteContainerLayer(rec.ID); err != nil && !errors.Is(err, cstorage.ErrContainerUnknown) && !errors.Is(err, cstorage.ErrNotAContainer) {
		return fmt.Errorf("removing the container's layer: %w", err)
	}
	if len(rec.Config.Security.UIDMap) > 0 {
		// It may have been the last container on the store's id-mapped
		// copy of its image's layers: the copy goes with it (and any
		// other that a crash left unused). A failure costs only space,
		// and the next removal or image prune retries.
		_, _ = e.store.ReleaseMappedLayers()
	}
	if err := e.state.Remove(ctx, rec.ID); err != nil {
		return err
	}
	if rec.Config.AutoRemove {
		e.keepExit(rec.ID)
	}
	_ = os.RemoveAll(e.containerDir(rec.ID))
	e.state.RemoveLockFile(rec.ID)
	if volumes {
		e.removeAnonymousVolumes(ctx, rec)
	}
	return nil
}

// waitGone waits until the container's process has ended and its end has
// been recorded (or the timeout passes).
func (e *Engine) waitGone(rec *config.ContainerRecord, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cur, err := e.state.Lookup(context.Background(), rec.ID)
		if err != nil || e.observedState(cur) != config.StateRunning {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// keptExitAge is how long the exit file of a removed --rm container is
// kept for wait (podman keeps the exit codes of removed containers too).
const keptExitAge = 5 * time.Minute

// keepExit keeps the exit file of --rm container id, which is being
// removed, and drops the kept ones that are old: a wait that began while
// it ran, and saw it removed, still tells its exit code.
func (e *Engine) keepExit(id string) {
	dir := e.paths.KeptExits()
	if entries, err := os.ReadDir(dir); err == nil {
		for _, ent := range entries {
			if info, err := ent.Info(); err == nil && time.Since(info.ModTime()) > keptExitAge {
				_ = os.Remove(filepath.Join(dir, ent.Name()))
			}
		}
	}
	if _, err := os.Stat(e.exitPath(id)); err != nil {
		return
	}
	if err := os.MkdirAll(dir, 0o700); err == nil {
		_ = os.Rename(e.exitPath(id), e.paths.KeptExit(id))
	}
}
