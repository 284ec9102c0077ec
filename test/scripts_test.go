package test

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// What a script sees: commands that leave something running in the
// background return at once, whether their output is captured with $(...)
// or piped (2>&1 | cat): nothing detached keeps the caller's descriptors.
func TestDetachedCommandsReturnAtOnceInScripts(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "c", busybox, "sleep", "1000")
	e.ok("create", "--name", "s", busybox, "sleep", "30")
	e.ok("network", "create", "scriptnet")
	for _, cmd := range []string{
		"exec -d c sleep 6",
		"exec -d -t c sleep 6",
		"exec -d -i c sleep 6",
		"run -d " + busybox + " sh -c 'sleep 6'",
		"run -d -t " + busybox + " sleep 6",
		"run -d --network scriptnet " + busybox + " sleep 6",
		"run -d --restart always " + busybox + " sleep 6",
		"start s",
		"restart -t 0 s",
	} {
		for _, form := range []string{`out=$(timeout 30 $SKIFF %s); rc=$?`, `out=$(timeout 30 $SKIFF %s 2>&1 | cat); rc=$?`} {
			script := `start=$(date +%s%N); ` + fmt.Sprintf(form, cmd) + `; end=$(date +%s%N); echo "$rc $(( (end - start) / 1000000 ))"`
			r := e.sh(script)
			f := strings.Fields(r.stdout)
			if r.code != 0 || len(f) != 2 {
				t.Fatalf("%s\n%s", script, r)
			}
			ms, _ := strconv.Atoi(f[1])
			if f[0] != "0" || ms > 4000 {
				t.Fatalf("%s: exit %s after %d ms (the 6 s command holds the script's pipe?)\n%s", script, f[0], ms, r)
			}
		}
	}
	e.ok("rm", "-f", "-a", "-t", "0")
	e.ok("network", "rm", "scriptnet")
	waitNoSkiffLeft(t, e)
}

// docker refuses only -it without a terminal: -t alone from a pipe gets a
// terminal for the container's output.
func TestTtyWithoutInputRunsFromAPipe(t *testing.T) {
	e := runEnv(t)
	r := e.sh(`echo | $SKIFF run --rm -t ` + busybox + ` sh -c 'tty; echo out; exit 4'`)
	if r.code != 4 || !strings.Contains(r.stdout, "/dev/pts/") || !strings.Contains(r.stdout, "out") {
		t.Fatalf("run -t from a pipe\n%s", r)
	}
	e.fails(125, `the input device is not a TTY`, "run", "-i", "-t", busybox, "true")
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("a refused run -it left a container: %q", got)
	}
	e.ok("run", "-d", "--name", "c", busybox, "sleep", "1000")
	r = e.sh(`echo | $SKIFF exec -t c sh -c 'tty; exit 3'`)
	if r.code != 3 || !strings.Contains(r.stdout, "/dev/pts/") {
		t.Fatalf("exec -t from a pipe\n%s", r)
	}
	e.fails(125, `the input device is not a TTY`, "exec", "-it", "c", "true")
	e.ok("rm", "-f", "-t", "0", "c")
	waitNoSkiffLeft(t, e)
}

// Every prune asks first, in podman's words; only an answer starting with
// y removes anything; N, an empty line or the end of the input keep all;
// -f asks nothing.
func TestPruneAsksBeforeRemoving(t *testing.T) {
	e := runEnv(t)
	for _, c := range []struct {
		prune   []string
		warning string
		make    func()
		exists  func() bool
	}{
		{[]string{"container", "prune"}, "WARNING! This will remove all non running containers.",
			func() { e.ok("create", "--name", "stopped", busybox, "true") },
			func() bool { return strings.Contains(e.ok("ps", "-a", "--format", "{{.Names}}"), "stopped") }},
		{[]string{"volume", "prune"}, "WARNING! This will remove all volumes not used by at least one container.",
			func() { e.ok("volume", "create", "unused") },
			func() bool { return strings.Contains(e.ok("volume", "ls", "-q"), "unused") }},
		{[]string{"network", "prune"}, "WARNING! This will remove all networks not used by at least one container.",
			func() { e.ok("network", "create", "spare") },
			func() bool { return strings.Contains(e.ok("network", "ls", "--format", "{{.Name}}"), "spare") }},
		{[]string{"image", "prune", "-a"}, "WARNING! This command removes all images without at least one container associated with them.",
			func() { e.ok("pull", "-q", busybox); e.ok("tag", busybox, plainRegistry+"/skiff/pruneme:1") },
			func() bool { return strings.Contains(e.ok("images", "--format", "{{.Repository}}"), "pruneme") }},
	} {
		name := strings.Join(c.prune, " ")
		c.make()
		for _, answer := range []string{"N\n", "n\n", "\n", "", "maybe\n"} {
			r := e.runIn(answer, c.prune...)
			if answer == "" {
				r = e.run(c.prune...) // no input at all: /dev/null
			}
			if r.code != 0 || !strings.HasPrefix(r.stdout, c.warning+"\nAre you sure you want to continue? [y/N] ") {
				t.Fatalf("%s answered %q\n%s", name, answer, r)
			}
			if !c.exists() {
				t.Fatalf("%s answered %q removed it\n%s", name, answer, r)
			}
		}
		if r := e.runIn("y\n", c.prune...); r.code != 0 || c.exists() {
			t.Fatalf("%s answered y kept it\n%s", name, r)
		}
		c.make()
		if r := e.run(append(c.prune, "-f")...); r.code != 0 || strings.Contains(r.stdout, "WARNING") || c.exists() {
			t.Fatalf("%s -f asked, or kept it\n%s", name, r)
		}
	}
	// image prune without -a: dangling images, its own warning
	r := e.runIn("N\n", "image", "prune")
	if !strings.HasPrefix(r.stdout, "WARNING! This command removes all dangling images.\nAre you sure you want to continue? [y/N] ") {
		t.Fatalf("image prune\n%s", r)
	}
}
