package test

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-project/skiff/engine/systemd"
)

// notifySocket is a stand-in for systemd's: a datagram socket the test
// user may write to, its messages collected.
type notifySocket struct {
	path string
	msgs chan string
}

func newNotifySocket(t *testing.T, e *env) *notifySocket {
	t.Helper()
	dir := filepath.Join(e.root, "run", "systemd")
	os.MkdirAll(dir, 0o755)
	path := filepath.Join(dir, fmt.Sprintf("notify-%d", time.Now().UnixNano()%1e6))
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	os.Chown(dir, e.uid(), e.gid())
	os.Chown(path, e.uid(), e.gid())
	n := &notifySocket{path: path, msgs: make(chan string, 32)}
	go func() {
		buf := make([]byte, 4096)
		for {
			k, err := c.Read(buf)
			if err != nil {
				return
			}
			n.msgs <- string(buf[:k])
		}
	}()
	return n
}

// wait collects messages until one has all of want (lines such as
// READY=1), and returns them all.
func (n *notifySocket) wait(t *testing.T, want ...string) string {
	t.Helper()
	var all strings.Builder
	deadline := time.After(30 * time.Second)
	for {
		done := true
		for _, w := range want {
			if !strings.Contains(all.String(), w) {
				done = false
			}
		}
		if done {
			return all.String()
		}
		select {
		case m := <-n.msgs:
			all.WriteString(m + "\n")
		case <-deadline:
			t.Fatalf("no %v on the notify socket; got %q", want, all.String())
		}
	}
}

// mainPid is the MAINPID= of the messages.
func mainPid(t *testing.T, msgs string) int {
	t.Helper()
	for _, l := range strings.Split(msgs, "\n") {
		if v, ok := strings.CutPrefix(l, "MAINPID="); ok {
			pid, _ := strconv.Atoi(v)
			return pid
		}
	}
	t.Fatalf("no MAINPID in %q", msgs)
	return 0
}

// unitLines are the values of key in a unit's text.
func unitLines(text, key string) []string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(l, key+"="); ok {
			out = append(out, v)
		}
	}
	return out
}

// execLine runs one Exec*= line of a unit as systemd would for the user's
// manager: specifiers expanded (%t %n %N %h %%), words split, a leading
// "-" ignoring failure; NOTIFY_SOCKET set when notify is not nil.
func (e *env) execLine(t *testing.T, unit, line string, notify *notifySocket) result {
	t.Helper()
	ignore := strings.HasPrefix(line, "-")
	line = strings.TrimPrefix(line, "-")
	r := strings.NewReplacer("%%", "%", "%t", filepath.Join(e.root, "run"), "%n", unit, "%N", strings.TrimSuffix(unit, ".service"), "%h", e.home, "$$", "$")
	words, err := systemd.SplitWords(line)
	if err != nil {
		t.Fatal(err)
	}
	for i := range words {
		words[i] = r.Replace(words[i])
	}
	cmd := exec.Command(words[0], words[1:]...)
	cmd.Dir = filepath.Join(e.root, "work")
	cmd.Env = append(e.environ(), "PODMAN_SYSTEMD_UNIT="+unit)
	if notify != nil {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+notify.path)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid()), Gid: uint32(e.gid())}}
	out, errb := &strings.Builder{}, &strings.Builder{}
	cmd.Stdout, cmd.Stderr = out, errb
	res := result{args: words, code: 0}
	if err := cmd.Run(); err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		res.code = ee.ExitCode()
	}
	res.stdout, res.stderr = out.String(), errb.String()
	if res.code != 0 && !ignore {
		t.Fatalf("%s: %s", unit, res)
	}
	return res
}

