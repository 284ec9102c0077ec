package test

import (
	"archive/tar"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// joinModes are the ways a command reaches the user's namespace: it makes
// one (no container runs), it joins a running container's in its
// constructor (enter.c), or, with a global flag before the command, a
// second copy of skiff joins it (join.c).
var joinModes = []struct {
	name   string
	holder bool
	global []string
}{
	{"no container", false, nil},
	{"container running", true, nil},
	{"container running, copy joins", true, []string{"--log-level=warn"}},
}

// TestRelativePathsSurviveTheNamespaceJoin: every flag and argument that
// names a host file or directory is resolved against the caller's working
// directory, whether the command makes the namespace or joins a running
// container's (setns resets the working directory to "/"); the joined
// process also keeps the caller's umask, environment and descriptors.
func TestRelativePathsSurviveTheNamespaceJoin(t *testing.T) {
	for _, mode := range joinModes {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t)
			sk := func(args ...string) string {
				t.Helper()
				return e.ok(append(append([]string{}, mode.global...), args...)...)
			}
			sh := func(script string) result {
				t.Helper()
				return e.sh(`sk() { "$SKIFF" ` + strings.Join(mode.global, " ") + ` "$@"; }; ` + script)
			}
			work := filepath.Join(e.root, "work")
			e.ok("pull", "-q", busybox)
			if mode.holder {
				e.ok("run", "-d", "--name", "holder", busybox, "sleep", "600")
				defer e.run("rm", "-f", "-t", "0", "holder")
			}
			e.writeFile("work/e4", "A=from-env-file\n")
			e.writeFile("work/sub/s", "subfile\n")
			e.writeFile("work/f", "fcontent\n")
			e.writeFile("work/noexec.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`)
			auth := base64.StdEncoding.EncodeToString([]byte(authUser + ":" + authPassword))
			e.writeFile("work/auth.json", `{"auths":{"`+authRegistry+`":{"auth":"`+auth+`"}}}`)

			expect := func(what, got, want string) {
				t.Helper()
				if strings.TrimSpace(got) != want {
					t.Errorf("%s: got %q, want %q", what, strings.TrimSpace(got), want)
				}
			}
			expect("run --env-file e4", sk("run", "--rm", "--env-file", "e4", busybox, "sh", "-c", "echo $A"), "from-env-file")
			expect("run -v ./sub:/x", sk("run", "--rm", "-v", "./sub:/x", busybox, "cat", "/x/s"), "subfile")
			sk("run", "--rm", "-v", "./sub:/x", busybox, "sh", "-c", "echo written > /x/w")
			if data, err := os.ReadFile(filepath.Join(work, "sub", "w")); err != nil || string(data) != "written\n" {
				t.Errorf("a write to -v ./sub:/x did not land in ./sub: %q %v", data, err)
			}
			expect("run --mount source=./sub", sk("run", "--rm", "--mount", "type=bind,source=./sub,target=/x", busybox, "cat", "/x/s"), "subfile")
			r := e.run(append(append([]string{}, mode.global...), "run", "--rm", "--security-opt", "seccomp=noexec.json", busybox, "mkdir", "/tmp/d")...)
			if r.code != 1 || !strings.Contains(r.stderr, "not permitted") {
				t.Errorf("run --security-opt seccomp=noexec.json: want mkdir refused by the profile (exit 1)\n%s", r)
			}

			id := strings.TrimSpace(sk("run", "-d", "--cidfile", "cid", busybox, "sleep", "60"))
			if data, err := os.ReadFile(filepath.Join(work, "cid")); err != nil || strings.TrimSpace(string(data)) != id {
				t.Errorf("run --cidfile cid: ./cid holds %q (%v), want %s", data, err, id)
			}
			sk("stop", "-t", "0", "--cidfile", "cid")
			sk("rm", "--cidfile", "cid")

			e.ok("create", "--name", "cpc", busybox, "true")
			sk("cp", "f", "cpc:/tmp/")
			sk("cp", "./sub", "cpc:/tmp/")
			sk("cp", "cpc:/tmp/f", "./back")
			sk("cp", "cpc:/etc/hostname", "out")
			if data, err := os.ReadFile(filepath.Join(work, "back")); err != nil || string(data) != "fcontent\n" {
				t.Errorf("cp ./f there and back: %q %v", data, err)
			}
			if _, err := os.Stat(filepath.Join(work, "out")); err != nil {
				t.Errorf("cp cpc:/etc/hostname out: %v", err)
			}
			sk("export", "-o", "exp.tar", "cpc")
			if names := tarNames(t, filepath.Join(work, "exp.tar")); !names["tmp/f"] || !names["tmp/sub/s"] {
				t.Errorf("export -o exp.tar: no tmp/f and tmp/sub/s in it")
			}
			imported := plainRegistry + "/h3/imported:1"
			sk("import", "exp.tar", imported)
			sk("image", "inspect", imported)
			sk("save", "-o", "img.tar", imported)
			if names := tarNames(t, filepath.Join(work, "img.tar")); len(names) == 0 {
				t.Errorf("save -o img.tar wrote no archive")
			}
			sk("rmi", imported)
			sk("load", "-q", "-i", "img.tar")
			sk("image", "inspect", imported)
			sk("pull", "-q", "--authfile", "auth.json", authRegistry+"/skiff/busybox:latest")
			sk("login", "-u", authUser, "-p", authPassword, "--authfile", "login.json", authRegistry)
			if _, err := os.Stat(filepath.Join(work, "login.json")); err != nil {
				t.Errorf("login --authfile login.json: %v", err)
			}
			expect("generate systemd --files", sk("generate", "systemd", "--files", "--name", "cpc"), filepath.Join(work, "container-cpc.service"))

			// The umask, the environment and the descriptors of the caller.
			if r := sh(`umask 077 && sk save -o um.tar ` + busybox + ` && stat -c %a um.tar`); r.code != 0 || strings.TrimSpace(r.stdout) != "600" {
				t.Errorf("save -o under umask 077: want mode 600\n%s", r)
			}
			if r := sh(`FROM_CALLER=yes sk run --rm -e FROM_CALLER ` + busybox + ` sh -c 'echo $FROM_CALLER'`); r.code != 0 || strings.TrimSpace(r.stdout) != "yes" {
				t.Errorf("run -e FROM_CALLER: the caller's environment is lost\n%s", r)
			}
			if r := sh(`sk export -o /dev/fd/5 cpc 5>fd5.tar`); r.code != 0 || !tarNames(t, filepath.Join(work, "fd5.tar"))["tmp/f"] {
				t.Errorf("export -o /dev/fd/5: the caller's descriptor 5 is lost\n%s", r)
			}
			e.ok("rm", "cpc")
		})
	}
}

