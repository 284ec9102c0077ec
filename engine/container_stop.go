package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"

	"github.com/moby/sys/signal"
	"golang.org/x/sys/unix"
)

// ParseSignal reads a signal given by name (TERM, SIGTERM) or number, as
// kill --signal and the stop signal of a container are given.
func ParseSignal(s string) (syscall.Signal, error) {
	name, err := config.ParseSignal(s)
	if err != nil {
		return 0, err
	}
	if n, err := strconv.Atoi(name); err == nil {
		return syscall.Signal(n), nil
	}
	return signal.SignalMap[name], nil
}

// signalArg is sig as the runtime's kill takes it: by name where it has
// one (TERM), else by number.
func signalArg(sig syscall.Signal) string {
	if name := unix.SignalName(sig); name != "" {
		return strings.TrimPrefix(name, "SIG")
	}
	return strconv.Itoa(int(sig))
}

// Kill sends a signal to a running container's main process.
func (e *Engine) Kill(ctx context.Context, nameOrID string, sig syscall.Signal) error {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	if e.observedState(rec) != config.StateRunning {
		return fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
	}
	runtime, err := e.runtimeOf(rec)
	if err != nil {
		return err
	}
	// As podman's kill (and docker's, moby#47792): a container killed by
	// its user is not restarted by its policy until it is started again.
	if err := e.markStopped(ctx, rec.ID); err != nil {
		return err
	}
	if err := e.runtimeRun(ctx, runtime, "kill", rec.ID, signalArg(sig)); err != nil {
		// The runtime's state lived in a namespace that is gone (its
		// monitor was killed): signal the pid.
		if pid := e.containerPid(rec); pid > 0 {
			if kerr := killPid(pid, int(sig)); kerr == nil {
				return nil
			}
		}
		if e.observedState(rec) != config.StateRunning {
			return nil
		}
		// Ending by itself (the runtime has it stopped) or between two
		// runs of a restart policy (the runtime has none yet).
		if msg := err.Error(); strings.Contains(msg, "container not running") || strings.Contains(msg, "does not exist") {
			return fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
		}
		return err
	}
	return nil
}

// Stop sends the stop signal (the image's STOPSIGNAL, else SIGTERM), waits
// for the timeout, then kills. It returns once the end is recorded.
func (e *Engine) Stop(ctx context.Context, nameOrID string, timeout time.Duration) error {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	if err := e.markStopped(ctx, rec.ID); err != nil {
		return err
	}
	if rec, err = e.state.Lookup(ctx, rec.ID); err != nil {
		return err
	}
	if ended, err := e.endRestartBackoff(ctx, rec); ended || err != nil {
		return err
	}
	if e.observedState(rec) != config.StateRunning {
		return nil // docker: stopping a stopped container is fine
	}
	if timeout < 0 {
		timeout = 10 * time.Second
		if t, ok := rec.Config.Security.StopTimeoutSeconds(); ok {
			timeout = time.Duration(t) * time.Second
		}
	}
	// The stop signal is the record's text (the image's STOPSIGNAL, or
	// --stop-signal), read here once.
	sig, err := ParseSignal(rec.Config.StopSignal)
	if err != nil {
		return err
	}
	if ended, err := e.signalStop(ctx, rec, sig); ended || err != nil {
		return err
	}
	if !e.waitGone(rec, timeout) {
		if ended, err := e.signalStop(ctx, rec, syscall.SIGKILL); ended || err != nil {
			return err
		}
		e.waitGone(rec, 10*time.Second)
	}
	return e.waitRecorded(ctx, rec.ID, 10*time.Second)
}

// waitRecorded waits until the state database says the container ended.
func (e *Engine) waitRecorded(ctx context.Context, id string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		cur, err := e.state.Lookup(ctx, id)
		if err != nil || cur.State != config.StateRunning {
			return nil
		}
		if !processAlive(cur.MonitorPid, time.Time{}) && e.observedState(cur) != config.StateRunning {
			// Nobody left to record it (a killed monitor): do it here.
			return e.cleanup(ctx, id, 0)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return nil
}

// Wait blocks until the container is not running and returns its exit code.
func (e *Engine) Wait(ctx context.Context, nameOrID string) (int, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return 0, err
	}
	return e.wait(ctx, rec)
}

