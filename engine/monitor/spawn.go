package monitor

import (
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
)

// self is the binary that becomes the monitor: this one.
const self = "/proc/self/exe"

// Gated is a container's monitor waiting at its gate for the start to be
// recorded: until Go, it has read nothing, and its end undoes the start.
type Gated struct {
	cmd          *exec.Cmd
	gate, report *os.File // our ends: GateGo goes in, the report comes out
	done         chan struct{}
}

// StartGated starts this binary as container id's monitor, waiting at its
// gate, with env (plus the protocol's variables). Once past the gate it
// reads its configuration from conf, which must then exist (Config.Write).
func StartGated(id, conf string, env []string) (*Gated, error) {
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
	cmd.ExtraFiles = []*os.File{reportW, gateR} // ReportFD and GateFD
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
