package test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// runEnv is an env with the busybox image already pulled.
func runEnv(t *testing.T) *env {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	return e
}

func TestRunExitCodes(t *testing.T) {
	e := runEnv(t)
	if out := e.ok("run", "--rm", busybox, "echo", "hello"); out != "hello\n" {
		t.Fatalf("run output %q", out)
	}
	for _, c := range []struct {
		args []string
		code int
	}{
		{[]string{"run", "--rm", busybox, "sh", "-c", "exit 3"}, 3},
		{[]string{"run", "--rm", busybox, "nosuchcommand"}, 127},
		{[]string{"run", "--rm", busybox, "/etc/passwd"}, 126},
		{[]string{"run", "--rm", "--pull", "sometimes", busybox, "true"}, 125},
		{[]string{"run", "--rm", "localhost/no/such:image", "true"}, 125},
	} {
		if r := e.run(c.args...); r.code != c.code {
			t.Errorf("exit %d, want %d\n%s", r.code, c.code, r)
		}
	}
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("--rm left containers: %q", got)
	}
}

func TestRunPullPolicies(t *testing.T) {
	e := newEnv(t)
	e.fails(125, `no such image`, "run", "--rm", "--pull", "never", busybox, "true")
	if got := e.ok("images", "-q"); got != "" {
		t.Fatalf("--pull never pulled: %q", got)
	}
	r := e.run("run", "--rm", busybox, "echo", "pulled") // missing: pulls once
	if r.code != 0 || r.stdout != "pulled\n" {
		t.Fatalf("run with a pull\n%s", r)
	}
	e.ok("tag", busybox, "localhost/keep:me")
	e.ok("untag", busybox, busybox)
	if got := e.ok("run", "--rm", "--pull", "always", busybox, "echo", "again"); got != "again\n" {
		t.Fatalf("--pull always: %q", got)
	}
	if !strings.Contains(e.ok("images", "--format", "{{.Repository}}"), plainRegistry+"/skiff/busybox") {
		t.Fatal("--pull always did not pull")
	}
}

func TestDetachedContainerOutlivesCommand(t *testing.T) {
	e := runEnv(t)
	id := strings.TrimSpace(e.ok("run", "-d", "--name", "web", "-l", "tier=front", busybox, "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while true; do sleep 0.2; done"))
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(id) {
		t.Fatalf("run -d printed %q", id)
	}
	waitFor(t, func() bool { return strings.Contains(e.ok("logs", "web"), "started") })
	if got := e.ok("exec", "web", "echo", "from exec"); got != "from exec\n" {
		t.Fatalf("exec: %q", got)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.State.Status}} {{.State.Running}} {{.Name}} {{index .Config.Labels \"tier\"}}", "web")); got != "running true web front" {
		t.Fatalf("inspect: %q", got)
	}
	// logs -f follows until the container ends.
	follow := e.command(context.Background(), "logs", "-f", "web")
	var out strings.Builder
	follow.Stdout = &out
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	e.ok("stop", "web")
	done := make(chan error, 1)
	go func() { done <- follow.Wait() }()
	select {
	case err := <-done:
		if err != nil || !strings.Contains(out.String(), "started\nbye\n") {
			t.Fatalf("logs -f: %v %q", err, out.String())
		}
	case <-time.After(20 * time.Second):
		follow.Process.Kill()
		t.Fatal("logs -f did not end with the container")
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.State.Status}} {{.State.ExitCode}}", "web")); got != "exited 0" {
		t.Fatalf("after stop: %q", got)
	}
	if got := strings.TrimSpace(e.ok("wait", "web")); got != "0" {
		t.Fatalf("wait: %q", got)
	}
	e.ok("rm", "web")
	e.fails(125, `no such container: web`, "inspect", "--type", "container", "web")
	waitNoSkiffLeft(t, e)
}

