package monitor

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/skiff-project/skiff/rootless"
)

// rig is one container's monitor files in a temporary directory, with a
// fake runtime (fakeruntime_test.go) and the configuration Go writes.
type rig struct {
	t    *testing.T
	dir  string
	conf *Config
	env  []string
}

func newRig(t *testing.T, id string) *rig {
	dir := t.TempDir()
	for _, d := range []string{"root", "bundle", "holders", "out"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// With the lock present, the monitor records itself under it.
	if err := os.WriteFile(filepath.Join(dir, "holders", "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	runtime := filepath.Join(dir, "runtime")
	script := fmt.Sprintf("#!/bin/sh\n%s=runtime exec '%s' \"$@\"\n", roleEnv, self)
	if err := os.WriteFile(runtime, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, dir: dir,
		conf: &Config{ID: id, Runtime: runtime, Root: filepath.Join(dir, "root"), Bundle: filepath.Join(dir, "bundle"),
			Log: filepath.Join(dir, "ctr.log"), Exit: filepath.Join(dir, "exit"), PidFile: filepath.Join(dir, "pid"),
			Holders: filepath.Join(dir, "holders")},
		// No joining of the user's namespace by the fake cleanup's
		// rootless constructor, whoever runs the tests.
		env: append(os.Environ(), "_SKIFF_NO_FAST_ENTER=1", outEnv+"="+filepath.Join(dir, "out")),
	}
}

func (r *rig) confPath() string { return filepath.Join(r.conf.Bundle, ConfFile) }

func (r *rig) writeConf() {
	r.t.Helper()
	if err := r.conf.Write(r.confPath()); err != nil {
		r.t.Fatal(err)
	}
}

// startGated starts the monitor as a first start does (StartGated).
func (r *rig) startGated() *Gated {
	r.t.Helper()
	g, err := StartGated(r.conf.ID, r.confPath(), r.env)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = g.cmd.Process.Kill() })
	return g
}

// report lets the monitor through its gate and returns its report.
func (r *rig) report(g *Gated) (int, error) {
	r.t.Helper()
	type result struct {
		pid int
		err error
	}
	c := make(chan result, 1)
	go func() { pid, err := g.Go(); c <- result{pid, err} }()
	select {
	case res := <-c:
		return res.pid, res.err
	case <-time.After(30 * time.Second):
		r.t.Fatal("no report from the monitor in 30s")
	}
	return 0, nil
}

func (r *rig) wait(g *Gated) {
	r.t.Helper()
	select {
	case <-g.done:
	case <-time.After(30 * time.Second):
		r.t.Fatal("the monitor did not end in 30s")
	}
}

// writeFIFO writes to one of the bundle's FIFOs once the monitor made it.
func (r *rig) writeFIFO(name, data string) {
	r.t.Helper()
	path := filepath.Join(r.conf.Bundle, name)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err == nil {
			_, err = f.WriteString(data)
			f.Close()
			if err != nil {
				r.t.Fatal(err)
			}
			return
		}
		if !os.IsNotExist(err) || time.Now().After(deadline) {
			r.t.Fatal(err)
		}
	}
}

// cleanups are the fake cleanup's records: "ID WORKDIR" per run.
func (r *rig) cleanups() []string {
	data, _ := os.ReadFile(filepath.Join(r.dir, "out", cleanupLog))
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func (r *rig) wantCleanup(wd string) {
	r.t.Helper()
	if got, want := r.cleanups(), []string{r.conf.ID + " " + wd}; !slices.Equal(got, want) {
		r.t.Errorf("the monitor's cleanups: %q, want %q", got, want)
	}
}

// calls are the runtime's command lines, and when each came.
func (r *rig) calls() ([]string, []time.Time) {
	data, _ := os.ReadFile(filepath.Join(r.conf.Root, "calls"))
	var args []string
	var at []time.Time
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		ns, rest, _ := strings.Cut(l, " ")
		n, _ := strconv.ParseInt(ns, 10, 64)
		args, at = append(args, rest), append(at, time.Unix(0, n))
	}
	return args, at
}

// wantCalls: the runtime was run with what the configuration says.
func (r *rig) wantCalls(console bool) []time.Time {
	r.t.Helper()
	c := r.conf
	common := fmt.Sprintf("--root %s --log %s/runtime.log --log-format json ", c.Root, c.Bundle)
	run := common + fmt.Sprintf("run --detach --bundle %s --pid-file %s ", c.Bundle, c.PidFile)
	if console {
		run += "--console-socket console.sock "
	}
	want := []string{run + c.ID}
	got, at := r.calls()
	if !slices.Equal(got, want) {
		r.t.Errorf("runtime calls:\n%q\nwant\n%q", got, want)
	}
	return at
}

