package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Files and functions stay of readable size (STYLE.md): no file over
// maxFileLines, no function of the product (tests aside) over maxFuncLines
// unless its doc comment says why it is long (a line starting "Long:").
const (
	maxFileLines = 700
	maxFuncLines = 100
)

func TestSourceSizes(t *testing.T) {
	for _, top := range []string{"../../cmd", "../../engine", "../../storage", "../../network", "../../rootless", "../../bench"} {
		err := filepath.WalkDir(top, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			ext := filepath.Ext(path)
			if ext != ".go" && ext != ".c" {
				return nil
			}
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if n := strings.Count(string(data), "\n"); n > maxFileLines {
				t.Errorf("%s has %d lines (at most %d): split it by job", path, n, maxFileLines)
			}
			if ext == ".go" && !strings.HasSuffix(path, "_test.go") { // a test's table may be long
				checkGoFuncs(t, path, data)
			} else {
				checkCFuncs(t, path, string(data))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
}

func checkGoFuncs(t *testing.T, path string, src []byte) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		n := fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1
		if n > maxFuncLines && !saysWhyLong(fn.Doc.Text()) {
			t.Errorf("%s: %s has %d lines (at most %d without a doc comment line \"Long: why\")", path, fn.Name.Name, n, maxFuncLines)
		}
	}
}

// checkCFuncs measures C functions: a line that starts a function body
// ("{" alone at column 0 after a declaration) to the "}" at column 0.
func checkCFuncs(t *testing.T, path, src string) {
	lines := strings.Split(src, "\n")
	for i := 0; i < len(lines); i++ {
		if lines[i] != "{" || i == 0 {
			continue
		}
		start := i
		for i < len(lines) && lines[i] != "}" {
			i++
		}
		n := i - start + 2 // with the declaration line
		doc := strings.Join(lines[max(0, start-12):start], "\n")
		if n > maxFuncLines && !saysWhyLong(doc) {
			t.Errorf("%s: %s has %d lines (at most %d without a comment line \"Long: why\")", path, strings.TrimSpace(lines[start-1]), n, maxFuncLines)
		}
	}
}

func saysWhyLong(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		l = strings.TrimLeft(l, " \t/*")
		if strings.HasPrefix(l, "Long:") {
			return true
		}
	}
	return false
}
