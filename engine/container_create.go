package engine

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/skiff-project/skiff/engine/config"
	"github.com/skiff-project/skiff/engine/spec"

	imgspec "github.com/opencontainers/image-spec/specs-go/v1"
	cstorage "go.podman.io/storage"
	"go.podman.io/storage/pkg/stringid"

	"github.com/skiff-project/skiff/storage"
)

// PullPolicy is run's and create's --pull: when the image is pulled.
type PullPolicy int

// Pull policies of run and create; the zero value is missing.
const (
	PullMissing PullPolicy = iota // only when no local image has the name
	PullAlways                    // every time
	PullNever                     // never: a local image or nothing
)

var pullPolicies = map[string]PullPolicy{"": PullMissing, "missing": PullMissing, "always": PullAlways, "never": PullNever}

// ParsePullPolicy reads a --pull value: always, missing or never.
func ParsePullPolicy(s string) (PullPolicy, error) {
	p, ok := pullPolicies[s]
	if !ok {
		return 0, fmt.Errorf("%w: --pull %q: use always, missing or never", config.ErrBadOption, s)
	}
	return p, nil
}

// String is the policy as --pull takes it.
func (p PullPolicy) String() string {
	switch p {
	case PullAlways:
		return "always"
	case PullNever:
		return "never"
	}
	return "missing"
}

// SdNotifyMode is run's and create's --sdnotify (config.SdNotifyContainer,
// SdNotifyConmon or SdNotifyIgnore), as the container records it.
type SdNotifyMode string

// ParseSdNotify reads a --sdnotify value: container, conmon or ignore.
func ParseSdNotify(mode string) (SdNotifyMode, error) {
	switch mode {
	case "", config.SdNotifyContainer, config.SdNotifyConmon, config.SdNotifyIgnore:
		return SdNotifyMode(mode), nil
	}
	return "", fmt.Errorf("%w: --sdnotify %q: use container, conmon or ignore", config.ErrBadOption, mode)
}

// CreateOptions describe a container to create.
type CreateOptions struct {
	Image string
	// Name is the container's name, checked by Create; "": one is made up.
	Name       string
	Replace    bool
	Pull       PullPolicy
	Registry   storage.RegistryOptions
	PullOutput io.Writer
	Cmd        []string // arguments after the image
	Entrypoint *string  // --entrypoint; "" clears the image's
	// Env is -e and --env-file, over the image's: KEY=VALUE, resolved by
	// the caller (a bare KEY, which takes the caller's value, is the
	// caller's to look up: ResolveEnv).
	Env []string
	// HostEnv, with --env-host, is the caller's environment, under the
	// image's and Env.
	HostEnv []string
	// SystemdUnit is the systemd unit that creates the container (the
	// caller's PODMAN_SYSTEMD_UNIT), kept as its label for auto-update.
	SystemdUnit string
	WorkingDir  string
	User        string
	Labels      map[string]string
	Hostname    string
	Tty         bool
	Interactive bool
	AutoRemove  bool
	Network     NetworkChoice // --network, parsed (ParseNetwork)
	// Runtime is --runtime: a name or a path, "" for the default. The
	// container records the name (never the path it resolved to), so
	// that it keeps working when the binary moves.
	Runtime     string
	Mounts      []config.Mount // -v, --mount, --tmpfs
	VolumesFrom []string       // CONTAINER[:ro|rw]
	ReadOnly    bool
	// ReadOnlyTmpfs: tmpfs on /tmp, /var/tmp and /run when ReadOnly.
	ReadOnlyTmpfs bool
	// SdNotify is --sdnotify: container (the default), conmon or ignore.
	SdNotify SdNotifyMode
	// CreateCommand is the command line that made the container, for
	// generate systemd --new.
	CreateCommand []string
	RunOptions
	NetworkOptions
}

// SystemdUnitLabel names the systemd unit that made a container; the
// units skiff generates set it in the environment (as podman's do).
const SystemdUnitLabel = "PODMAN_SYSTEMD_UNIT"

// ReadEnvFiles reads the KEY=VALUE (or bare KEY) lines of --env-file
// files; ResolveEnv resolves bare KEYs, as for -e.
func ReadEnvFiles(files []string) ([]string, error) {
	var env []string
	for _, path := range files {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("%w: --env-file: %v", config.ErrBadOption, err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" || strings.HasPrefix(line, "#") {
				continue
			}
			env = append(env, line)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	return env, nil
}

// ResolveEnv gives each bare KEY of env its value from lookup (the
// caller's environment), as docker does for -e KEY; a KEY lookup does not
// know is left out.
func ResolveEnv(env []string, lookup func(string) (string, bool)) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		if !strings.Contains(kv, "=") {
			v, ok := lookup(kv)
			if !ok {
				continue
			}
			kv += "=" + v
		}
		out = append(out, kv)
	}
	return out
}

