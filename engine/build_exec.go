package engine

import (
	"cmp"
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
	"strconv"
	"strings"
	"syscall"
	"time"

	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/skiff-project/skiff/engine/build"
	"github.com/skiff-project/skiff/engine/monitor"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/rootless"
	"github.com/skiff-project/skiff/storage"
	cstorage "go.podman.io/storage"
)

// buildExecutor is the engine's build.Executor: a build's steps over the
// user's store. A step's work is a working layer (a container record of the
// store's, never one of skiff's containers) on the image the step starts
// from; Commit turns it into the step's image and removes it.
type buildExecutor struct {
	e        *Engine
	registry storage.RegistryOptions
	pull     PullPolicy
	pullOut  io.Writer // pull progress; nil discards it
	network  string    // --network: "", "host" or "none"
	docker   bool      // --format docker
	runtime  string    // the OCI runtime's path
	// keepDone keeps the steps' working layers (--rm=false), keepFailed
	// that of a RUN that failed (--force-rm=false).
	keepDone, keepFailed bool
}

var _ build.Executor = (*buildExecutor)(nil)

// ErrRunFailed: a RUN step's process exited non-zero (RunFailedError).
var ErrRunFailed = errors.New("RUN failed")

// RunFailedError is a RUN step whose process exited with Code: podman's
// "while running runtime: exit status N"; the build exits with Code.
type RunFailedError struct{ Code int }

func (r *RunFailedError) Error() string {
	return fmt.Sprintf("while running runtime: exit status %d", r.Code)
}

func (r *RunFailedError) Unwrap() error { return ErrRunFailed }

// From returns the image ref names, pulling it as the pull policy says.
func (x *buildExecutor) From(ctx context.Context, ref string) (build.State, error) {
	sys, err := x.registry.SystemContext()
	if err != nil {
		return build.State{}, err
	}
	if x.pull != PullAlways {
		img, err := x.e.store.Lookup(sys, ref)
		if err == nil {
			return x.Load(ctx, img.ID)
		}
		if !errors.Is(err, storage.ErrNoSuchImage) || x.pull == PullNever {
			return build.State{}, err
		}
	}
	reports, err := x.e.store.Pull(ctx, storage.PullOptions{RegistryOptions: x.registry, Reference: ref, Progress: x.pullOut})
	if err != nil {
		return build.State{}, err
	}
	return x.Load(ctx, reports[0].ID)
}

// imageJSON is the part of an image's config blob a build reads.
type imageJSON struct {
	Author string                          `json:"author,omitempty"`
	Config dockerspec.DockerOCIImageConfig `json:"config"`
}

// Load returns an image of the store by its ID.
func (x *buildExecutor) Load(ctx context.Context, imageID string) (build.State, error) {
	img, err := x.e.store.Image(imageID)
	if err != nil {
		return build.State{}, fmt.Errorf("%w: %s", storage.ErrNoSuchImage, imageID)
	}
	blob, err := x.e.store.RawConfig(img.ID)
	if err != nil {
		return build.State{}, err
	}
	var ij imageJSON
	if err := json.Unmarshal(blob, &ij); err != nil {
		return build.State{}, fmt.Errorf("reading the config of image %s: %w", img.ID, err)
	}
	cfg := build.ImageConfig{DockerOCIImageConfig: ij.Config, Author: ij.Author}
	return build.State{ImageID: img.ID, Config: cfg}, nil
}