func TestContainerSecurityProfile(t *testing.T) {
	e := runEnv(t)
	out := e.run("run", "--rm", busybox, "sh", "-c", "grep -E '^(CapEff|CapBnd|Seccomp):' /proc/self/status; cat /proc/self/uid_map; test -s /proc/kcore && echo kcore-readable; (echo ro > /proc/sys/kernel/hostname) 2>/dev/null && echo proc-sys-writable; ls /sys/class/net").stdout
	for _, want := range []string{"CapEff:\t00000000800405fb", "CapBnd:\t00000000800405fb", "Seccomp:\t2"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`(?m)^\s*0\s+` + e.user.Uid + `\s+1\n\s*1\s+` + strconv.Itoa(e.subStart(t)) + `\s+65536$`).MatchString(out) {
		t.Errorf("uid_map is not the full range:\n%s", out)
	}
	if strings.Contains(out, "kcore-readable") || strings.Contains(out, "proc-sys-writable") {
		t.Errorf("masked or read-only paths are not:\n%s", out)
	}
	if !regexp.MustCompile(`(?m)^lo\n?$`).MatchString(strings.TrimSpace(out[strings.LastIndex(out, "65536")+5:])) {
		t.Errorf("--network none must leave only lo:\n%s", out)
	}
}

func TestCreateStartAttach(t *testing.T) {
	e := runEnv(t)
	envFile := e.writeFile("work/env.list", "# comment\nFROM_FILE=yes\nOVERRIDE=file\n")
	id := strings.TrimSpace(e.ok("create", "--name", "c1", "-e", "OVERRIDE=flag", "--env-file", envFile, "-w", "/tmp", "-u", "nobody",
		"--hostname", "box1", busybox, "sh", "-c", "echo $FROM_FILE $OVERRIDE $(pwd) $(id -u) $(hostname); cat"))
	if got := strings.TrimSpace(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}")); got != "c1 created" {
		t.Fatalf("after create: %q", got)
	}
	r := e.runIn("piped input\n", "start", "-a", "-i", "c1")
	if r.code != 0 || r.stdout != "yes flag /tmp 65534 box1\npiped input\n" {
		t.Fatalf("start -a -i\n%s", r)
	}
	// Started again, detached, it runs the same command.
	e.ok("start", id[:12])
	e.ok("wait", "c1")
	if got := e.ok("logs", "--tail", "2", "c1"); got != "yes flag /tmp 65534 box1\n" && !strings.Contains(got, "yes flag") {
		t.Fatalf("logs after a second start: %q", got)
	}
	// --entrypoint and --replace.
	e.ok("create", "--replace", "--name", "c1", "--entrypoint", "echo", busybox, "replaced")
	if out := e.ok("start", "-a", "c1"); out != "replaced\n" {
		t.Fatalf("--replace/--entrypoint: %q", out)
	}
	e.ok("rm", "c1")
}

func TestPsListingAndFilters(t *testing.T) {
	e := runEnv(t)
	if r := e.run("run", "--name", "done3", busybox, "sh", "-c", "exit 3"); r.code != 3 {
		t.Fatalf("run: %s", r)
	}
	e.ok("create", "--name", "fresh", "-l", "k=v", busybox, "true")
	e.ok("run", "-d", "--name", "alive", busybox, "sleep", "60")
	if got := lines(e.ok("ps", "--format", "{{.Names}}")); len(got) != 1 || got[0] != "alive" {
		t.Fatalf("ps: %v", got)
	}
	table := e.ok("ps", "-a")
	if !regexp.MustCompile(`^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\n`).MatchString(table) || !strings.Contains(table, "Exited (3)") || !strings.Contains(table, "Created") {
		t.Fatalf("ps -a:\n%s", table)
	}
	if got := lines(e.ok("ps", "-a", "-q")); len(got) != 3 || len(got[0]) != 12 {
		t.Fatalf("ps -a -q: %v", got)
	}
	if got := lines(e.ok("ps", "-a", "-q", "--no-trunc")); len(got[0]) != 64 {
		t.Fatalf("--no-trunc: %v", got)
	}
	if got := lines(e.ok("ps", "-l", "--format", "{{.Names}}")); len(got) != 1 || got[0] != "alive" {
		t.Fatalf("ps -l: %v", got)
	}
	if got := lines(e.ok("ps", "-n", "2", "--format", "{{.Names}}")); len(got) != 2 || got[1] != "fresh" {
		t.Fatalf("ps -n 2: %v", got)
	}
	for filter, want := range map[string]string{
		"status=exited": "done3", "status=created": "fresh", "exited=3": "done3", "label=k=v": "fresh",
		"name=ali": "alive", "ancestor=" + busybox: "alive done3 fresh",
	} {
		got := strings.Join(lines(e.ok("ps", "-a", "--filter", filter, "--format", "{{.Names}}")), " ")
		if filter == "ancestor="+busybox {
			got = strings.Join(sortedFields(got), " ")
		}
		if got != want {
			t.Errorf("--filter %s: %q, want %q", filter, got, want)
		}
	}
	id := strings.TrimSpace(e.ok("inspect", "--format", "{{.Id}}", "alive"))
	if got := lines(e.ok("ps", "--filter", "id="+id[:8], "-q")); len(got) != 1 {
		t.Fatalf("id filter: %v", got)
	}
	var rows []map[string]any
	if err := json.Unmarshal([]byte(e.ok("ps", "-a", "--format", "json")), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("ps json: %v %d", err, len(rows))
	}
	if tbl := lines(e.ok("ps", "--format", "table {{.Names}}\t{{.Status}}")); !regexp.MustCompile(`^NAMES\s+STATUS$`).MatchString(tbl[0]) || !strings.HasPrefix(tbl[1], "alive") {
		t.Fatalf("ps table template: %v", tbl)
	}
	// podman-rm(1): 2 when a container runs, 1 when one does not exist.
	e.fails(2, `stop it first or use rm -f`, "rm", "alive")
	e.fails(1, `no such container: nosuch`, "rm", "nosuch")
	e.fails(2, `alive: stop it first`, "rm", "nosuch", "alive")
	e.ok("rm", "-f", "-a")
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("rm -f -a left %q", got)
	}
	waitNoSkiffLeft(t, e)
}