// verifyUnits runs systemd-analyze verify on unit files as the user: it
// must pass and say nothing.
func (e *env) verifyUnits(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		os.Chown(p, e.uid(), e.gid())
	}
	cmd := exec.Command("systemd-analyze", append([]string{"--user", "verify", "--generators=no"}, paths...)...)
	cmd.Dir = filepath.Dir(paths[0])
	cmd.Env = e.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid()), Gid: uint32(e.gid())}}
	out, err := cmd.CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "" {
		texts := ""
		for _, p := range paths {
			data, _ := os.ReadFile(p)
			texts += "--- " + p + "\n" + string(data)
		}
		t.Fatalf("systemd-analyze verify: %v\n%s\n%s", err, out, texts)
	}
}

// TestGenerateSystemd: units for a plain container and for --new, with
// ports, a volume, an env file and environment, pass systemd-analyze
// verify; their ExecStart and ExecStop lines, run in order as the user
// with NOTIFY_SOCKET set, start the container (READY=1, the monitor as
// MAINPID), serve through the port, and stop (and with --new remove) it.
func TestGenerateSystemd(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	port := freePort(t, "tcp")
	e.writeFile("work/app.env", "FROM_FILE=yes\n")
	e.ok("volume", "create", "site")
	e.ok("run", "--rm", "-v", "site:/site", busybox, "sh", "-c", "echo served-by-a-unit > /site/index.html")
	e.ok("create", "--name", "web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-v", "site:/site:ro", "--env-file", "app.env",
		"-e", "GREETING=hello world", "--restart", "always", busybox, "httpd", "-f", "-p", "80", "-h", "/site")
	work := filepath.Join(e.root, "work")

	plain := e.ok("generate", "systemd", "--name", "--files", "web")
	newUnit := e.ok("generate", "systemd", "--new", "--name", "--files", "--container-prefix", "new", "web")
	e.verifyUnits(t, strings.TrimSpace(plain), strings.TrimSpace(newUnit))
	if got := strings.TrimSpace(plain); got != filepath.Join(work, "container-web.service") {
		t.Fatalf("--files wrote %q", got)
	}

	// The plain unit: Type=forking, the monitor's pid in PIDFile.
	text, _ := os.ReadFile(filepath.Join(work, "container-web.service"))
	unit := string(text)
	if unitLines(unit, "Type")[0] != "forking" {
		t.Fatalf("plain unit:\n%s", unit)
	}
	e.execLine(t, "container-web.service", unitLines(unit, "ExecStart")[0], nil)
	pidData, err := os.ReadFile(unitLines(unit, "PIDFile")[0])
	if err != nil {
		t.Fatal(err)
	}
	if pid, _ := strconv.Atoi(string(pidData)); pid <= 0 || syscall.Kill(pid, 0) != nil {
		t.Fatalf("PIDFile names %q, not a live process", pidData)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "served-by-a-unit\n" {
		t.Fatalf("through the plain unit: %q", got)
	}
	e.execLine(t, "container-web.service", unitLines(unit, "ExecStop")[0], nil)
	if got := strings.TrimSpace(e.ok("inspect", "-f", "{{.State.Status}}", "web")); got != "exited" {
		t.Fatalf("after ExecStop: %s", got)
	}

	// The --new unit: Type=notify, the container made on start, gone on stop.
	text, _ = os.ReadFile(filepath.Join(work, "new-web.service"))
	unit = string(text)
	start := unitLines(unit, "ExecStart")[0]
	for _, want := range []string{"--env-file app.env", `-e "GREETING=hello world"`, "-v site:/site:ro", "--sdnotify=conmon", "--replace", "--rm"} {
		if !strings.Contains(start, want) {
			t.Fatalf("ExecStart lacks %s: %s", want, start)
		}
	}
	notify := newNotifySocket(t, e)
	e.execLine(t, "new-web.service", start, notify)
	msgs := notify.wait(t, "READY=1", "MAINPID=")
	if pid := mainPid(t, msgs); syscall.Kill(pid, 0) != nil {
		t.Fatalf("MAINPID=%d is not alive", pid)
	}
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "served-by-a-unit\n" {
		t.Fatalf("through the --new unit: %q", got)
	}
	if got := e.ok("exec", "web", "sh", "-c", "echo $FROM_FILE $GREETING"); got != "yes hello world\n" {
		t.Fatalf("environment: %q", got)
	}
	cidfile := filepath.Join(e.root, "run", "new-web.service.ctr-id")
	if _, err := os.Stat(cidfile); err != nil {
		t.Fatal(err)
	}
	e.execLine(t, "new-web.service", unitLines(unit, "ExecStop")[0], nil)
	e.execLine(t, "new-web.service", unitLines(unit, "ExecStopPost")[0], nil)
	if got := e.ok("ps", "-a", "--format", "{{.Names}}"); got != "" {
		t.Fatalf("after stop: %q", got)
	}
	if _, err := os.Stat(cidfile); !os.IsNotExist(err) {
		t.Fatalf("the cidfile stays: %v", err)
	}
	// A second start and stop work the same (the unit restarting).
	e.execLine(t, "new-web.service", start, notify)
	notify.wait(t, "READY=1")
	e.execLine(t, "new-web.service", unitLines(unit, "ExecStop")[0], nil)
	e.execLine(t, "new-web.service", unitLines(unit, "ExecStopPost")[0], nil)
	waitNoProcesses(t, e)

	e.fails(125, "no such container", "generate", "systemd", "nosuch")
	e.ok("create", "--name", "idle", busybox, "true")
	e.fails(125, "--restart-policy", "generate", "systemd", "--restart-policy", "sometimes", "idle")
}

// TestQuadlet: .network, .volume and .container files in the user's
// ~/.config/containers/systemd become services that pass systemd-analyze
// verify; the container's depends on the others; run in order, they make
// the network and the volume and start the container, which is ready,
// serves and goes on stop. A bad file is named with its line and key, and
// the good ones are still written.
func TestQuadlet(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	port := freePort(t, "tcp")
	dir := "home/.config/containers/systemd/"
	e.writeFile(dir+"app.network", "[Network]\nSubnet=10.97.0.0/24\nLabel=app=demo\n")
	e.writeFile(dir+"data.volume", "[Volume]\nLabel=app=demo\n")
	e.writeFile(dir+"app.env", "FROM_FILE=env-file\n")
	e.writeFile(dir+"web.container", fmt.Sprintf(`[Unit]
Description=The demo web server

[Container]
Image=%s
ContainerName=quadlet-web
Exec=sh -c "echo quadlet-$GREETING-$FROM_FILE > /data/index.html && exec httpd -f -p 80 -h /data"
Network=app.network
NetworkAlias=www
Volume=data.volume:/data
PublishPort=127.0.0.1:%d:80
Environment=GREETING=hi
EnvironmentFile=%%h/.config/containers/systemd/app.env
Label=app=demo

[Service]
Restart=always

[Install]
WantedBy=default.target
`, busybox, port))
	out := filepath.Join(e.root, "generated")
	os.MkdirAll(out, 0o755)
	os.Chown(out, e.uid(), e.gid())
	e.ok("quadlet", "--user", out)
	var units []string
	for _, n := range []string{"app-network.service", "data-volume.service", "web.service"} {
		units = append(units, filepath.Join(out, n))
	}
	if target, err := os.Readlink(filepath.Join(out, "default.target.wants", "web.service")); err != nil || target != "../web.service" {
		t.Fatalf("the [Install] link: %q %v", target, err)
	}
	e.verifyUnits(t, units...)
	// Linked as systemd's user generator (make install), skiff is one.
	gen := filepath.Join(e.root, "skiff-user-generator")
	if err := os.Symlink(skiffBin, gen); err != nil {
		t.Fatal(err)
	}
	genOut := filepath.Join(e.root, "run", "generator")
	cmd := exec.Command(gen, genOut, genOut+"-early", genOut+"-late")
	cmd.Env = e.environ()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(e.uid()), Gid: uint32(e.gid())}}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("as a generator: %v\n%s", err, b)
	}
	for _, n := range []string{"app-network.service", "data-volume.service", "web.service", "default.target.wants/web.service"} {
		if _, err := os.Stat(filepath.Join(genOut, n)); err != nil {
			t.Fatalf("the generator did not write %s: %v", n, err)
		}
	}
	if dry := e.ok("quadlet", "--user", "--dryrun"); !strings.Contains(dry, "---web.service---") || !strings.Contains(dry, "---app-network.service---") {
		t.Fatalf("--dryrun:\n%s", dry)
	}
	read := func(n string) string { data, _ := os.ReadFile(filepath.Join(out, n)); return string(data) }
	web := read("web.service")
	for _, dep := range []string{"app-network.service", "data-volume.service"} {
		if !strings.Contains(web, "Requires="+dep+"\n") || !strings.Contains(web, "After="+dep+"\n") {
			t.Fatalf("web.service does not depend on %s:\n%s", dep, web)
		}
	}
	// In dependency order, as systemd would.
	for _, n := range []string{"app-network.service", "data-volume.service"} {
		e.execLine(t, n, unitLines(read(n), "ExecStart")[0], nil)
	}
	if got := e.ok("network", "ls", "--format", "{{.Name}} {{.Subnet}}"); got != "systemd-app 10.97.0.0/24\n" {
		t.Fatalf("the .network made %q", got)
	}
	if got := e.ok("volume", "ls", "-q"); got != "systemd-data\n" {
		t.Fatalf("the .volume made %q", got)
	}
	notify := newNotifySocket(t, e)
	e.execLine(t, "web.service", unitLines(web, "ExecStart")[0], notify)
	notify.wait(t, "READY=1", "MAINPID=")
	if got := httpGet(t, fmt.Sprintf("http://127.0.0.1:%d/", port)); got != "quadlet-hi-env-file\n" {
		t.Fatalf("the quadlet container serves %q", got)
	}
	if got := e.ok("run", "--rm", "--network", "systemd-app", busybox, "wget", "-qO-", "http://www/"); got != "quadlet-hi-env-file\n" {
		t.Fatalf("by its alias on the .network: %q", got)
	}
	if got := e.ok("inspect", "-f", `{{index .Config.Labels "PODMAN_SYSTEMD_UNIT"}} {{index .Config.Labels "app"}}`, "quadlet-web"); got != "web.service demo\n" {
		t.Fatalf("labels: %q", got)
	}
	e.execLine(t, "web.service", unitLines(web, "ExecStop")[0], nil)
	e.execLine(t, "web.service", unitLines(web, "ExecStopPost")[0], nil)
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("after stop: %q", got)
	}
	waitNoProcesses(t, e)

	// A bad file: named with line and key; the others are still written.
	e.writeFile(dir+"bad.container", "[Container]\nImage=x\nPublishPorts=80\n")
	os.RemoveAll(out)
	os.MkdirAll(out, 0o755)
	os.Chown(out, e.uid(), e.gid())
	r := e.run("quadlet", "--user", out)
	if r.code != 125 || !strings.Contains(r.stderr, `bad.container:3: unknown key "PublishPorts" in [Container]`) {
		t.Fatalf("a bad file:\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(out, "web.service")); err != nil {
		t.Fatalf("the good files after a bad one: %v", err)
	}
	if _, err := os.Stat(filepath.Join(out, "bad.service")); !os.IsNotExist(err) {
		t.Fatal("the bad file was written")
	}
}

