package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/state"
	"github.com/skiff-project/skiff/rootless"
	"github.com/skiff-project/skiff/storage"
)

// testEngine is an engine on a state database and a vfs store of its own,
// in a temporary directory: enough for the verbs that keep records and
// signal processes, not for those that run a container.
func testEngine(t *testing.T) *Engine {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("requires root: the store is opened outside a user namespace")
	}
	dir := t.TempDir()
	e := &Engine{layout: rootless.Layout{Data: filepath.Join(dir, "data"), Run: filepath.Join(dir, "run")}}
	e.paths, e.ns = rootless.StatePaths{Dir: filepath.Join(dir, "data")}, e.layout.Namespace(1)
	for _, d := range []string{e.paths.Containers(), e.ns.Bundles()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	var err error
	if e.state, err = state.Open(e.paths); err != nil {
		t.Fatal(err)
	}
	if e.store, err = storage.Open(storage.Config{GraphRoot: filepath.Join(dir, "graph"), RunRoot: filepath.Join(dir, "graphrun"), Driver: "vfs"}); err != nil {
		e.Close()
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

var testIDs = 0

// addContainer records a container; with proc, one that runs as that
// process (which is never a container: the runtime does not know it, and
// the engine signals the pid).
func addContainer(t *testing.T, e *Engine, name string, proc *exec.Cmd, labels map[string]string, mounts ...config.Mount) *config.ContainerRecord {
	t.Helper()
	testIDs++
	rec := &config.ContainerRecord{ID: fmt.Sprintf("%02d%062d", testIDs, 0), Name: name, Image: "img", ImageID: "img",
		Created: time.Now(), State: config.StateCreated,
		Config: config.ContainerConfig{Network: "none", Runtime: "runc", Labels: labels, Mounts: mounts}}
	ctx := context.Background()
	if err := e.state.Add(ctx, rec); err != nil {
		t.Fatal(err)
	}
	if proc != nil {
		rec.State, rec.Pid, rec.StartedAt = config.StateRunning, proc.Process.Pid, time.Now()
		if err := e.state.Update(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	return rec
}

// sleeper is a process that stands for a running container; wait tells
// the signal that ended it.
func sleeper(t *testing.T) (*exec.Cmd, func() syscall.Signal) {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	return cmd, func() syscall.Signal {
		_ = cmd.Wait()
		ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
		return ws.Signal()
	}
}

func exists(e *Engine, name string) bool {
	_, err := e.state.Lookup(context.Background(), name)
	return err == nil
}

// TestRemoveContainersReports: one report per name, in order, the error
// of each its own; --ignore passes over the missing ones; a running
// container is refused without force and kept.
func TestRemoveContainersReports(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	proc, _ := sleeper(t)
	addContainer(t, e, "made", nil, nil)
	addContainer(t, e, "runs", proc, nil)
	reports, err := e.RemoveContainers(ctx, RmOptions{Names: []string{"made", "nope", "runs"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(reports) != 3 || reports[0].RawInput != "made" || reports[0].Err != nil || reports[0].ID == "" ||
		!errors.Is(reports[1].Err, config.ErrNoSuchContainer) || reports[1].RawInput != "nope" ||
		!errors.Is(reports[2].Err, ErrIsRunning) {
		t.Fatalf("reports %+v", reports)
	}
	if exists(e, "made") || !exists(e, "runs") {
		t.Fatal("rm removed the wrong containers")
	}
	reports, _ = e.RemoveContainers(ctx, RmOptions{Names: []string{"nope", "alsonope"}, Ignore: true})
	if len(reports) != 0 {
		t.Fatalf("--ignore reported %+v", reports)
	}
}

// TestRmForceStopsGentlyWithTimeout: rm -f kills at once; rm -f -t first
// sends the stop signal (podman's rm -f -t), and removes the container
// either way.
func TestRmForceStopsGentlyWithTimeout(t *testing.T) {
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("requires runc (Kill asks the runtime first)")
	}
	e := testEngine(t)
	ctx := context.Background()
	killed, killedBy := sleeper(t)
	stopped, stoppedBy := sleeper(t)
	addContainer(t, e, "killed", killed, nil)
	addContainer(t, e, "stopped", stopped, nil)
	if r, err := e.RemoveContainers(ctx, RmOptions{Names: []string{"killed"}, Force: true}); err != nil || len(r) != 1 || r[0].Err != nil {
		t.Fatalf("rm -f: %+v %v", r, err)
	}
	ten := 10 * time.Second
	if r, err := e.RemoveContainers(ctx, RmOptions{Names: []string{"stopped"}, Force: true, Timeout: &ten}); err != nil || len(r) != 1 || r[0].Err != nil {
		t.Fatalf("rm -f -t 10: %+v %v", r, err)
	}
	if s := killedBy(); s != syscall.SIGKILL {
		t.Errorf("rm -f ended the container with %v, want SIGKILL", s)
	}
	if s := stoppedBy(); s != syscall.SIGTERM {
		t.Errorf("rm -f -t ended the container with %v, want the stop signal SIGTERM", s)
	}
	if exists(e, "killed") || exists(e, "stopped") {
		t.Fatal("rm -f left a container")
	}
}

// TestStopAndKillReports: stop of a container that does not run is fine;
// --all takes every container (kill --all the running ones); kill sends
// the signal given.
func TestStopAndKillReports(t *testing.T) {
	if _, err := exec.LookPath("runc"); err != nil {
		t.Skip("requires runc (Kill asks the runtime first)")
	}
	e := testEngine(t)
	ctx := context.Background()
	proc, endedBy := sleeper(t)
	a := addContainer(t, e, "a", nil, nil)
	b := addContainer(t, e, "b", proc, nil)
	reports, err := e.StopContainers(ctx, StopOptions{Names: []string{"a", "nope"}, Ignore: true})
	if err != nil || len(reports) != 1 || reports[0].ID != a.ID || reports[0].Err != nil {
		t.Fatalf("stop a nope --ignore: %+v %v", reports, err)
	}
	kills, err := e.KillContainers(ctx, KillOptions{All: true, Signal: syscall.SIGUSR1})
	if err != nil || len(kills) != 1 || kills[0].ID != b.ID || kills[0].Err != nil {
		t.Fatalf("kill --all: %+v %v", kills, err)
	}
	if s := endedBy(); s != syscall.SIGUSR1 {
		t.Fatalf("kill -s USR1 sent %v", s)
	}
	stops, err := e.StopContainers(ctx, StopOptions{All: true})
	if err != nil || len(stops) != 2 {
		t.Fatalf("stop --all: %+v %v", stops, err)
	}
	var ids []string
	for _, r := range stops {
		ids = append(ids, r.RawInput)
	}
	if !slices.Contains(ids, a.ID) || !slices.Contains(ids, b.ID) {
		t.Fatalf("stop --all stopped %v", ids)
	}
}

// TestPruneContainersFilters: prune leaves running containers, and those
// the label and until filters leave out.
func TestPruneContainersFilters(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	proc, _ := sleeper(t)
	addContainer(t, e, "runs", proc, map[string]string{"tier": "x"})
	old := addContainer(t, e, "old", nil, map[string]string{"tier": "x"})
	addContainer(t, e, "other", nil, map[string]string{"tier": "y"})
	f, err := ParseContainerPruneFilters([]string{"label=tier=x", "until=1h"}, time.Now().Add(2*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	reports, err := e.PruneContainers(ctx, PruneOptions{Filters: f})
	if err != nil || len(reports) != 1 || reports[0].ID != old.ID || reports[0].Err != nil {
		t.Fatalf("prune: %+v %v", reports, err)
	}
	if !exists(e, "runs") || !exists(e, "other") || exists(e, "old") {
		t.Fatal("prune removed the wrong containers")
	}
	f, _ = ParseContainerPruneFilters([]string{"until=1h"}, time.Now())
	if reports, _ := e.PruneContainers(ctx, PruneOptions{Filters: f}); len(reports) != 0 {
		t.Fatalf("until=1h pruned containers made just now: %+v", reports)
	}
}

// TestVolumeListAndPrune: ls's filters (dangling from the containers'
// mounts) and prune's, against recorded volumes.
func TestVolumeListAndPrune(t *testing.T) {
	e := testEngine(t)
	ctx := context.Background()
	for _, v := range []VolumeOptions{
		{Name: "used", Labels: map[string]string{"team": "a"}},
		{Name: "spare", Labels: map[string]string{"team": "a", "keep": "no"}},
		{Name: "kept", Labels: map[string]string{"keep": "yes"}},
	} {
		if _, err := e.CreateVolume(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	addContainer(t, e, "user", nil, nil, config.Mount{Type: config.MountVolume, Source: "used", Destination: "/data"})
	names := func(filters ...string) []string {
		t.Helper()
		f, err := ParseVolumeFilters(filters)
		if err != nil {
			t.Fatal(err)
		}
		vols, err := e.ListVolumes(ctx, ListVolumesOptions{Filters: f})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, v := range vols {
			out = append(out, v.Name)
		}
		return out
	}
	for _, c := range []struct {
		filters []string
		want    []string
	}{
		{nil, []string{"kept", "spare", "used"}},
		{[]string{"dangling=true"}, []string{"kept", "spare"}},
		{[]string{"dangling=false"}, []string{"used"}},
		{[]string{"dangling=true", "dangling=false"}, nil},
		{[]string{"label=team=a"}, []string{"spare", "used"}},
		{[]string{"label=team", "name=sp"}, []string{"spare"}},
		{[]string{"driver=local", "name=e"}, []string{"kept", "spare", "used"}},
		{[]string{"driver=other"}, nil},
	} {
		if got := names(c.filters...); !slices.Equal(got, c.want) {
			t.Errorf("ls %v: %v, want %v", c.filters, got, c.want)
		}
	}
	f, _ := ParsePruneFilters([]string{"label=keep"})
	reports, err := e.PruneVolumes(ctx, PruneOptions{Filters: f})
	if err != nil || len(reports) != 2 || reports[0].ID != "kept" || reports[1].ID != "spare" {
		t.Fatalf("prune label=keep: %+v %v", reports, err)
	}
	if got := names(); !slices.Equal(got, []string{"used"}) {
		t.Fatalf("after prune: %v", got)
	}
	rm, err := e.RemoveVolumes(ctx, VolumeRmOptions{Names: []string{"used", "nope"}})
	if err != nil || len(rm) != 2 || !errors.Is(rm[0].Err, config.ErrVolumeInUse) || !errors.Is(rm[1].Err, config.ErrNoSuchVolume) {
		t.Fatalf("volume rm: %+v %v", rm, err)
	}
}
