package test

import (
	"strings"
	"testing"
)

// TestTimeoutEndsAnAttachedTerminalRun: `timeout 3 skiff run -t …` in a
// script ends after 3 s, as docker's run, which proxies no signal in TTY
// mode: SIGTERM ends the attach and the container runs on. Before, the
// SIGTERM went to the container, whose init (sleep) ignores it, and the
// script waited for good.
func TestTimeoutEndsAnAttachedTerminalRun(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	r := e.sh(`start=$(date +%s); x=$(timeout -s KILL 30 timeout 3 "$SKIFF" run --rm -t --name sg ` + busybox + ` sleep 100 </dev/null); rc=$?; echo "$rc $(( $(date +%s) - start ))"`)
	f := strings.Fields(r.stdout)
	if len(f) != 2 || f[0] != "124" || (f[1] != "3" && f[1] != "4" && f[1] != "5") {
		t.Fatalf("want timeout's 124 after about 3 s (rc, seconds)\n%s", r)
	}
	if st := psState(e, "sg"); st != "running" {
		t.Fatalf("the container is %q once its attach ended, want running", st)
	}
	e.ok("exec", "sg", "true")
	e.ok("rm", "-f", "-t", "0", "sg")
}

// TestRmForceOfAnAutoRemovedContainer: rm -f -t N of a --rm container
// succeeds, though the container removes itself once stopped.
func TestRmForceOfAnAutoRemovedContainer(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("run", "-d", "--rm", "--name", "auto", busybox, "sleep", "100")
	if out := strings.TrimSpace(e.ok("rm", "-f", "-t", "0", "auto")); out != "auto" {
		t.Fatalf("rm -f printed %q, want the name", out)
	}
	if out := e.ok("ps", "-a", "-q"); out != "" {
		t.Fatalf("left: %s", out)
	}
}