// TestAWorkingDirectoryMissingFromTheNamespaceIsAnError: a command run from
// a directory that the user's namespace does not have (mounted after the
// namespace was made, under a mount that does not propagate) fails with
// one line and exit 125 instead of working in "/".
func TestAWorkingDirectoryMissingFromTheNamespaceIsAnError(t *testing.T) {
	for _, mode := range joinModes[1:] {
		t.Run(mode.name, func(t *testing.T) {
			e := newEnv(t)
			// A private mount made before the namespace: what the host
			// mounts on it later never reaches the namespace.
			_, late := lateUnderPrivate(t, e, filepath.Join(e.root, "work", "priv"))
			inner := filepath.Join(late, "inner")
			mustRun(t, "mkdir", inner)
			os.Chown(inner, e.uid(), e.gid())
			os.Chown(late, e.uid(), e.gid())
			for _, dir := range []string{late, inner} {
				cmd := e.command(t.Context(), append(append([]string{}, mode.global...), "images")...)
				cmd.Dir = dir
				out, err := cmd.CombinedOutput()
				var ee *exec.ExitError
				code := 0
				if errors.As(err, &ee) {
					code = ee.ExitCode()
				}
				r := result{args: []string{"images", "(in " + dir + ")"}, stderr: string(out), code: code}
				checkFailure(t, r, 125, regexp.QuoteMeta("the working directory "+dir)+".*user's namespace")
			}
		})
	}
}

func mustRun(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// tarNames lists the entries of a tar archive (without a leading ./).
func tarNames(t *testing.T, path string) map[string]bool {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Errorf("%v", err)
		return nil
	}
	defer f.Close()
	names := map[string]bool{}
	tr := tar.NewReader(f)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Errorf("%s: %v", path, err)
			return names
		}
		names[strings.TrimSuffix(strings.TrimPrefix(h.Name, "./"), "/")] = true
	}
}

// TestParallelExecsShareOneNamespace: bursts of parallel commands into one
// running container all join the namespace its monitor keeps, whether they
// join in the constructor or through a second copy (a global flag first),
// while the others come and go around them: no command makes a second
// namespace beside the live one, so none fails to find the container.
func TestParallelExecsShareOneNamespace(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "c", busybox, "sleep", "600")
	defer e.run("rm", "-f", "-t", "0", "c")
	nsID := strings.TrimSpace(e.ok("info", "--format", "{{.Host.NamespaceID}}"))
	rootsBefore, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "ns-*"))
	const bursts, parallel = 20, 100
	start := time.Now()
	failures := 0
	for b := 0; b < bursts; b++ {
		var wg sync.WaitGroup
		results := make([]result, parallel)
		for i := range results {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				args := []string{"exec", "c", "true"}
				if i%4 == 3 {
					args = append([]string{"--log-level=warn"}, args...)
				}
				results[i] = e.run(args...)
			}(i)
		}
		wg.Wait()
		for _, r := range results {
			if r.code != 0 {
				failures++
				if failures <= 3 {
					t.Errorf("burst %d: %s", b, r)
				}
			}
		}
	}
	t.Logf("%d bursts of %d in %s", bursts, parallel, time.Since(start).Round(time.Second))
	if failures > 0 {
		t.Errorf("%d of %d execs failed", failures, bursts*parallel)
	}
	// Earlier namespaces (the pull's) leave their run roots; the bursts
	// must add none.
	if roots, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "ns-*")); !slices.Equal(roots, rootsBefore) {
		t.Errorf("run roots %v after the bursts, %v before: a command made a second namespace", roots, rootsBefore)
	}
	records, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "ns", "[0-9]*"))
	inodes := map[string]bool{}
	for _, rec := range records {
		data, err := os.ReadFile(rec)
		if err == nil && len(strings.Fields(string(data))) > 0 {
			inodes[strings.Fields(string(data))[0]] = true
		}
	}
	if len(inodes) != 1 || !inodes[nsID] {
		t.Errorf("holders %v are in user namespaces %v: want only the container's, %s", records, inodes, nsID)
	}
}