func sortedFields(s string) []string {
	f := strings.Fields(s)
	for i := range f {
		for j := i + 1; j < len(f); j++ {
			if f[j] < f[i] {
				f[i], f[j] = f[j], f[i]
			}
		}
	}
	return f
}

func TestLogsOptions(t *testing.T) {
	e := runEnv(t)
	if r := e.run("run", "--name", "talker", busybox, "sh", "-c", "echo one; echo two >&2; sleep 1.2; echo three"); r.code != 0 || r.stderr != "two\n" {
		t.Fatalf("run: %s", r)
	}
	r := e.run("logs", "talker")
	if r.code != 0 || r.stdout != "one\nthree\n" || r.stderr != "two\n" {
		t.Fatalf("logs streams\n%s", r)
	}
	if got := e.ok("logs", "--tail", "1", "talker"); got != "three\n" {
		t.Fatalf("--tail 1: %q", got)
	}
	ts := e.run("logs", "-t", "talker").stdout
	stamps := regexp.MustCompile(`(?m)^(\S+) (one|three)$`).FindAllStringSubmatch(ts, -1)
	if len(stamps) != 2 {
		t.Fatalf("logs -t: %q", ts)
	}
	if got := e.ok("logs", "--since", stamps[1][1], "talker"); got != "three\n" {
		t.Fatalf("--since: %q", got)
	}
	if got := e.run("logs", "--until", stamps[1][1], "talker").stdout; got != "one\n" {
		t.Fatalf("--until: %q", got)
	}
	e.fails(125, `--tail "x"`, "logs", "--tail", "x", "talker")
}

