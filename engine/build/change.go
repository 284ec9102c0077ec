package build

import (
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// ChangeInstructions are the instructions commit --change and
// import --change accept (podman-commit(1)).
var ChangeInstructions = []string{"CMD", "ENTRYPOINT", "ENV", "EXPOSE", "LABEL", "ONBUILD", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}

// ParseChanges parses --change instructions with the Containerfile parser
// and returns the edits they make to base, in order: $VAR expands against
// base's environment and the ENVs of earlier changes, a relative WORKDIR is
// taken from base's, and a shell-form CMD or ENTRYPOINT runs under base's
// SHELL. Apply them in order with [ConfigEdit.Apply]. Errors wrap
// ErrBadChange and quote the change.
func ParseChanges(changes []string, base ImageConfig) ([]ConfigEdit, error) {
	p := &stagePlanner{lex: shell.NewLex(parser.DefaultEscapeToken), cfg: base.clone(), st: &Stage{}}
	var edits []ConfigEdit
	for _, ch := range changes {
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%w %q: %s", ErrBadChange, ch, fmt.Sprintf(format, args...))
		}
		res, err := parser.Parse(strings.NewReader(ch))
		if err != nil {
			return nil, bad("%v", syntaxError(err))
		}
		if len(res.AST.Children) != 1 {
			return nil, bad("want one instruction")
		}
		node := res.AST.Children[0]
		if !slices.Contains(ChangeInstructions, strings.ToUpper(node.Value)) {
			return nil, bad("use one of %s", strings.Join(ChangeInstructions, ", "))
		}
		cmd, err := instructions.ParseCommand(node)
		if err != nil {
			return nil, bad("%v", syntaxError(err))
		}
		if ex, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
			if err := ex.Expand(p.expand); err != nil {
				return nil, bad("%v", syntaxError(err))
			}
		}
		e, err := p.edit(cmd)
		if err != nil {
			return nil, bad("%v", err)
		}
		e.Apply(&p.cfg)
		edits = append(edits, *e)
	}
	return edits, nil
}
