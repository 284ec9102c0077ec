package build

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
)

// Digest returns a Merkle digest of what the context paths hold, in the
// order given (the order COPY copies them): for each path, its name and the
// digest of its tree, where
//
//   - a regular file's digest covers its permission and type bits
//     (including setuid, setgid and sticky), its owner (uid and gid), and
//     the SHA-256 of its content;
//   - a symlink's covers its bits, owner and target text; a top-level path
//     that is a symlink also covers the tree it leads to (COPY follows it);
//   - a directory's covers its bits and owner and the name and digest of
//     each entry the ignore rules keep, sorted by name;
//   - a device or fifo's covers its bits, owner and device number.
//
// Not covered, so they change nothing: modification, access and change
// times, inode numbers, link counts, extended attributes, and any file the
// ignore rules leave out. The digest is stable across runs and machines
// for the same tree.
func (c *Context) Digest(paths []string) (string, error) {
	h := sha256.New()
	for _, rel := range paths {
		d, err := c.treeDigest(rel, true)
		if err != nil {
			return "", err
		}
		writeField(h, "path", rel)
		writeField(h, "tree", d)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

func (c *Context) treeDigest(rel string, top bool) (string, error) {
	host := filepath.Join(c.Dir, filepath.FromSlash(rel))
	fi, err := os.Lstat(host)
	if err != nil {
		return "", err
	}
	if rel != "" && c.Excluded(rel) && !(fi.IsDir() && c.mayIncludeUnder(rel)) {
		return "excluded", nil
	}
	h := sha256.New()
	writeMeta(h, fi)
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		writeField(h, "link", target)
		if top {
			if err := c.followDigest(h, rel); err != nil {
				return "", err
			}
		}
	case fi.Mode().IsRegular():
		sum, err := fileSHA256(host)
		if err != nil {
			return "", err
		}
		writeField(h, "content", sum)
	case fi.IsDir():
		entries, err := os.ReadDir(host)
		if err != nil {
			return "", err
		}
		for _, e := range entries {
			d, err := c.treeDigest(path.Join(rel, e.Name()), false)
			if err != nil {
				return "", err
			}
			if d == "excluded" {
				continue
			}
			writeField(h, "entry", e.Name())
			writeField(h, "digest", d)
		}
	default:
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			writeField(h, "rdev", fmt.Sprint(st.Rdev))
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// followDigest adds the tree a top-level symlink leads to.
func (c *Context) followDigest(h hash.Hash, rel string) error {
	to, err := c.ResolveTop(rel)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(filepath.Join(c.Dir, to)); err != nil {
		writeField(h, "dangling", "")
		return nil
	}
	d, err := c.treeDigest(to, false)
	if err != nil {
		return err
	}
	writeField(h, "follows", d)
	return nil
}

// writeMeta adds the file type, permission bits and owner.
func writeMeta(h hash.Hash, fi fs.FileInfo) {
	mode := fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
	writeField(h, "mode", fmt.Sprintf("%o", uint32(mode)))
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		writeField(h, "owner", fmt.Sprintf("%d:%d", st.Uid, st.Gid))
	}
}

func fileSHA256(p string) (string, error) {
	f, err := os.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeField writes a length-prefixed name and value, so that no two
// different sequences of fields hash the same.
func writeField(h io.Writer, name, value string) {
	var n [8]byte
	for _, s := range []string{name, value} {
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		io.WriteString(h, s)
	}
}
