package engine

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// TerminalSize is a terminal's window size, in characters.
type TerminalSize struct {
	Rows, Cols uint16
}

// consoleSocket is where a runtime given --console-socket sends the
// master side of the terminal it makes for a process. Its path is short
// (a socket's path must be): a private directory of its own in /tmp.
type consoleSocket struct {
	dir string
	l   *net.UnixListener
}

func newConsoleSocket() (*consoleSocket, error) {
	dir, err := os.MkdirTemp("", "skiff-tty-")
	if err != nil {
		return nil, err
	}
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "sock"), Net: "unix"})
	if err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("console socket: %w", err)
	}
	return &consoleSocket{dir: dir, l: l}, nil
}

func (c *consoleSocket) path() string { return filepath.Join(c.dir, "sock") }

func (c *consoleSocket) Close() {
	c.l.Close()
	os.RemoveAll(c.dir)
}

// receive takes the master the runtime sent. The runtime has exited by
// now, so its connection waits in the backlog or never came.
func (c *consoleSocket) receive(wait time.Duration) (*os.File, error) {
	_ = c.l.SetDeadline(time.Now().Add(wait))
	conn, err := c.l.AcceptUnix()
	if err != nil {
		return nil, fmt.Errorf("the runtime sent no terminal: %w", err)
	}
	defer conn.Close()
	buf, oob := make([]byte, 256), make([]byte, unix.CmsgSpace(4))
	_, oobn, _, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return nil, fmt.Errorf("receiving the terminal: %w", err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) == 0 {
		return nil, fmt.Errorf("receiving the terminal: no descriptor")
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) == 0 {
		return nil, fmt.Errorf("receiving the terminal: no descriptor")
	}
	for _, fd := range fds[1:] {
		unix.Close(fd)
	}
	unix.CloseOnExec(fds[0])
	return os.NewFile(uintptr(fds[0]), "console"), nil
}

// setWinsize sets the window size of the terminal whose master is f.
func setWinsize(f *os.File, sz TerminalSize) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_ = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, &unix.Winsize{Row: sz.Rows, Col: sz.Cols})
	})
}

// drainTerminal hands the master of a process's terminal to a small
// process of its own (ptydrain.c) that keeps it open and reads what the
// process writes until it ends: a detached process keeps its terminal
// after this command exits, and nothing of the caller's.
func drainTerminal(master *os.File) error {
	cmd := exec.Command("/proc/self/exe")
	cmd.Args = []string{"skiff-ptydrain"}
	cmd.Env = append(os.Environ(), "_SKIFF_PTYDRAIN=3", "_SKIFF_USERNS=1")
	cmd.ExtraFiles = []*os.File{master}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("keeping the detached terminal: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	return nil
}

// copyTerminal connects a process's terminal (master) to the caller:
// output to stdout, stdin (when set) to the process until the detach keys.
// It returns when the terminal closes (closed), or when the keys came
// (detached).
func copyTerminal(master *os.File, stdin io.Reader, stdout io.Writer, keys []byte, resize <-chan TerminalSize) (closed, detached <-chan struct{}) {
	outDone, det := make(chan struct{}), make(chan struct{})
	go func() {
		_, _ = io.Copy(stdout, master) // EIO once every holder of the slave is gone
		close(outDone)
	}()
	if stdin != nil {
		go func() {
			if copyUntilKeys(master, stdin, keys) {
				close(det)
			}
		}()
	}
	if resize != nil {
		go func() {
			for sz := range resize {
				setWinsize(master, sz)
			}
		}()
	}
	return outDone, det
}

// waitChild waits for pid, a child of this process once the runtime that
// started it has exited (this process is a child subreaper meanwhile), and
// returns its exit code as a shell would.
func waitChild(pid int) (int, error) {
	deadline := time.Now().Add(2 * time.Second)
	for {
		var ws unix.WaitStatus
		_, err := unix.Wait4(pid, &ws, 0, nil)
		switch {
		case err == nil && ws.Signaled():
			return 128 + int(ws.Signal()), nil
		case err == nil:
			return ws.ExitStatus(), nil
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD) && time.Now().Before(deadline):
			time.Sleep(10 * time.Millisecond) // not reparented to us yet
			continue
		}
		return 0, fmt.Errorf("waiting for process %d: %w", pid, err)
	}
}
