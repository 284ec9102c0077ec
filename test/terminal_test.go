package test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// ptySession is skiff running on a real terminal of the test's: a pty
// whose slave is the command's controlling terminal, as a user's shell
// would have it.
type ptySession struct {
	t      *testing.T
	master *os.File
	slave  *os.File
	cmd    *exec.Cmd
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
	err    error
}

// openPty opens a new pseudo-terminal pair (posix_openpt, unlockpt,
// ptsname), the slave owned by the env's user as grantpt would leave it.
func (e *env) openPty(rows, cols uint16) (master, slave *os.File) {
	e.t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		e.t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		e.t.Fatal(err)
	}
	name := fmt.Sprintf("/dev/pts/%d", n)
	os.Chown(name, e.uid(), e.gid())
	s, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(m.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		e.t.Fatal(err)
	}
	return m, s
}

// inPty starts skiff ARGS as the user on a new terminal of rows x cols.
func (e *env) inPty(rows, cols uint16, args ...string) *ptySession {
	e.t.Helper()
	m, s := e.openPty(rows, cols)
	cmd := e.command(context.Background(), args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr.Setsid = true
	cmd.SysProcAttr.Setctty = true
	cmd.SysProcAttr.Ctty = 0
	p := &ptySession{t: e.t, master: m, slave: s, cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		e.t.Fatal(err)
	}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			p.mu.Lock()
			p.out.Write(buf[:n])
			p.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	e.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			p.cmd.Process.Kill()
			<-p.done
		}
		m.Close()
		s.Close()
	})
	return p
}