const notifierSource = `package main

import (
	"net"
	"os"
	"time"
)

func main() {
	c, err := net.Dial("unixgram", os.Getenv("NOTIFY_SOCKET"))
	if err != nil {
		os.Stderr.WriteString("no notify socket: " + err.Error() + "\n")
		os.Exit(3)
	}
	c.Write([]byte("READY=1\nSTATUS=ready-from-the-container"))
	time.Sleep(time.Minute)
}
`

// TestSdNotifyModes: with --sdnotify=container the container's own
// process says READY=1 through the socket skiff passes in (skiff tells
// the MAINPID); with ignore nothing is sent and the container does not
// see the socket; a bad mode is refused.
func TestSdNotifyModes(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	notifier := buildStatic(t, e, "notifier", notifierSource)
	e.ok("create", "--name", "self", "--sdnotify=container", busybox, "/notifier")
	e.ok("cp", notifier, "self:/notifier")
	notify := newNotifySocket(t, e)
	e.extra = []string{"NOTIFY_SOCKET=" + notify.path}
	e.ok("start", "self")
	msgs := notify.wait(t, "MAINPID=", "READY=1", "STATUS=ready-from-the-container")
	if syscall.Kill(mainPid(t, msgs), 0) != nil {
		t.Fatalf("MAINPID is not alive: %q", msgs)
	}
	e.ok("run", "-d", "--name", "quiet", "--sdnotify=ignore", busybox, "sleep", "60")
	if got := e.ok("exec", "quiet", "sh", "-c", "echo ${NOTIFY_SOCKET:-none}"); got != "none\n" {
		t.Fatalf("ignore passed the socket in: %q", got)
	}
	select {
	case m := <-notify.msgs:
		t.Fatalf("ignore sent %q", m)
	case <-time.After(500 * time.Millisecond):
	}
	e.extra = nil
	e.fails(125, "--sdnotify", "run", "--rm", "--sdnotify=bogus", busybox, "true")
	e.ok("rm", "-f", "self", "quiet")
	waitNoProcesses(t, e)
}

