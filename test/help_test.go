package test

import (
	"regexp"
	"strings"
	"testing"
)

// TestHelpOfEveryCommand runs --help for every command and checks that
// it tells the truth once: no flag says its default twice ("(default 10)
// (default -1)"), run and create name crun as the default runtime (runc
// only where crun cannot run), and restart says it restarts.
func TestHelpOfEveryCommand(t *testing.T) {
	e := newEnv(t)
	twice := regexp.MustCompile(`\(default[^)]*\).*\(default`)
	seen := 0
	var walk func(path []string)
	walk = func(path []string) {
		out := e.ok(append(append([]string{}, path...), "--help")...)
		seen++
		for _, line := range strings.Split(out, "\n") {
			if twice.MatchString(line) {
				t.Errorf("skiff %s --help says a default twice:\n%s", strings.Join(path, " "), line)
			}
		}
		if n := len(path); (n == 1 || n == 2 && path[0] == "container") && (path[n-1] == "run" || path[n-1] == "create") {
			var runtime string
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "--runtime ") {
					runtime = line
				}
			}
			if !strings.Contains(runtime, "else crun") || strings.Contains(runtime, "else runc)") {
				t.Errorf("skiff %s --help: the --runtime line does not say crun is the default:\n%s", strings.Join(path, " "), runtime)
			}
		}
		if n := len(path); n > 0 && path[n-1] == "restart" {
			if first, _, _ := strings.Cut(out, "\n"); !strings.HasPrefix(first, "Restart") {
				t.Errorf("skiff %s --help describes something else: %q", strings.Join(path, " "), first)
			}
		}
		_, rest, ok := strings.Cut(out, "\nAvailable Commands:\n")
		if !ok {
			return
		}
		block, _, _ := strings.Cut(rest, "\n\n")
		for _, line := range strings.Split(block, "\n") {
			f := strings.Fields(line)
			if len(f) == 0 || f[0] == "help" {
				continue
			}
			walk(append(append([]string{}, path...), f[0]))
		}
	}
	walk(nil)
	if seen < 60 {
		t.Fatalf("only %d commands' help seen", seen)
	}
}

// TestUnknownGlobalFlag: an unknown flag before the command is refused by
// name with exit 125, as podman does, rather than swallowing the next word
// as its value ("--noout stop -t 0 x" was `unknown command "x"`).
func TestUnknownGlobalFlag(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--name", "x", busybox, "sleep", "60")
	e.fails(125, `^Error: unknown flag: --noout`, "--noout", "stop", "-t", "0", "x")
	e.fails(125, `^Error: unknown flag: --bogus`, "--log-level=error", "--bogus", "ps")
	e.fails(125, `^Error: unknown shorthand flag: 'q' in -q`, "-q", "ps")
	if got := strings.TrimSpace(e.ok("ps", "--format", "{{.Names}} {{.State}}")); got != "x running" {
		t.Fatalf("a refused command changed state: %q", got)
	}
	// Known global flags keep their values, before the command as after.
	e.ok("--log-level", "error", "stop", "-t", "0", "x")
	e.ok("--log-level=error", "rm", "x")
}
