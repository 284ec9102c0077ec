package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/archive"

	"github.com/skiff-project/skiff/engine/build"
	"github.com/skiff-project/skiff/engine/oci"
	"github.com/skiff-project/skiff/engine/spec"
)

// Run runs a RUN step's process on st's working layer with the default
// security profile, in the user's namespace, on the build's network.
func (x *buildExecutor) Run(ctx context.Context, st build.State, step build.RunStep, out io.Writer) (next build.State, err error) {
	work, fresh, err := x.work(st)
	if err != nil {
		return build.State{}, err
	}
	defer func() {
		if err != nil && fresh {
			var failed *RunFailedError
			x.finishWork(work, x.keepFailed && errors.As(err, &failed))
		}
	}()
	rootfs, err := x.e.store.MountContainer(work)
	if err != nil {
		return build.State{}, fmt.Errorf("mounting the working layer: %w", err)
	}
	defer func() { _ = x.e.store.UnmountContainer(work, false) }()
	scratch, err := os.MkdirTemp(x.e.ns.Bundles(), fmt.Sprintf("build-%d-", os.Getpid()))
	if err != nil {
		return build.State{}, err
	}
	defer os.RemoveAll(scratch)
	restore, err := keepVolumes(rootfs, scratch, st.Config.Volumes)
	if err != nil {
		return build.State{}, err
	}
	rs, made, release, err := x.runSpec(rootfs, scratch, step)
	defer release()
	if err != nil {
		return build.State{}, err
	}
	sw := &syncWriter{w: out}
	code, err := oci.RunOnRootfs(ctx, oci.RootfsRun{
		Runtime: x.runtime, Root: x.e.runtimeRoot(), SeccompCache: x.e.seccompDir(), Scratch: scratch,
		Rootfs: rootfs, Spec: rs, Stdin: nil, Stdout: sw, Stderr: sw,
	})
	removeMountpoints(made)
	if rerr := restore(); rerr != nil && err == nil {
		err = rerr
	}
	if err != nil {
		return build.State{}, err
	}
	if code != 0 {
		return build.State{}, &RunFailedError{Code: code}
	}
	st.Work = work
	return st, nil
}

// runSpec is the runtime configuration of a RUN: its process as the
// image's user, its --mount flags and heredoc files, the build's network.
// made lists the mount points the runtime will create in the layer (removed
// after the run, as buildah does); release drops what the mounts hold.
func (x *buildExecutor) runSpec(rootfs, scratch string, step build.RunStep) (*specs.Spec, []string, func(), error) {
	var releases []func()
	release := func() {
		for _, r := range slices.Backward(releases) {
			r()
		}
	}
	userSpec := step.User
	if userSpec == "" {
		userSpec = "0"
	}
	u, err := user.GetExecUserPath(userSpec, &user.ExecUser{Home: "/"}, filepath.Join(rootfs, "etc/passwd"), filepath.Join(rootfs, "etc/group"))
	if err != nil {
		return nil, nil, release, fmt.Errorf("user %q: %v", step.User, err)
	}
	mounts, secretEnv, rel, err := x.runMounts(scratch, step)
	releases = append(releases, rel...)
	if err != nil {
		return nil, nil, release, err
	}
	var made []string
	for _, m := range mounts {
		if p := firstMissing(rootfs, m.Destination); p != "" {
			made = append(made, p)
		}
	}
	env := append(slices.Clone(step.Env), secretEnv...)
	if !hasEnv(env, "HOME") {
		env = append(env, "HOME="+u.Home)
	}
	opts := spec.Options{
		Rootfs: rootfs, Args: step.Args, Env: env, Cwd: step.WorkDir,
		UID: uint32(u.Uid), GID: uint32(u.Gid), Mounts: mounts,
	}
	// The primary group, and with a user alone the groups that list it
	// (containerd's WithAdditionalGIDs, buildah's).
	opts.AdditionalGids = []uint32{uint32(u.Gid)}
	if !strings.Contains(userSpec, ":") {
		for _, g := range u.Sgids {
			if !slices.Contains(opts.AdditionalGids, uint32(g)) {
				opts.AdditionalGids = append(opts.AdditionalGids, uint32(g))
			}
		}
	}
	rs, err := spec.New(opts)
	if err != nil {
		return nil, made, release, err
	}
	network := step.Network
	if network == "" || network == "default" {
		network = x.network
	}
	if network != "none" {
		// The build's own namespace's network: the host's, rootless.
		rs.Linux.Namespaces = slices.DeleteFunc(rs.Linux.Namespaces, func(n specs.LinuxNamespace) bool { return n.Type == specs.NetworkNamespace })
		bindHostSys(rs)
		for _, f := range []string{"/etc/hosts", "/etc/resolv.conf"} {
			if fileExists(f) && firstMissing(rootfs, f) == "" {
				rs.Mounts = append(rs.Mounts, specs.Mount{Destination: f, Type: "bind", Source: f, Options: []string{"rbind", "ro"}})
			}
		}
	}
	return rs, made, release, nil
}

