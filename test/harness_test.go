package test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const (
	plainRegistry = "127.0.0.1:5000"
	authRegistry  = "127.0.0.1:5001"
	busybox       = plainRegistry + "/skiff/busybox:latest"
	multilayer    = plainRegistry + "/skiff/multilayer:latest"
	authUser      = "skiffuser"
	authPassword  = "skiffpass"
)

var (
	skiffBin   string // the binary under test
	skipReason string // why every e2e test skips, if it must
	testUser   *user.User
	noSubUser  *user.User
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	if os.Geteuid() != 0 {
		skipReason = "e2e tests run as root and switch to the test user; run test/run.sh"
		return m.Run()
	}
	var err error
	name := envOr("SKIFF_TEST_USER", "skifftest")
	if testUser, err = user.Lookup(name); err != nil {
		fmt.Fprintf(os.Stderr, "test user %s missing: run test/setup.sh\n", name)
		return 1
	}
	noSubUser, _ = user.Lookup(envOr("SKIFF_TEST_NOSUB_USER", "skiffnosub"))
	for _, addr := range []string{plainRegistry, authRegistry} {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			fmt.Fprintf(os.Stderr, "registry %s is not running: run test/setup.sh\n", addr)
			return 1
		}
		c.Close()
	}
	dir, err := os.MkdirTemp("", "skiff-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	defer stopKubeAPI()
	os.Chmod(dir, 0o755)
	skiffBin = filepath.Join(dir, "skiff")
	if p := os.Getenv("SKIFF_BINARY"); p != "" {
		skiffBin = p
	} else {
		build := exec.Command("go", "build", "-buildvcs=false", "-tags", "containers_image_openpgp exclude_graphdriver_btrfs", "-o", skiffBin, "./cmd/skiff")
		build.Dir = ".."
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "building skiff:", err)
			return 1
		}
	}
	return m.Run()
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// env is one isolated user setup: its own HOME, store, config and runtime
// directory, all owned by the test user.
type env struct {
	t            *testing.T
	root         string
	home         string
	user         *user.User
	extra        []string // extra environment, KEY=VALUE
	path         string
	noXDGRuntime bool
}

func requireE2E(t *testing.T) {
	t.Helper()
	if skipReason != "" {
		t.Skip(skipReason)
	}
}

// newEnv makes a fresh environment for the test user with a registries.conf
// that searches and trusts the plain local registry.
func newEnv(t *testing.T) *env {
	return newEnvFor(t, testUser)
}