// TestAutoUpdateDryRun: a container labelled io.containers.autoupdate=
// registry is listed; pending once its tag in the registry points to a new
// image, not before; without --dry-run, a container no unit runs fails
// with the reason; unlabelled containers are not listed.
func TestAutoUpdateDryRun(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	repo := fmt.Sprintf("%s/autoupdate/t%d:latest", plainRegistry, time.Now().UnixNano())
	e.ok("tag", busybox, repo)
	e.ok("push", "-q", repo)
	// As a user would have it: pulled from the registry (the push may
	// have rewritten the manifest).
	e.ok("untag", repo)
	e.ok("pull", "-q", repo)
	e.ok("run", "-d", "--name", "au", "--label", "io.containers.autoupdate=registry", repo, "sleep", "60")
	e.ok("run", "-d", "--name", "plain", busybox, "sleep", "60")
	format := "{{.Container}} {{.Image}} {{.Policy}} {{.Updated}}"
	id := strings.TrimSpace(e.ok("inspect", "-f", "{{.Id}}", "au"))[:12]
	if got := e.ok("auto-update", "--dry-run", "--format", format); got != fmt.Sprintf("%s (au) %s registry false\n", id, repo) {
		t.Fatalf("before a new image: %q", got)
	}
	// A new image under the same tag.
	e.ok("commit", "-c", "LABEL version=2", "au", repo)
	e.ok("push", "-q", repo)
	if got := e.ok("auto-update", "--dry-run", "--format", format); got != fmt.Sprintf("%s (au) %s registry pending\n", id, repo) {
		t.Fatalf("after a new image: %q", got)
	}
	r := e.run("auto-update", "--format", format)
	if r.code != 125 || !strings.Contains(r.stdout, "registry failed") || !strings.Contains(r.stderr, "not run by a systemd unit") {
		t.Fatalf("update of a container no unit runs:\n%s", r)
	}
	e.ok("rm", "-f", "au", "plain")
	waitNoProcesses(t, e)
}

// buildStatic builds a static Go program for a container.
func buildStatic(t *testing.T, e *env, name, source string) string {
	t.Helper()
	dir := filepath.Join(e.root, "work", name+"-src")
	os.MkdirAll(dir, 0o755)
	os.WriteFile(filepath.Join(dir, "main.go"), []byte(source), 0o644)
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module "+name+"\n\ngo 1.21\n"), 0o644)
	bin := filepath.Join(dir, name)
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = dir
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	e.chownAll()
	return bin
}