// wait is Wait for a container looked up: one removed meanwhile (--rm)
// still tells its exit code.
func (e *Engine) wait(ctx context.Context, rec *config.ContainerRecord) (int, error) {
	for {
		cur, err := e.state.Lookup(ctx, rec.ID)
		if err != nil {
			if errors.Is(err, config.ErrNoSuchContainer) {
				if code, ok := e.removedExit(rec.ID); ok {
					return code, nil
				}
			}
			return 0, err
		}
		if e.observedState(cur) != config.StateRunning {
			if cur.State == config.StateRunning {
				_ = e.waitRecorded(ctx, cur.ID, 2*time.Second)
				c2, err := e.state.Lookup(ctx, cur.ID)
				if err == nil {
					cur = c2
				} else if code, ok := e.removedExit(cur.ID); ok {
					return code, nil // --rm: removed once it ended
				}
			}
			code, _ := e.observedExit(cur)
			return code, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// endRestartBackoff ends the monitor of a container whose restart waits
// out its back-off: there is no container yet to signal.
func (e *Engine) endRestartBackoff(ctx context.Context, rec *config.ContainerRecord) (bool, error) {
	if p := rec.Config.Restart.Name; p == "" || p == config.RestartNo || rec.MonitorPid <= 0 {
		return false, nil
	}
	if _, err := os.Stat(filepath.Join(e.runtimeRoot(), rec.ID)); !os.IsNotExist(err) {
		return false, nil
	}
	if err := syscall.Kill(rec.MonitorPid, syscall.SIGKILL); err != nil {
		return false, nil
	}
	deadline := time.Now().Add(5 * time.Second)
	for processAlive(rec.MonitorPid, time.Time{}) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	// The back-off may have just ended: a runtime create the monitor ran
	// carries on without it, and its container's init would wait for a
	// start for ever. Once the create is done, cleanup deletes what it
	// made.
	waitRuntimeCreates(rec.ID, 10*time.Second)
	return true, e.cleanup(ctx, rec.ID, 0)
}

// waitRuntimeCreates waits until no `RUNTIME ... create ... ID` runs.
func waitRuntimeCreates(id string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for creating(id) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
}

// creating tells whether a runtime's create of container id runs.
func creating(id string) bool {
	entries, _ := os.ReadDir("/proc")
	for _, en := range entries {
		if en.Name()[0] < '0' || en.Name()[0] > '9' {
			continue
		}
		data, err := os.ReadFile("/proc/" + en.Name() + "/cmdline")
		if err != nil || len(data) == 0 {
			continue
		}
		args := strings.Split(strings.TrimSuffix(string(data), "\x00"), "\x00")
		if args[len(args)-1] == id && slices.Contains(args, "create") {
			return true
		}
	}
	return false
}

// markStopped tells the restart policy to leave the container be: under its
// lock, so that a monitor deciding on a restart either sees it, or has
// become the monitor of the restart, which endRestartBackoff then ends.
func (e *Engine) markStopped(ctx context.Context, id string) error {
	lock, err := e.state.Lock(id)
	if err != nil {
		return err
	}
	defer lock.Unlock()
	return e.state.SetUserStopped(ctx, id, true)
}

// signalStop sends stop's signal. A container the runtime no longer runs
// may be between two runs of its restart policy: then its monitor is ended
// (ended is true).
func (e *Engine) signalStop(ctx context.Context, rec *config.ContainerRecord, sig syscall.Signal) (ended bool, err error) {
	err = e.Kill(ctx, rec.ID, sig)
	if err == nil {
		return false, nil
	}
	if !errors.Is(err, ErrNotRunning) {
		return false, err
	}
	cur, lerr := e.state.Lookup(ctx, rec.ID)
	if lerr != nil {
		return true, nil // removed meanwhile
	}
	return e.endRestartBackoff(ctx, cur)
}

// removedExit is the exit code of container id once it has been removed:
// its exit file, kept for a while when it was a --rm container's.
func (e *Engine) removedExit(id string) (int, bool) {
	for _, path := range []string{e.exitPath(id), e.paths.KeptExit(id)} {
		if code, _, ok := monitor.ReadExitFile(path); ok {
			return code, true
		}
	}
	return 0, false
}
