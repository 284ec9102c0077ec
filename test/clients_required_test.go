package test

import (
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// composePlugin is where test/clients.sh installs docker compose v2: the
// docker CLI's system-wide plugin directory, so every user (whatever its
// HOME) has `docker compose`; run directly it is the standalone
// docker-compose v2.
const composePlugin = "/usr/local/lib/docker/cli-plugins/docker-compose"

// requiredClients is every client nobody on the team wrote that the tests
// drive, with where test/clients.sh gets it and the version it must report
// (a regexp over the output of the version command; %s is the version
// clients.sh pins).
var requiredClients = []struct {
	name, pkg  string   // pkg: the Debian package clients.sh installs, "" when built
	version    []string // the command that prints the version
	want       string   // what its output must match
	pinnedFrom string   // clients.sh variable or go.mod whose version want needs, if any
}{
	{"podman", "podman", []string{"podman", "--version"}, `^podman version 4\.3\.`, ""},
	{"buildah", "buildah", []string{"buildah", "--version"}, `^buildah version 1\.`, ""},
	{"docker-compose", "docker-compose", []string{"docker-compose", "version", "--short"}, `^1\.29\.`, ""},
	{"etcd", "etcd-server", []string{"etcd", "--version"}, `^etcd Version: 3\.`, ""},
	{"docker", "", []string{"docker", "--version"}, `^Docker version (2[89]|[3-9][0-9])\.`, ""},
	{composePlugin, "", []string{"docker", "compose", "version", "--short"}, `^v?%s$`, "compose_version"},
	{"kube-apiserver", "", []string{"kube-apiserver", "--version"}, `^Kubernetes v%s$`, "clients/kube-apiserver/go.mod"},
}

// TestRequiredClientsInstalled fails, never skips, when a client the tests
// drive is missing, reports another version than test/clients.sh pins, or
// is a Debian package clients.sh does not install: a fresh machine has only
// what the project's setup put there.
func TestRequiredClientsInstalled(t *testing.T) {
	script, err := os.ReadFile("clients.sh")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^client_pkgs=\(([^)]*)\)`).FindSubmatch(script)
	if m == nil {
		t.Fatal("test/clients.sh has no client_pkgs=(...) list")
	}
	installed := strings.Fields(string(m[1]))
	path := "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
	home := t.TempDir() // no user's docker config or plugins
	for _, c := range requiredClients {
		if c.pkg != "" && !slices.Contains(installed, c.pkg) {
			t.Errorf("test/clients.sh does not install %s, which has %s", c.pkg, c.name)
		}
		where := c.name
		if !strings.HasPrefix(where, "/") {
			where = findProgram(c.name, path)
		} else if st, err := os.Stat(where); err != nil || st.Mode()&0o111 == 0 {
			where = ""
		}
		if where == "" {
			t.Errorf("%s is missing: run test/clients.sh", c.name)
			continue
		}
		want := c.want
		if c.pinnedFrom != "" {
			want = strings.ReplaceAll(want, "%s", regexp.QuoteMeta(pinnedVersion(t, script, c.pinnedFrom)))
		}
		cmd := exec.Command(findProgram(c.version[0], path), c.version[1:]...)
		cmd.Env = []string{"PATH=" + path, "HOME=" + home, "LANG=C.UTF-8"}
		out, err := cmd.CombinedOutput()
		first, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if err != nil || !regexp.MustCompile(want).MatchString(first) {
			t.Errorf("%s: %q says %q (%v), want %s: run test/clients.sh", c.name, strings.Join(c.version, " "), first, err, want)
		}
	}
}

// pinnedVersion is the version test/clients.sh builds: a variable of the
// script, or the k8s.io/kubernetes requirement of a go.mod beside it.
func pinnedVersion(t *testing.T, script []byte, from string) string {
	t.Helper()
	if strings.HasSuffix(from, "go.mod") {
		mod, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^\s*k8s\.io/kubernetes v([0-9.]+)`).FindSubmatch(mod)
		if m == nil {
			t.Fatalf("%s requires no k8s.io/kubernetes version", from)
		}
		return string(m[1])
	}
	m := regexp.MustCompile(`(?m)^` + from + `=([0-9.]+)$`).FindSubmatch(script)
	if m == nil {
		t.Fatalf("test/clients.sh sets no %s", from)
	}
	return string(m[1])
}
