package test

import (
	"regexp"
	"testing"
)

// compatCase is one row of the compatibility table: a command as podman's
// man pages or docker's CLI reference document it, the exit code they give
// and patterns its standard output and error must match ("" matches
// anything; "^$" nothing).
type compatCase struct {
	args           []string
	code           int
	stdout, stderr string
	doc            string // where the behaviour is documented
}

// TestCompatTable runs the table on one store with known containers: web
// (running, label tier=front, a volume, on network none) and job (exited 3).
// Issue 17 grows it a row per flag and behaviour.
func TestCompatTable(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "web", "--label", "tier=front", "--label", "b=2", "-v", "webdata:/data", "--network", "none", busybox, "sleep", "600")
	if r := e.run("run", "--name", "job", busybox, "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("run exits with its container's code\n%s", r)
	}
	cases := []compatCase{
		{args: []string{"ps", "--noheading", "--format", "table {{.Names}}"}, stdout: `^web\n$`, doc: "podman-ps(1) --noheading"},
		{args: []string{"ps", "-a", "--sort", "names", "--format", "{{.Names}}"}, stdout: `^job\nweb\n$`, doc: "podman-ps(1) --sort"},
		{args: []string{"ps", "-a", "--sort", "bogus"}, code: 125, stdout: `^$`, stderr: `^Error: invalid --sort "bogus".*\n$`, doc: "podman-ps(1) --sort"},
		{args: []string{"ps", "--format", `{{.Label "tier"}}`}, stdout: `^front\n$`, doc: "docker ps --format .Label"},
		{args: []string{"ps", "--format", "{{.Labels}}"}, stdout: `^b=2,org.skiff.fixture=busybox,tier=front\n$`, doc: "docker ps --format .Labels"},
		{args: []string{"ps", "--format", "{{.Mounts}}"}, stdout: `^webdata\n$`, doc: "docker ps --format .Mounts"},
		{args: []string{"ps", "--format", "{{.Networks}}"}, stdout: `^none\n$`, doc: "docker ps --format .Networks"},
		{args: []string{"container", "exists", "web"}, stdout: `^$`, doc: "podman-container-exists(1): 0 when it exists"},
		{args: []string{"container", "exists", "nosuch"}, code: 1, stdout: `^$`, doc: "podman-container-exists(1): 1 when it does not"},
		{args: []string{"image", "exists", busybox}, doc: "podman-image-exists(1)"},
		{args: []string{"image", "exists", "localhost/nosuch:1"}, code: 1, doc: "podman-image-exists(1)"},
		{args: []string{"volume", "exists", "webdata"}, doc: "podman-volume-exists(1)"},
		{args: []string{"volume", "exists", "nosuch"}, code: 1, doc: "podman-volume-exists(1)"},
		{args: []string{"network", "exists", "nosuch"}, code: 1, stdout: `^$`, stderr: `^$`, doc: "podman-network-exists(1)"},
		{args: []string{"container", "exists"}, code: 125, stderr: `^Error: .*\n$`, doc: "podman-container-exists(1): one argument"},
		{args: []string{"container", "ls", "-a", "--sort", "names", "--format", "{{.Names}} {{.Status}}"}, stdout: `^job Exited \(3\).*\nweb Up .*\n$`, doc: "docker container ls"},
	}
	for _, c := range cases {
		r := e.run(c.args...)
		if r.code != c.code || !regexp.MustCompile(c.stdout).MatchString(r.stdout) || !regexp.MustCompile(c.stderr).MatchString(r.stderr) {
			t.Errorf("%s: want exit %d, stdout %q, stderr %q\n%s", c.doc, c.code, c.stdout, c.stderr, r)
		}
	}
	e.ok("rm", "-f", "-t", "0", "web", "job")
}
