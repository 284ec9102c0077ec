package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/skiff-project/skiff/test/specvalidate"
)

// TestGeneratedConfigPassesValidation takes the config.json of running
// containers, one for each runtime, and runs every check of
// `oci-runtime-tool validate` on it (the JSON schema against the
// runtime-spec module's own schema files: the tool itself would fetch them
// from the internet). crun 1.8 refuses configurations that claim a spec
// newer than 1.1, so skiff writes 1.1.0 for it; the validator knows 1.3.0
// only, which the check takes instead, and crun's annotation for the
// compiled seccomp profile is left out: everything else is checked as
// written.
func TestGeneratedConfigPassesValidation(t *testing.T) {
	e := runEnv(t)
	for _, runtime := range []string{"runc", "crun"} {
		t.Run(runtime, func(t *testing.T) {
			e := e.at(t)
			id := strings.TrimSpace(e.ok("run", "-d", "--runtime", runtime, "-e", "A=1", "-w", "/tmp", busybox, "sleep", "30"))
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
			want := map[string]string{"runc": specs.Version, "crun": "1.1.0"}[runtime]
			if spec.Version != want {
				t.Fatalf("ociVersion %q, want %q", spec.Version, want)
			}
			spec.Version = specs.Version
			// crun's own name for the compiled seccomp profile, which the
			// validator would have in reverse domain notation.
			delete(spec.Annotations, "run.oci.seccomp_bpf_data")
			specvalidate.Check(t, &spec, filepath.Dir(matches[0]))
		})
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
