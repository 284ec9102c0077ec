package engine

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/sys/user"
	"go.podman.io/storage/pkg/archive"
	"golang.org/x/sys/unix"

	"github.com/skiff-project/skiff/engine/build"
)

// Copy writes a COPY's or ADD's files (or a WORKDIR's directory) into st's
// working layer, as docker's builder lays them out.
func (x *buildExecutor) Copy(ctx context.Context, st build.State, step build.CopyStep, src build.CopySource) (next build.State, err error) {
	if len(step.Excludes) > 0 || step.Parents {
		return build.State{}, fmt.Errorf("COPY --exclude and --parents are not supported yet")
	}
	work, fresh, err := x.work(st)
	if err != nil {
		return build.State{}, err
	}
	defer func() {
		if err != nil && fresh {
			x.dropWork(work)
		}
	}()
	rootfs, err := x.e.store.MountContainer(work)
	if err != nil {
		return build.State{}, fmt.Errorf("mounting the working layer: %w", err)
	}
	defer func() { _ = x.e.store.UnmountContainer(work, false) }()
	c := &copier{rootfs: rootfs}
	if src.MkdirOnly {
		// buildkit makes a WORKDIR as the user the stage runs as.
		if st.Config.User != "" {
			if c.owner, err = lookupOwner(rootfs, st.Config.User, false); err != nil {
				return build.State{}, err
			}
		}
		_, err = c.mkdirAll(step.Dest)
		if err != nil {
			return build.State{}, err
		}
		st.Work = work
		return st, nil
	}
	if err := c.configure(step); err != nil {
		return build.State{}, err
	}
	if err := x.copyInto(c, step, src); err != nil {
		return build.State{}, err
	}
	st.Work = work
	return st, nil
}

// copyInto copies every source of the step.
func (x *buildExecutor) copyInto(c *copier, step build.CopyStep, src build.CopySource) error {
	count := len(src.Paths) + len(step.Contents) + len(src.Downloads)
	if src.Image != nil {
		root, release, err := x.mountImage(src.Image)
		if err != nil {
			return err
		}
		defer release()
		var matches []string
		for _, s := range step.Sources {
			m, err := imageMatches(root, s)
			if err != nil {
				return err
			}
			matches = append(matches, m...)
		}
		c.preserveOwner = true
		toDir := strings.HasSuffix(step.Dest, "/") || len(matches) > 1 || hasGlob(step.Sources)
		for _, m := range matches {
			if err := c.copyTree(m, step.Dest, toDir); err != nil {
				return err
			}
		}
		return nil
	}
	toDir := strings.HasSuffix(step.Dest, "/") || count > 1 || hasGlob(step.Sources)
	for _, p := range src.Paths {
		top, err := src.Context.ResolveTop(p)
		if err != nil {
			return err
		}
		if step.Add {
			if done, err := c.addArchive(filepath.Join(src.Context.Dir, filepath.FromSlash(top)), step.Dest); done || err != nil {
				return err
			}
		}
		base := path.Base("/" + p)
		err = src.Context.Walk(top, func(rel, host string, fi fs.FileInfo) error {
			sub := strings.TrimPrefix(strings.TrimPrefix(rel, strings.TrimSuffix(top, ".")), "/")
			if top == "." || top == "" {
				sub = rel
				if rel == "." {
					sub = ""
				}
			}
			isTop := fi.IsDir() && sub == ""
			return c.copyOne(host, fi, destFor(step.Dest, base, sub, toDir, isTop), isTop)
		})
		if err != nil {
			return err
		}
	}
	for _, f := range step.Contents {
		if err := c.writeFile(destFor(step.Dest, f.Name, "", toDir, false), []byte(f.Data), 0o644); err != nil {
			return err
		}
	}
	for _, d := range src.Downloads {
		data, err := os.ReadFile(d.Path)
		if err != nil {
			return err
		}
		dest := destFor(step.Dest, d.Name, "", toDir, false)
		if err := c.writeFile(dest, data, 0o600); err != nil {
			return err
		}
		if fi, err := os.Stat(d.Path); err == nil {
			if target, err := c.resolveParent(dest); err == nil {
				_ = os.Chtimes(target, fi.ModTime(), fi.ModTime())
			}
		}
	}
	return nil
}

// destFor is where a source's entry goes: a directory's contents go into
// dest; a file goes to dest, or into it when dest is a directory.
func destFor(dest, base, sub string, toDir, isTopDir bool) string {
	if isTopDir {
		return dest
	}
	if sub != "" {
		return path.Join(dest, sub)
	}
	if toDir {
		return path.Join(dest, base)
	}
	return dest
}

