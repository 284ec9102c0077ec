package monitor

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The protocol tests run the real monitor: this test binary links the
// package, so started with _SKIFF_MONITOR it becomes the monitor in its
// constructor. It plays the monitor's other parties too, chosen here:
// the cleanup the monitor becomes at its end (argv "skiff container
// cleanup ID", as the monitor execs it), a process that becomes the
// monitor (a restart), and, through the runtime script (newRig), a fake
// OCI runtime and the container it runs.
const (
	roleEnv    = "SKIFF_MONITOR_TEST_ROLE" // runtime, container or become
	outEnv     = "SKIFF_MONITOR_TEST_OUT"  // where the cleanup records itself
	failEnv    = "SKIFF_MONITOR_TEST_FAIL" // "create": the runtime's create fails
	startEnv   = "SKIFF_MONITOR_TEST_START"
	cleanupLog = "cleanup"
)

func TestMain(m *testing.M) {
	if len(os.Args) == 4 && os.Args[1] == "container" && os.Args[2] == "cleanup" {
		os.Exit(fakeCleanup(os.Args[3]))
	}
	switch os.Getenv(roleEnv) {
	case "runtime":
		os.Exit(fakeRuntime(os.Args[1:]))
	case "container":
		os.Exit(fakeContainer())
	case "become": // a restart: the process that was the monitor becomes it again
		env := slices.DeleteFunc(os.Environ(), func(v string) bool { return strings.HasPrefix(v, roleEnv+"=") })
		fmt.Fprintln(os.Stderr, Become(os.Args[1], os.Args[2], env))
		os.Exit(1)
	}
	os.Exit(m.Run())
}

// fakeCleanup stands for `skiff container cleanup ID`: it records that it
// ran, for whom, and where (the monitor's working directory).
func fakeCleanup(id string) int {
	wd, _ := os.Getwd()
	f, err := os.OpenFile(filepath.Join(os.Getenv(outEnv), cleanupLog), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 1
	}
	defer f.Close()
	fmt.Fprintf(f, "%s %s\n", id, wd)
	return 0
}

// fakeRuntime is an OCI runtime's run --detach (and create and start),
// as the monitor runs them; each call is recorded, with its time, in ROOT/calls.
func fakeRuntime(args []string) int {
	var root, bundle, pidFile, console, verb, id string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "--root", "--bundle", "--pid-file", "--console-socket", "--log", "--log-format":
			if i+1 == len(args) {
				return 2
			}
			v := args[i+1]
			i++
			switch a {
			case "--root":
				root = v
			case "--bundle":
				bundle = v
			case "--pid-file":
				pidFile = v
			case "--console-socket":
				console = v
			}
		case "create", "start", "run":
			verb = a
		case "--detach":
		default:
			id = a
		}
	}
	calls, err := os.OpenFile(filepath.Join(root, "calls"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return 1
	}
	fmt.Fprintf(calls, "%d %s\n", time.Now().UnixNano(), strings.Join(args, " "))
	calls.Close()
	startFIFO := filepath.Join(root, id+".start")
	switch verb {
	case "create":
		if os.Getenv(failEnv) == "create" || bundle == "" {
			return 1
		}
		return fakeCreate(startFIFO, pidFile, console)
	case "run": // --detach
		if os.Getenv(failEnv) == "create" || bundle == "" {
			return 1
		}
		if code := fakeCreate(startFIFO, pidFile, console); code != 0 {
			return code
		}
		return fakeStart(startFIFO)
	case "start":
		return fakeStart(startFIFO)
	}
	return 2
}

// fakeStart lets the container fakeCreate made go on.
func fakeStart(startFIFO string) int {
	f, err := os.OpenFile(startFIFO, os.O_WRONLY, 0)
	if err != nil {
		return 1
	}
	defer f.Close()
	if _, err := f.Write([]byte("start\n")); err != nil {
		return 1
	}
	return 0
}

// fakeCreate makes the container: a process that waits for start, on the
// monitor's pipes or on a terminal whose master goes to the console
// socket; its PID goes to the pid file, as runc writes it.
func fakeCreate(startFIFO, pidFile, console string) int {
	if err := unix.Mkfifo(startFIFO, 0o600); err != nil {
		return 1
	}
	self, _ := os.Executable()
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), roleEnv+"=container", startEnv+"="+startFIFO)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	var master *os.File
	if console != "" {
		var slave *os.File
		var err error
		if master, slave, err = openPty(); err != nil {
			return 1
		}
		defer slave.Close()
		cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
		cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	}
	if err := cmd.Start(); err != nil {
		return 1
	}
	if master != nil {
		if err := sendFd(console, master); err != nil {
			return 1
		}
	}
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)), 0o600); err != nil {
		return 1
	}
	return 0 // the container is the monitor's now (it is a subreaper)
}

func openPty() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, err
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	return m, s, nil
}

// sendFd hands the terminal's master to the console socket, as runc does.
func sendFd(socket string, f *os.File) error {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	defer c.Close()
	_, _, err = c.(*net.UnixConn).WriteMsgUnix([]byte(f.Name()), unix.UnixRights(int(f.Fd())), nil)
	return err
}

// fakeContainer waits for start, then prints on stdout and stderr, reads
// a line of input and answers it, and ends with an unfinished line and an
// exit code. On a terminal it answers with its window size too.
func fakeContainer() int {
	f, err := os.Open(os.Getenv(startEnv))
	if err != nil {
		return 100
	}
	_, _ = bufio.NewReader(f).ReadString('\n')
	f.Close()
	if _, err := unix.IoctlGetTermios(0, unix.TCGETS); err == nil {
		fmt.Println("out one")
		line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		ws, _ := unix.IoctlGetWinsize(0, unix.TIOCGWINSZ)
		fmt.Printf("in: %s size %d %d\n", strings.TrimSpace(line), ws.Row, ws.Col)
		return 3
	}
	fmt.Println("out one")
	fmt.Fprintln(os.Stderr, "err two")
	line, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	fmt.Printf("in: %s\n", strings.TrimSpace(line))
	fmt.Print("partial")
	return 7
}
