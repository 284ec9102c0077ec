package test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Tests of `skiff build` the way users run it: from a work directory with a
// context directory given by a relative path, a Containerfile by -f, names
// by -t, then the cache on a rebuild.

var imageIDLine = regexp.MustCompile(`^[0-9a-f]{64}$`)

// lastLine is the last non-empty line of s.
func lastLine(s string) string {
	l := lines(strings.TrimSpace(s))
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

// buildContainers lists the store's container records: a build's working
// layers are some, and none may be left when a build ends.
func (e *env) storeContainers() []string {
	e.t.Helper()
	data, err := os.ReadFile(filepath.Join(e.home, ".local/share/skiff/storage/overlay-containers/containers.json"))
	if err != nil {
		return nil
	}
	var recs []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(data, &recs); err != nil {
		e.t.Fatalf("reading the store's containers: %v", err)
	}
	var ids []string
	for _, r := range recs {
		ids = append(ids, r.ID)
	}
	return ids
}

// stepLines are the STEP and cache lines of a build's output.
func stepLines(out string) []string {
	var l []string
	for _, line := range lines(out) {
		if strings.HasPrefix(line, "STEP ") || strings.HasPrefix(line, "--> Using cache") {
			l = append(l, line)
		}
	}
	return l
}

// TestBuildFromAContextDirectory: build with -f and -t from relative
// paths; the image runs with what COPY, WORKDIR, ENV and RUN made; a
// rebuild comes wholly from the cache (podman's "--> Using cache ID" for
// every step) with the same ID; a changed COPY source misses from that step
// on while a changed ignored file hits; -q prints only the ID; --iidfile
// writes it; the build leaves no working layer.
func TestBuildFromAContextDirectory(t *testing.T) {
	e := newEnv(t)
	e.writeFile("work/app/build/app.containerfile", `FROM `+busybox+`
ENV GREETING=hello
WORKDIR /srv
COPY greeting.txt data/ ./
RUN echo "$GREETING from $(cat greeting.txt)" > out.txt
COPY late.txt /late.txt
CMD ["sh", "-c", "cat /srv/out.txt /srv/inner.txt /late.txt; pwd"]
`)
	e.writeFile("work/app/greeting.txt", "world\n")
	e.writeFile("work/app/data/inner.txt", "inner\n")
	e.writeFile("work/app/late.txt", "late 1\n")
	e.writeFile("work/app/notes.log", "ignored 1\n")
	e.writeFile("work/app/.dockerignore", "*.log\n")
	out := e.ok("build", "-f", "app/build/app.containerfile", "-t", "myapp", "app")
	id := lastLine(out)
	if !imageIDLine.MatchString(id) {
		t.Fatalf("the last line is not an image ID:\n%s", out)
	}
	for _, want := range []string{"STEP 1/7: FROM " + busybox, "STEP 5/7: RUN echo", "COMMIT myapp", "Successfully tagged localhost/myapp:latest"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if got := e.ok("run", "--rm", "myapp"); got != "hello from world\ninner\nlate 1\n/srv\n" {
		t.Fatalf("the image runs to %q", got)
	}
	if got := e.ok("images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}", "localhost/myapp"); got != "localhost/myapp:latest "+id[:12]+"\n" {
		t.Errorf("images: %q, want the ID build printed", got)
	}
	// The steps' intermediate images are listed by images -a only, as
	// podman lists them.
	if got := e.ok("images", "--format", "{{.Repository}}"); len(lines(strings.TrimSpace(got))) != 2 {
		t.Errorf("images lists more than the base and the build's image:\n%s", got)
	}

	// Everything cached, including with an ignored file changed.
	e.writeFile("work/app/notes.log", "ignored 2\n")
	out = e.ok("build", "-f", "app/build/app.containerfile", "-t", "myapp", "app")
	if lastLine(out) != id {
		t.Fatalf("a cached rebuild made another image:\n%s", out)
	}
	if n := strings.Count(out, "--> Using cache "); n != 6 {
		t.Fatalf("%d steps came from the cache, want 6:\n%s", n, out)
	}

	// A changed COPY source misses at that step; the steps before hit.
	e.writeFile("work/app/late.txt", "late 2\n")
	out = e.ok("build", "-f", "app/build/app.containerfile", "-t", "myapp", "app")
	if lastLine(out) == id {
		t.Fatalf("a changed COPY source gave the old image:\n%s", out)
	}
	steps := stepLines(out)
	if len(steps) != 11 || strings.Contains(steps[len(steps)-1], "Using cache") || strings.Contains(steps[len(steps)-2], "Using cache") {
		t.Fatalf("want steps 2-5 cached and 6-7 run:\n%s", out)
	}
	if got := e.ok("run", "--rm", "myapp"); !strings.Contains(got, "late 2") {
		t.Fatalf("the rebuilt image runs to %q", got)
	}

	// -q prints only the ID; --iidfile writes it.
	out = e.ok("build", "-q", "--iidfile", "iid", "-f", "app/build/app.containerfile", "app")
	if !imageIDLine.MatchString(strings.TrimSpace(out)) || strings.Count(out, "\n") != 1 {
		t.Fatalf("-q printed %q", out)
	}
	if iid, err := os.ReadFile(filepath.Join(e.root, "work/iid")); err != nil || string(iid) != "sha256:"+strings.TrimSpace(out) {
		t.Fatalf("--iidfile holds %q (%v)", iid, err)
	}

	// From inside the context, with the default file name, as image build.
	e.writeFile("work/app/Containerfile", "FROM "+busybox+"\nCOPY greeting.txt /\n")
	if r := e.sh(`cd app && "$SKIFF" image build -t fromhere .`); r.code != 0 || !strings.Contains(r.stdout, "Successfully tagged localhost/fromhere:latest") {
		t.Fatalf("image build from the context directory:\n%s", r)
	}
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("builds left working layers: %v", left)
	}
}

// TestBuildFailingRun: a RUN that fails shows its output, the build fails
// with one line naming the Containerfile's line and the exit status and
// exits with the RUN's code (podman 4.9's), nothing is tagged, and no
// working layer is left; the steps before it are cached for the next try.
func TestBuildFailingRun(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN echo before failing; echo to stderr >&2; exit 3\n")
	before := e.state()
	r := e.run("build", "-t", "broken", "ctx")
	checkFailure(t, r, 3, `^Error: Containerfile:2: building at STEP "RUN echo before failing; echo to stderr >&2; exit 3": while running runtime: exit status 3$`)
	if !strings.Contains(r.stdout, "before failing\n") || !strings.Contains(r.stdout, "to stderr\n") {
		t.Fatalf("the RUN's output is not shown:\n%s", r)
	}
	if after := e.state(); after != before {
		t.Fatalf("a failed build changed the images:\nbefore %s\nafter %s", before, after)
	}
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("a failed RUN left working layers: %v", left)
	}
	// A command that is not there: docker's 127.
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN [\"/no/such/program\"]\n")
	r = e.run("build", "ctx")
	if r.code == 0 || len(lines(strings.TrimSpace(r.stderr))) != 1 {
		t.Fatalf("a RUN of a missing program:\n%s", r)
	}
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("a RUN that could not start left working layers: %v", left)
	}
}

