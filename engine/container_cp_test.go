package engine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/skiff-project/skiff/engine/config"
)

func TestCopyPathKeepsTrailingSlashAndDot(t *testing.T) {
	ctr := &cpSide{rec: &config.ContainerRecord{Name: "c"}, root: "/r"}
	for in, want := range map[string]string{
		"etc": "/etc", "/etc/": "/etc/", "tmp/dir/.": "/tmp/dir/.", "/": "/", ".": "/.", "/a/../b/": "/b/", "a//b": "/a/b",
	} {
		if got, _ := ctr.abs(in); got != want {
			t.Errorf("abs(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string][2]string{
		"/a/b": {"/a", "b"}, "/a/b/": {"/a", "b"}, "/a/b/.": {"/a/b", "."}, "/": {"/", "/"},
	} {
		if d, b := splitPathDirEntry(in); d != want[0] || b != want[1] {
			t.Errorf("splitPathDirEntry(%q) = %q %q, want %q", in, d, b, want)
		}
	}
}

// TestCopySourceAndTarget: docker's rules, on a host directory.
func TestCopySourceAndTarget(t *testing.T) {
	d := t.TempDir()
	os.MkdirAll(filepath.Join(d, "dir", "sub"), 0o755)
	os.WriteFile(filepath.Join(d, "file"), []byte("x"), 0o644)
	os.Symlink(filepath.Join(d, "file"), filepath.Join(d, "abs-link"))
	os.Symlink("dir", filepath.Join(d, "dir-link"))
	host := &cpSide{root: "/"}
	src := func(p string, follow bool) *cpSource {
		t.Helper()
		s, err := host.source(p, follow)
		if err != nil {
			t.Fatalf("source(%q): %v", p, err)
		}
		return s
	}
	if s := src(d+"/abs-link", false); s.info.Mode()&os.ModeSymlink == 0 || s.name != "abs-link" {
		t.Errorf("a link without -L: %v %q", s.info.Mode(), s.name)
	}
	if s := src(d+"/abs-link", true); !s.info.Mode().IsRegular() || s.name != "abs-link" || s.path != d+"/file" {
		t.Errorf("a link with -L: %v %q %q", s.info.Mode(), s.name, s.path)
	}
	if s := src(d+"/dir-link/", false); !s.info.IsDir() || s.name != "dir-link" {
		t.Errorf("a link to a directory with a trailing slash: %v %q", s.info.Mode(), s.name)
	}
	if s := src(d+"/dir/.", false); !s.info.IsDir() || s.name != "." {
		t.Errorf("a directory's contents: %v %q", s.info.Mode(), s.name)
	}
	if _, err := host.source(d+"/file/", false); !errors.Is(err, ErrCannotCopy) {
		t.Errorf("a file with a trailing slash: %v", err)
	}
	if _, err := host.source(d+"/nothing", false); !errors.Is(err, ErrNoSuchPath) {
		t.Errorf("a missing source: %v", err)
	}

	file, dir := src(d+"/file", false), src(d+"/dir", false)
	for _, c := range []struct {
		dst       string
		src       *cpSource
		dir, name string
		err       error
	}{
		{d + "/new", file, d, "new", nil},
		{d + "/new/", file, "", "", ErrCannotCopy},
		{d + "/file", file, d, "file", nil},
		{d + "/dir", file, d + "/dir", "file", nil},
		{d + "/dir-link", file, d + "/dir", "file", nil},
		{d + "/new", dir, d, "new", nil},
		{d + "/file", dir, "", "", ErrCannotCopy},
		{d + "/dir", dir, d + "/dir", "dir", nil},
		{d + "/no/new", file, "", "", ErrNoSuchPath},
	} {
		gotDir, gotName, err := host.target(c.dst, c.src)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("target(%q, %s): %v, want %v", c.dst, c.src.name, err, c.err)
			}
			continue
		}
		if err != nil || gotDir != c.dir || gotName != c.name {
			t.Errorf("target(%q, %s) = %q %q %v, want %q %q", c.dst, c.src.name, gotDir, gotName, err, c.dir, c.name)
		}
	}
}
