package build

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
)

const busybox = "127.0.0.1:5000/skiff/busybox:latest"

func plan(t *testing.T, src string, opts PlanOptions) *Plan {
	t.Helper()
	p, err := NewPlan(context.Background(), []byte(src), opts)
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

func planErr(t *testing.T, src string, opts PlanOptions) *Error {
	t.Helper()
	_, err := NewPlan(context.Background(), []byte(src), opts)
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("want *Error, got %v", err)
	}
	return e
}

// step returns the only step of an instruction in the plan's target stage.
func findStep(t *testing.T, p *Plan, instruction string, n int) Step {
	t.Helper()
	var found []Step
	for _, s := range p.TargetStage().Steps {
		if s.Instruction == instruction {
			found = append(found, s)
		}
	}
	if n >= len(found) {
		t.Fatalf("no %s #%d in\n%s", instruction, n, p)
	}
	return found[n]
}

func TestPlanSingleStage(t *testing.T) {
	p := plan(t, `FROM `+busybox+`
ENV A=1 B="two words"
WORKDIR /app
WORKDIR sub
RUN echo $A > out
COPY a b/
CMD ["sh"]
`, PlanOptions{})
	if len(p.Stages) != 1 || p.Target != 0 {
		t.Fatalf("stages: %s", p)
	}
	s := p.Stages[0]
	if s.Base.Kind != BaseImage || s.Base.Ref != busybox || s.Line != 1 {
		t.Errorf("base %+v line %d", s.Base, s.Line)
	}
	if got := len(s.Steps); got != 6 {
		t.Fatalf("want 6 steps, got %d:\n%s", got, p)
	}
	run := findStep(t, p, "RUN", 0)
	if want := []string{"/bin/sh", "-c", "echo $A > out"}; !slices.Equal(run.Run.Args, want) {
		t.Errorf("RUN args %q, want %q (shell form is not expanded by the builder)", run.Run.Args, want)
	}
	if run.Line != 5 || run.Original != "RUN echo $A > out" {
		t.Errorf("RUN line %d original %q", run.Line, run.Original)
	}
	if cp := findStep(t, p, "COPY", 0).Copy; cp.Dest != "/app/sub/b/" || cp.From.Kind != SourceContext {
		t.Errorf("COPY %+v", cp)
	}
	cfg := s.Config
	if cfg.WorkingDir != "/app/sub" || !slices.Equal(cfg.Env, []string{"A=1", "B=two words"}) || !slices.Equal(cfg.Cmd, []string{"sh"}) {
		t.Errorf("config %+v", cfg)
	}
}

// ARG scoping as docker's reference gives it: an ARG before FROM is usable
// in FROM lines only, unless an ARG without a value in the stage declares it
// again; --build-arg overrides defaults; ENV wins over an ARG of the same name.
func TestPlanArgScoping(t *testing.T) {
	src := `ARG TAG=latest
ARG UNUSED_GLOBAL=g
FROM 127.0.0.1:5000/skiff/busybox:${TAG}
RUN echo tag=$TAG
LABEL before=${TAG:-unset}
ARG TAG
LABEL after=${TAG}
ARG LOCAL=default
RUN echo $LOCAL
ENV LOCAL=fromenv
LABEL local=$LOCAL
`
	p := plan(t, src, PlanOptions{})
	if got := p.Stages[0].Base.Ref; got != busybox {
		t.Errorf("FROM expands global ARG: got %q", got)
	}
	if got := findStep(t, p, "RUN", 0).BuildArgs; len(got) != 0 {
		t.Errorf("a global ARG is not in scope before it is re-declared: %q", got)
	}
	labels := p.TargetStage().Config.Labels
	if labels["before"] != "unset" || labels["after"] != "latest" || labels["local"] != "fromenv" {
		t.Errorf("labels %v", labels)
	}
	if got := findStep(t, p, "RUN", 1).BuildArgs; !slices.Equal(got, []string{"TAG=latest", "LOCAL=default"}) {
		t.Errorf("RUN sees %q", got)
	}
	p = plan(t, src, PlanOptions{BuildArgs: map[string]string{"TAG": "1.0", "LOCAL": "cli", "NOBODY": "x"}})
	if got := p.Stages[0].Base.Ref; got != "127.0.0.1:5000/skiff/busybox:1.0" {
		t.Errorf("--build-arg overrides a global default: %q", got)
	}
	if got := findStep(t, p, "RUN", 1).BuildArgs; !slices.Equal(got, []string{"TAG=1.0", "LOCAL=cli"}) {
		t.Errorf("RUN sees %q", got)
	}
	if !slices.Equal(p.UnusedArgs, []string{"NOBODY"}) {
		t.Errorf("unused %q", p.UnusedArgs)
	}
}