// TestBuildRefusesBadInput: a Containerfile that does not parse, names a
// stage that does not exist, has a cycle of COPY --from or copies a missing
// file; a missing -f, a foreign --platform, a bad tag and flags not
// supported yet: one line on stderr, exit 125, nothing tagged or left.
func TestBuildRefusesBadInput(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	for _, c := range []string{"error-unknown-instruction", "error-no-such-stage", "error-cycle", "error-missing-source"} {
		e.copyCase(c)
	}
	e.writeFile("work/ok/Containerfile", "FROM "+busybox+"\n")
	before := e.state()
	for _, tc := range []struct {
		args []string
		re   string
	}{
		{[]string{"error-unknown-instruction"}, `^Error: Containerfile:\d+: .*unknown instruction`},
		{[]string{"error-no-such-stage"}, `^Error: Containerfile:\d+: .*no such stage`},
		{[]string{"error-cycle"}, `^Error: Containerfile:\d+: .*circular dependency`},
		{[]string{"error-missing-source"}, `^Error: Containerfile:\d+: .*no such file in the build context`},
		{[]string{"-f", "nope/Containerfile", "ok"}, `^Error: .*nope/Containerfile does not exist`},
		{[]string{"no-such-dir"}, `^Error: .*no-such-dir is not a directory`},
		{[]string{"--platform", "linux/s390x", "ok"}, `^Error: .*builds only for this machine's platform`},
		{[]string{"-t", "Bad:Name:x", "ok"}, `^Error: .*Bad:Name:x`},
		{[]string{"--annotation", "a=b", "--format", "docker", "ok"}, `^Error: .*--annotation needs --format oci`},
		{[]string{"--pull=sometimes", "ok"}, `^Error: --pull sometimes`},
		{[]string{"--target", "nope", "ok"}, `^Error: .*no such stage`},
	} {
		args := append([]string{"build", "-t", "refused"}, tc.args...)
		e.fails(125, tc.re, args...)
	}
	if after := e.state(); after != before {
		t.Fatalf("refused builds changed the images:\nbefore %s\nafter %s", before, after)
	}
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("refused builds left working layers: %v", left)
	}
}

