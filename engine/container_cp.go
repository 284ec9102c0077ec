package engine

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/skiff-project/skiff/engine/config"

	securejoin "github.com/cyphar/filepath-securejoin"
	"go.podman.io/storage/pkg/archive"
	"go.podman.io/storage/pkg/chrootarchive"
	"go.podman.io/storage/pkg/idtools"
	"golang.org/x/sys/unix"
)

var (
	// ErrNoSuchPath means a cp source, or the directory a cp writes
	// into, does not exist.
	ErrNoSuchPath = errors.New("does not exist")
	// ErrCannotCopy means cp's source and destination do not fit together
	// (a directory onto a file, a file into a directory that is not there),
	// or the destination cannot be written.
	ErrCannotCopy = errors.New("cannot copy")
)

// CopyOptions describe cp, with docker's semantics: one end is
// CONTAINER:PATH (SrcContainer or DstContainer set), the other a host path,
// or "-" for a tar stream on Stdin (as the source) or Stdout (as the
// destination). Relative host paths are relative to the working directory.
type CopyOptions struct {
	SrcContainer, SrcPath string
	DstContainer, DstPath string
	// FollowLink copies what a symlink given as the source points to,
	// under the link's name; otherwise the link itself is copied.
	FollowLink bool
	Stdin      io.Reader
	Stdout     io.Writer
}

// Copy copies between a container and the host. A running container is
// seen through its own mount namespace (its tmpfs, bind mounts and volumes,
// a read-only root), a stopped one through its root file system. Symlinks
// in container paths resolve inside the container's root, never the host's.
func (e *Engine) Copy(ctx context.Context, o CopyOptions) error {
	switch {
	case (o.SrcContainer == "") == (o.DstContainer == ""):
		return fmt.Errorf("%w: one of the source and the destination must be CONTAINER:PATH, the other a host path", config.ErrBadOption)
	case o.SrcPath == "" || o.DstPath == "":
		return fmt.Errorf("%w: cp needs a source and a destination path", config.ErrBadOption)
	case o.SrcContainer != "" && o.SrcPath == "-" || o.DstContainer != "" && o.DstPath == "-":
		return fmt.Errorf("%w: - stands for a tar stream on the host side only", config.ErrBadOption)
	}
	ctrName := o.SrcContainer + o.DstContainer
	ctr, release, err := e.copySide(ctx, ctrName)
	if err != nil {
		return err
	}
	defer release()
	host := &cpSide{root: "/"}
	src, dst := host, ctr
	if o.SrcContainer != "" {
		src, dst = ctr, host
	}
	if o.SrcPath == "-" {
		return copyStreamIn(o.Stdin, dst, o.DstPath)
	}
	srcPath, err := src.abs(o.SrcPath)
	if err != nil {
		return err
	}
	from, err := src.source(srcPath, o.FollowLink)
	if err != nil {
		return err
	}
	if src.rec == nil {
		// Refused before anything is written: a file the user cannot read
		// would otherwise leave its name behind, empty.
		if err := readable(from); err != nil {
			return fmt.Errorf("%w %s: %v", ErrCannotCopy, from.path, err)
		}
	}
	if o.DstPath == "-" {
		rc, err := src.tar(from, from.name, true)
		if err != nil {
			return err
		}
		defer rc.Close()
		_, err = io.Copy(o.Stdout, rc)
		return err
	}
	dstPath, err := dst.abs(o.DstPath)
	if err != nil {
		return err
	}
	dir, name, err := dst.target(dstPath, from)
	if err != nil {
		return err
	}
	// Into the host, ids stay as the user's namespace sees them (the
	// container's own namespace may map them elsewhere): the container's
	// root comes out as the user.
	rc, err := src.tar(from, name, dst.rec != nil)
	if err != nil {
		return err
	}
	defer rc.Close()
	r := &readErr{r: rc}
	if err := dst.untar(r, dir); err != nil {
		if r.err != nil {
			// The source's failure, not what it did to the extraction.
			return fmt.Errorf("%w %s: %v", ErrCannotCopy, src.label(src.inner(from.path)), r.err)
		}
		return err
	}
	return nil
}

