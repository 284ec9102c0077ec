package test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const noCaps = "0000000000000000"

// capSets are the capability sets of /proc/self/status lines (CapPrm,
// CapEff, CapBnd ...), by name.
func capSets(out string) map[string]string {
	sets := map[string]string{}
	for _, l := range lines(out) {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.HasPrefix(k, "Cap") {
			sets[k] = strings.TrimSpace(v)
		}
	}
	return sets
}

// checkNoCaps fails unless the permitted, effective and bounding sets of
// what printed out are empty, as docker's --cap-drop ALL leaves them.
func checkNoCaps(t *testing.T, what, out string) {
	t.Helper()
	sets := capSets(out)
	for _, k := range []string{"CapPrm", "CapEff", "CapBnd"} {
		if sets[k] != noCaps {
			t.Fatalf("%s: %s %q, want %s (all: %v)", what, k, sets[k], noCaps, sets)
		}
	}
}

// TestCapDropAllEmptiesTheSet: --cap-drop ALL leaves no capability at all,
// with either runtime, in every set, and chown fails; so after the record
// is read back from the state database by start, restart and an attached
// start of a created container, and in exec, which gets the container's
// capabilities. With --cap-add beside it, exactly the ones added; without
// flags, the defaults.
func TestCapDropAllEmptiesTheSet(t *testing.T) {
	e := runEnv(t)
	status := []string{"grep", "^Cap", "/proc/self/status"}
	for _, rt := range []string{"crun", "runc"} {
		checkNoCaps(t, "run --cap-drop ALL --runtime "+rt, e.ok(append([]string{"run", "--rm", "--runtime", rt, "--cap-drop", "ALL", busybox}, status...)...))
		if r := e.run("run", "--rm", "--runtime", rt, "--cap-drop", "all", busybox, "chown", "1:1", "/tmp"); r.code == 0 {
			t.Fatalf("chown works with --cap-drop all (%s):\n%s", rt, r)
		}
	}
	checkNoCaps(t, "run --cap-drop ALL --userns auto", e.ok(append([]string{"run", "--rm", "--userns", "auto", "--cap-drop", "ALL", busybox}, status...)...))

	e.ok("run", "-d", "--name", "nocaps", "--cap-drop", "ALL", busybox, "tail", "-f", "/dev/null")
	checkNoCaps(t, "exec into a --cap-drop ALL container", e.ok(append([]string{"exec", "nocaps"}, status...)...))
	if r := e.run("exec", "nocaps", "chown", "1:1", "/tmp"); r.code == 0 {
		t.Fatalf("chown works in exec of a --cap-drop ALL container:\n%s", r)
	}
	e.ok("stop", "-t", "0", "nocaps")
	e.ok("start", "nocaps")
	checkNoCaps(t, "exec after stop and start", e.ok(append([]string{"exec", "nocaps"}, status...)...))
	e.ok("restart", "-t", "0", "nocaps")
	checkNoCaps(t, "exec after restart", e.ok(append([]string{"exec", "nocaps"}, status...)...))
	e.ok("rm", "-f", "nocaps")

	e.ok(append([]string{"create", "--name", "created", "--cap-drop", "ALL", busybox}, status...)...)
	checkNoCaps(t, "start -a of a created --cap-drop ALL container", e.ok("start", "-a", "created"))
	checkNoCaps(t, "its second start", e.ok("start", "-a", "created"))
	e.ok("rm", "created")

	// CAP_CHOWN is bit 0, CAP_NET_RAW bit 13.
	sets := capSets(e.ok(append([]string{"run", "--rm", "--cap-drop", "ALL", "--cap-add", "CHOWN", "--cap-add", "net_raw", busybox}, status...)...))
	if sets["CapEff"] != "0000000000002001" || sets["CapBnd"] != "0000000000002001" {
		t.Fatalf("--cap-drop ALL --cap-add CHOWN --cap-add net_raw: %v", sets)
	}
	if sets := capSets(e.ok(append([]string{"run", "--rm", busybox}, status...)...)); sets["CapEff"] != "00000000800405fb" {
		t.Fatalf("the default set: %v", sets)
	}
}