// copyCase copies a case of the Containerfile corpus (test/testdata/build)
// into the env's work directory, symlinks and modes kept.
func (e *env) copyCase(name string) string {
	e.t.Helper()
	dst := filepath.Join(e.root, "work", name)
	if out, err := exec.Command("cp", "-a", filepath.Join("testdata/build", name), dst).CombinedOutput(); err != nil {
		e.t.Fatalf("copying case %s: %v\n%s", name, err, out)
	}
	e.chownAll()
	return dst
}

// TestBuildKilledDuringRun: a build killed (SIGKILL, the whole process
// group) while a RUN runs leaves at most its working layer, which image
// prune removes, with the RUN's processes (they outlive their build: the
// runtime puts them in a session of their own); the next build, cached or
// not, gives the right image. With each runtime: runc's delete does not end
// a RUN whose runtime process was killed.
func TestBuildKilledDuringRun(t *testing.T) {
	for _, rt := range []string{"crun", "runc"} {
		t.Run(rt, func(t *testing.T) { testBuildKilledDuringRun(t, rt) })
	}
}

func testBuildKilledDuringRun(t *testing.T, runtime string) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nARG NAP\nCOPY a /a\nRUN echo started; sleep $NAP; echo slept > /slept\nCMD [\"cat\", \"/a\", \"/slept\"]\n")
	e.writeFile("work/ctx/a", "from the context\n")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	nap := napFor(t, 600)
	cmd, _ := startBuild(t, e, ctx, nil, "build", "--runtime", runtime, "--build-arg", "NAP="+nap, "-t", "killed", "ctx")
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	// The RUN's shell printed and goes on to its sleep, on a busy machine
	// a moment later.
	for deadline := time.Now().Add(5 * time.Second); len(processesRunning("sleep\x00"+nap+"\x00")) != 1; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("want the killed build's RUN left running, have pids %v", processesRunning("sleep\x00"+nap+"\x00"))
		}
	}
	if strings.Contains(e.ok("images", "--format", "{{.Repository}}"), "killed") {
		t.Fatal("a killed build tagged its image")
	}
	if left := e.storeContainers(); len(left) != 1 {
		t.Fatalf("want the killed RUN's working layer left for image prune, have %v", left)
	}
	e.ok("build", "-q", "--runtime", runtime, "--build-arg", "NAP=0", "-t", "killed", "ctx")
	if got := e.ok("run", "--rm", "killed"); got != "from the context\nslept\n" {
		t.Fatalf("the build after a killed one runs to %q", got)
	}
	e.ok("image", "prune", "-f")
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("image prune left the killed build's working layer: %v", left)
	}
	if pids := processesRunning("sleep\x00" + nap + "\x00"); len(pids) != 0 {
		t.Fatalf("image prune left the killed build's RUN running: pids %v", pids)
	}
	if got := e.ok("run", "--rm", "killed"); got != "from the context\nslept\n" {
		t.Fatalf("after image prune the image runs to %q", got)
	}
	e.ok("build", "-q", "--runtime", runtime, "--build-arg", "NAP=0", "-t", "killed", "ctx")
}

