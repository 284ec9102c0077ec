package main

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/skiff-project/skiff/engine"
)

// Prune's questions, in podman's words.
const (
	pruneQuestion       = "Are you sure you want to continue? [y/N] "
	warnPruneContainers = "WARNING! This will remove all non running containers.\n"
	warnPruneImages     = "WARNING! This command removes all dangling images.\n"
	warnPruneBuildCache = "WARNING! This command removes all build cache.\n"
	warnPruneImagesAll  = "WARNING! This command removes all images without at least one container associated with them.\n"
	warnPruneVolumes    = "WARNING! This will remove all volumes not used by at least one container.\n"
	warnPruneNetworks   = "WARNING! This will remove all networks not used by at least one container.\n"
)

// pruneOptions are the options of container, volume and network prune.
type pruneOptions struct {
	force   bool // no question first
	filters engine.PruneFilters
}

// prune asks first (warning, unless -f), then prunes and prints what it
// removed.
func (g *globalOptions) prune(ctx context.Context, o pruneOptions, stdout io.Writer, warning string, prune func(*engine.Engine, context.Context, engine.PruneOptions) ([]engine.PruneReport, error)) error {
	if !o.force && !g.confirm(stdout, warning) {
		return nil
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	reports, err := prune(e, ctx, engine.PruneOptions{Filters: o.filters})
	if err != nil {
		return err
	}
	return printNames(stdout, reports, func(r engine.PruneReport) (string, error) { return r.ID, r.Err })
}

// confirm asks warning + pruneQuestion on stdout, as podman does, and
// reads one line of the answer from stdin: yes only when it starts with y
// or Y; a blank line, any other answer or the end of the input is no.
func (g *globalOptions) confirm(stdout io.Writer, warning string) bool {
	fmt.Fprint(stdout, warning+pruneQuestion)
	line, err := readLine(g.stdin)
	if err != nil && line == "" {
		fmt.Fprintln(stdout) // end of input: the prompt's line ends here
	}
	return strings.HasPrefix(strings.TrimSpace(line), "y") || strings.HasPrefix(strings.TrimSpace(line), "Y")
}

// readLine reads up to a newline one byte at a time, so that nothing
// after the answer is taken from a shared input.
func readLine(r io.Reader) (string, error) {
	if r == nil {
		return "", io.EOF
	}
	var b strings.Builder
	buf := make([]byte, 1)
	for {
		n, err := r.Read(buf)
		if n == 1 {
			if buf[0] == '\n' {
				return b.String(), nil
			}
			b.WriteByte(buf[0])
		}
		if err != nil {
			return b.String(), err
		}
	}
}