// firstMissing is the shallowest path on the way to dest (absolute, in
// rootfs) that does not exist yet: what the runtime creates to mount dest.
// "" when dest exists or lies under /dev, /proc, /sys (not the layer's).
func firstMissing(rootfs, dest string) string {
	clean := path.Clean("/" + dest)
	for _, top := range []string{"/dev", "/proc", "/sys"} {
		if clean == top || strings.HasPrefix(clean, top+"/") {
			return ""
		}
	}
	parts := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	for i := range parts {
		p := "/" + strings.Join(parts[:i+1], "/")
		host, err := securejoin.SecureJoin(rootfs, p)
		if err != nil {
			return ""
		}
		if _, err := os.Lstat(host); os.IsNotExist(err) {
			return host
		}
	}
	return ""
}

// removeMountpoints removes the mount points a run created, when they are
// still empty.
func removeMountpoints(made []string) {
	for _, p := range made {
		removeEmpty(p)
	}
}

// removeEmpty removes p if it is an empty file or a tree of empty
// directories and empty files.
func removeEmpty(p string) bool {
	fi, err := os.Lstat(p)
	if err != nil {
		return true
	}
	if fi.IsDir() {
		entries, _ := os.ReadDir(p)
		for _, en := range entries {
			if !removeEmpty(filepath.Join(p, en.Name())) {
				return false
			}
		}
	} else if !fi.Mode().IsRegular() || fi.Size() != 0 {
		return false
	}
	return os.Remove(p) == nil
}

// syncWriter lets a process's stdout and stderr share one writer.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}

// keepVolumes makes the image's volumes (buildah makes them for a RUN) and
// saves what they hold; restore puts it back after the run: what a RUN
// changes in a volume is discarded, as docker's reference and podman have it.
func keepVolumes(rootfs, scratch string, volumes map[string]struct{}) (restore func() error, err error) {
	type saved struct{ dir, tar string }
	var all []saved
	for v := range volumes {
		dir, err := (&copier{rootfs: rootfs}).mkdirAll(v)
		if err != nil {
			return nil, fmt.Errorf("VOLUME %s: %w", v, err)
		}
		rc, err := archive.Tar(dir, archive.Uncompressed)
		if err != nil {
			return nil, err
		}
		f, err := os.CreateTemp(scratch, "volume-")
		if err == nil {
			_, err = io.Copy(f, rc)
			f.Close()
		}
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("saving VOLUME %s: %w", v, err)
		}
		all = append(all, saved{dir, f.Name()})
	}
	return func() error {
		for _, s := range all {
			entries, _ := os.ReadDir(s.dir)
			for _, en := range entries {
				if err := os.RemoveAll(filepath.Join(s.dir, en.Name())); err != nil {
					return err
				}
			}
			f, err := os.Open(s.tar)
			if err != nil {
				return err
			}
			err = archive.Untar(f, s.dir, &archive.TarOptions{})
			f.Close()
			if err != nil {
				return fmt.Errorf("restoring a volume: %w", err)
			}
		}
		return nil
	}, nil
}