// napFor is a sleep length (seconds) of the test's own, so that its RUN's
// process is told from any other's; a leak of it is killed after the test
// (it fails this test, not the next ones of the user's).
func napFor(t *testing.T, from int) string {
	nap := strconv.Itoa(from + int(time.Now().UnixNano()%10000))
	t.Cleanup(func() {
		for _, pid := range processesRunning("sleep\x00" + nap + "\x00") {
			if p, err := strconv.Atoi(pid); err == nil {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
	})
	return nap
}

// startBuild starts skiff ARGS (a build whose RUN prints "started" first)
// in a process group of its own, its standard error to stderr, and returns
// once the RUN printed it, with the rest of the build's output to read.
func startBuild(t *testing.T, e *env, ctx context.Context, stderr io.Writer, args ...string) (*exec.Cmd, *bufio.Scanner) {
	t.Helper()
	cmd := e.command(ctx, args...)
	cmd.SysProcAttr.Setpgid = true
	cmd.Stderr = stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	for sc.Scan() && sc.Text() != "started" {
	}
	return cmd, sc
}

// processesRunning are the pids whose command line is cmdline (its
// arguments joined by NUL bytes, one after the last).
func processesRunning(cmdline string) []string {
	var pids []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		if data, err := os.ReadFile(p); err == nil && string(data) == cmdline {
			pids = append(pids, filepath.Base(filepath.Dir(p)))
		}
	}
	return pids
}

// TestBuildKilledAtSeveralPoints: builds killed at several moments (while
// copying, running, committing) leave nothing that image prune does not
// remove: afterwards every layer in the store belongs to an image, no
// working layer is left, and the next build gives the right image.
func TestBuildKilledAtSeveralPoints(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nARG N\nCOPY big /big\nRUN echo $N > /n && cp /big /big2\nCOPY small /small\nRUN cat /small /n\n")
	e.writeFile("work/ctx/small", "small\n")
	big := make([]byte, 24<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(filepath.Join(e.root, "work/ctx/big"), big, 0o644); err != nil {
		t.Fatal(err)
	}
	e.chownAll()
	for i, delay := range []time.Duration{150, 300, 450, 600, 800, 1000} {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd := e.command(ctx, "build", "-q", "--build-arg", "N="+strconv.Itoa(i), "-t", "several", "ctx")
		cmd.SysProcAttr.Setpgid = true
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(delay * time.Millisecond)
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		cmd.Wait()
		cancel()
	}
	e.ok("build", "-q", "--build-arg", "N=final", "-t", "several", "ctx")
	if got := e.ok("run", "--rm", "several", "sh", "-c", "cat /small /n; cmp /big /big2 && echo same"); got != "small\nfinal\nsame\n" {
		t.Fatalf("the build after killed ones runs to %q", got)
	}
	e.ok("image", "prune", "-f")
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("image prune left working layers: %v", left)
	}
	if orphans := e.orphanLayers(); len(orphans) != 0 {
		t.Fatalf("layers no image uses are left after image prune: %v", orphans)
	}
	if got := e.ok("run", "--rm", "several", "cat", "/n"); got != "final\n" {
		t.Fatalf("after image prune the image runs to %q", got)
	}
}

// orphanLayers are the store's layers that no image's chain of layers has.
func (e *env) orphanLayers() []string {
	e.t.Helper()
	dir := filepath.Join(e.home, ".local/share/skiff/storage")
	var layers []struct{ ID, Parent string }
	var images []struct{ Layer string }
	for file, v := range map[string]any{"overlay-layers/layers.json": &layers, "overlay-images/images.json": &images} {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			e.t.Fatal(err)
		}
		if err := json.Unmarshal(data, v); err != nil {
			e.t.Fatalf("%s: %v", file, err)
		}
	}
	parent := map[string]string{}
	for _, l := range layers {
		parent[l.ID] = l.Parent
	}
	used := map[string]bool{}
	for _, img := range images {
		for l := img.Layer; l != "" && !used[l]; l = parent[l] {
			used[l] = true
		}
	}
	var orphans []string
	for _, l := range layers {
		if !used[l.ID] {
			orphans = append(orphans, l.ID)
		}
	}
	return orphans
}

