package build

import (
	"slices"
	"strconv"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// SourceKind says what a COPY --from or a --mount from= reads.
type SourceKind string

const (
	SourceContext      SourceKind = "context"       // the build context
	SourceNamedContext SourceKind = "named-context" // a --build-context NAME=DIR
	SourceStage        SourceKind = "stage"         // another stage's result
	SourceImage        SourceKind = "image"         // an image by reference
)

// Source is where a COPY or a bind mount reads from.
type Source struct {
	Kind  SourceKind
	Name  string `json:",omitempty"` // as written in --from / from=
	Stage int    `json:",omitempty"` // SourceStage: Containerfile position
	// Not in the step's text (what they hold is in the inputs digest instead):
	Dir     string `json:"-"` // SourceNamedContext: the directory
	ImageID string `json:"-"` // SourceImage: the image Resolve found
}

// graph is the stage graph before the stages are planned.
type graph struct {
	file   *parsedFile
	opts   PlanOptions
	bases  []Base
	needs  [][]edge
	target int
	order  []int // the stages the target needs, each after the stages it reads
}

type edge struct {
	stage int
	line  int
}

func newGraph(f *parsedFile, globals *globalArgs, opts PlanOptions) (*graph, error) {
	g := &graph{file: f, opts: opts, target: len(f.stages) - 1}
	for i := range f.stages {
		base, err := g.base(i, globals)
		if err != nil {
			return nil, err
		}
		g.bases = append(g.bases, base)
		needs, err := g.stageNeeds(i)
		if err != nil {
			return nil, err
		}
		g.needs = append(g.needs, needs)
	}
	if opts.Target != "" {
		t, ok := f.findStage(opts.Target)
		if !ok {
			return nil, lineError(f.name, 0, ErrNoSuchStage, "target stage %q could not be found", opts.Target)
		}
		g.target = t
	}
	state := make([]int, len(f.stages)) // 0 unseen, 1 on the path, 2 done
	if err := g.visit(g.target, state); err != nil {
		return nil, err
	}
	return g, nil
}

// visit walks the stages the target needs depth-first, finding cycles and
// ordering each stage after what it reads.
func (g *graph) visit(i int, state []int) error {
	state[i] = 1
	for _, e := range g.needs[i] {
		switch state[e.stage] {
		case 1:
			return lineError(g.file.name, e.line, ErrCycle, "circular dependency detected on stage: %s", g.stageName(e.stage))
		case 0:
			if err := g.visit(e.stage, state); err != nil {
				return err
			}
		}
	}
	state[i] = 2
	g.order = append(g.order, i)
	return nil
}

func (g *graph) stageName(i int) string {
	if n := g.file.stages[i].stage.Name; n != "" {
		return n
	}
	return strconv.Itoa(i)
}

// base expands a FROM line with the global arguments and says what it names:
// an earlier stage, scratch, or an image.
func (g *graph) base(i int, globals *globalArgs) (Base, error) {
	st := g.file.stages[i]
	ref, err := globals.expand(st.stage.BaseName)
	if err != nil {
		return Base{}, &Error{File: g.file.name, Line: st.line, Err: syntaxError(err)}
	}
	if ref == "" {
		return Base{}, lineError(g.file.name, st.line, ErrSyntax, "base name (%s) should not be blank", st.stage.BaseName)
	}
	platform, err := globals.expand(st.stage.Platform)
	if err != nil {
		return Base{}, &Error{File: g.file.name, Line: st.line, Err: syntaxError(err)}
	}
	b := Base{Kind: BaseImage, Ref: ref, Platform: platform}
	if j, ok := g.file.findStage(ref); ok && j < i {
		return Base{Kind: BaseStage, Stage: j, Platform: platform}, nil
	}
	if strings.EqualFold(ref, "scratch") {
		return Base{Kind: BaseScratch, Platform: platform}, nil
	}
	return b, nil
}

// stageNeeds lists the stages a stage reads: its base, COPY --from and
// RUN --mount from=.
func (g *graph) stageNeeds(i int) ([]edge, error) {
	var needs []edge
	add := func(src Source, line int) {
		if src.Kind == SourceStage && !slices.ContainsFunc(needs, func(e edge) bool { return e.stage == src.Stage }) {
			needs = append(needs, edge{stage: src.Stage, line: line})
		}
	}
	if g.bases[i].Kind == BaseStage {
		add(Source{Kind: SourceStage, Stage: g.bases[i].Stage}, g.file.stages[i].line)
	}
	for _, c := range g.file.stages[i].cmds {
		var froms []string
		switch cmd := c.cmd.(type) {
		case *instructions.CopyCommand:
			froms = append(froms, cmd.From)
		case *instructions.RunCommand:
			for _, m := range instructions.GetMounts(cmd) {
				froms = append(froms, m.From)
			}
		}
		for _, from := range froms {
			src, err := g.source(from, c.line)
			if err != nil {
				return nil, err
			}
			add(src, c.line)
		}
	}
	slices.SortFunc(needs, func(a, b edge) int { return a.stage - b.stage })
	return needs, nil
}

// source resolves a --from or from= value the way buildkit does: a build
// context given by --build-context first, then a stage name, then a stage
// number, else an image. Variables are refused, as buildkit refuses them.
func (g *graph) source(from string, line int) (Source, error) {
	if from == "" {
		return Source{Kind: SourceContext}, nil
	}
	if v, _, err := shell.NewLex(g.file.escape).ProcessWord(from, shell.EnvsFromSlice(nil)); err != nil || v != from {
		return Source{}, lineError(g.file.name, line, ErrSyntax,
			"variable expansion is not supported for --from, define a new stage with FROM using ARG from global scope as a workaround")
	}
	if dir, ok := g.opts.BuildContexts[from]; ok {
		return Source{Kind: SourceNamedContext, Name: from, Dir: dir}, nil
	}
	if j, ok := g.file.findStage(from); ok {
		return Source{Kind: SourceStage, Name: from, Stage: j}, nil
	}
	if n, err := strconv.Atoi(from); err == nil {
		if n < 0 || n >= len(g.file.stages) {
			return Source{}, lineError(g.file.name, line, ErrNoSuchStage, "invalid stage index %d: the Containerfile has %d stages", n, len(g.file.stages))
		}
		return Source{Kind: SourceStage, Name: from, Stage: n}, nil
	}
	return Source{Kind: SourceImage, Name: from}, nil
}