func TestExecOptions(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "box", busybox, "sleep", "60")
	if got := e.ok("exec", "-e", "X=1", "-u", "65534:65534", "-w", "/tmp", "box", "sh", "-c", "echo $X $(id -u) $(pwd)"); got != "1 65534 /tmp\n" {
		t.Fatalf("exec -e -u -w: %q", got)
	}
	// A user by name, from the container's /etc/passwd, with its home.
	if got := e.ok("exec", "-u", "nobody", "box", "sh", "-c", "echo $(id -u):$(id -g) $HOME"); got != "65534:65534 /nonexistent\n" {
		t.Fatalf("exec -u nobody: %q", got)
	}
	e.fails(125, `user "nosuchuser"`, "exec", "-u", "nosuchuser", "box", "true")
	if r := e.runIn("through stdin\n", "exec", "-i", "box", "cat"); r.stdout != "through stdin\n" {
		t.Fatalf("exec -i\n%s", r)
	}
	e.ok("exec", "-d", "box", "sh", "-c", "sleep 0.3; touch /tmp/detached")
	waitFor(t, func() bool { return e.run("exec", "box", "test", "-f", "/tmp/detached").code == 0 })
	if r := e.run("exec", "box", "sh", "-c", "exit 7"); r.code != 7 {
		t.Fatalf("exec exit code\n%s", r)
	}
	if r := e.run("exec", "box", "nosuch"); r.code != 127 {
		t.Fatalf("exec of a missing command\n%s", r)
	}
	e.ok("kill", "-s", "TERM", "box")
	e.ok("kill", "box")
	if got := strings.TrimSpace(e.ok("wait", "box")); got != "137" {
		t.Fatalf("exit code after kill: %q", got)
	}
	e.fails(125, `not running`, "exec", "box", "true")
	e.ok("restart", "box")
	if got := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Status}}", "box")); got != "running" {
		t.Fatalf("after restart: %q", got)
	}
	e.fails(125, `unknown signal "SIGNOPE"`, "kill", "-s", "SIGNOPE", "box")
	e.ok("rm", "-f", "box")
	waitNoSkiffLeft(t, e)
}

func TestRunTTY(t *testing.T) {
	e := runEnv(t)
	r := e.sh(`script -qec "stty cols 99 rows 33; $SKIFF run --rm -t ` + busybox + ` sh -c 'tty; stty size'" /dev/null`)
	if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/0") || !strings.Contains(r.stdout, "33 99") {
		t.Fatalf("run -t\n%s", r)
	}
	e.fails(125, `not a TTY`, "run", "-it", busybox, "true")
	e.ok("run", "-d", "--name", "ttyexec", busybox, "sleep", "30")
	// The terminal has the caller's size from the start: no resize races
	// with the first command.
	r = e.sh(`script -qec "stty cols 77 rows 22; $SKIFF exec -t ttyexec sh -c 'tty; stty size'" /dev/null`)
	if r.code != 0 || !strings.Contains(r.stdout, "/dev/pts/") || !strings.Contains(r.stdout, "22 77") {
		t.Fatalf("exec -t\n%s", r)
	}
	e.ok("rm", "-f", "ttyexec")
}

func TestRuntimeFromContainersConf(t *testing.T) {
	e := runEnv(t)
	runtimeOf := func(name string) string {
		return strings.TrimSpace(e.ok("inspect", "--format", "{{.HostConfig.Runtime}}", name))
	}
	// The default is crun, as podman's, also on this hybrid cgroup host.
	e.ok("create", "--name", "bydefault", busybox, "true")
	if got := runtimeOf("bydefault"); got != "crun" {
		t.Fatalf("default runtime %q", got)
	}
	// Not for a container with a user namespace of its own on a network,
	// whose helper crun's run would wait for: runc by default, crun refused.
	e.ok("create", "--name", "nested", "--userns", "keep-id", busybox, "true")
	e.ok("create", "--name", "nestednone", "--userns", "keep-id", "--network", "none", busybox, "true")
	if got, none := runtimeOf("nested"), runtimeOf("nestednone"); got != "runc" || none != "crun" {
		t.Fatalf("nested user namespace: runtime %q on the network, %q on none", got, none)
	}
	e.fails(125, `crun cannot run a container with a user namespace of its own`, "create", "--runtime", "crun", "--userns", "keep-id", busybox, "true")
	e.writeFile("home/.config/containers/containers.conf", "[engine]\nruntime = \"runc\"\n")
	e.ok("create", "--name", "byconf", busybox, "sh", "-c", "echo $0", "ran")
	if got := runtimeOf("byconf"); got != "runc" {
		t.Fatalf("runtime from containers.conf %q", got)
	}
	if got := e.ok("run", "--rm", "--runtime", "crun", busybox, "echo", "crun chosen"); got != "crun chosen\n" {
		t.Fatalf("--runtime over containers.conf: %q", got)
	}
	// A container keeps the runtime it was created with: runc and crun
	// keep their state in different shapes.
	e.writeFile("home/.config/containers/containers.conf", "[engine]\nruntime = \"crun\"\n")
	if got := e.ok("start", "-a", "byconf"); got != "ran\n" {
		t.Fatalf("start of the runc container: %q", got)
	}
	// A runtime named by its path is recorded as named, not as whatever
	// of that name PATH finds later.
	e.ok("create", "--name", "bypath", "--runtime", "/usr/sbin/runc", busybox, "true")
	if got := runtimeOf("bypath"); got != "/usr/sbin/runc" {
		t.Fatalf("runtime by path recorded as %q", got)
	}
	e.writeFile("home/.config/containers/containers.conf", "[engine]\nruntime = \"nosuchruntime\"\n")
	e.fails(125, `nosuchruntime is not installed`, "run", "--rm", busybox, "true")
}