// TestBuildInterrupted: SIGINT (Ctrl-C) or SIGTERM (timeout, a CI job
// cancelled) during a RUN ends the build at once, as podman's does: the
// RUN is killed, nothing is tagged, the build exits 1 with one line, and
// no process of the build is left. It ignored both and went on to tag its
// image (user trial).
func TestBuildInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			e := newEnv(t)
			e.ok("pull", "-q", busybox)
			nap := napFor(t, 700)
			e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN echo started; sleep "+nap+"; echo slept\nRUN echo after\n")
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var stderr strings.Builder
			cmd, sc := startBuild(t, e, ctx, &stderr, "build", "-t", "interrupted", "ctx")
			at := time.Now()
			_ = cmd.Process.Signal(sig)
			for sc.Scan() {
				if sc.Text() == "slept" || sc.Text() == "after" {
					t.Errorf("the build went on after %v: %q", sig, sc.Text())
				}
			}
			err := cmd.Wait()
			if took := time.Since(at); took > 5*time.Second {
				t.Errorf("the build took %v to end after %v", took, sig)
			}
			var exitErr *exec.ExitError
			if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 || strings.Count(strings.TrimSpace(stderr.String()), "\n") != 0 {
				t.Fatalf("want exit 1 and one line, have %v\n%s", err, stderr.String())
			}
			if strings.Contains(e.ok("images", "--format", "{{.Repository}}"), "interrupted") {
				t.Fatal("an interrupted build tagged its image")
			}
			if pids := processesRunning("sleep\x00" + nap + "\x00"); len(pids) != 0 {
				t.Fatalf("the interrupted build's RUN runs on: %v", pids)
			}
			if left := e.storeContainers(); len(left) != 0 {
				t.Fatalf("the interrupted build left working layers: %v", left)
			}
		})
	}
}

// TestBuildContainerfileOnStdin: `build -` takes a Containerfile on
// standard input (no context), as docker and podman do, beside a tar; it
// was read as a tar only (user trial).
func TestBuildContainerfileOnStdin(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	cf := "FROM " + busybox + "\nRUN echo from-stdin > /f\nCMD [\"cat\", \"/f\"]\n"
	if r := e.runIn(cf, "build", "-q", "-t", "fromstdin", "-"); r.code != 0 {
		t.Fatalf("build - with a Containerfile on stdin\n%s", r)
	}
	if got := e.ok("run", "--rm", "fromstdin"); got != "from-stdin\n" {
		t.Fatalf("the image runs to %q", got)
	}
	// No context comes with it: COPY has nothing to read.
	if r := e.run("build", "-t", "nocontext", "-"); r.code != 125 || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("an empty stdin: want one line, exit 125\n%s", r) // an empty Containerfile
	}
	r := e.runIn("FROM "+busybox+"\nCOPY a /a\n", "build", "-t", "nocontext", "-")
	if r.code != 125 || !strings.Contains(r.stderr, "-:2") || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Fatalf("COPY with no context: want one line naming -:2, exit 125\n%s", r)
	}
	// A tar on stdin is still a context: TestBuildFromStdin.
}

// TestRmiAfterKilledBuild: a build killed during a RUN leaves a working
// layer on its base image; rmi of that image was refused as "in use by a
// container" that ps -a does not show, until builder prune (user trial).
func TestRmiAfterKilledBuild(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("tag", busybox, "mybase")
	nap := napFor(t, 800)
	e.writeFile("work/ctx/Containerfile", "FROM mybase\nRUN echo started; sleep "+nap+"\n")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, _ := startBuild(t, e, ctx, nil, "build", "-t", "killed", "ctx")
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Wait()
	e.ok("rmi", "mybase", busybox)
	if pids := processesRunning("sleep\x00" + nap + "\x00"); len(pids) != 0 {
		t.Fatalf("rmi left the killed build's RUN running: %v", pids)
	}
	if left := e.storeContainers(); len(left) != 0 {
		t.Fatalf("rmi left the killed build's working layer: %v", left)
	}
}

// TestPullOfPushedBuild: an image built here and pushed is pulled back
// (pull, build --pull=always FROM it) as podman does: its layers have the
// build's ids, not the chain ids a pull gives, and the pull failed with
// "exists with other layers" (user trial).
func TestPullOfPushedBuild(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	repo := fmt.Sprintf("%s/e2e/built-%d:latest", plainRegistry, time.Now().UnixNano())
	if r := e.runIn("FROM "+busybox+"\nRUN echo built > /built\n", "build", "-q", "-t", repo, "-"); r.code != 0 {
		t.Fatalf("build\n%s", r)
	}
	id := e.ok("images", "-q", "--no-trunc", repo)
	e.ok("push", "-q", repo)
	e.ok("pull", "-q", repo)
	if got := e.ok("images", "-q", "--no-trunc", repo); got != id {
		t.Fatalf("the pull changed the image: %q, was %q", got, id)
	}
	if r := e.runIn("FROM "+repo+"\nRUN cat /built\n", "build", "--pull=always", "-t", "child", "-"); r.code != 0 || !strings.Contains(r.stdout, "built\n") {
		t.Fatalf("build --pull=always FROM a pushed build\n%s", r)
	}
	e.ok("rmi", "child", repo)
	e.ok("pull", "-q", repo) // gone here: its layers come from the registry
	if got := e.ok("run", "--rm", repo, "cat", "/built"); got != "built\n" {
		t.Fatalf("the pulled image runs to %q", got)
	}
}

