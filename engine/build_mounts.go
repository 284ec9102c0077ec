package engine

import (
	"fmt"
	"os"
	"path/filepath"

	securejoin "github.com/cyphar/filepath-securejoin"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"go.podman.io/storage/pkg/archive"

	"github.com/skiff-project/skiff/engine/build"
)

// runMounts are the runtime mounts of a RUN's --mount flags and heredoc
// files, and the variables of secrets given as env=; releases drop what the
// mounts hold (image trees mounted for them).
func (x *buildExecutor) runMounts(scratch string, step build.RunStep) (mounts []specs.Mount, env []string, releases []func(), err error) {
	for i, f := range step.Files {
		host := filepath.Join(scratch, fmt.Sprintf("pipe-%d", i))
		if err := os.WriteFile(host, []byte(f.Data), 0o755); err != nil {
			return nil, nil, releases, err
		}
		mounts = append(mounts, specs.Mount{Destination: "/dev/pipes/" + f.Name, Type: "bind", Source: host, Options: []string{"bind", "ro"}})
	}
	for i, m := range step.Mounts {
		switch m.Type {
		case "tmpfs":
			opts := []string{"rw", "nosuid", "nodev"}
			if m.Size > 0 {
				opts = append(opts, fmt.Sprintf("size=%d", m.Size))
			}
			mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "tmpfs", Source: "tmpfs", Options: opts})
		case "secret", "ssh":
			if m.HostPath == "" {
				continue // not required and not given
			}
			file, value, err := secretFile(scratch, i, m)
			if err != nil {
				return nil, nil, releases, err
			}
			if m.Env != "" {
				env = append(env, m.Env+"="+value)
			}
			if m.Target == "" {
				continue // env= alone: a variable, no file
			}
			mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: file, Options: []string{"bind", "ro"}})
		case "bind", "cache":
			src, rel, err := x.mountSource(scratch, i, m)
			releases = append(releases, rel...)
			if err != nil {
				return nil, nil, releases, err
			}
			opts := []string{"rbind"}
			if m.ReadOnly {
				opts = append(opts, "ro")
			}
			mounts = append(mounts, specs.Mount{Destination: m.Target, Type: "bind", Source: src, Options: opts})
		default:
			return nil, nil, releases, fmt.Errorf("--mount type=%s is not supported", m.Type)
		}
	}
	return mounts, env, releases, nil
}

// mountSource is the host path a bind or cache mount binds: a cache's
// directory, a path in the build context, or one in a stage's or image's
// tree (mounted for the run). A writable bind of the context (rw) binds a
// copy: what the RUN writes there is discarded, as buildkit discards it,
// and the user's files are never touched.
func (x *buildExecutor) mountSource(scratch string, i int, m build.Mount) (string, []func(), error) {
	var releases []func()
	src := m.HostPath
	if m.Type == "cache" {
		return src, nil, x.seedCache(m)
	}
	if m.Image != nil {
		root, rel, err := x.mountImage(m.Image)
		if err != nil {
			return "", nil, err
		}
		releases = append(releases, rel)
		if src, err = securejoin.SecureJoin(root, m.Source); err != nil {
			return "", releases, err
		}
		return src, releases, nil
	}
	if src == "" {
		return "", nil, fmt.Errorf("--mount type=%s,target=%s has no source", m.Type, m.Target)
	}
	if m.Type == "cache" || m.ReadOnly {
		return src, nil, nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return "", nil, err
	}
	dst := filepath.Join(scratch, fmt.Sprintf("bind-%d", i))
	if !fi.IsDir() {
		return dst, nil, copyFileData(src, dst)
	}
	if err := archive.NewDefaultArchiver().CopyWithTar(src, dst); err != nil {
		return "", nil, fmt.Errorf("copying the writable bind source %s: %w", m.Source, err)
	}
	return dst, nil, nil
}

// seedCache fills a new cache directory with what its from= names.
func (x *buildExecutor) seedCache(m build.Mount) error {
	if !m.Seed {
		return nil
	}
	from := m.SeedPath
	if m.Image != nil {
		root, release, err := x.mountImage(m.Image)
		if err != nil {
			return err
		}
		defer release()
		if from, err = securejoin.SecureJoin(root, m.Source); err != nil {
			return err
		}
	}
	if fi, err := os.Stat(from); err != nil || !fi.IsDir() {
		return fmt.Errorf("--mount type=cache,from=...,source=%s: not a directory", m.Source)
	}
	if err := archive.NewDefaultArchiver().CopyWithTar(from, m.HostPath); err != nil {
		return fmt.Errorf("filling the cache %s from %s: %w", m.ID, m.Source, err)
	}
	return nil
}

// secretFile is a copy of a secret with the mode (default 0400) and owner
// (default root) the mount asks for, as buildkit gives it, and its value.
func secretFile(scratch string, i int, m build.Mount) (string, string, error) {
	data, err := os.ReadFile(m.HostPath)
	if err != nil {
		return "", "", fmt.Errorf("reading secret %s: %w", m.ID, err)
	}
	file := filepath.Join(scratch, fmt.Sprintf("secret-%d", i))
	mode, uid, gid := m.Owner(0o400)
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return "", "", err
	}
	if err := os.Chown(file, uid, gid); err != nil {
		return "", "", err
	}
	return file, string(data), os.Chmod(file, mode)
}