// readable checks that every file and directory of a host source can be
// read.
func readable(src *cpSource) error {
	open := func(p string) error {
		f, err := os.Open(p)
		if err == nil {
			f.Close()
		}
		return err
	}
	if src.info.Mode().IsRegular() {
		return open(src.path)
	}
	if !src.info.IsDir() {
		return nil
	}
	return filepath.WalkDir(src.path, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			err = open(p)
		}
		return err
	})
}

// readErr remembers the error a reader failed with.
type readErr struct {
	r   io.Reader
	err error
}

func (r *readErr) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF && r.err == nil {
		r.err = err
	}
	return n, err
}

// copySide is a container's end of a cp: a running container's root as its
// own mount namespace shows it, else its root file system, mounted for the
// copy.
func (e *Engine) copySide(ctx context.Context, nameOrID string) (*cpSide, func(), error) {
	rec, err := e.state.Lookup(ctx, nameOrID)
	if err != nil {
		return nil, nil, err
	}
	if e.observedState(rec) == config.StateRunning {
		if pid := e.containerPid(rec); pid > 0 {
			root := fmt.Sprintf("/proc/%d/root", pid)
			if _, err := os.Stat(root + "/"); err == nil {
				return &cpSide{rec: rec, root: root, running: true}, func() {}, nil
			}
		}
	}
	rootfs, err := e.store.MountContainer(rec.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("mounting %s: %w", rec.Name, err)
	}
	side := &cpSide{rec: rec, root: filepath.Clean(rootfs)}
	// Nothing is mounted in a stopped container: its bind mounts and
	// volumes are found at their sources, as docker and podman find them.
	for _, m := range rec.Config.Mounts {
		src := m.Source
		switch m.Type {
		case config.MountVolume:
			src = filepath.Join(e.volumeDir(m.Source), "_data")
		case config.MountBind:
		default:
			continue
		}
		if st, err := os.Stat(src); err == nil && st.IsDir() {
			side.mounts = append(side.mounts, cpMount{dest: filepath.Clean("/" + m.Destination), source: filepath.Clean(src), readOnly: m.ReadOnly})
		}
	}
	sort.Slice(side.mounts, func(i, j int) bool { return len(side.mounts[i].dest) > len(side.mounts[j].dest) })
	return side, func() { _ = e.store.UnmountContainer(rec.ID, false) }, nil
}

// cpMount is a directory a stopped container would have mounted.
type cpMount struct {
	dest, source string
	readOnly     bool
}

// cpSide is one end of a cp: the host (root "/") or a container.
type cpSide struct {
	rec     *config.ContainerRecord // nil: the host
	root    string
	running bool
	mounts  []cpMount // a stopped container's, longest destination first
}

// mountOf is the mount a path under root lies in, if any.
func (s *cpSide) mountOf(rootPath string) (cpMount, string, bool) {
	for _, m := range s.mounts {
		at := s.root + m.dest
		if rootPath == at || strings.HasPrefix(rootPath, at+"/") {
			return m, rootPath[len(at):], true
		}
	}
	return cpMount{}, "", false
}

// real is where a path under root really is: in a mount's source.
func (s *cpSide) real(rootPath string) string {
	if m, rest, ok := s.mountOf(rootPath); ok {
		return m.source + rest
	}
	return rootPath
}

// Lstat and Readlink make s the file system securejoin walks.
func (s *cpSide) Lstat(p string) (os.FileInfo, error) { return os.Lstat(s.real(p)) }
func (s *cpSide) Readlink(p string) (string, error)   { return os.Readlink(s.real(p)) }