func hasGlob(srcs []string) bool {
	for _, s := range srcs {
		if strings.ContainsAny(s, "*?[") {
			return true
		}
	}
	return false
}

// imageMatches expands a COPY --from source (a path or a glob) in an
// image's tree into host paths, symlinks in the path resolved inside it.
func imageMatches(root, src string) ([]string, error) {
	if !hasGlob([]string{src}) {
		p, err := securejoin.SecureJoin(root, src)
		if err != nil {
			return nil, err
		}
		if _, err := os.Lstat(p); err != nil {
			return nil, fmt.Errorf("%w: %s", build.ErrNoSource, src)
		}
		return []string{p}, nil
	}
	dir, err := securejoin.SecureJoin(root, path.Dir(path.Clean("/"+src)))
	if err != nil {
		return nil, err
	}
	m, err := filepath.Glob(filepath.Join(dir, path.Base(src)))
	if err != nil || len(m) == 0 {
		return nil, fmt.Errorf("%w: %s", build.ErrNoSource, src)
	}
	return m, nil
}

// copier writes files into a mounted root file system.
type copier struct {
	rootfs        string
	owner         *[2]int      // --chown (or a WORKDIR's user): every file's owner
	mode          *fs.FileMode // --chmod
	preserveOwner bool         // COPY --from keeps owners; the context's files are root's
	// links are the files of this COPY with more than one name, by device
	// and inode, and the first copy made of each: the next names of one
	// become hard links to that copy, as buildah's and buildkit's COPY make
	// them.
	links map[[2]uint64]string
}

func (c *copier) configure(step build.CopyStep) error {
	if step.Chown != "" {
		o, err := lookupOwner(c.rootfs, step.Chown, true)
		if err != nil {
			return err
		}
		c.owner = o
	}
	if step.Chmod != "" {
		m, err := strconv.ParseUint(step.Chmod, 8, 32)
		if err != nil || m > 0o7777 {
			return fmt.Errorf("--chmod=%s: want an octal mode", step.Chmod)
		}
		mode := fs.FileMode(m & 0o777)
		for bit, fm := range map[uint64]fs.FileMode{0o4000: fs.ModeSetuid, 0o2000: fs.ModeSetgid, 0o1000: fs.ModeSticky} {
			if m&bit != 0 {
				mode |= fm
			}
		}
		c.mode = &mode
	}
	return nil
}

// lookupOwner resolves user[:group] in the image's files. numericGroup:
// docker's --chown gives a user without a group its UID as GID.
func lookupOwner(rootfs, spec string, numericGroup bool) (*[2]int, error) {
	u, err := user.GetExecUserPath(spec, &user.ExecUser{}, filepath.Join(rootfs, "etc/passwd"), filepath.Join(rootfs, "etc/group"))
	if err != nil {
		return nil, fmt.Errorf("user %q: %v", spec, err)
	}
	gid := u.Gid
	if numericGroup && !strings.Contains(spec, ":") {
		if _, err := strconv.Atoi(spec); err == nil {
			gid = u.Uid
		}
	}
	return &[2]int{u.Uid, gid}, nil
}

// resolve is dest in the root file system, symlinks followed inside it.
func (c *copier) resolve(dest string) (string, error) {
	return securejoin.SecureJoin(c.rootfs, dest)
}

// mkdirAll makes dest and its missing parents (mode 0755, owned by owner
// or root), and returns its host path.
func (c *copier) mkdirAll(dest string) (string, error) {
	clean := path.Clean("/" + dest)
	parts := strings.Split(strings.TrimPrefix(clean, "/"), "/")
	host := c.rootfs
	for i := range parts {
		if parts[i] == "" {
			continue
		}
		p, err := c.resolve("/" + strings.Join(parts[:i+1], "/"))
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(p); err == nil {
			if !fi.IsDir() {
				return "", fmt.Errorf("%s is not a directory", "/"+strings.Join(parts[:i+1], "/"))
			}
		} else if err := os.Mkdir(p, 0o755); err != nil {
			return "", err
		} else if err := c.chown(p, 0, 0); err != nil {
			return "", err
		}
		host = p
	}
	return host, nil
}

func (c *copier) chown(host string, uid, gid int) error {
	if c.owner != nil {
		uid, gid = c.owner[0], c.owner[1]
	}
	return os.Lchown(host, uid, gid)
}

