package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// statusField is a field of /proc/self/status as the container sees it.
func statusField(t *testing.T, e *env, field string, args ...string) string {
	t.Helper()
	args = append(append([]string{"run", "--rm"}, args...), busybox, "grep", "^"+field+":", "/proc/self/status")
	return strings.TrimSpace(strings.TrimPrefix(e.ok(args...), field+":"))
}

// TestUsernsKeepID: inside, the user's own uid and gid; what the container
// writes to a bind mount belongs to the user on the host.
func TestUsernsKeepID(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	dir := filepath.Join(e.root, "work", "kept")
	os.MkdirAll(dir, 0o755)
	e.chownAll()
	out := e.ok("run", "--rm", "--userns", "keep-id", "-v", dir+":/k", busybox, "sh", "-c", "id -u; id -g; touch /k/mine")
	if want := fmt.Sprintf("%d\n%d\n", e.uid(), e.gid()); out != want {
		t.Fatalf("keep-id ids inside: %q, want %q", out, want)
	}
	st, err := os.Stat(filepath.Join(dir, "mine"))
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != e.uid() || int(sys.Gid) != e.gid() {
		t.Fatalf("file written with keep-id is owned by %d:%d on the host", sys.Uid, sys.Gid)
	}
	// auto: a private range, root inside mapped to a subordinate id; two
	// containers get ranges that do not overlap.
	e.ok("create", "--name", "a1", "--userns", "auto", busybox, "true")
	m := strings.Fields(e.ok("run", "--rm", "--userns", "auto:size=500", busybox, "cat", "/proc/self/uid_map"))
	if len(m) != 3 || m[0] != "0" || m[2] != "500" || m[1] == "1" {
		t.Fatalf("auto uid_map %v: want 0 START 500 past a1's range", m)
	}
	// Concurrent creates never share a range: it is chosen in the
	// transaction that records the container.
	var wg sync.WaitGroup
	results := make([]result, 6)
	for i := range results {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			results[i] = e.run("create", "--name", fmt.Sprintf("auto%d", i), "--userns", "auto:size=2000", busybox, "cat", "/proc/self/uid_map")
		}(i)
	}
	wg.Wait()
	for _, r := range results {
		if r.code != 0 {
			t.Fatalf("a concurrent create:\n%s", r)
		}
	}
	starts := map[string]bool{}
	for i := 0; i < 6; i++ {
		f := strings.Fields(e.ok("start", "-a", fmt.Sprintf("auto%d", i)))
		if len(f) != 3 || f[2] != "2000" || starts[f[1]] {
			t.Fatalf("auto%d has %v; ranges so far %v", i, f, starts)
		}
		starts[f[1]] = true
	}
	e.ok("rm", "auto0", "auto1", "auto2", "auto3", "auto4", "auto5")
	// --uidmap/--gidmap: exactly the given mapping.
	if got := strings.Fields(e.ok("run", "--rm", "--uidmap", "0:2000:100", "--gidmap", "0:3000:100", busybox, "cat", "/proc/self/uid_map", "/proc/self/gid_map")); strings.Join(got, " ") != "0 2000 100 0 3000 100" {
		t.Fatalf("--uidmap/--gidmap: %v", got)
	}
	// A container with a user namespace of its own: exec joins it, its
	// published port serves, its network namespace is its own (its sysfs
	// too), cp maps ids both ways (an id it cannot name becomes its root),
	// and nothing is left once it goes.
	port := freePort(t, "tcp")
	e.ok("run", "-d", "--name", "nested", "--uidmap", "0:2000:3000", "--gidmap", "0:2000:3000", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), busybox, "httpd", "-f", "-p", "80", "-h", "/etc")
	if got := e.ok("exec", "nested", "sh", "-c", "id -u; cat /proc/self/uid_map; ls /sys/class/net | tr '\\n' ' '"); !strings.HasPrefix(got, "0\n") || !strings.Contains(got, "2000") || !strings.Contains(got, "eth0 lo") {
		t.Fatalf("exec into a container with its own user namespace: %q", got)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/hostname", port)); strings.TrimSpace(got) == "" {
		t.Fatalf("its published port: %q", got)
	}
	hostFile := e.writeFile("work/in.txt", "copied in\n")
	os.Chown(hostFile, 0, 0) // the host's root: no id in the container's namespace
	os.Chmod(hostFile, 0o644)
	e.ok("cp", hostFile, "nested:/tmp/in.txt")
	e.ok("exec", "nested", "sh", "-c", "touch /tmp/mine && chown 1000:1000 /tmp/mine")
	if got := e.ok("exec", "nested", "stat", "-c", "%u:%g %n", "/tmp/in.txt", "/tmp/mine"); got != "0:0 /tmp/in.txt\n1000:1000 /tmp/mine\n" {
		t.Fatalf("ids inside after cp: %q", got)
	}
	r := e.sh(`$SKIFF cp nested:/tmp - | tar tvf - | awk '{print $2, $6}' | sort`)
	if r.code != 0 || !strings.Contains(r.stdout, "0/0 tmp/in.txt") || !strings.Contains(r.stdout, "1000/1000 tmp/mine") {
		t.Fatalf("cp out of it shows the container's ids:\n%s", r)
	}
	e.ok("rm", "-f", "nested")
	waitNoProcesses(t, e)
	// host: the user's own namespace, as without --userns.
	if got := strings.Fields(e.ok("run", "--rm", "--userns", "host", busybox, "cat", "/proc/self/uid_map")); len(got) != 6 || got[2] != "1" || got[5] != "65536" {
		t.Fatalf("--userns host uid_map %v", got)
	}
	e.fails(125, "--userns", "run", "--rm", "--userns", "bogus", busybox, "true")
	e.fails(125, "outside", "run", "--rm", "--uidmap", "0:1:999999", busybox, "true")
}

