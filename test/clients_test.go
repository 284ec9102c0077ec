package test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// podmanConfig is what podman 4.3.1 and buildah need on these hosts: no
// systemd (so cgroupfs and events in a file) and cgroup v1 in hybrid mode,
// where podman cannot use crun 1.8.1 ("cgroups in hybrid mode not
// supported"), so runc. Native overlay, as skiff's default. They are given
// to podman and buildah only, through CONTAINERS_CONF and
// CONTAINERS_STORAGE_CONF: skiff reads the user's containers.conf, and must
// keep its own defaults beside them.
var podmanConfig = map[string]string{
	"podman/containers.conf": "[engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n[containers]\nlog_driver = \"k8s-file\"\n",
	"podman/storage.conf":    "[storage]\ndriver = \"overlay\"\n",
}

// client runs another program (podman, buildah, docker, docker-compose ...)
// as the env's user, in its work directory, with its environment, and never
// fails the test; result.args starts with the program.
func (e *env) client(prog string, args ...string) result {
	e.t.Helper()
	path := findProgram(prog, e.path)
	if path == "" {
		e.t.Fatalf("%s is missing: run test/clients.sh", prog)
	}
	environ := e.environ()
	if prog == "podman" || prog == "buildah" {
		environ = append(environ, e.podmanEnv()...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Dir = filepath.Join(e.root, "work")
	cmd.Env = environ
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid()), Gid: uint32(e.gid())}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{prog: prog, args: args, stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatalf("running %s %v: %v", prog, args, err)
	}
	return r
}

// clientOK runs client and fails the test unless it exits 0.
func (e *env) clientOK(prog string, args ...string) string {
	e.t.Helper()
	r := e.client(prog, args...)
	if r.code != 0 {
		e.t.Fatalf("expected success\n%s", r)
	}
	return r.stdout
}

// podmanEnv writes podman's configuration into the env (once) and returns
// the variables that point podman and buildah at it. podman leaves a pause
// process holding its user namespace: the env's cleanup ends it, before
// the env's files are removed.
func (e *env) podmanEnv() []string {
	e.t.Helper()
	if e.noXDGRuntime {
		e.t.Fatal("podman's pause process lives in XDG_RUNTIME_DIR: give the env one")
	}
	conf := filepath.Join(e.root, "podman/containers.conf")
	if _, err := os.Stat(conf); err != nil {
		for rel, content := range podmanConfig {
			e.writeFile(rel, content)
		}
		// buildah's RUN cache mounts live in TMPDIR/buildah-cache (else
		// /var/tmp's, shared by every user: another user's made first
		// leaves this one's build unable to write to it).
		e.writeFile("podman/tmp/.keep", "")
		pidFile := filepath.Join(e.root, "run/libpod/tmp/pause.pid")
		e.t.Cleanup(func() { endPauseProcess(pidFile) })
	}
	return []string{"CONTAINERS_CONF=" + conf, "CONTAINERS_STORAGE_CONF=" + filepath.Join(e.root, "podman/storage.conf"), "TMPDIR=" + filepath.Join(e.root, "podman/tmp")}
}

func endPauseProcess(pidFile string) {
	data, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil || pid <= 1 {
		return
	}
	// The pid file outlives a pause process that already ended: only a
	// catatonit is ended.
	if comm, _ := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "comm")); strings.TrimSpace(string(comm)) != "catatonit" {
		return
	}
	syscall.Kill(pid, syscall.SIGKILL)
	for i := 0; i < 100; i++ {
		if syscall.Kill(pid, 0) != nil {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestPodmanRootless: the podman and buildah the side-by-side tests compare
// skiff with work rootless as the test user on this host, against the
// local registry: info, run, and a build with a RUN step by each.
func TestPodmanRootless(t *testing.T) {
	e := newEnv(t)
	info := e.clientOK("podman", "info", "--format", "{{.Host.Security.Rootless}} {{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} {{.Store.GraphDriverName}}")
	if got := strings.TrimSpace(info); got != "true runc cgroupfs overlay" {
		t.Fatalf("podman info: %q, want rootless, runc, cgroupfs, overlay", got)
	}
	if out := e.clientOK("podman", "run", "--rm", busybox, "sh", "-c", "id -u; cat /proc/self/uid_map"); !strings.HasPrefix(out, "0\n") {
		t.Fatalf("podman run: %q, want uid 0 in the container", out)
	}
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN echo built > /built\n")
	for _, build := range [][]string{
		{"podman", "build", "-q", "-t", "localhost/skiff-test-podman", "ctx"},
		{"buildah", "build", "-q", "-t", "localhost/skiff-test-buildah", "ctx"},
	} {
		e.clientOK(build[0], build[1:]...)
	}
	for _, image := range []string{"localhost/skiff-test-podman", "localhost/skiff-test-buildah"} {
		if out := e.clientOK("podman", "run", "--rm", image, "cat", "/built"); out != "built\n" {
			t.Fatalf("podman run %s cat /built: %q", image, out)
		}
	}
}
