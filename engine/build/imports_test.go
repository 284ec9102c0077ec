package build

import (
	"go/build"
	"strings"
	"testing"
)

// The package reaches storage and processes only through its Executor: it
// imports no skiff package at all (engine, storage, network, rootless).
func TestImportsNoSkiffPackage(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.HasPrefix(imp, "github.com/skiff-project/skiff/") {
			t.Errorf("engine/build imports %s", imp)
		}
	}
}