// TestSecurityOptions: capabilities, --privileged, --security-opt.
func TestSecurityOptions(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	// CAP_NET_ADMIN is bit 12.
	if got := statusField(t, e, "CapEff", "--cap-drop", "ALL", "--cap-add", "net_admin"); got != "0000000000001000" {
		t.Fatalf("--cap-drop ALL --cap-add net_admin: CapEff %s", got)
	}
	// The default set without CAP_CHOWN (bit 0).
	if got := statusField(t, e, "CapEff", "--cap-drop", "CHOWN"); got != "00000000800405fa" {
		t.Fatalf("--cap-drop CHOWN: CapEff %s", got)
	}
	if got := statusField(t, e, "Seccomp", "--privileged"); got != "0" {
		t.Fatalf("--privileged keeps a seccomp filter: %s", got)
	}
	if got := statusField(t, e, "CapEff", "--privileged"); !strings.HasSuffix(got, "ffffffff") {
		t.Fatalf("--privileged: CapEff %s", got)
	}
	if got := statusField(t, e, "Seccomp", "--security-opt", "seccomp=unconfined"); got != "0" {
		t.Fatalf("seccomp=unconfined: %s", got)
	}
	if got := statusField(t, e, "NoNewPrivs", "--security-opt", "no-new-privileges"); got != "1" {
		t.Fatalf("no-new-privileges: %s", got)
	}
	// A profile from a file: everything allowed but mkdir.
	profile := e.writeFile("work/profile.json", `{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"}]}`)
	r := e.run("run", "--rm", "--security-opt", "seccomp="+profile, busybox, "mkdir", "/tmp/x")
	if r.code == 0 || !strings.Contains(r.stderr, "Operation not permitted") {
		t.Fatalf("seccomp=FILE did not apply:\n%s", r)
	}
	// unmask and mask.
	if out := e.ok("run", "--rm", "--security-opt", "unmask=/proc/sys", busybox, "sh", "-c", "grep ' /proc/sys ' /proc/mounts || echo unmasked"); strings.TrimSpace(out) != "unmasked" {
		t.Fatalf("unmask=/proc/sys left: %s", out)
	}
	if out := e.ok("run", "--rm", "--security-opt", "mask=/etc/hostname", busybox, "cat", "/etc/hostname"); out != "" {
		t.Fatalf("mask=/etc/hostname reads %q", out)
	}
	e.fails(125, "unknown capability", "run", "--rm", "--cap-add", "BOGUS", busybox, "true")
	e.fails(125, "security-opt", "run", "--rm", "--security-opt", "whatever", busybox, "true")
	e.fails(125, "seccomp", "run", "--rm", "--security-opt", "seccomp=/no/such/file", busybox, "true")
}