// rootFor is the root a host path of this side is read or written in: the
// mount source it lies in, else the side's root.
func (s *cpSide) rootFor(host string) (string, *cpMount) {
	under := func(p, dir string) bool { return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/") }
	if under(host, s.root) {
		return s.root, nil
	}
	var best *cpMount
	for i, m := range s.mounts {
		if under(host, m.source) && (best == nil || len(m.source) > len(best.source)) {
			best = &s.mounts[i]
		}
	}
	if best == nil {
		return s.root, nil
	}
	return best.source, best
}

// cpSource is what a cp copies: path on this side's file system, its
// Lstat, and the name its top entry gets.
type cpSource struct {
	path string
	info os.FileInfo
	name string
}

// label names a path as the user gave it, for messages.
func (s *cpSide) label(p string) string {
	if s.rec == nil {
		return p
	}
	return s.rec.Name + ":" + p
}

// inner is the path a host path of this side has inside its root.
func (s *cpSide) inner(host string) string {
	if s.rec == nil {
		return host
	}
	if root, m := s.rootFor(host); m != nil {
		return filepath.Clean(m.dest + "/" + strings.TrimPrefix(host, root))
	}
	return "/" + strings.TrimPrefix(strings.TrimPrefix(host, s.root), "/")
}

func (s *cpSide) where() string {
	if s.rec == nil {
		return ""
	}
	return " in the container"
}

// abs makes p absolute (a container's paths are relative to its root, the
// host's to the working directory), keeping a trailing "/" or "/.", which
// docker's rules give a meaning.
func (s *cpSide) abs(p string) (string, error) {
	clean := filepath.Clean("/" + p)
	if s.rec == nil {
		var err error
		if clean, err = filepath.Abs(p); err != nil {
			return "", err
		}
	}
	if filepath.Base(p) == "." && filepath.Base(clean) != "." {
		clean = strings.TrimSuffix(clean, "/") + "/."
	} else if strings.HasSuffix(p, "/") && !strings.HasSuffix(clean, "/") {
		clean += "/"
	}
	return clean, nil
}

// join resolves p with every symlink followed inside the side's root.
func (s *cpSide) join(p string) (string, error) {
	full, err := s.joinRaw(p)
	return s.real(full), err
}

// joinRaw is join's path under root, before it is placed in a mount.
func (s *cpSide) joinRaw(p string) (string, error) {
	full, err := securejoin.SecureJoinVFS(s.root, p, s)
	if err != nil {
		return "", fmt.Errorf("%w %s: %v", ErrCannotCopy, s.label(p), cause(err))
	}
	return full, nil
}

// joinParent resolves every element of p but the last, which stays as it
// is (a symlink names itself); a trailing "/" or "/." follows it.
func (s *cpSide) joinParent(p string) (string, error) {
	dir, base := filepath.Split(p)
	rdir, err := s.joinRaw(dir)
	if err != nil {
		return "", err
	}
	return s.real(strings.TrimSuffix(rdir, "/") + "/" + base), nil
}

// source finds what cp copies from p, as docker does: a symlink is copied
// as a link unless follow is set (or p ends in / or /.), in which case its
// target is copied under the link's name.
func (s *cpSide) source(p string, follow bool) (*cpSource, error) {
	var resolved string
	var err error
	if follow {
		if resolved, err = s.join(p); err == nil {
			if filepath.Base(p) == "." {
				resolved = strings.TrimSuffix(resolved, "/") + "/."
			} else if strings.HasSuffix(p, "/") {
				resolved += "/"
			}
		}
	} else {
		resolved, err = s.joinParent(p)
	}
	if err != nil {
		return nil, err
	}
	if s.rec != nil && filepath.Clean(p) == "/" {
		resolved = s.root + "/." // the root's contents, as podman copies them
	}
	st, err := os.Lstat(resolved)
	if err != nil {
		return nil, s.statError(p, err)
	}
	_, base := splitPathDirEntry(resolved)
	name := base
	if base != "." && filepath.Base(p) != filepath.Base(resolved) {
		name = filepath.Base(p)
	}
	return &cpSource{path: resolved, info: st, name: name}, nil
}

func (s *cpSide) statError(p string, err error) error {
	switch {
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s %w%s", s.label(p), ErrNoSuchPath, s.where())
	case errors.Is(err, syscall.ENOTDIR):
		return fmt.Errorf("%w %s: not a directory%s", ErrCannotCopy, s.label(p), s.where())
	}
	return fmt.Errorf("%w %s%s: %v", ErrCannotCopy, s.label(p), s.where(), cause(err))
}

// target decides, from what the destination p is, the directory to
// extract into and the name the source's top entry takes there (docker's
// PrepareArchiveCopy). A symlink destination is followed, inside the root.
func (s *cpSide) target(p string, src *cpSource) (dir, name string, err error) {
	dst, err := s.joinParent(p)
	if err != nil {
		return "", "", err
	}
	st, err := os.Lstat(dst)
	if err == nil && st.Mode()&os.ModeSymlink != 0 {
		if dst, err = s.join(p); err != nil {
			return "", "", err
		}
		st, err = os.Lstat(dst)
	}
	exists := err == nil
	if err != nil && !errors.Is(err, syscall.ENOENT) {
		return "", "", s.statError(p, err)
	}
	if exists && !st.IsDir() && !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("%w to %s: the destination must be a directory or a regular file", ErrCannotCopy, s.label(p))
	}
	parent, base := splitPathDirEntry(dst)
	srcIsDir := src.info.IsDir()
	switch {
	case exists && st.IsDir():
		dir, name = dst, src.name
	case exists && srcIsDir:
		return "", "", fmt.Errorf("%w a directory onto the file %s", ErrCannotCopy, s.label(p))
	case !exists && !srcIsDir && (strings.HasSuffix(p, "/") || filepath.Base(p) == "."):
		return "", "", fmt.Errorf("%w a file into %s: no such directory%s (a file goes into an existing directory only)", ErrCannotCopy, s.label(p), s.where())
	default:
		dir, name = parent, base
	}
	return dir, name, s.checkDir(dir, p)
}