func TestPlanProxyArgs(t *testing.T) {
	src := "FROM scratch\nRUN env\nARG HTTP_PROXY\nRUN env\n"
	p := plan(t, src, PlanOptions{BuildArgs: map[string]string{"HTTP_PROXY": "http://127.0.0.1:3128", "no_proxy": "x"}})
	first, second := findStep(t, p, "RUN", 0), findStep(t, p, "RUN", 1)
	if !slices.Contains(first.Run.ArgEnv, "HTTP_PROXY=http://127.0.0.1:3128") || len(first.BuildArgs) != 0 {
		t.Errorf("an undeclared proxy arg reaches RUN but not its key: env %q key %q", first.Run.ArgEnv, first.BuildArgs)
	}
	if !slices.Contains(second.BuildArgs, "HTTP_PROXY=http://127.0.0.1:3128") {
		t.Errorf("a declared proxy arg is in the key: %q", second.BuildArgs)
	}
	if len(p.UnusedArgs) != 0 {
		t.Errorf("proxy args are never unused: %q", p.UnusedArgs)
	}
}

// scratchPath is the environment a stage FROM scratch starts with
// (buildkit's empty image).
const scratchPath = "PATH=" + defaultPath

func TestPlanEnvExpansionForms(t *testing.T) {
	p := plan(t, `FROM scratch
ENV A=a EMPTY=
ENV B=${A:-x} C=${NOPE:-dflt} D=${A:+set} E=${NOPE:+set} F=${EMPTY:-e} G=\$A H='$A'
`, PlanOptions{})
	want := []string{scratchPath, "A=a", "EMPTY=", "B=a", "C=dflt", "D=set", "E=", "F=e", "G=$A", "H=$A"}
	if got := p.TargetStage().Config.Env; !slices.Equal(got, want) {
		t.Errorf("env %q\nwant %q", got, want)
	}
}

func TestPlanPlatformArgs(t *testing.T) {
	p := plan(t, "FROM scratch\nARG TARGETARCH TARGETOS\nENV T=$TARGETOS/$TARGETARCH\n", PlanOptions{Platform: "linux/arm64"})
	if got := p.TargetStage().Config.Env; !slices.Equal(got, []string{scratchPath, "T=linux/arm64"}) {
		t.Errorf("env %q", got)
	}
}

func TestPlanTargetPruning(t *testing.T) {
	src := `FROM ` + busybox + ` AS base
RUN echo base
FROM ` + busybox + ` AS unused
RUN echo unused
FROM base AS lib
RUN echo lib
FROM ` + busybox + ` AS tool
RUN echo tool
FROM ` + busybox + ` AS final
COPY --from=lib /a /a
RUN --mount=type=bind,from=tool,target=/t true
`
	p := plan(t, src, PlanOptions{})
	var names []string
	for _, s := range p.Stages {
		names = append(names, s.Name)
	}
	if !slices.Equal(names, []string{"base", "lib", "tool", "final"}) {
		t.Errorf("stages %q", names)
	}
	if got := p.TargetStage().Needs; !slices.Equal(got, []int{2, 3}) {
		t.Errorf("final needs %v", got)
	}
	if b := p.Stage(2).Base; b.Kind != BaseStage || b.Stage != 0 {
		t.Errorf("lib base %+v", b)
	}
	p = plan(t, src, PlanOptions{Target: "lib"})
	if len(p.Stages) != 2 || p.TargetStage().Name != "lib" {
		t.Errorf("--target lib:\n%s", p)
	}
	e := planErr(t, src, PlanOptions{Target: "nope"})
	if !errors.Is(e, ErrNoSuchStage) || e.Error() != `Containerfile: no such stage: target stage "nope" could not be found` {
		t.Errorf("got %q", e)
	}
}

