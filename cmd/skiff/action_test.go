package main

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// TestEveryCommandHasTheHandlerShape keeps every command on one shape
// (action.go): its RunE is made by action, and its handler, a function
// named runX, is
//
//	func runX(ctx context.Context, g *globalOptions, o xOptions, stdout io.Writer) error
//
// and never names cobra. Group commands, which only print their help,
// are the one exception (newGroupCmd).
func TestEveryCommandHasTheHandlerShape(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	handlers := 0
	for _, path := range files {
		if strings.HasSuffix(path, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok {
				continue
			}
			if isHandlerName(fn.Name.Name) && fn.Recv == nil {
				handlers++
				if why := handlerShape(fn); why != "" {
					t.Errorf("%s: %s %s", fset.Position(fn.Pos()), fn.Name.Name, why)
				}
			}
			if fn.Name.Name == "newGroupCmd" {
				continue
			}
			ast.Inspect(fn, func(n ast.Node) bool {
				kv, ok := n.(*ast.KeyValueExpr)
				if !ok {
					return true
				}
				if key, ok := kv.Key.(*ast.Ident); !ok || key.Name != "RunE" {
					return true
				}
				if call, ok := kv.Value.(*ast.CallExpr); !ok || !isIdent(call.Fun, "action") {
					t.Errorf("%s: %s: a command's RunE is action(g, options, runX)", fset.Position(kv.Pos()), fn.Name.Name)
				}
				return true
			})
		}
	}
	if handlers < 55 {
		t.Fatalf("only %d handlers found", handlers)
	}
}

func isHandlerName(name string) bool {
	rest, ok := strings.CutPrefix(name, "run")
	return ok && rest != "" && rest[0] >= 'A' && rest[0] <= 'Z'
}

func isIdent(e ast.Expr, name string) bool {
	id, ok := e.(*ast.Ident)
	return ok && id.Name == name
}

// handlerShape says what is wrong with a handler's signature, "" if nothing.
func handlerShape(fn *ast.FuncDecl) string {
	var params []ast.Expr
	for _, p := range fn.Type.Params.List {
		for range max(1, len(p.Names)) {
			params = append(params, p.Type)
		}
	}
	want := "takes (context.Context, *globalOptions, OPTIONS, io.Writer) and returns error"
	if len(params) != 4 || !isSelector(params[0], "context", "Context") || !isStarIdent(params[1], "globalOptions") || !isSelector(params[3], "io", "Writer") {
		return want
	}
	if res := fn.Type.Results; res == nil || len(res.List) != 1 || !isIdent(res.List[0].Type, "error") {
		return want
	}
	cobra := false
	ast.Inspect(fn, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok && isIdent(sel.X, "cobra") {
			cobra = true
		}
		return true
	})
	if cobra {
		return "names cobra: a handler gets its options converted"
	}
	return ""
}

func isSelector(e ast.Expr, pkg, name string) bool {
	sel, ok := e.(*ast.SelectorExpr)
	return ok && isIdent(sel.X, pkg) && sel.Sel.Name == name
}

func isStarIdent(e ast.Expr, name string) bool {
	star, ok := e.(*ast.StarExpr)
	return ok && isIdent(star.X, name)
}