// TestInspectShowsDockerKeys: image inspect shows an image's HEALTHCHECK,
// ONBUILD and SHELL, as docker's does; they were kept in the image but
// not shown, and --format {{.Config.Healthcheck}} failed (user trial).
func TestInspectShowsDockerKeys(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	cf := "FROM " + busybox + "\nHEALTHCHECK --interval=5s --retries=2 CMD true\nONBUILD RUN echo hi\nSHELL [\"/bin/sh\", \"-ec\"]\n"
	if r := e.runIn(cf, "build", "-q", "-t", "keys", "-"); r.code != 0 {
		t.Fatalf("build\n%s", r)
	}
	got := e.ok("image", "inspect", "--format", "{{json .Config.Healthcheck}} {{json .Config.OnBuild}} {{json .Config.Shell}}", "keys")
	want := `{"Test":["CMD-SHELL","true"],"Interval":5000000000,"Retries":2} ["RUN echo hi"] ["/bin/sh","-ec"]` + "\n"
	if got != want {
		t.Fatalf("inspect shows %q, want %q", got, want)
	}
	if got := e.ok("image", "inspect", "--format", "{{json .Config.OnBuild}}", busybox); got != "null\n" {
		t.Fatalf("an image without ONBUILD shows %q, want null as docker", got)
	}
}

// TestBuildHistory: history says which instruction made each layer, as
// podman's does (a RUN's command after the build arguments it sees, other
// instructions as the shell's no-op); every step said "skiff build" (user
// trial).
func TestBuildHistory(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	cf := "FROM " + busybox + "\nARG G=hello\nRUN echo $G > /g\nCMD [\"sh\"]\n"
	if r := e.runIn(cf, "build", "-q", "-t", "hist", "-"); r.code != 0 {
		t.Fatalf("build\n%s", r)
	}
	got := strings.SplitN(e.ok("history", "--no-trunc", "--format", "{{.CreatedBy}}", "hist"), "\n", 3)
	want := []string{`/bin/sh -c #(nop) CMD ["sh"]`, `|1 G=hello /bin/sh -c echo $G > /g`}
	if len(got) < 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("history %q, want %q first", got, want)
	}
}

// TestBuildCacheMountOwner: a new cache mount gets the uid, gid and mode
// its --mount asks for (buildkit's rule), once: what a RUN changes later
// stays. They were ignored (root, 0755; user trial).
func TestBuildCacheMountOwner(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	id := fmt.Sprintf("owned-%d", time.Now().UnixNano())
	cf := "FROM " + busybox + "\nRUN --mount=type=cache,id=" + id + ",target=/c,uid=1000,gid=1001,mode=0750 stat -c '%u:%g %a' /c; chmod 0700 /c\n"
	r := e.runIn(cf, "build", "--no-cache", "-t", "owned", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "1000:1001 750\n") {
		t.Fatalf("a new cache mount: want 1000:1001 750\n%s", r)
	}
	r = e.runIn(strings.Replace(cf, "chmod 0700 /c", "true", 1), "build", "--no-cache", "-t", "owned", "-")
	if r.code != 0 || !strings.Contains(r.stdout, "1000:1001 700\n") {
		t.Fatalf("the cache mount's second use: want what the first RUN left, 1000:1001 700\n%s", r)
	}
}