// checkDir makes sure the directory cp extracts into exists and can be
// written.
func (s *cpSide) checkDir(dir, p string) error {
	st, err := os.Stat(dir)
	shown := s.label(s.inner(dir))
	if err != nil {
		if errors.Is(err, syscall.ENOENT) {
			return fmt.Errorf("directory %s %w%s", shown, ErrNoSuchPath, s.where())
		}
		return fmt.Errorf("%w into %s%s: %v", ErrCannotCopy, shown, s.where(), cause(err))
	}
	if !st.IsDir() {
		return fmt.Errorf("%w into %s: not a directory%s", ErrCannotCopy, shown, s.where())
	}
	if s.rec == nil {
		return nil
	}
	if _, m := s.rootFor(dir); m != nil {
		if m.readOnly {
			return fmt.Errorf("%w into %s: it is mounted read-only in the container", ErrCannotCopy, s.label(p))
		}
		return nil
	}
	if !s.running && s.rec.Config.ReadOnly {
		return fmt.Errorf("%w into %s: the container has a read-only root file system (--read-only)", ErrCannotCopy, s.label(p))
	}
	var fs unix.Statfs_t
	if unix.Statfs(dir, &fs) == nil && fs.Flags&unix.ST_RDONLY != 0 {
		return fmt.Errorf("%w into %s: read-only file system in the container", ErrCannotCopy, s.label(p))
	}
	return nil
}

// splitPathDirEntry splits a path into its directory and its last entry,
// which is "." for a path that ends in "/." (docker's archive helper).
func splitPathDirEntry(p string) (dir, base string) {
	clean := filepath.Clean(p)
	if filepath.Base(p) == "." {
		clean += "/."
	}
	return filepath.Dir(clean), filepath.Base(clean)
}

// tar streams src with its top entry named name ("." keeps a directory's
// contents at the top). A container's files are read inside a chroot of
// its root, with the ids the container sees when containerIDs is set.
func (s *cpSide) tar(src *cpSource, name string, containerIDs bool) (io.ReadCloser, error) {
	opts := &archive.TarOptions{}
	if s.rec != nil && containerIDs {
		opts = tarOptions(s.rec)
	}
	if src.info.Mode()&os.ModeSymlink != 0 {
		return symlinkTar(src, name, opts)
	}
	dir, base := splitPathDirEntry(src.path)
	if root, m := s.rootFor(src.path); base == "." || m != nil && filepath.Clean(src.path) == root {
		// A directory's contents, or a mount's whole source (read in it).
		dir, base = filepath.Clean(src.path), "."
	}
	opts.IncludeFiles, opts.IncludeSourceDir = []string{base}, true
	if name != base {
		opts.RebaseNames = map[string]string{base: name}
	}
	if s.rec == nil {
		return archive.TarWithOptions(dir, opts)
	}
	root, _ := s.rootFor(dir)
	return chrootarchive.Tar(dir, opts, root)
}

