package engine

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/skiff-project/skiff/engine/build"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/oci"

	"go.podman.io/storage/pkg/archive"

	"github.com/skiff-project/skiff/network"
	"github.com/skiff-project/skiff/storage"
)

// ErrNoFreezer means pause cannot work on this host.
var ErrNoFreezer = errors.New("pause needs the cgroup v2 freezer")

// CommitOptions describe commit.
type CommitOptions struct {
	Reference string
	Author    string
	Message   string
	Changes   []string
}

// CommitContainer makes an image of a container: its image plus its changes.
func (e *Engine) CommitContainer(ctx context.Context, nameOrID string, o CommitOptions) (string, error) {
	// Checked before anything is looked up; applied to the base's
	// configuration by the Containerfile parser, as a build would.
	if _, err := build.ParseChanges(o.Changes, build.ImageConfig{}); err != nil {
		return "", fmt.Errorf("%w: %v", config.ErrBadOption, err)
	}
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return "", err
	}
	ctr, err := e.store.ContainerLayer(rec.ID)
	if err != nil {
		return "", fmt.Errorf("the container's layer: %w", err)
	}
	return e.store.Commit(ctx, storage.CommitOptions{Layer: ctr.LayerID, BaseImage: rec.ImageID, Reference: o.Reference, Author: o.Author, Message: o.Message, Edit: changesEdit(o.Changes)})
}

// changesEdit applies --change instructions to an OCI configuration with the
// Containerfile parser (build.ParseChanges): one instruction parser for
// build and commit.
func changesEdit(changes []string) func(*imgspec.ImageConfig) error {
	if len(changes) == 0 {
		return nil
	}
	return func(c *imgspec.ImageConfig) error {
		bc := build.ImageConfig{}
		bc.ImageConfig = *c
		edits, err := build.ParseChanges(changes, bc)
		if err != nil {
			return fmt.Errorf("%w: %v", config.ErrBadOption, err)
		}
		for i := range edits {
			edits[i].Apply(&bc)
		}
		*c = bc.ImageConfig
		return nil
	}
}

// Change is one path a container changed: A added, C changed, D deleted.
type Change struct {
	Kind string
	Path string
}

// Diff lists what the container changed against its image.
func (e *Engine) Diff(ctx context.Context, nameOrID string) ([]Change, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	ctr, err := e.store.ContainerLayer(rec.ID)
	if err != nil {
		return nil, err
	}
	changes, err := e.store.LayerChanges("", ctr.LayerID)
	if err != nil {
		return nil, err
	}
	out := make([]Change, 0, len(changes))
	for _, c := range changes {
		out = append(out, Change{Kind: map[archive.ChangeType]string{archive.ChangeModify: "C", archive.ChangeAdd: "A", archive.ChangeDelete: "D"}[c.Kind], Path: c.Path})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// withRootfs runs fn with the container's root file system mounted (a
// running container's is already; this adds a reference).
func (e *Engine) withRootfs(ctx context.Context, nameOrID string, fn func(rec *config.ContainerRecord, rootfs string) error) error {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	rootfs, err := e.store.MountContainer(rec.ID)
	if err != nil {
		return fmt.Errorf("mounting %s: %w", rec.Name, err)
	}
	defer func() { _ = e.store.UnmountContainer(rec.ID, false) }()
	return fn(rec, rootfs)
}

// tarOptions are a container's archive options: the ids in its tar
// streams are the container's own, which for a container with a user
// namespace of its own differ from those of its files on disk.
func tarOptions(rec *config.ContainerRecord) *archive.TarOptions {
	o := &archive.TarOptions{}
	if len(rec.Config.Security.UIDMap) > 0 {
		m := storageMappings(rec.Config.Security)
		o.UIDMaps, o.GIDMaps = m.UIDs(), m.GIDs()
	}
	return o
}

// Export writes the container's whole file system as a tar stream.
func (e *Engine) Export(ctx context.Context, nameOrID string, w io.Writer) error {
	return e.withRootfs(ctx, nameOrID, func(rec *config.ContainerRecord, rootfs string) error {
		rc, err := archive.TarWithOptions(rootfs, tarOptions(rec))
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(w, rc)
		return err
	})
}

// Rename gives a container a new name; the database's constraint keeps
// names unique.
func (e *Engine) Rename(ctx context.Context, nameOrID, newName string) error {
	if err := config.CheckName(newName); err != nil {
		return err
	}
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	return e.state.Rename(ctx, rec.ID, newName)
}

// PruneContainers removes every container that is not running and passes
// the filters (labels, created before Until).
func (e *Engine) PruneContainers(ctx context.Context, o PruneOptions) ([]PruneReport, error) {
	defer func() { _ = e.removeOrphans(ctx) }()
	recs, err := e.state.List(ctx)
	if err != nil {
		return nil, err
	}
	until := o.Filters.Until
	var reports []PruneReport
	for _, r := range recs {
		if e.observedState(r) == config.StateRunning || !MatchLabels(r.Config.Labels, o.Filters.Labels) || (!until.IsZero() && !r.Created.Before(until)) {
			continue
		}
		err := e.Remove(ctx, r.ID, RemoveOptions{})
		if errors.Is(err, ErrIsRunning) || errors.Is(err, config.ErrNoSuchContainer) {
			continue // started, or removed, meanwhile
		}
		reports = append(reports, PruneReport{ID: r.ID, Err: err})
	}
	return reports, nil
}

// Pause refuses where the freezer is out of reach: rootless, pausing needs
// a cgroup of the user's own with the cgroup v2 freezer, which this host
// (cgroup v1, nothing delegated) does not give.
func (e *Engine) Pause(ctx context.Context, nameOrID string, pause bool) error {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return err
	}
	if e.observedState(rec) != config.StateRunning {
		return fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
	}
	why := "the container has no cgroup of its own: rootless containers get one only from a cgroup v2 hierarchy that systemd delegates"
	if oci.HybridCgroups() {
		why = "this host mounts cgroup v1 (hybrid mode), whose freezer a rootless user cannot use"
	}
	verb := "pause"
	if !pause {
		verb = "unpause"
	}
	return fmt.Errorf("%w: cannot %s %s: %s", ErrNoFreezer, verb, rec.Name, why)
}

// ContainerProcess is one process of a container, as /proc tells.
type ContainerProcess struct {
	Pid     int
	PPid    int
	UID     int
	State   string
	CPUTime time.Duration // user + system
	RSS     int64         // bytes
	Command string
	Args    string
}

// Processes lists the processes of a running container: those in the
// pid namespace of its first process.
func (e *Engine) Processes(ctx context.Context, nameOrID string) ([]ContainerProcess, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	pid := e.containerPid(rec)
	if pid <= 0 || e.observedState(rec) != config.StateRunning {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
	}
	want, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", pid))
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrNotRunning, rec.Name)
	}
	entries, _ := os.ReadDir("/proc")
	var out []ContainerProcess
	for _, ent := range entries {
		p, err := strconv.Atoi(ent.Name())
		if err != nil {
			continue
		}
		if ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", p)); err != nil || ns != want {
			continue
		}
		if cp, ok := readProcess(p); ok {
			out = append(out, cp)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Pid < out[j].Pid })
	return out, nil
}