func (p *ptySession) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func (p *ptySession) send(s string) {
	p.t.Helper()
	if _, err := p.master.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// waitFor waits until the terminal has shown a match of re after the
// first `after` bytes, and returns where that match ends.
func (p *ptySession) waitFor(re string, after int) int {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		out := p.output()
		if after <= len(out) {
			if loc := rx.FindStringIndex(out[after:]); loc != nil {
				return after + loc[1]
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	p.t.Fatalf("the terminal never showed %q; it shows:\n%q", re, p.output())
	return 0
}

// exit waits for skiff to end and returns its exit code.
func (p *ptySession) exit() int {
	p.t.Helper()
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatalf("skiff %v did not end; the terminal shows:\n%q", p.cmd.Args[1:], p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *ptySession) resize(rows, cols uint16) {
	p.t.Helper()
	if err := unix.IoctlSetWinsize(int(p.master.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: rows, Col: cols}); err != nil {
		p.t.Fatal(err)
	}
}

// raw tells whether the terminal is in raw mode (no line editing, no
// echo, no signal keys), as a -t attach must leave it.
func (p *ptySession) raw() bool {
	t, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatal(err)
	}
	return t.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) == 0
}

// cooked tells whether the terminal is back in the mode it started in.
func (p *ptySession) cooked() bool {
	t, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatal(err)
	}
	return t.Lflag&(unix.ICANON|unix.ECHO|unix.ISIG) == unix.ICANON|unix.ECHO|unix.ISIG && t.Iflag&unix.IXON != 0
}

// waitRaw waits for skiff to set the terminal raw.
func (p *ptySession) waitRaw() {
	p.t.Helper()
	p.waitMode("raw", p.raw)
}

// waitMode waits until mode says the terminal is as skiff sets it.
func (p *ptySession) waitMode(what string, mode func() bool) {
	p.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !mode() {
		if time.Now().After(deadline) {
			p.t.Fatalf("the terminal never went %s; it shows:\n%q", what, p.output())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// noFlowControl tells whether ctrl-q and ctrl-s are characters, not the
// terminal's flow control.
func (p *ptySession) noFlowControl() bool {
	t, err := unix.IoctlGetTermios(int(p.slave.Fd()), unix.TCGETS)
	if err != nil {
		p.t.Fatal(err)
	}
	return t.Iflag&unix.IXON == 0
}

// until types line every half second until the terminal shows a match of
// re after `after` (a resize reaches the container in its own time).
func (p *ptySession) until(line, re string, after int) int {
	p.t.Helper()
	rx := regexp.MustCompile(re)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		p.send(line)
		for i := 0; i < 25; i++ {
			time.Sleep(20 * time.Millisecond)
			if out := p.output(); after <= len(out) {
				if loc := rx.FindStringIndex(out[after:]); loc != nil {
					return after + loc[1]
				}
			}
		}
	}
	p.t.Fatalf("the terminal never showed %q; it shows:\n%q", re, p.output())
	return 0
}

const detachKeys = "\x10\x11" // ctrl-p ctrl-q

func (e *env) running(name string) bool {
	e.t.Helper()
	return strings.TrimSpace(e.ok("inspect", "--format", "{{.State.Running}}", name)) == "true"
}

// attach to a -t container takes the terminal raw (typed lines are echoed
// once, by the container's terminal), passes a window size and each
// change of it, detaches at ctrl-p ctrl-q with the container running, and
// gives the terminal back as it was.
func TestAttachToATerminalIsRawResizesAndDetaches(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "-it", "--name", "tty", busybox, "sh")
	p := e.inPty(45, 160, "attach", "tty")
	p.waitRaw()
	// the window size the attach began with
	p.send("stty size\r")
	at := p.waitFor(`45 160`, 0)
	p.resize(30, 120) // SIGWINCH, then the monitor's control FIFO
	at = p.until("stty size\r", `30 120`, at)
	p.send("echo $((6*7))x\r")
	at = p.waitFor(`42x`, at)
	if n := strings.Count(p.output(), "echo $((6*7))x"); n != 1 {
		t.Fatalf("the typed line shows %d times (the terminal echoes it too?):\n%q", n, p.output())
	}
	p.send(detachKeys)
	if code := p.exit(); code != 0 {
		t.Fatalf("attach ended with %d at the detach keys:\n%q", code, p.output())
	}
	if !p.cooked() {
		t.Fatal("attach left the terminal raw")
	}
	if !e.running("tty") {
		t.Fatal("the container ended with the detach")
	}

	// SIGTERM ends attach to a -t container, terminal given back, the
	// container running on.
	p = e.inPty(24, 80, "attach", "tty")
	p.waitRaw()
	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exit(); code != 128+int(syscall.SIGTERM) {
		t.Fatalf("attach ended with %d at SIGTERM", code)
	}
	if !p.cooked() || !e.running("tty") {
		t.Fatalf("after SIGTERM: terminal given back %v, container running %v", p.cooked(), e.running("tty"))
	}

	// --detach-keys="" : the keys are the container's, the attach goes on.
	p = e.inPty(24, 80, "attach", "--detach-keys=", "tty")
	p.waitRaw()
	p.send(detachKeys)
	p.send("echo still$((1+1))\r")
	p.waitFor(`still2`, 0)
	p.send("exit 5\r")
	if code := p.exit(); code != 5 {
		t.Fatalf("attach ended with %d when the container's shell exited 5:\n%q", code, p.output())
	}
	if !p.cooked() {
		t.Fatal("attach left the terminal raw")
	}
	e.ok("rm", "-f", "-a", "-t", "0")
	waitNoSkiffLeft(t, e) // the keeper of a detached terminal too

}

// The detach keys on a container without a terminal (-i only): they come
// through the caller's line mode at once, end the attach, and never reach
// the container's input.
func TestDetachKeysLeaveAnInteractiveContainerWithoutThem(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "-i", "--name", "in", busybox, "sh", "-c", "cat > /tmp/in")
	p := e.inPty(24, 80, "attach", "in")
	p.waitMode("without flow control", p.noFlowControl)
	p.send("typed line\r")
	time.Sleep(300 * time.Millisecond)
	p.send(detachKeys) // no return after them
	if code := p.exit(); code != 0 {
		t.Fatalf("attach ended with %d at the detach keys:\n%q", code, p.output())
	}
	if !p.cooked() {
		t.Fatal("attach left the terminal changed")
	}
	if !e.running("in") {
		t.Fatal("the container ended with the detach")
	}
	got := ""
	for i := 0; i < 50 && got != "typed line\n"; i++ {
		time.Sleep(100 * time.Millisecond) // the monitor passes it on in its own time
		got = e.ok("exec", "in", "cat", "/tmp/in")
	}
	if got != "typed line\n" {
		t.Fatalf("the container's input is %q, want only the typed line", got)
	}
	e.ok("rm", "-f", "-a", "-t", "0")
	waitNoSkiffLeft(t, e) // the keeper of a detached terminal too

}

// run -it and start -ai: the caller's terminal raw, the window size and
// its changes, the container's exit code, and the detach keys leave the
// container running.
func TestRunAndStartInteractiveTerminal(t *testing.T) {
	e := runEnv(t)
	p := e.inPty(45, 160, "run", "-it", "--rm", busybox, "sh")
	p.waitRaw()
	p.send("stty size\r")
	at := p.waitFor(`45 160`, 0)
	p.resize(30, 120)
	p.until("stty size\r", `30 120`, at)
	p.send("exit 7\r")
	if code := p.exit(); code != 7 {
		t.Fatalf("run -it --rm ended with %d, want the container's 7:\n%q", code, p.output())
	}
	if !p.cooked() {
		t.Fatal("run -it left the terminal raw")
	}

	p = e.inPty(24, 80, "run", "-it", "--name", "bg", busybox, "sh")
	p.waitRaw()
	p.send("echo in$((1+2))\r")
	p.waitFor(`in3`, 0)
	p.send(detachKeys)
	if code := p.exit(); code != 0 {
		t.Fatalf("run -it ended with %d at the detach keys:\n%q", code, p.output())
	}
	if !p.cooked() || !e.running("bg") {
		t.Fatalf("after the detach: terminal given back %v, container running %v", p.cooked(), e.running("bg"))
	}
	e.ok("rm", "-f", "-t", "0", "bg")

	e.ok("create", "-it", "--name", "later", busybox, "sh")
	p = e.inPty(33, 99, "start", "-ai", "--detach-keys", "ctrl-a,d", "later")
	p.waitRaw()
	p.send("stty size\r")
	p.waitFor(`33 99`, 0)
	p.send("\x01d")
	if code := p.exit(); code != 0 {
		t.Fatalf("start -ai ended with %d at its detach keys:\n%q", code, p.output())
	}
	if !e.running("later") {
		t.Fatal("the container ended with the detach")
	}
	e.ok("rm", "-f", "-a", "-t", "0")
	waitNoSkiffLeft(t, e) // the keeper of a detached terminal too

}

// exec -it: raw, the window size and its changes, the exit code, and the
// detach keys leave the process running.
func TestExecInteractiveTerminal(t *testing.T) {
	e := runEnv(t)
	e.ok("run", "-d", "--name", "host", busybox, "sleep", "1000")
	p := e.inPty(45, 160, "exec", "-it", "host", "sh")
	p.waitRaw()
	p.send("stty size\r")
	at := p.waitFor(`45 160`, 0)
	p.resize(30, 120)
	p.until("stty size\r", `30 120`, at)
	p.send("exit 6\r")
	if code := p.exit(); code != 6 {
		t.Fatalf("exec -it ended with %d, want the process's 6:\n%q", code, p.output())
	}
	if !p.cooked() {
		t.Fatal("exec -it left the terminal raw")
	}

	p = e.inPty(24, 80, "exec", "-it", "host", "sh", "-c", "echo ready; sleep 1234")
	p.waitFor(`ready`, 0)
	p.send(detachKeys)
	if code := p.exit(); code != 0 {
		t.Fatalf("exec -it ended with %d at the detach keys:\n%q", code, p.output())
	}
	time.Sleep(time.Second)
	if ps := e.ok("exec", "host", "ps"); !strings.Contains(ps, "sleep 1234") {
		t.Fatalf("the exec process ended with the detach:\n%s", ps)
	}
	if !p.cooked() {
		t.Fatal("exec -it left the terminal raw")
	}
	e.ok("rm", "-f", "-a", "-t", "0")
	waitNoSkiffLeft(t, e) // the keeper of a detached terminal too

}

// A bad --detach-keys is refused before anything is made or started.
func TestBadDetachKeysAreRefused(t *testing.T) {
	e := runEnv(t)
	e.ok("create", "--name", "made", busybox, "true")
	for _, args := range [][]string{
		{"run", "--detach-keys", "ctrl-1", busybox, "true"},
		{"start", "-a", "--detach-keys", "ctrl-", "made"},
		{"exec", "--detach-keys", "ab", "made", "true"},
		{"attach", "--detach-keys", "x,,y", "made"},
	} {
		e.fails(125, `--detach-keys`, args...)
	}
	if got := e.ok("ps", "-a", "--format", "{{.Names}} {{.Status}}"); !strings.HasPrefix(got, "made Created") || strings.Count(got, "\n") != 1 {
		t.Fatalf("a refused --detach-keys changed the containers:\n%s", got)
	}
}