// symlinkTar is the tar stream of one symlink (the archive walker follows
// the entry it starts from, and refuses a link that leaves its root).
func symlinkTar(src *cpSource, name string, opts *archive.TarOptions) (io.ReadCloser, error) {
	target, err := os.Readlink(src.path)
	if err != nil {
		return nil, fmt.Errorf("%w the link %s: %v", ErrCannotCopy, src.path, cause(err))
	}
	hdr, err := tar.FileInfoHeader(src.info, target)
	if err != nil {
		return nil, err
	}
	hdr.Name, hdr.Uname, hdr.Gname = name, "", ""
	if st, ok := src.info.Sys().(*syscall.Stat_t); ok {
		uid, gid, err := idtools.NewIDMappingsFromMaps(opts.UIDMaps, opts.GIDMaps).ToContainer(idtools.IDPair{UID: int(st.Uid), GID: int(st.Gid)})
		if err != nil {
			uid, gid = 0, 0 // as ownedByRootWhenUnmapped does
		}
		hdr.Uid, hdr.Gid = uid, gid
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(hdr)
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	return pr, nil
}

// untar extracts a stream into dir; into a container inside a chroot of
// its root, so that its symlinks cannot lead the files out.
func (s *cpSide) untar(r io.Reader, dir string) error {
	if s.rec == nil {
		if err := archive.Untar(r, dir, &archive.TarOptions{NoOverwriteDirNonDir: true}); err != nil {
			return fmt.Errorf("%w into %s: %v", ErrCannotCopy, dir, err)
		}
		return nil
	}
	opts := tarOptions(s.rec)
	opts.NoOverwriteDirNonDir = true
	if len(s.rec.Config.Security.UIDMap) > 0 {
		r = ownedByRootWhenUnmapped(r, s.rec.Config.Security)
	}
	root, _ := s.rootFor(dir)
	if err := chrootarchive.UntarWithRoot(r, dir, opts, root); err != nil {
		return fmt.Errorf("%w into %s: %v", ErrCannotCopy, s.label(s.inner(dir)), err)
	}
	return nil
}

// copyStreamIn extracts a tar stream into p, which must be a directory.
func copyStreamIn(r io.Reader, dst *cpSide, p string) error {
	abs, err := dst.abs(p)
	if err != nil {
		return err
	}
	dir, err := dst.join(abs)
	if err != nil {
		return err
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("%w a tar stream to %s: the destination must be a directory%s", ErrCannotCopy, dst.label(p), dst.where())
	}
	if err := dst.checkDir(dir, p); err != nil {
		return err
	}
	return dst.untar(r, dir)
}

// ownedByRootWhenUnmapped gives the entries of a tar stream whose owner the
// container's own user namespace cannot name (the host's root, say) to the
// container's root, as docker cp gives copied files to root.
func ownedByRootWhenUnmapped(r io.Reader, sec config.Security) io.Reader {
	inRange := func(id int, m []config.IDMapping) bool {
		for _, x := range m {
			if id >= int(x.ContainerID) && id < int(x.ContainerID+x.Size) {
				return true
			}
		}
		return false
	}
	pr, pw := io.Pipe()
	go func() {
		tr, tw := tar.NewReader(r), tar.NewWriter(pw)
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				pw.CloseWithError(tw.Close())
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if !inRange(hdr.Uid, sec.UIDMap) || !inRange(hdr.Gid, sec.GIDMap) {
				hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
			}
			if err := tw.WriteHeader(hdr); err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := io.Copy(tw, tr); err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	return pr
}

// cause is what a path error says, without the path (messages name it
// as the user gave it).
func cause(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