// mergeEnv applies overrides to base by key; a bare KEY is left out
// (ResolveEnv gives it its value first).
func mergeEnv(base []string, overrides ...[]string) []string {
	out := append([]string(nil), base...)
	for _, list := range overrides {
		for _, kv := range list {
			key := config.EnvKey(kv)
			if !strings.Contains(kv, "=") {
				continue
			}
			replaced := false
			for i := range out {
				if config.EnvKey(out[i]) == key {
					out[i], replaced = kv, true
				}
			}
			if !replaced {
				out = append(out, kv)
			}
		}
	}
	return out
}

// Create makes a container from an image: a writable layer in the store and
// a record in the state database. The record comes last (but for --userns
// auto, whose range the record's transaction chooses and the layer needs):
// a create killed at any point leaves no container that lacks its layer,
// only, at worst, a layer of no container, which `system check` finds.
func (e *Engine) Create(ctx context.Context, o CreateOptions) (*config.ContainerRecord, error) {
	defer phase("create", time.Now())
	if o.Name != "" {
		if err := config.CheckName(o.Name); err != nil {
			return nil, err
		}
	}
	runtime, err := e.Runtime(o.Runtime)
	if err != nil {
		return nil, err
	}
	t := time.Now()
	img, cfg, err := e.imageFor(ctx, o)
	phase("image lookup", t)
	if err != nil {
		return nil, err
	}
	c, err := e.containerConfig(ctx, o, cfg.Config)
	if err != nil {
		return nil, err
	}
	if c.Runtime, err = e.containerRuntime(o.Runtime, runtime, &c); err != nil {
		return nil, err
	}
	id := stringid.GenerateRandomID()
	if c.Hostname == "" {
		c.Hostname = id[:12]
	}
	rec := &config.ContainerRecord{ID: id, Name: o.Name, Image: o.Image, ImageID: img.ID, Created: time.Now(), State: config.StateCreated, Config: c}
	if len(c.Security.UIDMap) > 0 {
		// Where its bundle will be, refused now rather than at start.
		if err := e.nestedBundleRoot(e.bundleDir(rec)); err != nil {
			return nil, err
		}
	}
	if c.Security.Userns == "auto" {
		if err := e.claimName(ctx, rec, o.Replace); err != nil {
			return nil, err
		}
		if err := e.makeContainer(ctx, rec); err != nil {
			return nil, e.undoCreate(ctx, rec, err)
		}
		return rec, nil
	}
	if err := e.makeContainer(ctx, rec); err != nil {
		return nil, e.undoCreate(ctx, rec, err)
	}
	if err := e.claimName(ctx, rec, o.Replace); err != nil {
		return nil, e.undoCreate(ctx, rec, err)
	}
	return rec, nil
}

// containerConfig is the configuration of a container of the image (its
// config ic) with create's options, each checked.
func (e *Engine) containerConfig(ctx context.Context, o CreateOptions, ic imgspec.ImageConfig) (config.ContainerConfig, error) {
	c := config.ContainerConfig{
		Cmd: ic.Cmd, Entrypoint: ic.Entrypoint, WorkingDir: ic.WorkingDir, User: ic.User,
		Labels: map[string]string{}, Hostname: o.Hostname, Tty: o.Tty, OpenStdin: o.Interactive,
		AutoRemove: o.AutoRemove, StopSignal: ic.StopSignal, Runtime: o.Runtime,
		SdNotify: string(o.SdNotify), CreateCommand: o.CreateCommand,
	}
	for k, v := range ic.Labels {
		c.Labels[k] = v
	}
	for k, v := range o.Labels {
		c.Labels[k] = v
	}
	// A container made by a systemd unit remembers it (auto-update
	// restarts the unit).
	if o.SystemdUnit != "" {
		c.Labels[SystemdUnitLabel] = o.SystemdUnit
	}
	if o.Entrypoint != nil {
		c.Entrypoint = nil
		if *o.Entrypoint != "" {
			c.Entrypoint = []string{*o.Entrypoint}
		}
		if len(o.Cmd) == 0 {
			c.Cmd = nil
		}
	}
	if len(o.Cmd) > 0 {
		c.Cmd = o.Cmd
	}
	if o.WorkingDir != "" {
		c.WorkingDir = o.WorkingDir
	}
	if o.User != "" {
		c.User = o.User
	}
	c.Env = mergeEnv(o.HostEnv, ic.Env, o.Env)
	if len(c.Entrypoint)+len(c.Cmd) == 0 {
		return c, fmt.Errorf("%w: no command given and image %s has no CMD or ENTRYPOINT", config.ErrBadOption, o.Image)
	}
	var err error
	if c.Mounts, err = e.resolveMounts(ctx, o.Mounts, o.VolumesFrom, ic.Volumes); err != nil {
		return c, err
	}
	c.ReadOnly, c.ReadOnlyTmpfs = o.ReadOnly, o.ReadOnlyTmpfs
	if err := e.resolveRunOptions(ctx, o.RunOptions, &c); err != nil {
		return c, err
	}
	if err := e.resolveNetwork(ctx, o.Network, o.NetworkOptions, ic.ExposedPorts, &c); err != nil {
		return c, err
	}
	return c, spec.ResolveSysctls(o.Sysctls, &c)
}