// TestBuildSecretFromEnv: --secret id=ID,env=VAR and --secret id=VAR take
// the secret from the environment, as docker's and podman's do; only
// id=,src= was taken (user trial). The value is in no layer.
func TestBuildSecretFromEnv(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN --mount=type=secret,id=s cat /run/secrets/s; echo; cat /run/secrets/API_TOKEN 2>/dev/null; echo\n")
	r := e.sh(`MYS=from-env API_TOKEN=tok "$SKIFF" build --no-cache --secret id=s,env=MYS -t sec ctx && MYS=other API_TOKEN=tok2 "$SKIFF" build --no-cache --secret id=s,env=MYS --secret id=API_TOKEN -f - -t sec2 ctx <<'EOF'
FROM ` + busybox + `
RUN --mount=type=secret,id=s --mount=type=secret,id=API_TOKEN cat /run/secrets/s /run/secrets/API_TOKEN; echo
EOF`)
	if r.code != 0 || !strings.Contains(r.stdout, "from-env\n") || !strings.Contains(r.stdout, "othertok2\n") {
		t.Fatalf("secrets from the environment\n%s", r)
	}
	if got := e.ok("run", "--rm", "sec2", "sh", "-c", "ls -A /run/secrets 2>/dev/null; grep -rls tok2 /etc /run /root /tmp /bin; true"); got != "" {
		t.Fatalf("the secret is in the image: %q", got)
	}
	e.fails(125, `NOPE_UNSET is not set`, "build", "--secret", "id=x,env=NOPE_UNSET", "ctx")
}

// TestBuildOwnIgnoreFile: a Containerfile named with -f that has an ignore
// file of its own beside it (app.Dockerfile.dockerignore) uses that one
// instead of the context's, as buildkit and podman do (user trial).
func TestBuildOwnIgnoreFile(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/a.txt", "a\n")
	e.writeFile("work/ctx/b.txt", "b\n")
	e.writeFile("work/ctx/.dockerignore", "b.txt\n")
	e.writeFile("work/ctx/app.Dockerfile", "FROM "+busybox+"\nCOPY . /c/\nCMD [\"ls\", \"/c\"]\n")
	e.writeFile("work/ctx/app.Dockerfile.dockerignore", "a.txt\n")
	e.ok("build", "-q", "-f", "ctx/app.Dockerfile", "-t", "own", "ctx")
	if got := e.ok("run", "--rm", "own"); strings.Contains(got, "a.txt") || !strings.Contains(got, "b.txt") {
		t.Fatalf("with app.Dockerfile.dockerignore the image has %q: want b.txt, not a.txt", got)
	}
	e.ok("build", "-q", "-f", "ctx/app.Dockerfile", "--ignorefile", "ctx/.dockerignore", "-t", "ctxignore", "ctx")
	if got := e.ok("run", "--rm", "ctxignore"); !strings.Contains(got, "a.txt") || strings.Contains(got, "b.txt") {
		t.Fatalf("--ignorefile wins: the image has %q", got)
	}
}

// TestBuildLayersFalse: --layers=false commits the stage once: the image
// has one layer above its base, as podman's (it had one a step; user
// trial), and what each step did is in it.
func TestBuildLayersFalse(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	base := len(strings.Fields(e.ok("image", "inspect", "--format", "{{range .RootFS.Layers}}{{.}} {{end}}", busybox)))
	e.writeFile("work/ctx/a", "a\n")
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+" AS first\nRUN echo one > /one\n\nFROM "+busybox+"\nCOPY a /a\nRUN echo two > /two\nCOPY --from=first /one /one\nRUN cat /a /one /two > /all\nCMD [\"cat\", \"/all\"]\n")
	e.ok("build", "-q", "--layers=false", "-t", "flat", "ctx")
	layers := len(strings.Fields(e.ok("image", "inspect", "--format", "{{range .RootFS.Layers}}{{.}} {{end}}", "flat")))
	if layers != base+1 {
		t.Fatalf("--layers=false gave %d layers on a base of %d, want one more", layers, base)
	}
	if got := e.ok("run", "--rm", "flat"); got != "a\none\ntwo\n" {
		t.Fatalf("the image runs to %q", got)
	}
}