// pastaArgs is the command line of the pasta of the container id.
func pastaArgs(t *testing.T, e *env, id string) []string {
	t.Helper()
	for _, pid := range userPids(e.uid(), func(string) bool { return true }) {
		args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		f := strings.Split(strings.TrimRight(string(args), "\x00"), "\x00")
		if len(f) > 1 && filepath.Base(f[0]) == "pasta" && strings.Contains(string(args), "/netns/"+id+"\x00") {
			return f[1:]
		}
	}
	t.Fatalf("no pasta for container %s: %v", id, userProcesses(e.uid()))
	return nil
}

// TestEmptyOptionsSurviveTheRecord: an option given as "nothing" (no
// capability, no pasta option, no DNS of skiff's) is kept as nothing by
// the container's record, through create, start, stop and start again:
// it never turns into the defaults, which an empty list would be taken
// for (nil) once read back from the state database.
func TestEmptyOptionsSurviveTheRecord(t *testing.T) {
	e := runEnv(t)
	id := func(name string) string { return strings.TrimSpace(e.ok("inspect", "--format", "{{.Id}}", name)) }
	// mounts: the /etc files skiff binds, as the container sees them
	etcMounts := func(name string) string {
		return e.ok("exec", name, "sh", "-c", "for f in hosts hostname resolv.conf; do grep -q \" /etc/$f \" /proc/mounts && echo $f; done; true")
	}
	restart := func(name string) {
		t.Helper()
		e.ok("stop", "-t", "0", name)
		e.ok("start", name)
	}
	withIPv4Only := func(args []string) bool {
		for _, a := range args {
			if a == "--ipv4-only" || a == "-4" {
				return true
			}
		}
		return false
	}
	tail := []string{busybox, "tail", "-f", "/dev/null"}

	// --dns none: the image's own /etc/resolv.conf, no file of skiff's.
	e.ok(append([]string{"run", "-d", "--name", "dnsnone", "--dns", "none"}, tail...)...)
	for round := 0; round < 2; round++ {
		if got := etcMounts("dnsnone"); got != "hosts\nhostname\n" {
			t.Fatalf("--dns none (round %d): skiff's /etc files in the container: %q, want hosts and hostname only", round, got)
		}
		restart("dnsnone")
	}
	e.fails(125, "--dns none", "run", "--rm", "--dns", "none", "--dns", "10.0.0.1", busybox, "true")

	// pasta: with no option is pasta's own defaults, not skiff's (which
	// are --ipv4-only); without pasta: skiff's.
	e.ok(append([]string{"run", "-d", "--name", "skiffs"}, tail...)...)
	if !withIPv4Only(pastaArgs(t, e, id("skiffs"))) {
		t.Fatalf("the default network without skiff's pasta options: %v", pastaArgs(t, e, id("skiffs")))
	}
	e.ok(append([]string{"run", "-d", "--name", "pastas", "--network", "pasta:"}, tail...)...)
	for round := 0; round < 2; round++ {
		if args := pastaArgs(t, e, id("pastas")); withIPv4Only(args) {
			t.Fatalf("--network pasta: (round %d) runs pasta with skiff's options: %v", round, args)
		}
		restart("pastas")
	}
	// containers.conf's pasta_options = [] likewise.
	e.writeFile("home/.config/containers/containers.conf", "[network]\npasta_options = []\n")
	e.ok(append([]string{"run", "-d", "--name", "confpasta"}, tail...)...)
	for round := 0; round < 2; round++ {
		if args := pastaArgs(t, e, id("confpasta")); withIPv4Only(args) {
			t.Fatalf("pasta_options = [] (round %d) runs pasta with skiff's options: %v", round, args)
		}
		restart("confpasta")
	}
	os.Remove(filepath.Join(e.home, ".config/containers/containers.conf"))

	// unmask=ALL, an empty variable, no search domain (--dns-search .).
	e.ok(append([]string{"run", "-d", "--name", "others", "--security-opt", "unmask=ALL", "-e", "EMPTY=", "--dns-search", "."}, tail...)...)
	for round := 0; round < 2; round++ {
		got := e.ok("exec", "others", "sh", "-c", "grep -c -e ' /proc/kcore ' -e ' /proc/sys ' /proc/mounts; env | grep ^EMPTY=; grep -c ^search /etc/resolv.conf; true")
		if got != "0\nEMPTY=\n0\n" {
			t.Fatalf("unmask=ALL, -e EMPTY=, --dns-search . (round %d): %q", round, got)
		}
		restart("others")
	}
	e.ok("rm", "-f", "dnsnone", "skiffs", "pastas", "confpasta", "others")
	waitNoProcesses(t, e)
}
