package test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"github.com/opencontainers/runtime-tools/validate"
	"github.com/xeipuuv/gojsonschema"
)

// TestGeneratedConfigPassesValidation takes the config.json of a running
// container and runs every check of `oci-runtime-tool validate` on it (the
// JSON schema against the runtime-spec module's own schema files: the tool
// itself would fetch them from the internet).
func TestGeneratedConfigPassesValidation(t *testing.T) {
	e := runEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "-e", "A=1", "-w", "/tmp", busybox, "sleep", "30"))
	defer e.ok("rm", "-f", id)
	matches, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "ns-*", "containers", id, "config.json"))
	if len(matches) != 1 {
		t.Fatalf("config.json of %s not found", id)
	}
	data, err := os.ReadFile(matches[0])
	if err != nil {
		t.Fatal(err)
	}
	var spec specs.Spec
	if err := json.Unmarshal(data, &spec); err != nil {
		t.Fatal(err)
	}
	v, err := validate.NewValidator(&spec, filepath.Dir(matches[0]), false, "linux")
	if err != nil {
		t.Fatal(err)
	}
	for name, check := range map[string]func() error{
		"platform": v.CheckPlatform, "root": v.CheckRoot, "mandatory": v.CheckMandatoryFields,
		"semver": v.CheckSemVer, "mounts": v.CheckMounts, "process": v.CheckProcess,
		"linux": v.CheckLinux, "annotations": v.CheckAnnotations, "hooks": v.CheckHooks,
	} {
		err := check()
		if me, ok := err.(interface{ ErrorOrNil() error }); ok {
			err = me.ErrorOrNil()
		}
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/opencontainers/runtime-spec").Output()
	if err != nil {
		t.Fatal(err)
	}
	schema := "file://" + filepath.Join(strings.TrimSpace(string(out)), "schema", "config-schema.json")
	res, err := gojsonschema.Validate(gojsonschema.NewReferenceLoader(schema), gojsonschema.NewBytesLoader(data))
	if err != nil {
		t.Fatal(err)
	}
	for _, re := range res.Errors() {
		t.Errorf("schema: %s", re)
	}
}

func TestDetachedTTY(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "-t", "--name", "ttybox", busybox, "sh", "-c", "tty; echo typed")
	waitFor(t, func() bool {
		return strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}"), "ttybox exited")
	})
	if got := e.ok("logs", "ttybox"); !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "typed") {
		t.Fatalf("logs of a -t container: %q", got)
	}
	e.ok("rm", "ttybox")
}
