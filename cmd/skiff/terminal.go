package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/skiff-project/skiff/engine"
)

// The caller's terminal while a command is attached to a container's:
// docker's habits (cli/command/container/hijack.go, tty.go).

const defaultDetachKeys = "ctrl-p,ctrl-q"

const detachKeysHelp = "with -t: keys that end the attach and leave the container (exec: the process) running: a character or ctrl-X, comma-separated; \"\" for none"

// rawInput puts a terminal on r in raw mode, for input to a -t container's
// terminal: no local echo (the container's terminal echoes), no line
// editing, no signals or flow control from the keys (ctrl-c, ctrl-q reach
// the container, or the detach keys). It returns what restores the mode.
func rawInput(r io.Reader) func() {
	f, ok := r.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func() {}
	}
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return func() {}
	}
	return func() { _ = term.Restore(int(f.Fd()), old) }
}

// detachableLines keeps a terminal on r in its line mode, for input to a
// container without a terminal, but lets the detach keys through at once:
// no flow control (ctrl-q, ctrl-s are characters), and the last key ends a
// line as the return key does, so the keys arrive without one.
func detachableLines(r io.Reader, keys []byte) func() {
	f, ok := r.(*os.File)
	if !ok || len(keys) == 0 {
		return func() {}
	}
	fd := int(f.Fd())
	old, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return func() {}
	}
	t := *old
	t.Iflag &^= unix.IXON
	t.Cc[unix.VEOL] = keys[len(keys)-1]
	if err := unix.IoctlSetTermios(fd, unix.TCSETS, &t); err != nil {
		return func() {}
	}
	return func() { _ = unix.IoctlSetTermios(fd, unix.TCSETS, old) }
}

// windowSizes sends the size of the caller's terminal (stdout's, else
// stdin's, as docker reads it) now and after each SIGWINCH, until ctx
// ends; nil when neither is a terminal.
func windowSizes(ctx context.Context, stdin io.Reader, stdout io.Writer) <-chan engine.TerminalSize {
	var fd int = -1
	for _, s := range []any{stdout, stdin} {
		if f, ok := s.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			fd = int(f.Fd())
			break
		}
	}
	if fd < 0 {
		return nil
	}
	sizes := make(chan engine.TerminalSize, 1)
	winch := make(chan os.Signal, 1)
	signal.Notify(winch, syscall.SIGWINCH)
	send := func() {
		ws, err := unix.IoctlGetWinsize(fd, unix.TIOCGWINSZ)
		if err != nil || ws.Row == 0 || ws.Col == 0 {
			return
		}
		select {
		case <-sizes: // a size not yet taken is out of date
		default:
		}
		sizes <- engine.TerminalSize{Rows: ws.Row, Cols: ws.Col}
	}
	send()
	go func() {
		defer signal.Stop(winch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-winch:
				send()
			}
		}
	}()
	return sizes
}

// signalEnds returns a context that ends at one of sigs, the exit status
// to report then (128 + the signal, as a shell reports a process killed
// by it), and what stops listening.
func signalEnds(parent context.Context, which ...os.Signal) (context.Context, func() int, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, which...)
	got := make(chan int, 1)
	go func() {
		select {
		case s := <-sigs:
			got <- 128 + int(s.(syscall.Signal))
			cancel()
		case <-ctx.Done():
		}
	}()
	status := func() int {
		select {
		case c := <-got:
			return c
		default:
			return 0
		}
	}
	return ctx, status, func() { signal.Stop(sigs); cancel() }
}

// proxySignals passes sigs on to the container until stop is called.
func proxySignals(e *engine.Engine, id string, sigs ...os.Signal) (stop func()) {
	ch := make(chan os.Signal, 4)
	signal.Notify(ch, sigs...)
	go func() {
		for s := range ch {
			_ = e.Kill(context.Background(), id, s.(syscall.Signal))
		}
	}()
	return func() { signal.Stop(ch) }
}