// A stage may copy from a stage defined after it, as buildkit allows, as
// long as no cycle forms.
func TestPlanForwardReferenceAndCycle(t *testing.T) {
	p := plan(t, "FROM scratch\nCOPY --from=later /x /x\nFROM scratch AS later\nCOPY a /x\nFROM scratch\nCOPY --from=0 /x /x\n", PlanOptions{})
	if len(p.Stages) != 3 || p.Stages[p.Target].Index != 2 {
		t.Fatalf("%s", p)
	}
	e := planErr(t, "FROM scratch AS a\nCOPY --from=b /x /x\nFROM scratch AS b\nCOPY --from=a /y /y\n", PlanOptions{Target: "a"})
	if !errors.Is(e, ErrCycle) || e.Line == 0 || !strings.Contains(e.Error(), "circular dependency detected on stage:") {
		t.Errorf("got %q", e)
	}
	e = planErr(t, "FROM scratch AS a\nRUN --mount=from=a,target=/x true\n", PlanOptions{})
	if !errors.Is(e, ErrCycle) || e.Error() != "Containerfile:2: circular dependency between stages: circular dependency detected on stage: a" {
		t.Errorf("self reference: %q", e)
	}
}

// Every refusal is one line naming the file and line.
func TestPlanErrors(t *testing.T) {
	resolve := func(_ context.Context, ref string) (State, error) {
		if strings.Contains(ref, "/") {
			return State{ImageID: strings.Repeat("a", 64)}, nil
		}
		return State{}, fmt.Errorf("manifest unknown")
	}
	for _, tc := range []struct {
		src      string
		sentinel error
		want     string
	}{
		{"FROM scratch\nFOO bar\n", ErrSyntax, "Dockerfile:2: unknown instruction: FOO"},
		{"FROM scratch\nRUN\n", ErrSyntax, "Dockerfile:2: RUN requires at least one argument"},
		{"RUN true\n", ErrSyntax, "Dockerfile:1: syntax error: RUN before the first FROM"},
		{"# just a comment\n", ErrSyntax, "Dockerfile:1: file with no instructions"},
		{"ARG A=1\n", ErrSyntax, "Dockerfile: syntax error: no FROM instruction"},
		{"FROM a b\n", ErrSyntax, "Dockerfile:1: FROM requires either one or three arguments"},
		{"FROM scratch\n\nCOPY --from=$X /a /b\n", ErrSyntax, "Dockerfile:3: syntax error: variable expansion is not supported for --from"},
		{"FROM scratch\nCOPY --from=7 /a /b\n", ErrNoSuchStage, "Dockerfile:2: no such stage: invalid stage index 7"},
		{"FROM scratch AS build\nFROM scratch\nCOPY --from=buidl /a /b\n", ErrNoSuchStage, `Dockerfile:3: no such stage: COPY --from=buidl: no stage or image found with that name`},
		{"FROM scratch AS build\nFROM biuld\n", ErrNoSuchStage, `Dockerfile:2: no such stage: FROM biuld: no stage or image found with that name`},
		{"FROM scratch\nCOPY a b c\n", ErrSyntax, "Dockerfile:2: when using COPY with more than one source file"},
		{"FROM scratch\nSTOPSIGNAL SIGNOPE\n", ErrSyntax, "Dockerfile:2: invalid signal"},
		{"FROM scratch\nEXPOSE 80/xyz\n", ErrSyntax, "Dockerfile:2: invalid proto: xyz"},
		{"FROM scratch\nRUN --mount=type=cache true\n", ErrSyntax, "Dockerfile:2: --mount=type=cache needs a target"},
		{"FROM scratch\nADD --checksum=sha256:00 a.txt /x\n", ErrSyntax, "Dockerfile:2: ADD --checksum needs exactly one"},
		{"FROM scratch\nRUN <<EOF\necho\n", ErrSyntax, "Dockerfile:2:"},
		{"FROM scratch\nONBUILD FROM x\n", ErrSyntax, "Dockerfile:2: FROM isn't allowed as an ONBUILD trigger"},
	} {
		_, err := NewPlan(context.Background(), []byte(tc.src), PlanOptions{File: "Dockerfile", Resolve: resolve})
		var e *Error
		if !errors.As(err, &e) {
			t.Errorf("%q: want *Error, got %v", tc.src, err)
			continue
		}
		if !errors.Is(e, tc.sentinel) || !strings.HasPrefix(e.Error(), tc.want) || strings.Contains(e.Error(), "\n") {
			t.Errorf("%q:\n got %q\nwant %q (%v)", tc.src, e, tc.want, tc.sentinel)
		}
	}
}

