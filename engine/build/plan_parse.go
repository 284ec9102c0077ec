package build

import (
	"bytes"
	"errors"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// parsedFile is a Containerfile as buildkit's parser reads it.
type parsedFile struct {
	name     string
	escape   rune
	metaArgs []lineArg // ARGs before the first FROM
	stages   []parsedStage
}

type lineArg struct {
	cmd  *instructions.ArgCommand
	line int
}

type parsedStage struct {
	stage *instructions.Stage
	line  int
	cmds  []parsedCmd
}

type parsedCmd struct {
	cmd      instructions.Command
	line     int
	original string
}

// parseFile parses with buildkit's parser and instruction parser, one
// instruction at a time, so that every error names its line.
func parseFile(data []byte, name string) (*parsedFile, error) {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return nil, &Error{File: name, Line: errorLine(err), Err: syntaxError(err)}
	}
	f := &parsedFile{name: name, escape: res.EscapeToken}
	for _, node := range res.AST.Children {
		v, err := instructions.ParseInstruction(node)
		if err != nil {
			return nil, &Error{File: name, Line: node.StartLine, Err: syntaxError(err)}
		}
		switch c := v.(type) {
		case *instructions.Stage:
			f.stages = append(f.stages, parsedStage{stage: c, line: node.StartLine})
		case *instructions.ArgCommand:
			if len(f.stages) == 0 {
				f.metaArgs = append(f.metaArgs, lineArg{cmd: c, line: node.StartLine})
				continue
			}
			f.addCmd(c, node)
		case instructions.Command:
			if len(f.stages) == 0 {
				return nil, lineError(name, node.StartLine, ErrSyntax, "%s before the first FROM", strings.ToUpper(node.Value))
			}
			f.addCmd(c, node)
		}
	}
	if len(f.stages) == 0 {
		return nil, lineError(name, 0, ErrSyntax, "no FROM instruction")
	}
	return f, nil
}

func (f *parsedFile) addCmd(c instructions.Command, node *parser.Node) {
	last := &f.stages[len(f.stages)-1]
	last.cmds = append(last.cmds, parsedCmd{cmd: c, line: node.StartLine, original: strings.TrimSpace(node.Original)})
}

// findStage returns the position of the stage a name or number refers to,
// the way buildkit resolves COPY --from and --mount from=.
func (f *parsedFile) findStage(name string) (int, bool) {
	for i, s := range f.stages {
		if s.stage.Name != "" && strings.EqualFold(s.stage.Name, name) {
			return i, true
		}
	}
	return -1, false
}

// syntaxError keeps buildkit's message, without its location and stack
// wrappers, under ErrSyntax.
func syntaxError(err error) error {
	var le *parser.LocationError
	if errors.As(err, &le) && le.Unwrap() != nil {
		err = le.Unwrap()
	}
	return &wrapped{sentinel: ErrSyntax, msg: err.Error()}
}

// errorLine digs the first line number out of a buildkit error.
func errorLine(err error) int {
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		return le.Locations[0][0].Start.Line
	}
	return 0
}

// wrapped is an error whose message is its own but that matches a sentinel.
type wrapped struct {
	sentinel error
	msg      string
}

func (w *wrapped) Error() string { return w.msg }
func (w *wrapped) Unwrap() error { return w.sentinel }