// makeContainer makes what a container has besides its record: its layer
// in the store, laid out for its ids, its directory, and the volumes it
// names that do not exist yet (rec.MadeVolumes). The user it runs as must
// exist in the layer.
func (e *Engine) makeContainer(ctx context.Context, rec *config.ContainerRecord) error {
	defer phase("create layer", time.Now())
	c := rec.Config
	// A --rm container's layer lives as long as one run: the store writes
	// its records without fsync (podman does the same). A power cut may
	// lose them; a crash of skiff may not (they are renamed into place).
	copts := &cstorage.ContainerOptions{Volatile: c.AutoRemove}
	if len(c.Security.UIDMap) > 0 {
		// The store lays the files out as the container's own user
		// namespace sees them.
		m := storageMappings(c.Security)
		copts.UIDMap, copts.GIDMap = m.UIDs(), m.GIDs()
	}
	if err := e.store.CreateContainerLayer(rec.ID, rec.ImageID, copts); err != nil {
		return fmt.Errorf("creating the container's layer: %w", err)
	}
	if err := e.checkUser(rec); err != nil {
		return err
	}
	if err := os.MkdirAll(e.containerDir(rec.ID), 0o700); err != nil {
		return err
	}
	var err error
	rec.MadeVolumes, err = e.createVolumes(ctx, c.Mounts)
	return err
}

// claimName inserts the record, generating a name when none was given and
// replacing the holder of the name with --replace.
func (e *Engine) claimName(ctx context.Context, rec *config.ContainerRecord, replace bool) error {
	generated := rec.Name == ""
	for attempt := 0; ; attempt++ {
		if generated {
			rec.Name = randomName()
		}
		err := e.state.Add(ctx, rec)
		if err == nil || !errors.Is(err, config.ErrNameInUse) {
			return err
		}
		switch {
		case replace && attempt < 5:
			if old, lerr := e.state.Lookup(ctx, rec.Name); lerr == nil {
				if rerr := e.Remove(ctx, old.ID, RemoveOptions{Force: true}); rerr != nil && !errors.Is(rerr, config.ErrNoSuchContainer) {
					return rerr
				}
			}
		case generated && attempt < 20:
		default:
			return err
		}
	}
}

var (
	adjectives = []string{"brave", "calm", "eager", "fancy", "gentle", "happy", "jolly", "keen", "lucid", "merry", "nimble", "proud", "quiet", "rapid", "sharp", "tidy", "vivid", "witty", "young", "zesty"}
	nouns      = []string{"otter", "heron", "falcon", "lynx", "badger", "marten", "osprey", "puffin", "raven", "salmon", "turtle", "walrus", "beaver", "condor", "ferret", "gecko", "ibis", "koala", "lemur", "newt"}
)

func randomName() string {
	pick := func(list []string) string {
		n, _ := rand.Int(rand.Reader, big.NewInt(int64(len(list))))
		return list[n.Int64()]
	}
	n, _ := rand.Int(rand.Reader, big.NewInt(10000))
	return fmt.Sprintf("%s_%s_%d", pick(adjectives), pick(nouns), n.Int64())
}

// imageFor finds or pulls the image according to the pull policy, and
// reads its configuration: one look in the store.
func (e *Engine) imageFor(ctx context.Context, o CreateOptions) (*cstorage.Image, *imgspec.Image, error) {
	sys, err := o.Registry.SystemContext()
	if err != nil {
		return nil, nil, err
	}
	if o.Pull != PullAlways {
		img, cfg, err := e.store.ConfigOf(ctx, sys, o.Image)
		if err == nil {
			return img, cfg, nil
		}
		if !errors.Is(err, storage.ErrNoSuchImage) || o.Pull == PullNever {
			return nil, nil, err
		}
	}
	reports, err := e.store.Pull(ctx, storage.PullOptions{RegistryOptions: o.Registry, Reference: o.Image, Progress: o.PullOutput})
	if err != nil {
		return nil, nil, err
	}
	return e.store.ConfigOf(ctx, sys, reports[0].ID)
}