// TestProcessOptions: --init, --ulimit, --shm-size, --sysctl, --group-add,
// --device, --env-host, --cidfile, --stop-signal and --stop-timeout; limits
// are refused on this cgroup v1 host.
func TestProcessOptions(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	if out := e.ok("run", "--rm", "--init", busybox, "sh", "-c", "cat /proc/1/cmdline | tr '\\0' ' '"); !strings.HasPrefix(out, "/run/skiff-init -- sh") {
		t.Fatalf("--init: PID 1 is %q", out)
	}
	// --init reaps: an orphan that exits leaves no zombie behind.
	if out := e.ok("run", "--rm", "--init", busybox, "sh", "-c", "(usleep 100000 &) ; usleep 500000; ps -o stat | grep -c Z || true"); strings.TrimSpace(out) != "0" {
		t.Fatalf("--init left zombies: %q", out)
	}
	if out := e.ok("run", "--rm", "--ulimit", "nofile=512:1024", busybox, "sh", "-c", "ulimit -n; ulimit -Hn"); out != "512\n1024\n" {
		t.Fatalf("--ulimit nofile: %q", out)
	}
	if out := e.ok("run", "--rm", "--shm-size", "16m", busybox, "sh", "-c", "grep ' /dev/shm ' /proc/mounts"); !strings.Contains(out, "size=16384k") {
		t.Fatalf("--shm-size: %q", out)
	}
	if out := e.ok("run", "--rm", "--sysctl", "net.ipv4.ip_forward=1", busybox, "cat", "/proc/sys/net/ipv4/ip_forward"); out != "1\n" {
		t.Fatalf("--sysctl: %q", out)
	}
	if out := e.ok("run", "--rm", "--group-add", "1234", "--group-add", "nobody", busybox, "id", "-G"); strings.TrimSpace(out) != "0 1234 65534" {
		t.Fatalf("--group-add: %q", out)
	}
	if out := e.ok("run", "--rm", "--device", "/dev/null:/dev/mynull:rw", busybox, "sh", "-c", "echo x > /dev/mynull && echo ok"); out != "ok\n" {
		t.Fatalf("--device: %q", out)
	}
	e.extra = append(e.extra, "SKIFF_FROM_HOST=yes")
	if out := e.ok("run", "--rm", "--env-host", busybox, "sh", "-c", "echo $SKIFF_FROM_HOST"); out != "yes\n" {
		t.Fatalf("--env-host: %q", out)
	}
	cid := filepath.Join(e.root, "work", "cid")
	id := strings.TrimSpace(e.ok("create", "--cidfile", cid, busybox, "true"))
	if data, err := os.ReadFile(cid); err != nil || string(data) != id {
		t.Fatalf("--cidfile holds %q (%v), want %s", data, err, id)
	}
	e.fails(125, "cidfile", "create", "--cidfile", cid, busybox, "true")
	// --stop-signal: a shell that only ends on USR1 stops at once; with
	// TERM it would take the whole --stop-timeout. (No sleep processes:
	// the crash tests count those.)
	e.ok("run", "-d", "--name", "sig", "--stop-signal", "USR1", "--stop-timeout", "30", busybox, "sh", "-c", "trap 'exit 3' USR1; tail -f /dev/null & wait")
	start := time.Now()
	e.ok("stop", "sig")
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("stop with --stop-signal USR1 took %v", d)
	}
	if got := strings.TrimSpace(e.ok("inspect", "--format", "{{.State.ExitCode}}", "sig")); got != "3" {
		t.Fatalf("exit code after USR1: %s", got)
	}
	// --stop-timeout: a container that ignores TERM is killed after it.
	e.ok("run", "-d", "--name", "stubborn", "--stop-timeout", "1", busybox, "sh", "-c", "trap '' TERM; tail -f /dev/null & wait; wait")
	start = time.Now()
	e.ok("stop", "stubborn")
	if d := time.Since(start); d < time.Second || d > 8*time.Second {
		t.Fatalf("stop with --stop-timeout 1 took %v", d)
	}
	for _, args := range [][]string{{"--memory", "100m"}, {"--cpus", "1.5"}, {"--pids-limit", "100"}} {
		e.fails(125, "cgroup v2", append(append([]string{"run", "--rm"}, args...), busybox, "true")...)
	}
	e.fails(125, "ulimit", "run", "--rm", "--ulimit", "nofile=abc", busybox, "true")
	e.fails(125, "ulimit", "run", "--rm", "--ulimit", "bogus=1", busybox, "true")
	e.fails(125, "ulimit", "run", "--rm", "--ulimit", "nofile=10:5", busybox, "true")
	e.fails(125, "shm-size", "run", "--rm", "--shm-size", "lots", busybox, "true")
	e.fails(125, "stop-signal", "run", "--rm", "--stop-signal", "SIGBOGUS", busybox, "true")
	e.fails(125, "not a namespaced sysctl", "run", "--rm", "--sysctl", "vm.swappiness=1", busybox, "true")
	e.fails(125, "device", "run", "--rm", "--device", "/etc/passwd", busybox, "true")
	e.fails(125, "cannot open", "run", "--rm", "--device", "/dev/loop-control", busybox, "true")
	if got := lines(e.ok("ps", "-a", "-q")); len(got) != 3 { // the --cidfile one, sig, stubborn
		t.Fatalf("bad input left containers: %v", got)
	}
}