func TestPlanRunForms(t *testing.T) {
	p := plan(t, `FROM scratch
RUN ["echo", "exec form"]
SHELL ["/bin/ash", "-eo", "pipefail", "-c"]
RUN echo shell form
RUN <<EOF
echo heredoc
EOF
RUN <<EOF
#!/bin/sh
echo script
EOF
RUN --mount=type=cache,target=/var/cache/x --mount=type=secret,id=tok --mount=type=tmpfs,target=/tmp --mount=type=bind,source=sub,target=rel true
`, PlanOptions{})
	runs := func(i int) *RunStep { return findStep(t, p, "RUN", i).Run }
	if got := runs(0).Args; !slices.Equal(got, []string{"echo", "exec form"}) {
		t.Errorf("exec form %q", got)
	}
	if got := runs(1).Args; !slices.Equal(got, []string{"/bin/ash", "-eo", "pipefail", "-c", "echo shell form"}) {
		t.Errorf("SHELL %q", got)
	}
	if got := runs(2).Args; !slices.Equal(got, []string{"/bin/ash", "-eo", "pipefail", "-c", "echo heredoc\n"}) {
		t.Errorf("heredoc %q", got)
	}
	if r := runs(3); !slices.Equal(r.Args, []string{"/bin/ash", "-eo", "pipefail", "-c", "/dev/pipes/EOF"}) || len(r.Files) != 1 || r.Files[0].Data != "#!/bin/sh\necho script\n" {
		t.Errorf("script heredoc %+v", r)
	}
	m := runs(4).Mounts
	if len(m) != 4 {
		t.Fatalf("mounts %+v", m)
	}
	if m[0].ID != "/var/cache/x" || m[0].Sharing != "shared" || m[0].ReadOnly {
		t.Errorf("cache %+v", m[0])
	}
	if m[1].ID != "tok" || m[1].Target != "/run/secrets/tok" {
		t.Errorf("secret %+v", m[1])
	}
	if m[3].Target != "/rel" || m[3].Source != "sub" || !m[3].ReadOnly || m[3].From.Kind != SourceContext {
		t.Errorf("bind %+v", m[3])
	}
}

func TestPlanMetadataInstructions(t *testing.T) {
	p := plan(t, `FROM scratch
MAINTAINER someone
LABEL a=1 "b c"=2
EXPOSE 80 53/udp 8000-8001
VOLUME /data
VOLUME ["/logs"]
USER app:app
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=2 CMD true
ONBUILD RUN echo triggered
ENTRYPOINT ["/bin/sh", "-c"]
CMD echo hi
`, PlanOptions{})
	c := p.TargetStage().Config
	if c.Author != "someone" || c.Labels["b c"] != "2" || c.User != "app:app" || c.StopSignal != "SIGTERM" {
		t.Errorf("config %+v", c)
	}
	for _, port := range []string{"80/tcp", "53/udp", "8000/tcp", "8001/tcp"} {
		if _, ok := c.ExposedPorts[port]; !ok {
			t.Errorf("no port %s in %v", port, c.ExposedPorts)
		}
	}
	if _, ok := c.Volumes["/logs"]; !ok || len(c.Volumes) != 2 {
		t.Errorf("volumes %v", c.Volumes)
	}
	if c.Healthcheck == nil || c.Healthcheck.Retries != 2 || !slices.Equal(c.Healthcheck.Test, []string{"CMD-SHELL", "true"}) {
		t.Errorf("healthcheck %+v", c.Healthcheck)
	}
	if !slices.Equal(c.OnBuild, []string{"RUN echo triggered"}) || !slices.Equal(c.Cmd, []string{"/bin/sh", "-c", "echo hi"}) {
		t.Errorf("onbuild %q cmd %q", c.OnBuild, c.Cmd)
	}
}