// Commit makes the step's image: its working layer's changes on its image,
// with its configuration, then names it.
func (x *buildExecutor) Commit(ctx context.Context, st build.State, names []string) (string, []string, error) {
	id := st.ImageID
	if st.Dirty || id == "" {
		layer := ""
		if st.Work != "" {
			_ = x.e.store.UnmountContainer(st.Work, true)
			c, err := x.e.store.ContainerLayer(st.Work)
			if err != nil {
				return "", nil, fmt.Errorf("the step's working layer: %w", err)
			}
			layer = c.LayerID
		}
		var err error
		id, err = x.e.store.BuildCommit(storage.BuildCommitOptions{
			Layer: layer, BaseImage: st.ImageID, Config: st.Config.DockerOCIImageConfig,
			Author: st.Config.Author, CreatedBy: cmp.Or(st.CreatedBy, "skiff build"), Docker: x.docker,
		})
		if st.Work != "" {
			x.finishWork(st.Work, x.keepDone && err == nil)
		}
		if err != nil {
			return "", nil, err
		}
	}
	tagged, err := x.e.store.NameImage(id, names)
	if err != nil {
		return "", nil, err
	}
	return id, tagged, nil
}

// newWork makes a working layer on imageID ("" for scratch).
func (x *buildExecutor) newWork(imageID string) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	id := hex.EncodeToString(b[:])
	if err := x.e.store.CreateWorkLayer(id, imageID, os.Getpid()); err != nil {
		return "", fmt.Errorf("making a working layer on %s: %w", imageID, err)
	}
	return id, nil
}

// work is st's working layer, made when st has none; fresh tells the
// caller to drop it if the step fails.
func (x *buildExecutor) work(st build.State) (id string, fresh bool, err error) {
	if st.Work != "" {
		return st.Work, false, nil
	}
	id, err = x.newWork(st.ImageID)
	return id, err == nil, err
}

// dropWork unmounts and removes a working layer.
func (x *buildExecutor) dropWork(id string) {
	_ = x.e.store.UnmountContainer(id, true)
	if err := x.e.store.DeleteContainerLayer(id); err != nil && !errors.Is(err, cstorage.ErrContainerUnknown) {
		_ = err // left for image prune
	}
}

// finishWork drops a step's working layer, or keeps it (build --rm=false
// after its commit, --force-rm=false after a RUN that failed) for ps
// --external and rm --storage, as podman keeps the intermediate container.
func (x *buildExecutor) finishWork(id string, keep bool) {
	if !keep {
		x.dropWork(id)
		return
	}
	_ = x.e.store.UnmountContainer(id, true)
	if x.e.store.KeepWorkLayer(id) != nil {
		x.dropWork(id)
	}
}

// mountImage mounts a read-only view of an image's tree (a working layer
// on it, dropped by release): COPY --from and RUN --mount from= read it.
func (x *buildExecutor) mountImage(st *build.State) (root string, release func(), err error) {
	id, err := x.newWork(st.ImageID)
	if err != nil {
		return "", nil, err
	}
	root, err = x.e.store.MountContainer(id)
	if err != nil {
		x.dropWork(id)
		return "", nil, fmt.Errorf("mounting image %s: %w", st.ImageID, err)
	}
	return root, func() { x.dropWork(id) }, nil
}

// removeLeftWorkLayers removes the working layers of builds that ended
// without removing them (killed): image prune calls it first, so that the
// images under them can go too.
func (e *Engine) removeLeftWorkLayers(ctx context.Context) error {
	e.endLeftBuildRuns(ctx)
	layers, err := e.store.WorkLayers()
	if err != nil {
		return err
	}
	for _, l := range layers {
		if l.Kept || (l.Pid > 0 && processAlive(l.Pid, l.Created)) {
			continue
		}
		endRunsOnLayer(l.LayerID)
		_ = e.store.UnmountContainer(l.ID, true)
		if err := e.store.DeleteContainerLayer(l.ID); err != nil && !errors.Is(err, cstorage.ErrContainerUnknown) {
			return fmt.Errorf("removing the working layer %s of a build that ended: %w", l.ID, err)
		}
	}
	return nil
}

// endLeftBuildRuns ends the RUN steps of builds that were killed, in every
// namespace of the user's.
func (e *Engine) endLeftBuildRuns(ctx context.Context) {
	for _, ns := range e.layout.Namespaces() {
		e.endBuildRunsIn(ctx, ns)
	}
}

