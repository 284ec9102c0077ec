// Package monitor owns skiff's small C processes and the protocol between
// them and the Go side: the per-container monitor (monitor.c, like
// conmon), the keeper of a detached exec's terminal (ptydrain.c), and every
// file and message the monitor and Go exchange. The C programs run in
// constructors, before (and instead of) the Go runtime, when the binary
// starts with _SKIFF_MONITOR or _SKIFF_PTYDRAIN set: any binary that links
// this package can become them (its tests do: protocol_test.go runs the
// real monitor against a fake OCI runtime).
//
// # The monitor's protocol
//
// This is the one description of what crosses between monitor.c and Go;
// the constants, types and functions of this package are its Go side, and
// protocol_test.go holds the two sides together.
//
// Starting. The monitor is the skiff binary run as argv
// ["skiff-monitor", ID] with _SKIFF_MONITOR=CONF in its environment
// (EnvConf), CONF the path of its configuration. A first start
// (StartGated) also sets _SKIFF_MONITOR_GATE=4:ID (EnvGate, GateFD) and
// gives it two pipes: the report's write end as fd 3 (ReportFD), the
// gate's read end as fd 4. A restart (Become) is the process that was the
// monitor, exec'd again with _SKIFF_MONITOR only.
//
// The gate (Go writes, C reads fd 4). The monitor reads its configuration
// only once Go has written "go\n" (GateGo) on the gate and closed it. At
// end of file without "go\n" (skiff ended, or gave up) the monitor
// becomes `skiff container cleanup ID` at once, ID the one after the colon.
//
// The configuration (Go writes, C reads: Config, Write, ReadConfig). A file
// of "key=value" lines, "monitor.conf" in the bundle (ConfFile), in any
// order; unknown keys are ignored; a value runs to the end of its line and
// holds no newline. Keys: id, runtime, root, bundle (all required), log,
// exit, pidfile, holders (paths), tty, stdin, start (0 or 1), sync (the
// fd of the report, absent for none), delay_ms (the back-off before a
// restart). Config's fields say what each is for. The C side holds a value
// in a buffer of 512 bytes (id: 128), so Write refuses longer ones.
//
// The report (C writes fd 3, Go reads to end of file: ParseReport). One
// line when the container runs, "ok PID\n", or when it could not be
// started, "err WHAT\n"; then the monitor closes the pipe. A first start
// that reported an error exits 1 and leaves the undoing to the skiff that
// reads it; one whose report went nowhere (skiff was killed), or with
// start=1, records exit 125 and hands over to cleanup, as a restart does.
// A configuration it cannot read (or without id, runtime or bundle) ends
// it with 125 and a line on its stderr, before any report.
//
// The runtime's pid file (pidfile; the runtime writes, C and Go read:
// ReadPidFile). The container's PID in decimal, any surrounding white
// space; it exists from the runtime's create on, so it tells a start that
// got that far (the engine's neverStarted).
//
// The monitor's pid file ("monitor.pid" in the container's directory; Go
// writes it with WritePidFile, for systemd units of Type=forking). Same
// format.
//
// The log (log; C and Go append, Go reads: LogWriter, ParseLogLine). One
// record per line, "TIMESTAMP STREAM F|P TEXT\n": TIMESTAMP is UTC with
// nine decimals ("2006-01-02T15:04:05.000000000Z"); STREAM is stdout,
// stderr, or exit (ExitStream); F marks a whole line, P a piece of one (a
// line longer than 16384 bytes, a terminal's output as it comes, or a last
// line without its newline, which logs gives back without one); each record is
// one write(2) (writev in C) to a file opened O_APPEND, so two writers
// never interleave within a record. The last record of a run is "exit F CODE".
//
// The exit file (exit; C and Go write, Go reads: WriteExitFile,
// ReadExitFile). "CODE NANOSECONDS\n": the exit code (128+N for signal N,
// 125 when the monitor could not start the container) and the time of
// the end in nanoseconds since the epoch.
//
// The holder record (C writes, Go reads and writes; the format belongs to
// package rootless, which this package's tests read it with). A file
// named after the monitor's PID in the holders directory, holding "USERINO
// MNTINO" (the inodes of its user and mount namespaces, no newline),
// written under an exclusive flock of "lock" in that directory when the
// lock file exists.
//
// In the bundle, relative to it (the monitor's working directory):
// "console.sock" (a -t container's runtime sends the terminal's master
// there), "runtime.log" (the runtime's --log), and two FIFOs the monitor
// makes once the container runs: "attach.stdin" (StdinFIFO, stdin=1: what
// Go writes there is the container's input) and "ctl" (CtlFIFO, tty=1:
// lines "1 ROWS COLS", ResizeLine, set the terminal's window size).
//
// The end. The monitor writes the rest of the output and the exit record
// to the log, writes the exit file, and becomes `skiff container cleanup
// ID` (/proc/self/exe, same PID, _SKIFF_MONITOR and _SKIFF_MONITOR_GATE
// unset, the signals as skiff found them).
//
// An attached run (attach=1, with sync; StartAttached). A run in the
// foreground is a monitored one too, so that a SIGKILL of the client
// leaves the container to its monitor, as docker's and podman's clients
// do. The client gives the monitor three more descriptors: AttachOutFD
// and AttachErrFD, where the monitor copies the container's output as it
// reads it (besides the log; a client gone gets no more), and, with
// stdin=1, AttachInFD, the container's input (its end of file ends the
// container's input). The gate and the report stay open: after "ok PID"
// the monitor reports the end as "exit CODE\n" (once the output is
// drained and its pipes closed, the log's exit record and the exit file
// written), and reads the gate: "mine\n" (GateMine) says the client cleans
// up, and the monitor drops its holder record and exits 0; end of file
// (the client is gone) and it becomes cleanup as above.
//
// # Syncing
//
// Both sides follow one rule: nothing here is fsync'd. A file that must be
// whole for its readers is written to a temporary file beside it and
// renamed over it: the exit file, the configuration, the holder record,
// the monitor's pid file. The exit file bridges only the moment between
// the container's end and the cleanup that records the exit in the state
// database, which syncs every commit; a machine that crashes in that
// moment ends the container anyway, and a reader takes an empty or torn
// exit file for none (an fsync there cost every short run milliseconds on
// a busy disk). The log is appended: a line lost to a power failure costs
// that line, an fsync per line would cost the container's throughput.
package monitor
