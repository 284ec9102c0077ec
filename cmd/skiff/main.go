// Command skiff is a rootless, daemonless container engine with a
// docker-compatible command line.
package main

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"go.podman.io/storage/pkg/reexec"

	"github.com/skiff-project/skiff/rootless"
)

func main() {
	// Until the flags give a level, and in the store's re-executed
	// copies, the libraries' logrus lines go nowhere near the terminal.
	routeLibraryLogs(slog.LevelWarn)
	// The store runs some work (layer extraction) in re-executed copies of
	// this binary; those copies stop here.
	if reexec.Init() {
		return
	}
	stopProfile := startProfile()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	g := &globalOptions{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
	generator, err := generatorMode(g, os.Args)
	if !generator {
		err = executeRoot(ctx, g, os.Args[1:])
	}
	g.close()
	stop()
	stopProfile()
	code := exitCode(g.stderr, err)
	rootless.Leave()
	os.Exit(code)
}