// TestCrunPrecompiledSeccomp: crun gets the default profile compiled once
// (the cache in the runtime directory) and the filter it loads from it is
// the default profile: unshare(CLONE_NEWUSER), which the profile denies
// without CAP_SYS_ADMIN, fails, and works with seccomp=unconfined.
func TestCrunPrecompiledSeccomp(t *testing.T) {
	e := runEnv(t)
	probe := []string{busybox, "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -U true 2>/dev/null && echo unshared || echo denied"}
	for i := 0; i < 2; i++ { // the first run compiles, the second loads the cache
		out := e.ok(append([]string{"run", "--rm", "--runtime", "crun"}, probe...)...)
		if !strings.Contains(out, "Seccomp:\t2") || strings.Contains(out, "unshared") {
			t.Fatalf("run %d with the default profile:\n%s", i, out)
		}
		cached, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "seccomp", "*.bpf"))
		if len(cached) != 1 {
			t.Fatalf("run %d: compiled profiles %v", i, cached)
		}
		if st, err := os.Stat(cached[0]); err != nil || st.Size() == 0 || st.Size()%8 != 0 {
			t.Fatalf("compiled profile %v %v", st, err)
		}
	}
	out := e.ok(append([]string{"run", "--rm", "--runtime", "crun", "--security-opt", "seccomp=unconfined"}, probe...)...)
	if !strings.Contains(out, "Seccomp:\t0") || !strings.Contains(out, "unshared") {
		t.Fatalf("seccomp=unconfined:\n%s", out)
	}
	// A damaged cache entry is never loaded: crun compiles the profile again.
	cached, _ := filepath.Glob(filepath.Join(e.root, "run", "skiff", "seccomp", "*.bpf"))
	if err := os.WriteFile(cached[0], []byte("broken"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := e.ok(append([]string{"run", "--rm", "--runtime", "crun"}, probe...)...); strings.Contains(out, "unshared") {
		t.Fatalf("with a damaged cache entry:\n%s", out)
	}
	// exec into a crun container loads the same filter.
	e.ok("run", "-d", "--name", "crunexec", "--runtime", "crun", busybox, "sleep", "30")
	if out := e.ok("exec", "crunexec", "sh", "-c", "grep '^Seccomp:' /proc/self/status; unshare -U true 2>/dev/null && echo unshared || echo denied"); !strings.Contains(out, "Seccomp:\t2") || strings.Contains(out, "unshared") {
		t.Fatalf("exec:\n%s", out)
	}
	e.ok("rm", "-f", "crunexec")
}

func TestNothingLeftWhenTheLastContainerExits(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "short", busybox, "sleep", "1")
	waitFor(t, func() bool {
		return strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}} {{.State}}"), "short exited")
	})
	waitNoSkiffLeft(t, e)
	if got := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.ExitCode}}", "short")); got != "0" {
		t.Fatalf("exit code recorded by the monitor: %q", got)
	}
	e.ok("run", "-d", "--rm", "--name", "gone", busybox, "true")
	waitFor(t, func() bool { return !strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}}"), "gone") })
	waitNoSkiffLeft(t, e)
}

func TestConcurrentRuns(t *testing.T) {
	e := runEnv(t)
	const n = 50
	var wg sync.WaitGroup
	results := make([]result, 2*n)
	for i := 0; i < n; i++ {
		wg.Add(2)
		go func(i int) {
			defer wg.Done()
			results[i] = e.run("run", "--rm", busybox, "true")
		}(i)
		go func(i int) {
			defer wg.Done()
			name := fmt.Sprintf("pair%d", i)
			r := e.run("run", "-d", "--name", name, busybox, "sleep", "30")
			if r.code == 0 {
				r = e.run("rm", "-f", name)
			}
			results[n+i] = r
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if r.code != 0 || strings.Contains(r.stderr, "locked") {
			t.Fatalf("concurrent command failed\n%s", r)
		}
	}
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("containers leaked: %q", got)
	}
	waitNoSkiffLeft(t, e)
}