// ENTRYPOINT clears a CMD inherited from the base, not one set in the stage.
func TestPlanEntrypointResetsInheritedCmd(t *testing.T) {
	p := plan(t, "FROM scratch AS a\nCMD [\"a\"]\nFROM a\nENTRYPOINT [\"e\"]\nFROM a\nCMD [\"b\"]\nENTRYPOINT [\"e\"]\n", PlanOptions{Target: ""})
	if got := p.Stage(1); got != nil {
		t.Fatalf("stage 1 is not needed by the last stage")
	}
	p = plan(t, "FROM scratch AS a\nCMD [\"a\"]\nFROM a AS b\nENTRYPOINT [\"e\"]\n", PlanOptions{})
	if c := p.TargetStage().Config; c.Cmd != nil {
		t.Errorf("inherited CMD survives ENTRYPOINT: %q", c.Cmd)
	}
	p = plan(t, "FROM scratch AS a\nCMD [\"a\"]\nFROM a\nCMD [\"b\"]\nENTRYPOINT [\"e\"]\n", PlanOptions{})
	if c := p.TargetStage().Config; !slices.Equal(c.Cmd, []string{"b"}) {
		t.Errorf("CMD of this stage cleared: %q", c.Cmd)
	}
}

// ONBUILD triggers run in the stage built on the image that carries them,
// from an earlier stage or from an image found by Resolve.
func TestPlanOnbuildTriggers(t *testing.T) {
	p := plan(t, "FROM scratch AS base\nONBUILD ENV T=1\nONBUILD COPY a /a\nFROM base\nRUN true\n", PlanOptions{})
	steps := p.TargetStage().Steps
	if len(steps) != 3 || !steps[0].Trigger || steps[0].Instruction != "ENV" || steps[1].Copy == nil || steps[2].Trigger {
		t.Fatalf("steps:\n%s", p)
	}
	if c := p.TargetStage().Config; len(c.OnBuild) != 0 || !slices.Equal(c.Env, []string{scratchPath, "T=1"}) {
		t.Errorf("config %+v", c)
	}
	resolve := func(_ context.Context, ref string) (State, error) {
		cfg := ImageConfig{}
		cfg.Env = []string{"PATH=/bin", "HOME=/root"}
		cfg.WorkingDir = "/srv"
		cfg.OnBuild = []string{"RUN echo from-image"}
		return State{ImageID: strings.Repeat("b", 64), Config: cfg}, nil
	}
	p = plan(t, "FROM "+busybox+"\nENV P=$PATH:/x\nWORKDIR rel\n", PlanOptions{Resolve: resolve})
	s := p.TargetStage()
	if s.Base.ImageID != strings.Repeat("b", 64) || !s.Steps[0].Trigger || s.Steps[0].Run == nil {
		t.Errorf("steps:\n%s", p)
	}
	if v, _ := getEnv(s.Config.Env, "P"); v != "/bin:/x" || s.Config.WorkingDir != "/srv/rel" {
		t.Errorf("base config not seen: %+v", s.Config)
	}
}

