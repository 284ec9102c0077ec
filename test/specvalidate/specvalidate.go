// Package specvalidate runs, for tests, every check of `oci-runtime-tool
// validate` on a runtime configuration: runtime-tools' validator, and the
// JSON schema from the runtime-spec module on disk (the tool itself would
// fetch it from the internet).
package specvalidate

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/validate"
	"github.com/xeipuuv/gojsonschema"
)

// Check reports every violation of spec, whose bundle is the directory
// bundle, as a test error.
func Check(t testing.TB, spec *specs.Spec, bundle string) {
	t.Helper()
	v, err := validate.NewValidator(spec, bundle, false, "linux")
	if err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func() error{
		"platform": v.CheckPlatform, "root": v.CheckRoot, "mandatory": v.CheckMandatoryFields,
		"semver": v.CheckSemVer, "mounts": v.CheckMounts, "process": v.CheckProcess,
		"linux": v.CheckLinux, "annotations": v.CheckAnnotations, "hooks": v.CheckHooks,
	} {
		err := check()
		// The checks return typed-nil *multierror.Error values.
		if me, ok := err.(interface{ ErrorOrNil() error }); ok {
			err = me.ErrorOrNil()
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-spec").Output()
	if err != nil {
		t.Fatalf("locating the runtime-spec module: %v", err)
	}
	schema := "file://" + filepath.Join(strings.TrimSpace(string(out)), "schema", "config-schema.json")
	doc, err := json.Marshal(spec)
	if err != nil {
		t.Fatal(err)
	}
	res, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader(schema), gojsonschema.NewBytesLoader(doc))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range res.Errors() {
		t.Errorf("schema: %s", re)
	}
}
