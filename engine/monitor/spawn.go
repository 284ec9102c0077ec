package monitor

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
)

// How skiff starts a monitor and talks to it (see the package doc).
const (
	EnvConf  = "_SKIFF_MONITOR"      // the configuration's path
	EnvGate  = "_SKIFF_MONITOR_GATE" // "FD:ID", a first start's gate
	ReportFD = 3                     // the report's pipe, in the monitor
	GateFD   = 4                     // the gate's pipe, in the monitor
	GateGo   = "go\n"                // what lets the monitor through its gate

	// An attached run's: the monitor passes the container's output on
	// AttachOutFD and AttachErrFD and takes its input from AttachInFD.
	AttachOutFD = 5
	AttachErrFD = 6
	AttachInFD  = 7
	// GateMine, on an attached run's gate after its end, says the client
	// cleans up: the monitor ends without.
	GateMine = "mine\n"
)

// self is the binary that becomes the monitor: this one.
const self = "/proc/self/exe"

// Gated is a container's monitor waiting at its gate for the start to be
// recorded: until Go, it has read nothing, and its end undoes the start.
type Gated struct {
	cmd          *exec.Cmd
	gate, report *os.File // our ends: GateGo goes in, the report comes out
	done         chan struct{}
	lines        *bufio.Reader // an attached run's report, line by line
}

// Attached are the client's ends of an attached run's pipes.
type Attached struct {
	Stdout, Stderr *os.File // the container's output as it comes; EOF at its end
	Stdin          *os.File // its input (nil without one): closing it ends it
}

// Close closes the client's ends.
func (a *Attached) Close() {
	for _, f := range []*os.File{a.Stdout, a.Stderr, a.Stdin} {
		if f != nil {
			f.Close()
		}
	}
}

// StartGated starts this binary as container id's monitor, waiting at its
// gate, with env (plus the protocol's variables). Once past the gate it
// reads its configuration from conf, which must then exist (Config.Write).
func StartGated(id, conf string, env []string) (*Gated, error) {
	g, _, err := start(id, conf, env, false, false)
	return g, err
}

// StartAttached starts the monitor of a run in the foreground as
// StartGated does, with pipes for the container's output and, with stdin,
// its input (the configuration says Attach, and Stdin).
func StartAttached(id, conf string, env []string, stdin bool) (*Gated, *Attached, error) {
	return start(id, conf, env, true, stdin)
}

func start(id, conf string, env []string, attach, stdin bool) (*Gated, *Attached, error) {
	var a *Attached
	var theirs []*os.File // the monitor's ends of the attached pipes
	if attach {
		a = &Attached{}
		for _, p := range []struct {
			ours  **os.File
			input bool
		}{{&a.Stdout, false}, {&a.Stderr, false}, {&a.Stdin, true}} {
			if p.input && !stdin {
				break
			}
			r, w, err := os.Pipe()
			if err != nil {
				a.Close()
				closeAll(theirs)
				return nil, nil, err
			}
			if p.input {
				*p.ours, theirs = w, append(theirs, r)
			} else {
				*p.ours, theirs = r, append(theirs, w)
			}
		}
	}
	g, err := startWith(id, conf, env, theirs)
	closeAll(theirs)
	if err != nil {
		if a != nil {
			a.Close()
		}
		return nil, nil, err
	}
	if attach {
		g.lines = bufio.NewReader(g.report)
	}
	return g, a, nil
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}

// startWith starts the monitor with the report, the gate and extra as its
// descriptors from ReportFD on.
func startWith(id, conf string, env []string, extra []*os.File) (*Gated, error) {
	reportR, reportW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	gateR, gateW, err := os.Pipe()
	if err != nil {
		reportR.Close()
		reportW.Close()
		return nil, err
	}
	cmd := exec.Command(self)
	cmd.Args = []string{"skiff-monitor", id}
	cmd.Env = append(env[:len(env):len(env)], EnvConf+"="+conf, fmt.Sprintf("%s=%d:%s", EnvGate, GateFD, id))
	cmd.ExtraFiles = append([]*os.File{reportW, gateR}, extra...) // ReportFD, GateFD, then the attached pipes
	cmd.Dir = "/"
	err = cmd.Start()
	reportW.Close()
	gateR.Close()
	if err != nil {
		reportR.Close()
		gateW.Close()
		return nil, fmt.Errorf("starting the monitor: %w", err)
	}
	g := &Gated{cmd: cmd, gate: gateW, report: reportR, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(g.done) }() // it outlives this command; no zombie meanwhile
	return g, nil
}

// Pid is the monitor's PID, which it keeps for the container's life.
func (g *Gated) Pid() int { return g.cmd.Process.Pid }

// Go lets the monitor through its gate and waits for its report: the
// container's PID once it runs, or what failed (the monitor then leaves
// the undoing to the caller).
func (g *Gated) Go() (int, error) {
	_, _ = g.gate.Write([]byte(GateGo))
	g.gate.Close()
	reply, _ := io.ReadAll(g.report)
	g.report.Close()
	return ParseReport(string(reply))
}

// GoAttached lets an attached run's monitor through its gate and waits for
// the first line of its report, as Go does; the gate and the report stay
// open for the end (AwaitExit, Claim).
func (g *Gated) GoAttached() (int, error) {
	_, _ = g.gate.Write([]byte(GateGo))
	line, err := g.lines.ReadString('\n')
	if err != nil && line == "" {
		return 0, errors.New("the monitor ended without a report")
	}
	return ParseReport(line)
}

// AwaitExit waits for an attached run's end and returns its exit code
// (the report's "exit CODE" line).
func (g *Gated) AwaitExit() (int, error) {
	line, err := g.lines.ReadString('\n')
	code, ok := strings.CutPrefix(strings.TrimSpace(line), "exit ")
	if !ok {
		return 0, fmt.Errorf("the monitor ended without the container's end: %v", err)
	}
	return strconv.Atoi(code)
}

// Claim tells an attached run's monitor, after its end, that this process
// cleans up: the monitor ends without; Claim returns once it has.
func (g *Gated) Claim() {
	_, _ = g.gate.Write([]byte(GateMine))
	g.gate.Close()
	g.report.Close()
	g.Wait()
}

// Abandon ends a monitor that was never let through its gate: there is
// nothing of the container for it to look after or undo.
func (g *Gated) Abandon() {
	_ = g.cmd.Process.Kill()
	g.gate.Close()
	g.report.Close()
	g.Wait()
}

// Wait returns once the monitor has ended: after its container, and the
// cleanup it becomes.
func (g *Gated) Wait() { <-g.done }

// ParseReport reads the monitor's report: "ok PID" or "err WHAT".
func ParseReport(reply string) (int, error) {
	line := strings.TrimSpace(reply)
	pid, ok := strings.CutPrefix(line, "ok ")
	if !ok {
		return 0, errors.New(strings.TrimPrefix(line, "err "))
	}
	n, _ := strconv.Atoi(pid)
	return n, nil
}

// Become makes this process container id's monitor again (a restart),
// with env plus the configuration conf; it returns only on failure.
func Become(id, conf string, env []string) error {
	env = append(env[:len(env):len(env)], EnvConf+"="+conf)
	return syscall.Exec(self, []string{"skiff-monitor", id}, env)
}