func TestPlanCopyAndAdd(t *testing.T) {
	p := plan(t, `FROM scratch AS src
FROM scratch
WORKDIR /w
COPY --from=src --chown=1:2 --chmod=640 --link /a /b ./
COPY --from=`+busybox+` /bin/busybox /bb
COPY <<EOF /etc/inline
hello
EOF
ADD --checksum=sha256:abcd https://127.0.0.1:8000/f.tar.gz /dl/
ADD local.tar /
`, PlanOptions{BuildContexts: map[string]string{"extra": "/tmp"}})
	c0 := findStep(t, p, "COPY", 0).Copy
	if c0.From.Kind != SourceStage || c0.Dest != "/w/" || c0.Chown != "1:2" || c0.Chmod != "640" || !c0.Link {
		t.Errorf("COPY --from stage %+v", c0)
	}
	if c1 := findStep(t, p, "COPY", 1).Copy; c1.From.Kind != SourceImage || c1.From.Name != busybox {
		t.Errorf("COPY --from image %+v", c1)
	}
	if c2 := findStep(t, p, "COPY", 2).Copy; len(c2.Contents) != 1 || c2.Contents[0].Data != "hello\n" {
		t.Errorf("COPY heredoc %+v", c2)
	}
	if a := findStep(t, p, "ADD", 0).Copy; !a.Add || a.Checksum != "sha256:abcd" || a.Dest != "/dl/" {
		t.Errorf("ADD %+v", a)
	}
	p = plan(t, "FROM scratch AS extra\nFROM scratch\nCOPY --from=extra x /x\n", PlanOptions{BuildContexts: map[string]string{"extra": "/tmp"}})
	if c := findStep(t, p, "COPY", 0).Copy; c.From.Kind != SourceNamedContext || c.From.Dir != "/tmp" || len(p.Stages) != 1 {
		t.Errorf("a --build-context wins over a stage of the same name: %+v\n%s", c.From, p)
	}
}

func TestPlanEscapeAndSyntaxDirectives(t *testing.T) {
	p := plan(t, "# syntax=docker/dockerfile:1\n# escape=`\nFROM scratch\nRUN echo a `\n  b\nENV X=`$Y\n", PlanOptions{})
	if got := findStep(t, p, "RUN", 0).Run.Args; got[len(got)-1] != "echo a   b" {
		t.Errorf("escape directive: %q", got)
	}
	if got := p.TargetStage().Config.Env; !slices.Equal(got, []string{scratchPath, "X=$Y"}) {
		t.Errorf("escaped $: %q", got)
	}
}

func TestParseChanges(t *testing.T) {
	base := ImageConfig{}
	base.Env = []string{"HOME=/root"}
	base.WorkingDir = "/srv"
	base.Cmd = []string{"old"}
	edits, err := ParseChanges([]string{"ENV A=$HOME/a", "WORKDIR sub", "ENTRYPOINT /bin/app --flag", "EXPOSE 80", "LABEL k=v", "USER 1000", "VOLUME /v", "STOPSIGNAL 9", "ONBUILD RUN true"}, base)
	if err != nil {
		t.Fatal(err)
	}
	cfg := base.clone()
	for _, e := range edits {
		e.Apply(&cfg)
	}
	if v, _ := getEnv(cfg.Env, "A"); v != "/root/a" || cfg.WorkingDir != "/srv/sub" || cfg.Cmd != nil || cfg.User != "1000" {
		t.Errorf("config %+v", cfg)
	}
	if !slices.Equal(cfg.Entrypoint, []string{"/bin/sh", "-c", "/bin/app --flag"}) || cfg.Labels["k"] != "v" {
		t.Errorf("config %+v", cfg)
	}
	for _, bad := range []string{"RUN true", "FROM x", "ENV", "ENV A=1\nENV B=2", "STOPSIGNAL NOPE"} {
		if _, err := ParseChanges([]string{bad}, base); !errors.Is(err, ErrBadChange) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%q: %v", bad, err)
		}
	}
}

// The build's --network is a RUN's own unless it gives one, and is in its
// text (so in its cache key).
func TestPlanBuildNetwork(t *testing.T) {
	src := "FROM scratch\nRUN a\nRUN --network=host b\n"
	def := plan(t, src, PlanOptions{})
	none := plan(t, src, PlanOptions{Network: "none"})
	if r := findStep(t, none, "RUN", 0); r.Run.Network != "none" || r.Expanded == findStep(t, def, "RUN", 0).Expanded {
		t.Errorf("a RUN without --network under build --network none: %q", r.Expanded)
	}
	if r := findStep(t, none, "RUN", 1); r.Run.Network != "host" || r.Expanded != findStep(t, def, "RUN", 1).Expanded {
		t.Errorf("a RUN --network=host under build --network none: %q", r.Expanded)
	}
}
