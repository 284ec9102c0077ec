package engine

import (
	"context"
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
)

// The verbs on several containers at once: start, stop, restart, kill,
// rm, pause, unpause and wait. Each takes one options struct and returns
// one report per container, in the order given (podman's per-item
// reports); an error of its own only when it could not begin (listing
// the containers of All). What the errors mean to the caller (rm's exit
// codes) is the caller's to decide.

// StartContainersOptions are the options of starting several containers,
// each detached (start without -a).
type StartContainersOptions struct {
	Names []string // names or ids, as given
	// NotifySocket is systemd's NOTIFY_SOCKET (StartOptions).
	NotifySocket string
}

// StartReport is the outcome of starting one container.
type StartReport struct {
	ID       string // the container's id, when one was found
	RawInput string // the name or id as given
	Err      error
}

// StartContainers starts each container, detached.
func (e *Engine) StartContainers(ctx context.Context, o StartContainersOptions) []StartReport {
	reports := make([]StartReport, 0, len(o.Names))
	for _, n := range o.Names {
		id, err := e.containerID(ctx, n)
		if err == nil {
			_, err = e.Start(ctx, id, StartOptions{NotifySocket: o.NotifySocket})
			if errors.Is(err, ErrIsRunning) {
				err = nil // docker and podman: starting a running container is no error
			}
		}
		reports = append(reports, StartReport{ID: id, RawInput: n, Err: err})
	}
	return reports
}

// StopOptions are the options of stop.
type StopOptions struct {
	Names []string // names or ids, as given
	All   bool     // every container, instead of Names
	// Timeout is how long the stop signal has before SIGKILL; nil: the
	// container's --stop-timeout, else 10 s.
	Timeout *time.Duration
	// Ignore passes over, without a report, names that no container has
	// (stop --ignore, as the units generate systemd writes use it).
	Ignore bool
}

// StopReport is the outcome of stopping one container.
type StopReport struct {
	ID       string
	RawInput string
	Err      error
}

// StopContainers stops each container (Stop).
func (e *Engine) StopContainers(ctx context.Context, o StopOptions) ([]StopReport, error) {
	names, err := e.namesOrAll(ctx, o.Names, o.All)
	if err != nil {
		return nil, err
	}
	var reports []StopReport
	for _, n := range names {
		id, err := e.containerID(ctx, n)
		if err == nil {
			err = e.Stop(ctx, id, timeoutOrDefault(o.Timeout))
		}
		if o.Ignore && errors.Is(err, config.ErrNoSuchContainer) {
			continue
		}
		reports = append(reports, StopReport{ID: id, RawInput: n, Err: err})
	}
	return reports, nil
}

// RestartOptions are the options of restart: stop, then start detached.
type RestartOptions struct {
	Names   []string
	All     bool
	Timeout *time.Duration // as StopOptions
	Ignore  bool           // as StopOptions
	// NotifySocket is systemd's NOTIFY_SOCKET (StartOptions).
	NotifySocket string
}

// RestartReport is the outcome of restarting one container.
type RestartReport struct {
	ID       string
	RawInput string
	Err      error
}

// RestartContainers stops each container and starts it again.
func (e *Engine) RestartContainers(ctx context.Context, o RestartOptions) ([]RestartReport, error) {
	names, err := e.namesOrAll(ctx, o.Names, o.All)
	if err != nil {
		return nil, err
	}
	var reports []RestartReport
	for _, n := range names {
		id, err := e.containerID(ctx, n)
		if err == nil {
			err = e.restart(ctx, id, o)
		}
		if o.Ignore && errors.Is(err, config.ErrNoSuchContainer) {
			continue
		}
		reports = append(reports, RestartReport{ID: id, RawInput: n, Err: err})
	}
	return reports, nil
}

// KillOptions are the options of kill.
type KillOptions struct {
	Names  []string
	All    bool // every running container, instead of Names
	Signal syscall.Signal
}

// KillReport is the outcome of signalling one container.
type KillReport struct {
	ID       string
	RawInput string
	Err      error
}

// KillContainers sends the signal to each container (Kill).
func (e *Engine) KillContainers(ctx context.Context, o KillOptions) ([]KillReport, error) {
	names := o.Names
	if o.All {
		running, err := e.ListContainers(ctx, ListContainersOptions{})
		if err != nil {
			return nil, err
		}
		names = nil
		for _, s := range running {
			names = append(names, s.ID)
		}
	}
	var reports []KillReport
	for _, n := range names {
		id, err := e.containerID(ctx, n)
		if err == nil {
			err = e.Kill(ctx, id, o.Signal)
		}
		reports = append(reports, KillReport{ID: id, RawInput: n, Err: err})
	}
	return reports, nil
}

// RmOptions are the options of rm.
type RmOptions struct {
	Names   []string
	All     bool
	Force   bool // kill a running container first
	Volumes bool // remove its anonymous volumes too (rm -v)
	// Timeout, with Force, stops a running container the gentle way
	// first (the stop signal, then SIGKILL after Timeout), as podman's
	// rm -f -t does; nil: it is killed at once.
	Timeout *time.Duration
	Ignore  bool // as StopOptions
}

