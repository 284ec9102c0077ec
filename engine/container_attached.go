package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/state"
)

// runAttached runs the container in the foreground under a monitor of its
// own, as a detached container runs: a SIGKILL of this process in any
// window leaves it running, truthfully recorded, and its monitor cleans up
// after it. The monitor passes the container's output here as it comes
// and its input from here (EOF too); this process passes on the signals
// the caller gives and, at the end, cleans up itself (the monitor then
// ends without) and returns the container's exit code.
func (e *Engine) runAttached(ctx context.Context, rec *config.ContainerRecord, runtime string, lock *state.ContainerLock, o StartOptions) (int, error) {
	stdin := o.Stdin != nil && (rec.Config.OpenStdin || o.Interactive)
	mon, att, err := monitor.StartAttached(rec.ID, filepath.Join(e.bundleDir(rec), monitor.ConfFile), append(e.StoreEnv(), "_SKIFF_USERNS=1"), stdin)
	if err != nil {
		lock.Unlock()
		return 0, err
	}
	defer att.Close()
	// ctx's end ends an attach, never a start half way.
	bundle, err := e.prepare(context.WithoutCancel(ctx), rec, runtime, nil, o.NotifySocket)
	if err != nil {
		mon.Abandon()
		lock.Unlock()
		return 0, err
	}
	pid, err := e.startDetached(context.WithoutCancel(ctx), rec, runtime, bundle, mon, att)
	lock.Unlock()
	if err != nil {
		return 0, err
	}
	if err := sdNotify(o.NotifySocket, rec.Config.SdNotify, mon.Pid()); err != nil {
		slog.Warn("systemd was not told", "container", rec.Name, "err", err)
	}
	var output sync.WaitGroup
	for _, c := range []struct {
		w io.Writer
		r *os.File
	}{{o.Stdout, att.Stdout}, {o.Stderr, att.Stderr}} {
		output.Add(1)
		go func() {
			defer output.Done()
			if c.w == nil {
				c.w = io.Discard
			}
			_, _ = io.Copy(c.w, c.r)
		}()
	}
	if att.Stdin != nil {
		go func() {
			_, _ = io.Copy(att.Stdin, o.Stdin)
			att.Stdin.Close()
		}()
	}
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case s := <-o.Signals:
				if sig, ok := s.(syscall.Signal); ok {
					_ = syscall.Kill(pid, sig)
				}
			case <-stop:
				return
			}
		}
	}()
	output.Wait()
	code, err := mon.AwaitExit()
	if err != nil {
		return 0, fmt.Errorf("%s: %w", rec.Name, err)
	}
	mon.Claim()
	if err := e.cleanup(context.WithoutCancel(ctx), rec.ID, mon.Pid()); err != nil {
		return code, err
	}
	return code, nil
}