// The formats, byte for byte, whichever side wrote them.
var (
	logRecord  = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr|exit) [FP] `)
	exitRecord = regexp.MustCompile(`^-?\d+ \d+\n$`)
)

// readLog checks every record of a log and returns them.
func readLog(t *testing.T, path string, from, to time.Time) []LogEntry {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), "\n") {
		t.Errorf("%s does not end with a newline: %q", path, data)
	}
	var entries []LogEntry
	for _, line := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		en, ok := ParseLogLine(line)
		if !logRecord.MatchString(line) || !ok {
			t.Errorf("not a log record: %q", line)
			continue
		}
		if en.Time.Before(from) || en.Time.After(to) {
			t.Errorf("record %q: time %v is not within %v..%v", line, en.Time, from, to)
		}
		entries = append(entries, en)
	}
	return entries
}

// byStream is the log's text per stream, each record as "F text" or "P
// text".
func byStream(entries []LogEntry) map[string][]string {
	m := map[string][]string{}
	for _, en := range entries {
		m[en.Stream] = append(m[en.Stream], map[bool]string{true: "F ", false: "P "}[en.Full]+en.Text)
	}
	return m
}

func wantExitRecord(t *testing.T, entries []LogEntry, code int) {
	t.Helper()
	if n := len(entries); n == 0 || entries[n-1].Stream != ExitStream || entries[n-1].Text != strconv.Itoa(code) || !entries[n-1].Full {
		t.Errorf("the log does not end with the exit record of %d: %+v", code, entries)
	}
}

// wantExitFile checks an exit file, its bytes and what ReadExitFile reads.
func wantExitFile(t *testing.T, path string, code int, from, to time.Time) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !exitRecord.Match(data) {
		t.Errorf("exit file %q is not \"CODE NANOSECONDS\\n\"", data)
	}
	got, at, ok := ReadExitFile(path)
	if !ok || got != code || at.Before(from) || at.After(to) {
		t.Errorf("ReadExitFile = %d, %v, %v; want %d within %v..%v", got, at, ok, code, from, to)
	}
	if tmps, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.tmp*")); len(tmps) > 0 {
		t.Errorf("temporary files left: %v", tmps)
	}
}

// wantHolder checks the monitor's holder record with rootless's reader:
// the namespaces are this test's, as the monitor runs in them.
func wantHolder(t *testing.T, dir string, pid int) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, strconv.Itoa(pid)))
	if err != nil {
		t.Fatalf("the monitor's holder record: %v", err)
	}
	var mnt syscall.Stat_t
	if err := syscall.Stat("/proc/self/ns/mnt", &mnt); err != nil {
		t.Fatal(err)
	}
	want := rootless.Holder{Pid: pid, Inode: rootless.UserNSInode(os.Getpid()), Mnt: mnt.Ino}
	if h, ok := rootless.ParseHolderRecord(pid, string(data)); !ok || h != want {
		t.Errorf("holder record %q reads as %+v, %v; want %+v", data, h, ok, want)
	}
}

func gone(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Errorf("%s is left behind (%v)", p, err)
		}
	}
}

// TestMonitorRunsAContainer is a first start with pipes and stdin: Go
// writes the configuration and opens the gate, the monitor reports the
// container's PID, takes its input from attach.stdin, logs its output,
// records its holder and its end, and becomes cleanup; Go reads each.
func TestMonitorRunsAContainer(t *testing.T) {
	r := newRig(t, "pipes")
	r.conf.Stdin, r.conf.Report = true, true
	from := time.Now()
	g := r.startGated()
	r.writeConf() // the bundle's configuration only has to exist by "go"
	pid, err := r.report(g)
	if err != nil {
		t.Fatalf("the monitor reported %v", err)
	}
	if pid <= 0 || ReadPidFile(r.conf.PidFile) != pid {
		t.Errorf("reported PID %d, the runtime's pid file has %d", pid, ReadPidFile(r.conf.PidFile))
	}
	wantHolder(t, r.conf.Holders, g.Pid())
	r.writeFIFO(StdinFIFO, "hello\n")
	r.wait(g)
	to := time.Now()

	r.wantCalls(false)
	entries := readLog(t, r.conf.Log, from, to)
	got := byStream(entries)
	// A last line without its newline is recorded whole, at the end.
	want := map[string][]string{"stdout": {"F out one", "F in: hello", "P partial"}, "stderr": {"F err two"}, "exit": {"F 7"}}
	for stream, texts := range want {
		if !slices.Equal(got[stream], texts) {
			t.Errorf("%s in the log: %q, want %q", stream, got[stream], texts)
		}
	}
	wantExitRecord(t, entries, 7)
	wantExitFile(t, r.conf.Exit, 7, from, to)
	r.wantCleanup(r.conf.Bundle)
	gone(t, filepath.Join(r.conf.Bundle, StdinFIFO))
}

// TestMonitorTerminal is a -t -i container: the runtime hands the
// terminal over the console socket, ctl sets its size, attach.stdin is its
// input, and its output is logged as it comes.
func TestMonitorTerminal(t *testing.T) {
	r := newRig(t, "terminal")
	r.conf.Tty, r.conf.Stdin, r.conf.Report = true, true, true
	r.writeConf()
	from := time.Now()
	g := r.startGated()
	if _, err := r.report(g); err != nil {
		t.Fatalf("the monitor reported %v", err)
	}
	// The monitor handles ctl before attach.stdin: the size is set when
	// the container reads its line.
	r.writeFIFO(CtlFIFO, ResizeLine(30, 100))
	r.writeFIFO(StdinFIFO, "hello\n")
	r.wait(g)
	to := time.Now()

	r.wantCalls(true)
	entries := readLog(t, r.conf.Log, from, to)
	var out strings.Builder
	for _, en := range entries {
		switch {
		case en.Stream == "stdout":
			out.WriteString(en.Text)
			if en.Full {
				out.WriteString("\n")
			}
		case en.Stream != ExitStream:
			t.Errorf("a terminal's output is all stdout: %+v", en)
		}
	}
	text := strings.ReplaceAll(out.String(), "\r", "")
	for _, want := range []string{"out one\n", "in: hello size 30 100\n"} {
		if !strings.Contains(text, want) {
			t.Errorf("the log's output %q lacks %q", text, want)
		}
	}
	wantExitRecord(t, entries, 3)
	wantExitFile(t, r.conf.Exit, 3, from, to)
	r.wantCleanup(r.conf.Bundle)
	gone(t, filepath.Join(r.conf.Bundle, StdinFIFO), filepath.Join(r.conf.Bundle, CtlFIFO), filepath.Join(r.conf.Bundle, "console.sock"))
}

// TestMonitorGateClosed: a skiff that ends before it says "go" leaves the
// monitor to become cleanup at once, for the ID of its gate, having read
// nothing and run nothing.
func TestMonitorGateClosed(t *testing.T) {
	r := newRig(t, "gated")
	g := r.startGated()
	g.gate.Close()
	r.wait(g)
	if code := g.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("the monitor (as cleanup) ended with %d", code)
	}
	r.wantCleanup("/")
	gone(t, r.conf.Exit, r.conf.Log, filepath.Join(r.conf.Root, "calls"))
}

// TestMonitorCreateFails: a first start reports the runtime's failure and
// leaves the undoing to skiff; with start=1 (a restart's) it records exit
// 125 and hands over to cleanup even though skiff heard it.
func TestMonitorCreateFails(t *testing.T) {
	for _, start := range []bool{false, true} {
		t.Run(fmt.Sprintf("start=%v", start), func(t *testing.T) {
			r := newRig(t, "fails")
			r.conf.Report, r.conf.Start = true, start
			r.env = append(r.env, failEnv+"=create")
			r.writeConf()
			from := time.Now()
			g := r.startGated()
			_, err := r.report(g)
			want := fmt.Sprintf("the runtime failed to start the container (see %s/runtime.log)", r.conf.Bundle)
			if err == nil || err.Error() != want {
				t.Errorf("report: %v, want %q", err, want)
			}
			r.wait(g)
			to := time.Now()
			if !start {
				if code := g.cmd.ProcessState.ExitCode(); code != 1 {
					t.Errorf("the monitor ended with %d, want 1", code)
				}
				gone(t, r.conf.Exit, filepath.Join(r.dir, "out", cleanupLog))
				return
			}
			wantExitFile(t, r.conf.Exit, 125, from, to)
			r.wantCleanup(r.conf.Bundle)
		})
	}
}

// TestMonitorRestart is a restart: the process that was the monitor
// becomes it again (Become) with start=1 and a back-off, and nobody waits
// for a report.
func TestMonitorRestart(t *testing.T) {
	r := newRig(t, "restart")
	r.conf.Start, r.conf.Delay = true, 300*time.Millisecond
	r.writeConf()
	self, _ := os.Executable()
	cmd := exec.Command(self, r.conf.ID, r.confPath())
	cmd.Env = append(r.env, roleEnv+"=become")
	cmd.Dir = "/"
	from := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("the monitor: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the monitor did not end in 30s")
	}
	to := time.Now()
	if at := r.wantCalls(false); len(at) > 0 && at[0].Sub(from) < r.conf.Delay {
		t.Errorf("the runtime ran %v after the monitor started, before its delay of %v", at[0].Sub(from), r.conf.Delay)
	}
	entries := readLog(t, r.conf.Log, from, to)
	wantExitRecord(t, entries, 7)
	if got := byStream(entries)["stdout"]; !slices.Equal(got, []string{"F out one", "F in: ", "P partial"}) {
		t.Errorf("stdout in the log: %q", got)
	}
	wantExitFile(t, r.conf.Exit, 7, from, to)
	r.wantCleanup(r.conf.Bundle)
	// The monitor's PID is the one that became it.
	if _, err := os.Stat(filepath.Join(r.conf.Holders, strconv.Itoa(cmd.Process.Pid))); err != nil {
		t.Errorf("no holder record of the monitor: %v", err)
	}
}

// TestGoWritesWhatTheMonitorWrites: the log records and the exit file Go
// writes (an attached run) are byte for byte of the monitor's format, and
// read back the same.
func TestGoWritesWhatTheMonitorWrites(t *testing.T) {
	dir := t.TempDir()
	from := time.Now()
	l, err := OpenLog(filepath.Join(dir, "ctr.log"))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = l.Stream("stdout", nil).Write([]byte("out one\nin: hello\n"))
	_, _ = l.Stream("stderr", nil).Write([]byte("err two\n"))
	l.Exit(7)
	l.Close()
	WriteExitFile(filepath.Join(dir, "exit"), 7)
	to := time.Now()

	entries := readLog(t, filepath.Join(dir, "ctr.log"), from, to)
	got := byStream(entries)
	for stream, texts := range map[string][]string{"stdout": {"F out one", "F in: hello"}, "stderr": {"F err two"}} {
		if !slices.Equal(got[stream], texts) {
			t.Errorf("%s in the log: %q, want %q", stream, got[stream], texts)
		}
	}
	wantExitRecord(t, entries, 7)
	wantExitFile(t, filepath.Join(dir, "exit"), 7, from, to)
}

// TestConfigKeysAreMonitorCs: the keys Config writes are the keys getconf
// in monitor.c reads, no more, no fewer (the tests above show what each
// does; this catches one the monitor ignores).
func TestConfigKeysAreMonitorCs(t *testing.T) {
	src, err := os.ReadFile("monitor.c")
	if err != nil {
		t.Fatal(err)
	}
	body := string(src)
	start := strings.Index(body, "static int getconf(")
	end := strings.Index(body[start:], "\n}\n")
	if start < 0 || end < 0 {
		t.Fatal("no getconf in monitor.c")
	}
	var cKeys []string
	for _, m := range regexp.MustCompile(`(?:KEY\(|strcmp\(line, )"(\w+)"`).FindAllStringSubmatch(body[start:start+end], -1) {
		cKeys = append(cKeys, m[1])
	}
	var goKeys []string
	for _, f := range (&Config{}).fields() {
		goKeys = append(goKeys, f.key)
	}
	slices.Sort(cKeys)
	slices.Sort(goKeys)
	if !slices.Equal(cKeys, goKeys) {
		t.Errorf("monitor.c reads %q, Config writes %q", cKeys, goKeys)
	}
}

func TestConfigWriteRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), ConfFile)
	c := Config{ID: "abc", Runtime: "/usr/bin/crun", Root: "/run/r", Bundle: "/run/b", Log: "/d/ctr.log", Exit: "/d/exit",
		PidFile: "/d/pid", Holders: "/run/ns", Tty: true, Stdin: true, Report: true, Start: true, Delay: 1600 * time.Millisecond}
	if err := c.Write(path); err != nil {
		t.Fatal(err)
	}
	back, err := ReadConfig(path)
	if err != nil || *back != c {
		t.Errorf("read back %+v, %v; want %+v", back, err, c)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("mode: %v, %v", st.Mode(), err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("left beside it: %v", entries)
	}
	for _, bad := range []Config{
		{Runtime: "/r", Bundle: "/b"},
		{ID: strings.Repeat("a", 128), Runtime: "/r", Bundle: "/b"},
		{ID: "a", Runtime: "/r", Bundle: "/" + strings.Repeat("b", 511)},
		{ID: "a", Runtime: "/r", Bundle: "/b", Log: "/l\nexit=/x"},
	} {
		if _, err := bad.Encode(); err == nil {
			t.Errorf("Encode(%+v) took it", bad)
		}
	}
}

func TestParseReport(t *testing.T) {
	for _, c := range []struct {
		reply string
		pid   int
		err   error
	}{
		{"ok 4242\n", 4242, nil},
		{"err the runtime failed\n", 0, errors.New("the runtime failed")},
		{"", 0, errors.New("")},
	} {
		pid, err := ParseReport(c.reply)
		if pid != c.pid || fmt.Sprint(err) != fmt.Sprint(c.err) {
			t.Errorf("ParseReport(%q) = %d, %v; want %d, %v", c.reply, pid, err, c.pid, c.err)
		}
	}
}

// startAttached starts the monitor of an attached run (StartAttached).
func (r *rig) startAttached(stdin bool) (*Gated, *Attached) {
	r.t.Helper()
	g, a, err := StartAttached(r.conf.ID, r.confPath(), r.env, stdin)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { _ = g.cmd.Process.Kill(); a.Close() })
	return g, a
}

// TestMonitorAttached is an attached run: the output comes to the client
// through its pipes as well as into the log, its input (and its end) from
// the client's, the end on the report; when the client claims the cleanup
// the monitor ends without running it and without its holder record.
func TestMonitorAttached(t *testing.T) {
	r := newRig(t, "attached")
	r.conf.Stdin, r.conf.Report, r.conf.Attach = true, true, true
	r.writeConf()
	from := time.Now()
	g, a := r.startAttached(true)
	if _, err := g.GoAttached(); err != nil {
		t.Fatalf("the monitor reported %v", err)
	}
	wantHolder(t, r.conf.Holders, g.Pid())
	outc, errc := make(chan string), make(chan string)
	go func() { b, _ := io.ReadAll(a.Stdout); outc <- string(b) }()
	go func() { b, _ := io.ReadAll(a.Stderr); errc <- string(b) }()
	if _, err := a.Stdin.WriteString("hello\n"); err != nil {
		t.Fatal(err)
	}
	a.Stdin.Close()
	if out, errs := <-outc, <-errc; out != "out one\nin: hello\npartial" || errs != "err two\n" {
		t.Errorf("the client got stdout %q, stderr %q", out, errs)
	}
	code, err := g.AwaitExit()
	if err != nil || code != 7 {
		t.Fatalf("the end: %d, %v; want 7", code, err)
	}
	// The log and the exit file are there before the end is reported.
	entries := readLog(t, r.conf.Log, from, time.Now())
	wantExitRecord(t, entries, 7)
	wantExitFile(t, r.conf.Exit, 7, from, time.Now())
	g.Claim()
	if c := r.cleanups(); len(c) != 1 || c[0] != "" {
		t.Errorf("the monitor ran cleanup though the client claimed it: %q", c)
	}
	gone(t, filepath.Join(r.conf.Holders, strconv.Itoa(g.Pid())))
}

// TestMonitorAttachedClientGone: a client that goes away (its pipes and
// the gate closed) leaves the container to the monitor, which runs on,
// and cleans up at the end as for a detached container; the end of the
// client's input is the container's.
func TestMonitorAttachedClientGone(t *testing.T) {
	r := newRig(t, "orphaned")
	r.conf.Stdin, r.conf.Report, r.conf.Attach = true, true, true
	r.writeConf()
	from := time.Now()
	g, a := r.startAttached(true)
	if _, err := g.GoAttached(); err != nil {
		t.Fatalf("the monitor reported %v", err)
	}
	a.Close()
	g.gate.Close()
	g.report.Close()
	r.wait(g)
	entries := readLog(t, r.conf.Log, from, time.Now())
	if got := byStream(entries)["stdout"]; !slices.Equal(got, []string{"F out one", "F in: ", "P partial"}) {
		t.Errorf("stdout in the log: %q", got)
	}
	wantExitFile(t, r.conf.Exit, 7, from, time.Now())
	r.wantCleanup(r.conf.Bundle)
}
