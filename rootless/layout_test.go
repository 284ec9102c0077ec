package rootless

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestLayoutPaths(t *testing.T) {
	l := Layout{Data: "/d/skiff", Run: "/r/skiff", uid: 1000}
	for _, c := range []struct{ got, want string }{
		{l.DefaultGraphRoot(), "/d/skiff/storage"},
		{l.State("/d/skiff/storage").Dir, "/d/skiff"},
		{l.State("/d/skiff/storage/").Dir, "/d/skiff"},
		{l.State("/elsewhere").Dir, "/elsewhere/skiff"},
		{l.State("/elsewhere").DB(), "/elsewhere/skiff/state.db"},
		{l.LegacyState().Log("ID"), "/d/skiff/containers/ID/ctr.log"},
		{l.Namespace(42).Bundle("ID"), "/r/skiff/ns-42/containers/ID"},
		{l.Namespace(42).StorageRunRoot(), "/r/skiff/ns-42/storage"},
		{l.Namespace(0).Dir, "/r/skiff/ns-none"},
		{l.HoldersDir(), "/r/skiff/ns"},
		{l.NestedBundles(l.Namespace(42)), filepath.Join(os.TempDir(), "skiff-nested-1000", "ns-42")},
	} {
		if c.got != c.want {
			t.Errorf("got %s, want %s", c.got, c.want)
		}
	}
	root := Layout{Data: "/var/lib/skiff", Run: "/run/skiff", root: true}
	if got := root.Namespace(42).StorageRunRoot(); got != "/run/skiff/storage" {
		t.Errorf("root's run root: %s", got)
	}
	if got := root.Namespaces(); len(got) != 1 || got[0].Dir != "/run/skiff" {
		t.Errorf("root's namespaces: %v", got)
	}
}

func TestLayoutNamespacesListsEveryNamespace(t *testing.T) {
	run := t.TempDir()
	for _, d := range []string{"ns-1", "ns-2", "ns", "seccomp"} {
		os.Mkdir(filepath.Join(run, d), 0o700)
	}
	got := Layout{Run: run}.Namespaces()
	if len(got) != 2 || filepath.Base(got[0].Dir) != "ns-1" || filepath.Base(got[1].Dir) != "ns-2" {
		t.Fatalf("namespaces: %v", got)
	}
}

// TestLayoutIsTheOnlyOwnerOfThePaths: the names of skiff's files and
// directories appear as string literals in layout.go and nowhere else in
// the product's Go code, so that no second place decides where something
// lives (comments may name them).
func TestLayoutIsTheOnlyOwnerOfThePaths(t *testing.T) {
	// The distinctive ones: a word like "volumes" is a flag's name too.
	names := []string{"ns-", "ctr.log", "state.db", "monitor.pid", "skiff-nested-", "no-controllers", "skiff-run-"}
	isName := func(lit string) bool {
		for _, n := range names {
			if lit == n || (strings.HasSuffix(n, "-") && strings.HasPrefix(lit, n)) {
				return true
			}
		}
		return false
	}
	for _, top := range []string{"../engine", "../storage", "../network", "../cmd", "."} {
		err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") || filepath.Base(path) == "layout.go" {
				return err
			}
			f, err := parser.ParseFile(token.NewFileSet(), path, nil, 0)
			if err != nil {
				return err
			}
			ast.Inspect(f, func(n ast.Node) bool {
				if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
					if v, err := strconv.Unquote(lit.Value); err == nil && isName(v) {
						t.Errorf("%s names %q: paths are rootless.Layout's to decide", path, v)
					}
				}
				return true
			})
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

// TestLayoutMatchesTheConstructors: the C constructors that enter the
// namespace before the Go runtime starts (enter.c) cannot ask Layout; the
// holders' directory they use must be Layout's.
func TestLayoutMatchesTheConstructors(t *testing.T) {
	src, err := os.ReadFile("enter.c")
	if err != nil {
		t.Fatal(err)
	}
	l := Layout{Run: filepath.Join("RUN", "skiff")}
	if got, want := l.HoldersDir(), filepath.Join("RUN", "skiff", "ns"); got != want {
		t.Fatalf("HoldersDir is %s, the constructors use %s", got, want)
	}
	if !strings.Contains(string(src), `snprintf(dir, sizeof dir, "%s/skiff/ns", run);`) {
		t.Fatal("enter.c no longer makes the holders' directory as $XDG_RUNTIME_DIR/skiff/ns: keep it and Layout.HoldersDir together")
	}
}