// TestBuildKeepsIntermediateContainers: --rm=false keeps each step's
// working container after a build that succeeded, --force-rm=false that
// of a RUN that failed, as podman's; ps --external lists them (podman's
// flag), rm --storage removes them, and no build or prune takes them for
// a killed build's. Both flags were accepted and did nothing (user trial).
func TestBuildKeepsIntermediateContainers(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN echo one > /one\nRUN echo two > /two\n")
	storageRows := func() []string {
		var rows []string
		for _, l := range strings.Split(strings.TrimSpace(e.ok("ps", "-a", "--external", "--format", "{{.ID}} {{.Status}}")), "\n") {
			if strings.HasSuffix(l, " Storage") {
				rows = append(rows, strings.Fields(l)[0])
			}
		}
		return rows
	}
	e.ok("build", "-q", "--no-cache", "-t", "dropped", "ctx")
	if rows := storageRows(); len(rows) != 0 || len(e.storeContainers()) != 0 {
		t.Fatalf("a default build kept containers: %v", rows)
	}
	e.ok("build", "-q", "--no-cache", "--rm=false", "-t", "kept", "ctx")
	kept := storageRows()
	if len(kept) != 2 {
		t.Fatalf("--rm=false: want the two RUNs' containers in ps --external, have %v", kept)
	}
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("ps without --external lists the build's containers: %q", got)
	}
	e.ok("image", "prune", "-f")
	e.ok("build", "-q", "-t", "kept2", "ctx")
	if rows := storageRows(); len(rows) != 2 {
		t.Fatalf("a prune or a build removed kept containers: %v", rows)
	}
	e.writeFile("work/fail/Containerfile", "FROM "+busybox+"\nRUN echo partial > /p; exit 3\n")
	if r := e.run("build", "--force-rm=false", "-t", "failed", "fail"); r.code != 3 {
		t.Fatalf("a failing RUN: want its exit code 3\n%s", r)
	}
	if rows := storageRows(); len(rows) != 3 {
		t.Fatalf("--force-rm=false: want the failed RUN's container too, have %v", rows)
	}
	for _, id := range storageRows() {
		if got := e.ok("rm", "--storage", id[:12]); got != id[:12]+"\n" {
			t.Fatalf("rm --storage printed %q", got)
		}
	}
	if rows := storageRows(); len(rows) != 0 || len(e.storeContainers()) != 0 {
		t.Fatalf("rm --storage left %v, store %v", rows, e.storeContainers())
	}
	e.fails(1, `no storage container`, "rm", "--storage", "nosuchthing")
	e.ok("rmi", "kept", "kept2", "dropped")
}

// TestBuildCopiesHardLinks: files of the context that are hard links of
// each other stay so in the image, as podman's (buildah's) and buildkit's
// COPY keep them; they were copied as separate files.
func TestBuildCopiesHardLinks(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+" AS first\nCOPY . /c/\nFROM first\nCOPY --from=first /c /d\n")
	e.writeFile("work/ctx/dir/a", "linked\n")
	if err := os.Link(filepath.Join(e.root, "work/ctx/dir/a"), filepath.Join(e.root, "work/ctx/b")); err != nil {
		t.Fatal(err)
	}
	e.chownAll()
	e.ok("build", "-q", "-t", "links", "ctx")
	got := e.ok("run", "--rm", "links", "sh", "-c", `for d in /c /d; do [ $(stat -c %i $d/dir/a) = $(stat -c %i $d/b) ] && stat -c %h $d/b; done; cat /c/b`)
	if got != "2\n2\nlinked\n" {
		t.Fatalf("the hard-linked files in the image: %q, want one file with two names in /c and in /d", got)
	}
}

// TestBuildCacheMountFrom: a new cache mount with from= starts with that
// stage's (or image's) directory, as buildkit's; later builds find what
// RUNs left in it, not the seed again.
func TestBuildCacheMountFrom(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	id := fmt.Sprintf("seeded-%d", time.Now().UnixNano())
	cf := "FROM " + busybox + " AS seed\nRUN mkdir /s && echo seeded > /s/f\nFROM " + busybox + "\nRUN --mount=type=cache,id=" + id + ",from=seed,source=/s,target=/c cat /c/*; echo added > /c/g\n"
	if r := e.runIn(cf, "build", "--no-cache", "-t", "seeded", "-"); r.code != 0 || !strings.Contains(r.stdout, "seeded\n") {
		t.Fatalf("a new cache mount from a stage: want its file\n%s", r)
	}
	if r := e.runIn(cf, "build", "--no-cache", "-t", "seeded", "-"); r.code != 0 || !strings.Contains(r.stdout, "seeded\nadded\n") {
		t.Fatalf("the cache's second use: want the seed and what the first RUN added\n%s", r)
	}
}