func TestContainerBadInput(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "taken", busybox, "sleep", "60")
	before := e.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}")
	for _, c := range []struct {
		args []string
		err  string
	}{
		{[]string{"run", "--name", "taken", busybox, "true"}, `name is already in use: "taken"`},
		{[]string{"run", "--bogus", busybox}, `unknown flag: --bogus`},
		{[]string{"run", "--pull", "sometimes", busybox}, `--pull "sometimes"`},
		{[]string{"run", "--name", "bad name", busybox}, `invalid container name "bad name"`},
		{[]string{"run", "nosuchimage:here"}, `nosuchimage`},
		{[]string{"run", "--network", "bad/name", busybox}, `--network "bad/name"`},
		{[]string{"start", "nosuch"}, `no such container: nosuch`},
		{[]string{"stop", "nosuch"}, `no such container: nosuch`},
		{[]string{"logs", "nosuch"}, `no such container: nosuch`},
		{[]string{"exec", "nosuch", "true"}, `no such container: nosuch`},
		{[]string{"kill", "-s", "NOPE", "taken"}, `unknown signal "NOPE"`},
		{[]string{"ps", "--filter", "color=red"}, `unknown key "color"`},
		{[]string{"ps", "--filter", "status=sleeping"}, `status is created`},
		{[]string{"run", "--runtime", "nosuchruntime", busybox, "true"}, `nosuchruntime is not installed`},
		// docker's opts.ValidateDNSSearch: a newline or a space would write
		// lines of the user's choosing into resolv.conf.
		{[]string{"run", "--dns-search", "a.com\nnameserver 192.0.2.66", busybox, "true"}, `--dns-search .* is not a valid domain`},
		{[]string{"create", "--dns-search", "a b", busybox}, `--dns-search "a b" is not a valid domain`},
	} {
		r := e.run(c.args...)
		checkFailure(t, r, 125, c.err)
	}
	if after := e.ok("ps", "-a", "--no-trunc", "--format", "{{.ID}} {{.Names}} {{.State}}"); after != before {
		t.Fatalf("bad input changed state:\n%s\n%s", before, after)
	}
	e.ok("rm", "-f", "taken")
}

// waitFor polls cond for up to 20 seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 20s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitNoSkiffLeft checks that the user runs no skiff, monitor, runc or
// network helper process at all.
func waitNoSkiffLeft(t *testing.T, e *env) {
	t.Helper()
	waitNoSkiffWithin(t, e, 10*time.Second)
}

func waitNoSkiffWithin(t *testing.T, e *env, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		left := userProcesses(e.uid())
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("processes of %s left: %v", e.user.Username, left)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// userProcesses lists "PID COMM" of uid's processes that belong to skiff:
// the binary, the monitor, runtimes, network helpers. A zombie has ended:
// reaping orphans is init's job, and this machine's init does it lazily.
func userProcesses(uid int) []string {
	var out []string
	for _, pid := range userPids(uid, func(pid string) bool {
		stat, _ := os.ReadFile(filepath.Join("/proc", pid, "stat"))
		if zombie(string(stat)) {
			return false
		}
		comm, _ := os.ReadFile(filepath.Join("/proc", pid, "comm"))
		name := strings.TrimSpace(string(comm))
		exe, _ := os.Readlink("/proc/" + pid + "/exe")
		return strings.TrimSuffix(exe, " (deleted)") == skiffBin || name == "exe" || name == "skiff" || strings.HasPrefix(name, "runc") ||
			name == "crun" || name == "pasta" || strings.HasPrefix(name, "passt") || name == "slirp4netns" || strings.HasPrefix(name, "skiff") ||
			name == "aardvark-dns" || name == "netavark"
	}) {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, fmt.Sprintf("%d %s (%s)", pid, strings.TrimSpace(string(comm)), strings.TrimSpace(strings.ReplaceAll(string(args), "\x00", " "))))
	}
	return out
}

func zombie(stat string) bool {
	i := strings.LastIndexByte(stat, ')')
	return i > 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
