package main

import (
	"fmt"
	"io"
	"strings"
)

// Prune's questions, in podman's words.
const (
	pruneQuestion       = "Are you sure you want to continue? [y/N] "
	warnPruneContainers = "WARNING! This will remove all non running containers.\n"
	warnPruneImages     = "WARNING! This command removes all dangling images.\n"
	warnPruneImagesAll  = "WARNING! This command removes all images without at least one container associated with them.\n"
	warnPruneVolumes    = "WARNING! This will remove all volumes not used by at least one container.\n"
	warnPruneNetworks   = "WARNING! This will remove all networks not used by at least one container.\n"
)

// confirm asks warning + pruneQuestion on stdout, as podman does, and
// reads one line of the answer: yes only when it starts with y or Y; a
// blank line, any other answer or the end of the input is no.
func (g *globalOptions) confirm(warning string) bool {
	fmt.Fprint(g.stdout, warning+pruneQuestion)
	line, err := readLine(g.stdin)
	if err != nil && line == "" {
		fmt.Fprintln(g.stdout) // end of input: the prompt's line ends here
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