var clockTicks = int64(100) // USER_HZ on Linux

func readProcess(pid int) (ContainerProcess, bool) {
	cp := ContainerProcess{Pid: pid}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return cp, false
	}
	s := string(data)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open || end+2 > len(s) {
		return cp, false
	}
	cp.Command = s[open+1 : end]
	f := strings.Fields(s[end+2:])
	if len(f) < 22 {
		return cp, false
	}
	cp.State = f[0]
	cp.PPid, _ = strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	cp.CPUTime = time.Duration(ut+st) * time.Second / time.Duration(clockTicks)
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	cp.RSS = rss * int64(os.Getpagesize())
	var sys syscall.Stat_t
	if syscall.Stat(fmt.Sprintf("/proc/%d", pid), &sys) == nil {
		cp.UID = int(sys.Uid)
	}
	if args, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		cp.Args = strings.TrimSpace(strings.ReplaceAll(string(args), "\x00", " "))
	}
	if cp.Args == "" {
		cp.Args = "[" + cp.Command + "]"
	}
	return cp, true
}

// Stats is a container's resource use, from /proc: rootless on cgroup v1
// there is no cgroup to read, so it sums the container's processes.
type Stats struct {
	ID       string
	Name     string
	CPUPerc  float64 // of one CPU, over the sampling interval
	MemUsage int64
	MemLimit int64
	PIDs     int
}

// Stats samples a running container's processes twice, interval apart.
func (e *Engine) Stats(ctx context.Context, nameOrID string, interval time.Duration) (*Stats, error) {
	first, err := e.Processes(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	start := time.Now()
	time.Sleep(interval)
	second, err := e.Processes(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	cpu := func(ps []ContainerProcess) (t time.Duration) {
		for _, p := range ps {
			t += p.CPUTime
		}
		return t
	}
	s := &Stats{ID: rec.ID, Name: rec.Name, PIDs: len(second), MemLimit: memTotal()}
	for _, p := range second {
		s.MemUsage += p.RSS
	}
	if d := cpu(second) - cpu(first); d > 0 {
		s.CPUPerc = 100 * d.Seconds() / time.Since(start).Seconds()
	}
	return s, nil
}

func memTotal() int64 {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Ports are a container's published ports.
func (e *Engine) Ports(ctx context.Context, nameOrID string) ([]network.PortMapping, error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, err
	}
	return rec.Config.Ports, nil
}
