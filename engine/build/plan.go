package build

import (
	"context"
	"fmt"
	"runtime"
	"strings"
)

// PlanOptions are the inputs of a plan besides the Containerfile itself.
type PlanOptions struct {
	// File is the Containerfile's name in messages ("Containerfile" if empty).
	File string
	// BuildArgs are --build-arg NAME=value pairs.
	BuildArgs map[string]string
	// Target names the stage to build (--target); empty means the last one.
	Target string
	// BuildContexts are --build-context NAME=DIR: COPY --from=NAME and
	// RUN --mount from=NAME read DIR instead of a stage or an image.
	BuildContexts map[string]string
	// Labels are --label NAME=value, set on the final image.
	Labels map[string]string
	// Network is the build's --network (host or none): a RUN without a
	// --network of its own runs on it, and it is part of that RUN's text, so
	// changing it misses the cache. Empty means the default.
	Network string
	// Platform is os/arch[/variant] for the TARGET* and BUILD* arguments;
	// empty means the machine's own.
	Platform string
	// Resolve returns the image a FROM line or COPY --from names (pulling it
	// when needed), so that the plan sees the base image's environment,
	// working directory, shell and ONBUILD triggers. Nil plans as if every
	// base image had an empty configuration (what tests of the planner want).
	Resolve func(ctx context.Context, ref string) (State, error)
}

// Plan is a Containerfile as a graph of stages and steps: plain values, with
// every argument expanded, that a scheduler runs and a test can print.
type Plan struct {
	File       string
	Stages     []*Stage          // the stages the target needs, in Containerfile order
	Target     int               // position in Stages of the stage that makes the image
	Labels     map[string]string // --label, applied to the final image only
	UnusedArgs []string          // --build-arg names that no ARG declares (podman warns of them)
}

// TargetStage returns the stage whose result is the image.
func (p *Plan) TargetStage() *Stage { return p.Stages[p.Target] }

// Stage returns the planned stage at Containerfile position index, or nil
// when the target does not need it.
func (p *Plan) Stage(index int) *Stage {
	for _, s := range p.Stages {
		if s.Index == index {
			return s
		}
	}
	return nil
}

// Stage is one FROM and the instructions after it.
type Stage struct {
	Index    int    // position in the Containerfile (0-based), also its number for COPY --from=N
	Name     string // the AS name, lower-cased; "" if none
	Line     int
	Original string // the FROM line as written, as progress shows it
	Base     Base
	Steps    []Step
	Needs    []int       // Containerfile positions of the stages this one reads, sorted
	Config   ImageConfig // the configuration after the last step, as the plan computes it
}

// BaseKind says where a stage starts.
type BaseKind string

const (
	BaseImage   BaseKind = "image"   // an image by reference (name[:tag] or name@digest)
	BaseScratch BaseKind = "scratch" // nothing
	BaseStage   BaseKind = "stage"   // the result of an earlier stage
)

// Base is what a stage's FROM names, after argument expansion.
type Base struct {
	Kind     BaseKind
	Ref      string // BaseImage: the reference
	Stage    int    // BaseStage: the Containerfile position of that stage
	Platform string // FROM --platform, expanded
	ImageID  string // BaseImage: the image Resolve found ("" without Resolve)
}

// Step is one instruction after FROM, ready to run.
type Step struct {
	Stage       int    // Containerfile position of its stage
	Line        int    // first line of the instruction
	Instruction string // upper-case keyword: RUN, COPY, ADD, ENV, ARG, ...
	Original    string // the instruction as written, as progress shows it
	// Expanded is the instruction after argument expansion in a canonical
	// form that holds everything the step does: the text the cache key hashes.
	Expanded string
	// BuildArgs are the NAME=value build arguments in scope that a RUN sees
	// as environment variables (proxy arguments not declared by ARG left
	// out): part of the cache key of a RUN, so that changing an ARG a RUN can
	// see misses, and changing one it cannot see hits.
	BuildArgs []string `json:",omitempty"`

	Run  *RunStep    `json:",omitempty"` // RUN
	Copy *CopyStep   `json:",omitempty"` // COPY, ADD
	Edit *ConfigEdit `json:",omitempty"` // metadata instructions; WORKDIR also creates the directory
	// Trigger is set on steps that come from a base image's ONBUILD.
	Trigger bool `json:",omitempty"`
}

// NewPlan parses a Containerfile and turns it into a graph of the stages the
// target needs. Errors are [*Error] values naming the line.
func NewPlan(ctx context.Context, containerfile []byte, opts PlanOptions) (*Plan, error) {
	if opts.File == "" {
		opts.File = "Containerfile"
	}
	if opts.Platform == "" {
		opts.Platform = runtime.GOOS + "/" + runtime.GOARCH
	}
	file, err := parseFile(containerfile, opts.File)
	if err != nil {
		return nil, err
	}
	globals, err := newGlobalArgs(file, opts)
	if err != nil {
		return nil, err
	}
	g, err := newGraph(file, globals, opts)
	if err != nil {
		return nil, err
	}
	p := &Plan{File: opts.File, Labels: opts.Labels}
	planned := map[int]*Stage{}
	for _, idx := range g.order {
		st, err := planStage(ctx, file, g, idx, globals, planned, opts)
		if err != nil {
			return nil, err
		}
		planned[idx] = st
	}
	for i := range file.stages {
		if st, ok := planned[i]; ok {
			if i == g.target {
				p.Target = len(p.Stages)
			}
			p.Stages = append(p.Stages, st)
		}
	}
	p.UnusedArgs = globals.unused(opts.BuildArgs)
	return p, nil
}

// String prints the plan one step a line, for tests and debugging.
func (p *Plan) String() string {
	var b strings.Builder
	for _, s := range p.Stages {
		fmt.Fprintf(&b, "stage %d %q from %s", s.Index, s.Name, s.Base.Kind)
		switch s.Base.Kind {
		case BaseImage:
			fmt.Fprintf(&b, " %s", s.Base.Ref)
		case BaseStage:
			fmt.Fprintf(&b, " %d", s.Base.Stage)
		}
		fmt.Fprintf(&b, " needs %v\n", s.Needs)
		for _, st := range s.Steps {
			fmt.Fprintf(&b, "  %d: %s\n", st.Line, st.Expanded)
		}
	}
	return b.String()
}
