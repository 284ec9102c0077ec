package monitor

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The names the monitor gives to what it makes in the bundle, its working
// directory.
const (
	ConfFile  = "monitor.conf" // the configuration, where the engine puts it
	StdinFIFO = "attach.stdin" // the container's input (stdin=1)
	CtlFIFO   = "ctl"          // window sizes for a -t container (ResizeLine)
)

// ResizeLine is the control FIFO's message that sets a -t container's
// window size.
func ResizeLine(rows, cols uint16) string { return fmt.Sprintf("1 %d %d\n", rows, cols) }

// Config is the monitor's configuration file (see the package doc): what
// getconf in monitor.c reads.
type Config struct {
	ID      string // id: the container, for the runtime and for cleanup
	Runtime string // runtime: the OCI runtime's path
	Root    string // root: the runtime's --root
	Bundle  string // bundle: the runtime's --bundle; the monitor works there
	Log     string // log: the container's log, appended to
	Exit    string // exit: the exit file
	PidFile string // pidfile: the runtime's --pid-file
	Holders string // holders: the directory of holder records ("" for none)
	Tty     bool   // tty: the container has a terminal (--console-socket)
	Stdin   bool   // stdin: keep the container's input open (attach.stdin)
	// Report: skiff waits for the report on ReportFD (sync=3), a first
	// start.
	Report bool
	// Start: nobody waits for a report, a restart (start=1): a failure is
	// recorded as exit 125 and handed to cleanup.
	Start bool
	Delay time.Duration // delay_ms: waited before the runtime is run
	// Attach: a client runs the container in the foreground (attach=1,
	// with Report): StartAttached's pipes carry its output and input, the
	// report its end, and the gate whether the client cleans up.
	Attach bool
}

// The C side's buffers (struct mon in monitor.c), with their NUL.
const (
	maxID    = 127
	maxValue = 511
)

// fields are the configuration's keys, in the order Write puts them.
func (c *Config) fields() []struct{ key, value string } {
	return []struct{ key, value string }{
		{"id", c.ID}, {"runtime", c.Runtime}, {"root", c.Root}, {"bundle", c.Bundle},
		{"log", c.Log}, {"exit", c.Exit}, {"pidfile", c.PidFile}, {"holders", c.Holders},
		{"tty", btoa(c.Tty)}, {"stdin", btoa(c.Stdin)},
		{"sync", optional(c.Report, strconv.Itoa(ReportFD))},
		{"start", optional(c.Start, "1")},
		{"delay_ms", optional(c.Delay > 0, strconv.FormatInt(c.Delay.Milliseconds(), 10))},
		{"attach", optional(c.Attach, "1")},
	}
}

// Encode returns the file's content, or why the monitor could not read it.
func (c *Config) Encode() ([]byte, error) {
	if c.ID == "" || c.Runtime == "" || c.Bundle == "" {
		return nil, fmt.Errorf("monitor configuration: id, runtime and bundle are required")
	}
	var b strings.Builder
	for _, f := range c.fields() {
		if f.value == "" {
			continue // absent: the monitor's default
		}
		limit := maxValue
		if f.key == "id" {
			limit = maxID
		}
		if len(f.value) > limit {
			return nil, fmt.Errorf("monitor configuration: %s is longer than %d bytes: %s", f.key, limit, f.value)
		}
		if strings.ContainsAny(f.value, "\n\x00") {
			return nil, fmt.Errorf("monitor configuration: %s holds a newline or NUL: %q", f.key, f.value)
		}
		fmt.Fprintf(&b, "%s=%s\n", f.key, f.value)
	}
	return []byte(b.String()), nil
}

// Write writes the configuration to path atomically, as the protocol's
// sync rule has it.
func (c *Config) Write(path string) error {
	data, err := c.Encode()
	if err != nil {
		return err
	}
	return writeAtomic(path, data, 0o600, false)
}

// ReadConfig reads a configuration as the monitor does: the last of a
// repeated key counts, unknown keys and lines without "=" are ignored.
func ReadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	c := &Config{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		key, v, ok := strings.Cut(sc.Text(), "=")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(v) // C's atoi: 0 when not a number
		switch key {
		case "id":
			c.ID = v
		case "runtime":
			c.Runtime = v
		case "root":
			c.Root = v
		case "bundle":
			c.Bundle = v
		case "log":
			c.Log = v
		case "exit":
			c.Exit = v
		case "pidfile":
			c.PidFile = v
		case "holders":
			c.Holders = v
		case "tty":
			c.Tty = n != 0
		case "stdin":
			c.Stdin = n != 0
		case "sync":
			c.Report = n == ReportFD
		case "start":
			c.Start = n != 0
		case "delay_ms":
			c.Delay = time.Duration(n) * time.Millisecond
		case "attach":
			c.Attach = n != 0
		}
	}
	return c, sc.Err()
}

func btoa(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func optional(set bool, v string) string {
	if set {
		return v
	}
	return ""
}

// writeAtomic replaces path with data through a temporary file beside it,
// fsync'd first when durable (see the package doc's rule).
func writeAtomic(path string, data []byte, mode os.FileMode, durable bool) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil && durable {
		err = f.Sync()
	}
	if err == nil {
		err = f.Chmod(mode)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}