// RmReport is the outcome of removing one container.
type RmReport struct {
	ID       string
	RawInput string
	Err      error
}

// RemoveContainers removes each container (Remove).
func (e *Engine) RemoveContainers(ctx context.Context, o RmOptions) ([]RmReport, error) {
	names, err := e.namesOrAll(ctx, o.Names, o.All)
	if err != nil {
		return nil, err
	}
	var reports []RmReport
	for _, n := range names {
		id, err := e.containerID(ctx, n)
		if err == nil {
			err = e.rm(ctx, id, o)
		}
		// rm -f of a name no container has is no error (podman 4 and
		// docker's CLI say nothing and exit 0), as with --ignore.
		if (o.Ignore || o.Force) && errors.Is(err, config.ErrNoSuchContainer) {
			continue
		}
		reports = append(reports, RmReport{ID: id, RawInput: n, Err: err})
	}
	return reports, nil
}

// rm removes one container, stopped first with Force and a Timeout.
func (e *Engine) rm(ctx context.Context, id string, o RmOptions) error {
	stopped := false
	if o.Force && o.Timeout != nil {
		err := e.Stop(ctx, id, *o.Timeout)
		if err != nil && !errors.Is(err, ErrNotRunning) {
			return err
		}
		stopped = err == nil
	}
	err := e.Remove(ctx, id, RemoveOptions{Force: o.Force, Volumes: o.Volumes})
	if stopped && errors.Is(err, config.ErrNoSuchContainer) {
		return nil // a --rm container removed itself once stopped
	}
	return err
}

// PauseOptions are the options of pause and unpause.
type PauseOptions struct {
	Names   []string
	Unpause bool // resume instead
}

// PauseReport is the outcome of pausing or resuming one container.
type PauseReport struct {
	ID       string
	RawInput string
	Err      error
}

// PauseContainers pauses (or resumes) each container (Pause).
func (e *Engine) PauseContainers(ctx context.Context, o PauseOptions) []PauseReport {
	reports := make([]PauseReport, 0, len(o.Names))
	for _, n := range o.Names {
		id, err := e.containerID(ctx, n)
		if err == nil {
			err = e.Pause(ctx, id, !o.Unpause)
		}
		reports = append(reports, PauseReport{ID: id, RawInput: n, Err: err})
	}
	return reports
}

// WaitOptions are the options of wait.
type WaitOptions struct {
	Names []string
}

// WaitReport is how one container ended.
type WaitReport struct {
	ID       string
	RawInput string
	ExitCode int
	Err      error
}

// WaitContainers waits for each container in turn to stop (Wait).
func (e *Engine) WaitContainers(ctx context.Context, o WaitOptions) []WaitReport {
	reports := make([]WaitReport, 0, len(o.Names))
	for _, n := range o.Names {
		r := WaitReport{RawInput: n}
		rec, err := e.state.Lookup(ctx, n)
		if err == nil {
			r.ID = rec.ID
			r.ExitCode, err = e.wait(ctx, rec)
		}
		r.Err = err
		reports = append(reports, r)
	}
	return reports
}

// containerID resolves a name or id (prefix) once, for a verb on several
// containers: the verb then acts on that container, whatever is renamed
// or created meanwhile.
func (e *Engine) containerID(ctx context.Context, nameOrID string) (string, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return "", err
	}
	return rec.ID, nil
}

// namesOrAll is names, or with all the id of every container.
func (e *Engine) namesOrAll(ctx context.Context, names []string, all bool) ([]string, error) {
	if all {
		return e.ContainerIDs(ctx)
	}
	return names, nil
}

// timeoutOrDefault is Stop's timeout for an optional one: negative for
// the container's own.
func timeoutOrDefault(t *time.Duration) time.Duration {
	if t == nil {
		return -1
	}
	return *t
}

// restart stops container id and starts it again. A --rm container stays
// (podman and docker restart it): its monitor's cleanup, as it ends, sees
// the mark that a live restart is under way and does not remove it.
func (e *Engine) restart(ctx context.Context, id string, o RestartOptions) error {
	mark := e.paths.Restarting(id)
	if err := os.WriteFile(mark, []byte(strconv.Itoa(os.Getpid())), 0o600); err != nil && !os.IsNotExist(err) {
		return err
	}
	defer os.Remove(mark)
	if err := e.Stop(ctx, id, timeoutOrDefault(o.Timeout)); err != nil {
		return err
	}
	_, err := e.Start(ctx, id, StartOptions{NotifySocket: o.NotifySocket})
	if errors.Is(err, ErrIsRunning) {
		err = nil // docker and podman: starting a running container is no error
	}
	return err
}

// restarting tells whether a live restart has marked container id.
func (e *Engine) restarting(id string) bool {
	pid := monitor.ReadPidFile(e.paths.Restarting(id))
	return pid > 0 && processAlive(pid, time.Time{})
}