func newEnvFor(t *testing.T, u *user.User) *env {
	t.Helper()
	requireE2E(t)
	root, err := os.MkdirTemp("", "skiff-e2e-")
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, root: root, home: filepath.Join(root, "home"), user: u, path: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
	t.Cleanup(func() { os.RemoveAll(root) })
	e0 := &env{t: t, root: root, home: filepath.Join(root, "home"), user: u, path: "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
	t.Cleanup(func() {
		// A failed test leaves no container running into the next one.
		if t.Failed() {
			e0.run("rm", "-f", "-a")
		}
	})
	for _, d := range []string{"home", "home/.config/containers", "run", "work"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	e.writeFile("home/.config/containers/registries.conf", `unqualified-search-registries = ["`+plainRegistry+`"]
short-name-mode = "permissive"

[[registry]]
location = "`+plainRegistry+`"
insecure = true

[aliases]
"bb" = "`+plainRegistry+`/skiff/busybox"
`)
	e.chownAll()
	return e
}

// at returns the env bound to a subtest, so failures end the subtest.
func (e *env) at(t *testing.T) *env { c := *e; c.t = t; return &c }

func (e *env) uid() int { n, _ := strconv.Atoi(e.user.Uid); return n }
func (e *env) gid() int { n, _ := strconv.Atoi(e.user.Gid); return n }

// writeFile writes a file under the env root, owned by the user.
func (e *env) writeFile(rel, content string) string {
	e.t.Helper()
	p := filepath.Join(e.root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		e.t.Fatal(err)
	}
	e.chownAll()
	return p
}

func (e *env) chownAll() {
	os.Chown(e.root, e.uid(), e.gid())
	filepath.Walk(e.root, func(p string, info os.FileInfo, err error) error {
		if err == nil && !strings.Contains(p, "/storage/") {
			os.Lchown(p, e.uid(), e.gid())
		}
		return nil
	})
}

func (e *env) environ() []string {
	vars := []string{
		"HOME=" + e.home,
		"USER=" + e.user.Username,
		"PATH=" + e.path,
		"XDG_DATA_HOME=" + filepath.Join(e.home, ".local", "share"),
		"XDG_CONFIG_HOME=" + filepath.Join(e.home, ".config"),
		"LANG=C.UTF-8",
	}
	if !e.noXDGRuntime {
		vars = append(vars, "XDG_RUNTIME_DIR="+filepath.Join(e.root, "run"))
	}
	return append(vars, e.extra...)
}

// result is what one command did.
type result struct {
	prog   string // the program, when not skiff
	args   []string
	stdout string
	stderr string
	code   int
}

func (r result) String() string {
	prog := r.prog
	if prog == "" {
		prog = "skiff"
	}
	return fmt.Sprintf("%s %s: exit %d\nstdout: %s\nstderr: %s", prog, strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// command prepares skiff ARGS as the env's user.
func (e *env) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, skiffBin, args...)
	cmd.Dir = filepath.Join(e.root, "work")
	cmd.Env = e.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid()), Gid: uint32(e.gid())}}
	return cmd
}

// run runs skiff ARGS as the user, with stdin, and never fails the test.
func (e *env) runIn(stdin string, args ...string) result {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := e.command(ctx, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String()}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else {
			e.t.Fatalf("running skiff %v: %v", args, err)
		}
	}
	return r
}

func (e *env) run(args ...string) result { e.t.Helper(); return e.runIn("", args...) }

// ok runs skiff ARGS and fails the test unless it exits 0 with a clean stderr.
func (e *env) ok(args ...string) string {
	e.t.Helper()
	r := e.run(args...)
	if r.code != 0 {
		e.t.Fatalf("expected success\n%s", r)
	}
	if strings.TrimSpace(r.stderr) != "" {
		e.t.Fatalf("expected an empty stderr\n%s", r)
	}
	return r.stdout
}

// fails runs skiff ARGS and checks exit code and one stderr line matching re.
func (e *env) fails(code int, re string, args ...string) result {
	e.t.Helper()
	r := e.run(args...)
	checkFailure(e.t, r, code, re)
	return r
}

func checkFailure(t *testing.T, r result, code int, re string) {
	t.Helper()
	if r.code != code {
		t.Fatalf("expected exit %d\n%s", code, r)
	}
	lines := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	if len(lines) != 1 || lines[0] == "" {
		t.Fatalf("expected exactly one line on stderr\n%s", r)
	}
	if strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
		t.Fatalf("stack trace on stderr\n%s", r)
	}
	if !regexp.MustCompile(re).MatchString(lines[0]) {
		t.Fatalf("stderr does not match %q\n%s", re, r)
	}
}

// sh runs a shell pipeline as the user (for pipes and redirections).
func (e *env) sh(script string) result {
	e.t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	cmd.Dir = filepath.Join(e.root, "work")
	cmd.Env = append(e.environ(), "SKIFF="+skiffBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid()), Gid: uint32(e.gid())}}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{args: []string{"sh -c", script}, stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// state is a fingerprint of everything the store holds, for "no state
// change" checks.
func (e *env) state() string {
	e.t.Helper()
	return e.ok("images", "-a", "--no-trunc", "--digests", "--format", "{{.ID}} {{.Repository}}:{{.Tag}} {{.Digest}}")
}

func lines(s string) []string {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}