// copyTree copies an image's file or directory (host path src) to dest.
func (c *copier) copyTree(src, dest string, toDir bool) error {
	return filepath.Walk(src, func(p string, fi fs.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		sub := filepath.ToSlash(rel)
		if sub == "." {
			sub = ""
		}
		isTop := fi.IsDir() && sub == ""
		return c.copyOne(p, fi, destFor(dest, filepath.Base(src), sub, toDir, isTop), isTop)
	})
}

// copyOne copies one file, directory, symlink or fifo from host to dest.
func (c *copier) copyOne(host string, fi fs.FileInfo, dest string, top bool) error {
	if _, err := c.mkdirAll(path.Dir(path.Clean("/" + dest))); err != nil {
		return err
	}
	uid, gid := 0, 0
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && c.preserveOwner {
		uid, gid = int(st.Uid), int(st.Gid)
	}
	mode := fi.Mode().Perm() | fi.Mode()&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)
	if c.mode != nil {
		mode = *c.mode
	}
	target, err := c.resolveParent(dest)
	if err != nil {
		return err
	}
	if top && fi.IsDir() {
		if st, err := os.Stat(target); err == nil && st.IsDir() {
			return nil // a directory's contents go into an existing one, which keeps its own metadata
		}
	}
	switch {
	case fi.IsDir():
		if st, err := os.Lstat(target); err != nil || !st.IsDir() {
			_ = os.Remove(target)
			if err := os.Mkdir(target, 0o700); err != nil {
				return err
			}
		}
	case fi.Mode()&fs.ModeSymlink != 0:
		link, err := os.Readlink(host)
		if err != nil {
			return err
		}
		_ = os.RemoveAll(target)
		if err := os.Symlink(link, target); err != nil {
			return err
		}
		return c.chown(target, uid, gid)
	case fi.Mode().IsRegular():
		st, _ := fi.Sys().(*syscall.Stat_t)
		if st != nil && st.Nlink > 1 {
			key := [2]uint64{st.Dev, st.Ino}
			if first, ok := c.links[key]; ok && first != target {
				_ = os.RemoveAll(target)
				return os.Link(first, target) // its owner, mode and times are the first's
			}
			if c.links == nil {
				c.links = map[[2]uint64]string{}
			}
			c.links[key] = target
		}
		if err := copyFileData(host, target); err != nil {
			return err
		}
	case fi.Mode()&fs.ModeNamedPipe != 0:
		_ = os.RemoveAll(target)
		if err := unix.Mkfifo(target, 0o600); err != nil {
			return err
		}
	default:
		return nil // devices and sockets are not copied
	}
	if err := c.chown(target, uid, gid); err != nil {
		return err
	}
	if err := os.Chmod(target, mode); err != nil {
		return err
	}
	return os.Chtimes(target, fi.ModTime(), fi.ModTime())
}

// addArchive unpacks a local tar archive (compressed or not) into dest, as
// ADD does; done is false when src is not an archive.
func (c *copier) addArchive(src, dest string) (done bool, err error) {
	fi, err := os.Stat(src)
	if err != nil || !fi.Mode().IsRegular() || !archive.IsArchivePath(src) {
		return false, nil
	}
	dir, err := c.mkdirAll(dest)
	if err != nil {
		return true, err
	}
	f, err := os.Open(src)
	if err != nil {
		return true, err
	}
	defer f.Close()
	return true, archive.Untar(f, dir, &archive.TarOptions{})
}

// resolveParent is dest on the host with its parent's symlinks followed
// inside the root file system, but not its own last element.
func (c *copier) resolveParent(dest string) (string, error) {
	clean := path.Clean("/" + dest)
	dir, err := c.resolve(path.Dir(clean))
	if err != nil {
		return "", err
	}
	if clean == "/" {
		return dir, nil
	}
	return filepath.Join(dir, path.Base(clean)), nil
}

func copyFileData(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if st, err := os.Lstat(dst); err == nil && !st.Mode().IsRegular() {
		_ = os.RemoveAll(dst)
	}
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// writeFile writes a heredoc's or a download's content at dest.
func (c *copier) writeFile(dest string, data []byte, mode fs.FileMode) error {
	if _, err := c.mkdirAll(path.Dir(path.Clean("/" + dest))); err != nil {
		return err
	}
	target, err := c.resolveParent(dest)
	if err != nil {
		return err
	}
	if err := os.WriteFile(target, data, 0o600); err != nil {
		return err
	}
	if c.mode != nil {
		mode = *c.mode
	}
	if err := c.chown(target, 0, 0); err != nil {
		return err
	}
	return os.Chmod(target, mode)
}
