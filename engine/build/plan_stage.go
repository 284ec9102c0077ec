package build

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// stagePlanner converts one stage's instructions into steps, keeping the
// state docker keeps while it dispatches them: the image configuration,
// the ARGs in scope, and whether CMD was set in this stage.
type stagePlanner struct {
	file    *parsedFile
	g       *graph
	globals *globalArgs
	opts    PlanOptions
	lex     *shell.Lex
	st      *Stage
	cfg     ImageConfig
	args    []KeyValue // ARGs in scope with a value, in declaration order
	cmdSet  bool
}

func planStage(ctx context.Context, f *parsedFile, g *graph, idx int, globals *globalArgs, planned map[int]*Stage, opts PlanOptions) (*Stage, error) {
	ps := f.stages[idx]
	st := &Stage{Index: idx, Name: ps.stage.Name, Line: ps.line, Original: ps.stage.SourceCode, Base: g.bases[idx]}
	if strings.Contains(st.Original, "$") && st.Base.Kind == BaseImage {
		// Progress shows the image the arguments named, as podman's.
		st.Original = "FROM " + st.Base.Ref
		if st.Name != "" {
			st.Original += " AS " + st.Name
		}
	}
	for _, e := range g.needs[idx] {
		st.Needs = append(st.Needs, e.stage)
	}
	p := &stagePlanner{file: f, g: g, globals: globals, opts: opts, lex: shell.NewLex(f.escape), st: st}
	switch st.Base.Kind {
	case BaseScratch:
		p.cfg = scratchConfig()
	case BaseStage:
		p.cfg = planned[st.Base.Stage].Config.clone()
	case BaseImage:
		if opts.Resolve != nil {
			img, err := opts.Resolve(ctx, st.Base.Ref)
			if err != nil {
				return nil, p.resolveError("FROM "+st.Base.Ref, st.Base.Ref, ps.line, err)
			}
			st.Base.ImageID, p.cfg = img.ImageID, img.Config.clone()
		}
	}
	triggers := p.cfg.OnBuild
	p.cfg.OnBuild = nil // triggers run once, in the stage built on the image
	for _, t := range triggers {
		cmd, err := parseTrigger(t, f.escape)
		if err != nil {
			return nil, &Error{File: f.name, Line: ps.line, Err: fmt.Errorf("ONBUILD trigger %q of the base image: %w", t, syntaxError(err))}
		}
		if err := p.add(ctx, parsedCmd{cmd: cmd, line: ps.line, original: t}, true); err != nil {
			return nil, err
		}
	}
	for _, c := range ps.cmds {
		if err := p.add(ctx, c, false); err != nil {
			return nil, err
		}
	}
	st.Config = p.cfg
	return st, nil
}

// resolveError reports an image that cannot be had, saying when the name
// looks like a mistyped stage name.
func (p *stagePlanner) resolveError(what, ref string, line int, err error) error {
	if !strings.ContainsAny(ref, "/:@.") {
		// A bare word names a stage as often as an image: podman's words,
		// not the registries' (no search registry, short-name rules).
		return lineError(p.file.name, line, ErrNoSuchStage, "%s: no stage or image found with that name", what)
	}
	return &Error{File: p.file.name, Line: line, Err: fmt.Errorf("%s: %w", what, err)}
}

// parseTrigger parses an ONBUILD trigger with the same parser.
func parseTrigger(text string, escape rune) (instructions.Command, error) {
	prefix := ""
	if escape != parser.DefaultEscapeToken {
		prefix = "# escape=" + string(escape) + "\n"
	}
	res, err := parser.Parse(strings.NewReader(prefix + text))
	if err != nil {
		return nil, err
	}
	if len(res.AST.Children) != 1 {
		return nil, fmt.Errorf("want one instruction, got %d", len(res.AST.Children))
	}
	return instructions.ParseCommand(res.AST.Children[0])
}

// env is what $NAME expands to: the ARGs in scope, under the image's
// environment (ENV always wins over an ARG of the same name).
func (p *stagePlanner) env() []string {
	var env []string
	for _, kv := range p.args {
		env = setEnv(env, kv.Key, kv.Value)
	}
	for _, kv := range p.cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env = setEnv(env, k, v)
	}
	return env
}

func (p *stagePlanner) expand(word string) (string, error) {
	v, _, err := p.lex.ProcessWord(word, shell.EnvsFromSlice(p.env()))
	return v, err
}

