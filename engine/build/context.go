package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// IgnoreFiles are the files a build context's exclusion patterns are read
// from, first found wins, as podman looks for them.
var IgnoreFiles = []string{".containerignore", ".dockerignore"}

// Context is a build context directory seen through its ignore file: the
// files a build may read. It is safe for concurrent use.
type Context struct {
	Dir      string   // absolute
	Patterns []string // the exclusion patterns, as the ignore file gives them

	mu sync.Mutex // patternmatcher is not safe for concurrent use
	pm *patternmatcher.PatternMatcher
}

// OpenContext opens a build context. ignoreFile names the file of
// exclusion patterns (podman's --ignorefile); empty means the first of
// [IgnoreFiles] in dir. Patterns are docker's: filepath.Match syntax plus
// "**", matched against slash-separated paths from the context root; a
// pattern starting with "!" re-includes what an earlier one excluded.
func OpenContext(dir, ignoreFile string) (*Context, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("build context: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("build context %s: not a directory", dir)
	}
	c := &Context{Dir: abs}
	files := IgnoreFiles
	if ignoreFile != "" {
		files = []string{ignoreFile}
	}
	for _, name := range files {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(abs, name)
		}
		f, err := os.Open(p)
		if errors.Is(err, fs.ErrNotExist) && ignoreFile == "" {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("reading ignore file: %w", err)
		}
		c.Patterns, err = ignorefile.ReadAll(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", name, err)
		}
		break
	}
	if len(c.Patterns) > 0 {
		if c.pm, err = patternmatcher.New(c.Patterns); err != nil {
			return nil, fmt.Errorf("ignore file: %w", err)
		}
	}
	return c, nil
}

// Excluded says whether the ignore rules leave rel (slash-separated, from
// the context root) out of the context.
func (c *Context) Excluded(rel string) bool {
	if c.pm == nil || rel == "" || rel == "." {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	skip, err := c.pm.MatchesOrParentMatches(rel)
	return err == nil && skip
}

// mayIncludeUnder says whether an exception ("!pattern") could bring back
// something under an excluded directory, so a walk must still go in.
func (c *Context) mayIncludeUnder(dir string) bool {
	if c.pm == nil || !c.pm.Exclusions() {
		return false
	}
	for _, p := range c.pm.Patterns() {
		if p.Exclusion() && (strings.HasPrefix(p.String()+"/", dir+"/") || strings.Contains(p.String(), "**")) {
			return true
		}
	}
	return false
}

// clean makes a source path relative to the context root the way docker
// does: absolute paths and ".." are taken from the root and cannot leave it.
func clean(src string) string {
	p := path.Clean("/" + filepath.ToSlash(src))
	return strings.TrimPrefix(p, "/")
}

// Match expands one COPY/ADD source, a path or a glob (filepath.Match
// syntax in each path element, as docker's), into the context-relative
// paths it names, sorted, leaving out excluded files. A path that exists
// but is excluded matches nothing, as if it were not in the context.
func (c *Context) Match(src string) ([]string, error) {
	rel := clean(src)
	if rel == "" {
		return []string{""}, nil
	}
	if !hasMeta(rel) {
		if _, err := os.Lstat(filepath.Join(c.Dir, rel)); err != nil {
			return nil, nil
		}
		if c.Excluded(rel) && !c.mayIncludeUnder(rel) {
			return nil, nil
		}
		return []string{rel}, nil
	}
	matches := []string{""}
	for _, elem := range strings.Split(rel, "/") {
		var next []string
		for _, dir := range matches {
			found, err := c.matchElem(dir, elem)
			if err != nil {
				return nil, err
			}
			next = append(next, found...)
		}
		matches = next
	}
	slices.Sort(matches)
	return matches, nil
}

// matchElem lists the entries of dir matching one path element.
func (c *Context) matchElem(dir, elem string) ([]string, error) {
	if !hasMeta(elem) {
		p := path.Join(dir, elem)
		if _, err := os.Lstat(filepath.Join(c.Dir, p)); err != nil || (c.Excluded(p) && !c.mayIncludeUnder(p)) {
			return nil, nil
		}
		return []string{p}, nil
	}
	if _, err := path.Match(elem, ""); err != nil {
		return nil, fmt.Errorf("bad pattern %q: %w", elem, err)
	}
	entries, err := os.ReadDir(filepath.Join(c.Dir, dir))
	if err != nil {
		return nil, nil // not a directory, or gone: nothing matches under it
	}
	var out []string
	for _, e := range entries {
		if ok, _ := path.Match(elem, e.Name()); !ok {
			continue
		}
		p := path.Join(dir, e.Name())
		if c.Excluded(p) && !(e.IsDir() && c.mayIncludeUnder(p)) {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// WalkFunc is called for each file Walk visits: rel is slash-separated from
// the context root, host the path on the host.
type WalkFunc func(rel, host string, fi fs.FileInfo) error

// Walk visits rel and, if it is a directory, everything under it that the
// ignore rules keep, parents before children, names sorted. A top-level rel
// that is a symlink is visited as the link; ResolveTop follows it.
func (c *Context) Walk(rel string, fn WalkFunc) error {
	host := filepath.Join(c.Dir, filepath.FromSlash(rel))
	fi, err := os.Lstat(host)
	if err != nil {
		return err
	}
	return c.walk(rel, host, fi, fn)
}

func (c *Context) walk(rel, host string, fi fs.FileInfo, fn WalkFunc) error {
	excluded := rel != "" && c.Excluded(rel)
	if excluded && !(fi.IsDir() && c.mayIncludeUnder(rel)) {
		return nil
	}
	if !excluded {
		if err := fn(rel, host, fi); err != nil {
			return err
		}
	}
	if !fi.IsDir() {
		return nil
	}
	entries, err := os.ReadDir(host)
	if err != nil {
		return err
	}
	for _, e := range entries { // ReadDir sorts by name
		info, err := e.Info()
		if err != nil {
			return err
		}
		if err := c.walk(path.Join(rel, e.Name()), filepath.Join(host, e.Name()), info, fn); err != nil {
			return err
		}
	}
	return nil
}

// ResolveTop follows rel if it is a symlink, staying inside the context
// (a link pointing out of it resolves as if the context were /), and
// returns the context-relative path it leads to.
func (c *Context) ResolveTop(rel string) (string, error) {
	p, err := securejoin.SecureJoin(c.Dir, rel)
	if err != nil {
		return "", err
	}
	r, err := filepath.Rel(c.Dir, p)
	if err != nil {
		return "", err
	}
	return clean(r), nil
}
