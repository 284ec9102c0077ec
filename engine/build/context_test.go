package build

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// writeTree makes files under dir: name → content; a name ending in "/" is
// a directory, content "->X" a symlink to X.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch {
		case name[len(name)-1] == '/':
			err = os.MkdirAll(p, 0o755)
		case len(content) > 2 && content[:2] == "->":
			err = os.Symlink(content[2:], p)
		default:
			err = os.WriteFile(p, []byte(content), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func openCtx(t *testing.T, dir string) *Context {
	t.Helper()
	c, err := OpenContext(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func walkAll(t *testing.T, c *Context, rel string) []string {
	t.Helper()
	var got []string
	err := c.Walk(rel, func(rel, _ string, _ os.FileInfo) error {
		got = append(got, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// .dockerignore as docker reads it: "!" re-includes, later lines win,
// "**" matches any depth, and an excluded directory is still entered when
// an exception could match inside it. ("build" itself is kept: build/** matches
// only what is under it.)
func TestContextIgnoreRules(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore": "# comment\n*.log\n!keep.log\nsecrets/\nbuild/**\n!build/out/app\n**/*.tmp\n",
		"a.txt":         "a", "x.log": "x", "keep.log": "k", "secrets/key": "s",
		"build/obj.o": "o", "build/out/app": "app", "build/out/other": "o",
		"src/deep/f.tmp": "t", "src/deep/f.go": "g",
	})
	c := openCtx(t, dir)
	got := walkAll(t, c, "")
	want := []string{"", ".dockerignore", "a.txt", "build", "build/out/app", "keep.log", "src", "src/deep", "src/deep/f.go"}
	if !slices.Equal(got, want) {
		t.Errorf("walk\n got %q\nwant %q", got, want)
	}
	for _, ex := range []string{"x.log", "secrets", "secrets/key", "build/obj.o", "src/deep/f.tmp"} {
		if !c.Excluded(ex) {
			t.Errorf("%s not excluded", ex)
		}
	}
	// .containerignore wins over .dockerignore.
	writeTree(t, dir, map[string]string{".containerignore": "a.txt\n"})
	c = openCtx(t, dir)
	if !c.Excluded("a.txt") || c.Excluded("x.log") {
		t.Errorf(".containerignore not preferred: %q", c.Patterns)
	}
}

func TestContextMatch(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		".dockerignore": "hidden.txt\n",
		"home1.txt":     "1", "home2.txt": "2", "homeX/": "", "hidden.txt": "h", "dir/a/f": "f", "dir/b/f": "f",
	})
	c := openCtx(t, dir)
	for _, tc := range []struct {
		src  string
		want []string
	}{
		{"home?.txt", []string{"home1.txt", "home2.txt"}},
		{"home*", []string{"home1.txt", "home2.txt", "homeX"}},
		{"/home1.txt", []string{"home1.txt"}},
		{"../../home1.txt", []string{"home1.txt"}},
		{"dir/*/f", []string{"dir/a/f", "dir/b/f"}},
		{".", []string{""}},
		{"hidden.txt", nil},
		{"hid*", nil},
		{"nothere", nil},
		{"[a-", nil},
	} {
		got, _ := c.Match(tc.src)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Match(%q) = %q, want %q", tc.src, got, tc.want)
		}
	}
	if _, err := c.Match("h[a-"); err == nil {
		t.Errorf("a bad pattern is an error")
	}
}

// What changes a digest and what does not, one case a row.
func TestContextDigest(t *testing.T) {
	base := map[string]string{
		".dockerignore": "ignored.txt\n", "f.txt": "content", "d/g.txt": "g", "link": "->f.txt", "ignored.txt": "i",
	}
	for _, tc := range []struct {
		name    string
		change  func(t *testing.T, dir string)
		changes bool
	}{
		{"nothing", func(*testing.T, string) {}, false},
		{"content", func(t *testing.T, d string) { write(t, d, "f.txt", "other") }, true},
		{"content in a subdirectory", func(t *testing.T, d string) { write(t, d, "d/g.txt", "G") }, true},
		{"mode", func(t *testing.T, d string) { os.Chmod(filepath.Join(d, "f.txt"), 0o755) }, true},
		{"directory mode", func(t *testing.T, d string) { os.Chmod(filepath.Join(d, "d"), 0o700) }, true},
		{"new file", func(t *testing.T, d string) { write(t, d, "d/new", "") }, true},
		{"removed file", func(t *testing.T, d string) { os.Remove(filepath.Join(d, "d/g.txt")) }, true},
		{"symlink target", func(t *testing.T, d string) {
			os.Remove(filepath.Join(d, "link"))
			os.Symlink("d/g.txt", filepath.Join(d, "link"))
		}, true},
		{"file the symlink follows", func(t *testing.T, d string) { write(t, d, "f.txt", "x") }, true},
		{"modification time", func(t *testing.T, d string) {
			old := time.Unix(1e9, 0)
			os.Chtimes(filepath.Join(d, "f.txt"), old, old)
		}, false},
		{"ignored file", func(t *testing.T, d string) { write(t, d, "ignored.txt", "changed") }, false},
		{"new ignored file", func(t *testing.T, d string) { write(t, d, "ignored.txt", ""); write(t, d, "ignored.txt", "z") }, false},
		{"owner", func(t *testing.T, d string) {
			if os.Getuid() != 0 {
				t.Skip("chown needs root")
			}
			os.Lchown(filepath.Join(d, "f.txt"), 1234, 1234)
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeTree(t, dir, base)
			paths := []string{"", "f.txt", "link"}
			before, err := openCtx(t, dir).Digest(paths)
			if err != nil {
				t.Fatal(err)
			}
			tc.change(t, dir)
			after, err := openCtx(t, dir).Digest(paths)
			if err != nil {
				t.Fatal(err)
			}
			if (before != after) != tc.changes {
				t.Errorf("digest changed: %v, want %v", before != after, tc.changes)
			}
		})
	}
}

// The same tree in two places digests the same; the order of sources counts.
func TestContextDigestStable(t *testing.T) {
	files := map[string]string{"a": "1", "b/c": "2"}
	d1, d2 := t.TempDir(), t.TempDir()
	writeTree(t, d1, files)
	writeTree(t, d2, files)
	x, _ := openCtx(t, d1).Digest([]string{"a", "b"})
	y, _ := openCtx(t, d2).Digest([]string{"a", "b"})
	z, _ := openCtx(t, d2).Digest([]string{"b", "a"})
	if x != y || x == z {
		t.Errorf("same tree %v, reordered %v", x == y, x == z)
	}
}

func write(t *testing.T, dir, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}