// add expands one instruction and appends its step.
func (p *stagePlanner) add(ctx context.Context, c parsedCmd, trigger bool) error {
	fail := func(err error) error {
		var e *Error
		if errors.As(err, &e) {
			return e
		}
		return &Error{File: p.file.name, Line: c.line, Err: syntaxError(err)}
	}
	if a, ok := c.cmd.(*instructions.ArgCommand); ok {
		return p.arg(a, c, trigger)
	}
	if ex, ok := c.cmd.(instructions.SupportsSingleWordExpansion); ok {
		if err := ex.Expand(p.expand); err != nil {
			return fail(err)
		}
	}
	if ex, ok := c.cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		raw := shell.NewLex('\\')
		raw.SkipProcessQuotes = true
		err := ex.ExpandRaw(func(w string) (string, error) {
			v, _, err := raw.ProcessWord(w, shell.EnvsFromSlice(p.env()))
			return v, err
		})
		if err != nil {
			return fail(err)
		}
	}
	step := Step{Stage: p.st.Index, Line: c.line, Instruction: strings.ToUpper(c.cmd.Name()), Original: c.original, Trigger: trigger}
	var payload any
	var err error
	switch cmd := c.cmd.(type) {
	case *instructions.RunCommand:
		step.Run, err = p.run(ctx, cmd, c.line)
		step.BuildArgs = p.keyArgs()
		payload = step.Run
	case *instructions.CopyCommand:
		step.Copy, err = p.copyStep(ctx, cmd, c.line)
		payload = step.Copy
	case *instructions.AddCommand:
		step.Copy, err = p.addStep(cmd, c.line)
		payload = step.Copy
	default:
		step.Edit, err = p.edit(c.cmd)
		if err == nil {
			step.Edit.Apply(&p.cfg)
		}
		payload = step.Edit
	}
	if err != nil {
		return fail(err)
	}
	step.Expanded = canonical(step.Instruction, payload)
	p.st.Steps = append(p.st.Steps, step)
	return nil
}

// canonical prints an expanded instruction with everything it does, in a
// stable form: the text the cache key hashes.
func canonical(instruction string, payload any) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // keep "a > b" readable
	if err := enc.Encode(payload); err != nil {
		panic(err) // plain structs of strings and numbers always marshal
	}
	return instruction + " " + strings.TrimSuffix(b.String(), "\n")
}

// arg declares build arguments with docker's rules: a --build-arg wins over
// the default; ARG NAME without a default takes the global value of NAME.
func (p *stagePlanner) arg(a *instructions.ArgCommand, c parsedCmd, trigger bool) error {
	var names []string
	for _, kv := range a.Args {
		names = append(names, kv.Key)
		var value *string
		if v, ok := p.opts.BuildArgs[kv.Key]; ok {
			value = &v
		} else if kv.Value != nil {
			v, err := p.expand(*kv.Value)
			if err != nil {
				return &Error{File: p.file.name, Line: c.line, Err: syntaxError(err)}
			}
			value = &v
		} else if v, ok := p.globals.get(kv.Key); ok {
			value = &v
		}
		p.args = slices.DeleteFunc(p.args, func(x KeyValue) bool { return x.Key == kv.Key })
		if value != nil {
			p.args = append(p.args, KeyValue{kv.Key, *value})
		}
	}
	// The value is not in the ARG's own text: a changed value misses where a
	// step uses it (a RUN sees it, or a word expands it), not here.
	p.st.Steps = append(p.st.Steps, Step{Stage: p.st.Index, Line: c.line, Instruction: "ARG",
		Original: c.original, Expanded: "ARG " + strings.Join(names, " "), Trigger: trigger})
	return nil
}

// keyArgs are the ARGs in scope as a RUN's cache key sees them.
func (p *stagePlanner) keyArgs() []string {
	var out []string
	for _, kv := range p.args {
		out = append(out, kv.Key+"="+kv.Value)
	}
	return out
}

// argEnv is what a RUN sees of the build arguments: the ARGs in scope and
// the proxy arguments given on the command line.
func (p *stagePlanner) argEnv() []string {
	env := p.keyArgs()
	for _, k := range proxyArgs {
		if v, ok := p.opts.BuildArgs[k]; ok && !slices.ContainsFunc(p.args, func(x KeyValue) bool { return x.Key == k }) {
			env = append(env, k+"="+v)
		}
	}
	return env
}
