package oci

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// WriteBundle lays out a bundle for the runtime at path runtime: the root
// file system rootfs (already mounted) bound at bundle/rootfs, and spec as
// bundle/config.json, fitted to the runtime (crun's spec version and its
// compiled seccomp program, kept in seccompCache).
func WriteBundle(ctx context.Context, runtime, seccompCache, bundle, rootfs string, spec *specs.Spec) error {
	FitConfig(ctx, runtime, seccompCache, spec)
	if err := BindRootfs(rootfs, filepath.Join(bundle, "rootfs")); err != nil {
		return err
	}
	spec.Root.Path = "rootfs"
	data, err := json.Marshal(spec)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), data, 0o600)
}

// RunOptions describe one foreground run of the runtime on a bundle.
type RunOptions struct {
	Runtime string // the runtime's path
	Root    string // the runtime's state directory (--root)
	ID      string // the name the runtime knows the process by
	Bundle  string // a bundle WriteBundle wrote
	PidFile string // where the runtime writes the process's pid
	Stdin   io.Reader
	Stdout  io.Writer
	// Stderr gets the process's standard error; what the runtime writes
	// there before the process runs is held back (StartGate) and comes
	// back as the error instead.
	Stderr io.Writer
	// Signals are passed on to the process while it runs.
	Signals <-chan os.Signal
	// Started, when set, is called once the runtime has been started,
	// before Run waits for it.
	Started func()
}

// Run runs the bundle's process in the foreground (`runtime run`) and
// returns its exit code (128+N when a signal N ended it). When the
// runtime could not start the process, the error carries the runtime's
// words, with ExitCode's class (125, 126 or 127) and the code to match.
// The runtime dies with this process (a parent-death signal).
func Run(ctx context.Context, o RunOptions) (int, error) {
	logPath := filepath.Join(o.Bundle, "runtime.log")
	cmd := exec.Command(o.Runtime, "--root", o.Root, "--log", logPath, "--log-format", "json",
		"run", "--bundle", o.Bundle, "--pid-file", o.PidFile, o.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	gate := NewStartGate(o.Stderr, o.PidFile)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = o.Stdin, o.Stdout, gate
	if err := cmd.Start(); err != nil {
		gate.Finish(false)
		return 0, fmt.Errorf("starting %s: %w", filepath.Base(o.Runtime), err)
	}
	if o.Started != nil {
		o.Started()
	}
	stop := make(chan struct{})
	go func() {
		done := ctx.Done()
		for {
			select {
			case s := <-o.Signals:
				_ = cmd.Process.Signal(s)
			case <-done:
				// The caller gave up (a build's SIGINT): the process
				// ends, killed by the runtime, which then returns.
				done = nil
				go killUntil(o, stop)
			case <-stop:
				return
			}
		}
	}()
	err := cmd.Wait()
	close(stop)
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
		if rerr := LogError(logPath, nil); rerr != nil {
			runErr, code = rerr, ExitCode(rerr)
		}
	}
	gate.Finish(runErr != nil)
	return code, runErr
}

// killUntil has the runtime kill o's process, again until stop closes (the
// runtime's run returned): the first tries may come before the runtime has
// made it.
func killUntil(o RunOptions, stop <-chan struct{}) {
	for {
		_ = exec.Command(o.Runtime, "--root", o.Root, "kill", o.ID, "KILL").Run()
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// RootfsRun describes a process to run on a mounted root file system,
// with no container record, name or lock: a build's RUN step.
type RootfsRun struct {
	Runtime      string // the runtime's path
	Root         string // the runtime's state directory (--root)
	SeccompCache string // where compiled seccomp programs are kept
	// Scratch is a directory for the run's bundle, which is made in it
	// and removed after.
	Scratch string
	Rootfs  string      // the mounted root file system
	Spec    *specs.Spec // the process and its security profile (engine/spec)
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Signals <-chan os.Signal
}

// RunOnRootfs runs r.Spec's process on r.Rootfs in the foreground and
// returns its exit code, as Run does; the runtime's state and the bundle
// are gone when it returns.
func RunOnRootfs(ctx context.Context, r RootfsRun) (int, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return 0, err
	}
	id := "skiff-rootfs-" + hex.EncodeToString(b[:])
	bundle := filepath.Join(r.Scratch, id)
	if err := os.MkdirAll(bundle, 0o700); err != nil {
		return 0, err
	}
	defer RemoveBundle(bundle)
	if err := WriteBundle(ctx, r.Runtime, r.SeccompCache, bundle, r.Rootfs, r.Spec); err != nil {
		return 0, err
	}
	defer func() {
		// `run` deletes its state when the process ends; a runtime
		// killed half way may leave it.
		if _, err := os.Stat(filepath.Join(r.Root, id)); err == nil {
			_ = exec.Command(r.Runtime, "--root", r.Root, "delete", "--force", id).Run()
		}
	}()
	return Run(ctx, RunOptions{
		Runtime: r.Runtime, Root: r.Root, ID: id, Bundle: bundle, PidFile: filepath.Join(bundle, "pid"),
		Stdin: r.Stdin, Stdout: r.Stdout, Stderr: r.Stderr, Signals: r.Signals,
	})
}