// endBuildRunsIn ends the RUN steps that killed builds left running in
// namespace ns: the runtime dies with its build, the process it ran does
// not (and it keeps that namespace alive, though no later command joins
// it). A RUN's bundle is in a directory named after its build's pid
// (build-PID-*) and named after the runtime's id for it; the runtime wrote
// the RUN's pid there. The RUN's process is killed here, the init of its
// own pid namespace, so everything it started goes with it: the runtime's
// delete alone may leave it (a runtime that cannot kill from a sibling
// namespace). The directory goes once the RUN has, so that a later sweep
// tries again.
func (e *Engine) endBuildRunsIn(ctx context.Context, ns rootless.NamespacePaths) {
	dirs, _ := filepath.Glob(filepath.Join(ns.Bundles(), "build-*-*"))
	for _, dir := range dirs {
		f := strings.SplitN(filepath.Base(dir), "-", 3)
		pid, err := strconv.Atoi(f[1])
		if err != nil || processAlive(pid, time.Time{}) {
			continue
		}
		ended := true
		runs, _ := filepath.Glob(filepath.Join(dir, "skiff-rootfs-*"))
		for _, run := range runs {
			killBuildRun(run)
			for _, name := range oci.DefaultRuntimes {
				if rt, err := e.findRuntime(name); err == nil {
					_ = exec.CommandContext(ctx, rt, "--root", ns.RuntimeRoot(), "delete", "--force", filepath.Base(run)).Run()
				}
			}
			ended = ended && !buildRunAlive(run)
		}
		if ended {
			_ = os.RemoveAll(dir)
		}
	}
}

// endRunsOnLayer kills the processes whose root file system is the
// overlay of layer: the RUN of a build that was killed, found by its mount
// whatever the runtime left of it (a runtime killed before it wrote the
// pid file leaves none) and from whichever namespace of the user's.
func endRunsOnLayer(layer string) {
	if layer != "" {
		killUntilGone(func() []int { return processesOnLayer(layer) })
	}
}

// killUntilGone kills the processes pids names with SIGKILL, again until
// it names none, for at most 2 s.
func killUntilGone(pids func() []int) {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		left := pids()
		if len(left) == 0 {
			return
		}
		for _, pid := range left {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// processesOnLayer are the processes, of those this one may look at, whose
// root mount is an overlay whose upper directory is layer's (storage names
// it absolute, or relative to the driver's directory when the options are
// long).
func processesOnLayer(layer string) []int {
	upper := layer + "/diff"
	var pids []int
	procs, _ := filepath.Glob("/proc/[0-9]*/mountinfo")
	for _, p := range procs {
		data, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		for line := range strings.Lines(string(data)) {
			f := strings.Fields(line)
			if len(f) < 5 || f[4] != "/" || !strings.Contains(line, " - overlay ") {
				continue
			}
			_, opts, _ := strings.Cut(line, " - overlay ")
			for _, o := range strings.Split(strings.TrimSpace(opts), ",") {
				if v, ok := strings.CutPrefix(o, "upperdir="); ok && (v == upper || strings.HasSuffix(v, "/"+upper)) {
					if pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p))); err == nil && processAlive(pid, time.Time{}) {
						pids = append(pids, pid)
					}
				}
			}
		}
	}
	return pids
}

// buildRunPid is the pid of the RUN whose bundle is run, and whether that
// process still runs: its start is no later than the runtime's pid file
// (a pid given again since starts later).
func buildRunPid(run string) (int, bool) {
	pidFile := filepath.Join(run, "pid")
	st, err := os.Stat(pidFile)
	if err != nil {
		return 0, false
	}
	pid := monitor.ReadPidFile(pidFile)
	return pid, pid > 0 && processAlive(pid, st.ModTime())
}

func buildRunAlive(run string) bool {
	_, alive := buildRunPid(run)
	return alive
}

// killBuildRun kills the process of the RUN whose bundle is run and waits
// a moment for it to end.
func killBuildRun(run string) {
	killUntilGone(func() []int {
		if pid, alive := buildRunPid(run); alive {
			return []int{pid}
		}
		return nil
	})
}
