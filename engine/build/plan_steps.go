package build

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
)

// run converts a RUN: the argv (with SHELL for the shell form and
// buildkit's treatment of heredocs) and its mounts.
func (p *stagePlanner) run(ctx context.Context, c *instructions.RunCommand, line int) (*RunStep, error) {
	for _, f := range c.FlagsUsed {
		if f != "mount" && f != "network" {
			return nil, fmt.Errorf("RUN --%s is not supported", f)
		}
	}
	r := &RunStep{ArgEnv: p.argEnv(), Network: string(instructions.GetNetwork(c))}
	if (r.Network == "" || r.Network == "default") && p.opts.Network != "" && p.opts.Network != "default" {
		r.Network = p.opts.Network // the build's --network, in the step's key
	}
	args := slices.Clone(c.CmdLine)
	if len(args) == 0 || (c.PrependShell && strings.TrimSpace(strings.Join(args, "")) == "") {
		return nil, errors.New("RUN requires at least one argument")
	}
	if len(c.Files) > 0 {
		if len(args) != 1 || !c.PrependShell {
			return nil, fmt.Errorf("a heredoc needs the shell form of RUN")
		}
		if h := parser.MustParseHeredoc(args[0]); h != nil {
			data := c.Files[0].Data
			if c.Files[0].Chomp {
				data = parser.ChompHeredocContent(data)
			}
			if strings.HasPrefix(data, "#!") {
				// A script with its own interpreter: buildkit mounts it and runs it.
				r.Files = []InlineFile{{Name: c.Files[0].Name, Data: data}}
				args = []string{"/dev/pipes/" + c.Files[0].Name}
			} else {
				args = []string{data}
			}
		} else {
			var b strings.Builder
			b.WriteString(args[0])
			for _, f := range c.Files {
				b.WriteString("\n" + f.Data + f.Name)
			}
			args = []string{b.String()}
		}
	}
	if c.PrependShell {
		args = append(slices.Clone(p.cfg.shell()), strings.Join(args, " "))
	}
	r.Args = args
	for _, m := range instructions.GetMounts(c) {
		mt, err := p.mount(ctx, m, line)
		if err != nil {
			return nil, err
		}
		r.Mounts = append(r.Mounts, mt)
	}
	return r, nil
}

// mount fills in buildkit's defaults for one --mount.
func (p *stagePlanner) mount(ctx context.Context, m *instructions.Mount, line int) (Mount, error) {
	mt := Mount{Type: string(m.Type), Target: m.Target, Source: m.Source, ReadOnly: m.ReadOnly, ID: m.CacheID,
		Sharing: string(m.CacheSharing), Required: m.Required, Mode: m.Mode, UID: m.UID, GID: m.GID, Size: m.SizeLimit}
	if m.Env != nil {
		mt.Env = *m.Env
	}
	if mt.Target != "" && !path.IsAbs(mt.Target) {
		mt.Target = path.Join("/", p.cfg.WorkingDir, mt.Target)
	}
	switch m.Type {
	case instructions.MountTypeBind, instructions.MountTypeCache:
		if mt.Target == "" {
			return mt, fmt.Errorf("--mount=type=%s needs a target", m.Type)
		}
		if m.Type == instructions.MountTypeCache {
			if mt.ID == "" {
				mt.ID = mt.Target
			}
			if mt.Sharing == "" {
				mt.Sharing = string(instructions.MountSharingShared)
			}
			if m.From == "" {
				return mt, nil
			}
		}
		src, err := p.g.source(m.From, line)
		if err != nil {
			return mt, err
		}
		if src, err = p.resolveSource(ctx, src, "--mount from="+m.From, line); err != nil {
			return mt, err
		}
		mt.From = &src
	case instructions.MountTypeSecret:
		if mt.ID == "" {
			mt.ID = path.Base(mt.Target)
		}
		if mt.Target == "" && mt.Env == "" {
			mt.Target = "/run/secrets/" + mt.ID
		}
	case instructions.MountTypeTmpfs:
		if mt.Target == "" {
			return mt, fmt.Errorf("--mount=type=tmpfs needs a target")
		}
	default:
		return mt, fmt.Errorf("--mount=type=%s is not supported", m.Type)
	}
	return mt, nil
}

// resolveSource finds the image a --from names when it is not a stage.
func (p *stagePlanner) resolveSource(ctx context.Context, src Source, what string, line int) (Source, error) {
	if src.Kind != SourceImage || p.opts.Resolve == nil {
		return src, nil
	}
	img, err := p.opts.Resolve(ctx, src.Name)
	if err != nil {
		return src, p.resolveError(what, src.Name, line, err)
	}
	src.ImageID = img.ImageID
	return src, nil
}

func (p *stagePlanner) copyStep(ctx context.Context, c *instructions.CopyCommand, line int) (*CopyStep, error) {
	src, err := p.g.source(c.From, line)
	if err != nil {
		return nil, err
	}
	if src, err = p.resolveSource(ctx, src, "COPY --from="+c.From, line); err != nil {
		return nil, err
	}
	cp := &CopyStep{From: src, Sources: c.SourcePaths, Contents: inlineFiles(c.SourceContents), Dest: p.dest(c.DestPath),
		Chown: c.Chown, Chmod: c.Chmod, Link: c.Link, Excludes: c.ExcludePatterns, Parents: c.Parents}
	return cp, checkDest("COPY", cp)
}

func (p *stagePlanner) addStep(c *instructions.AddCommand, line int) (*CopyStep, error) {
	if c.KeepGitDir != nil || c.Unpack != nil {
		return nil, errors.New("ADD --keep-git-dir and --unpack are not supported")
	}
	cp := &CopyStep{Add: true, From: Source{Kind: SourceContext}, Sources: c.SourcePaths, Contents: inlineFiles(c.SourceContents),
		Dest: p.dest(c.DestPath), Chown: c.Chown, Chmod: c.Chmod, Link: c.Link, Checksum: c.Checksum, Excludes: c.ExcludePatterns}
	urls := 0
	for _, s := range cp.Sources {
		switch {
		case isURL(s):
			urls++
		case isGitSource(s):
			return nil, fmt.Errorf("ADD %s: git sources are not supported", s)
		}
	}
	if cp.Checksum != "" && (urls != 1 || len(cp.Sources) != 1) {
		return nil, errors.New("ADD --checksum needs exactly one http:// or https:// source")
	}
	return cp, checkDest("ADD", cp)
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

func isGitSource(s string) bool {
	return strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "git://") || (isURL(s) && strings.HasSuffix(s, ".git"))
}

// checkDest applies docker's rule for several sources.
func checkDest(what string, cp *CopyStep) error {
	if len(cp.Sources)+len(cp.Contents) > 1 && !strings.HasSuffix(cp.Dest, "/") {
		return fmt.Errorf("when using %s with more than one source file, the destination must be a directory and end with a /", what)
	}
	return nil
}

// dest makes a destination absolute against WORKDIR, keeping a trailing
// slash that says it is a directory.
func (p *stagePlanner) dest(d string) string {
	dir := strings.HasSuffix(d, "/") || d == "." || strings.HasSuffix(d, "/.")
	if !path.IsAbs(d) {
		d = path.Join("/", p.cfg.WorkingDir, d)
	} else {
		d = path.Clean(d)
	}
	if dir && d != "/" {
		d += "/"
	}
	return d
}

func inlineFiles(contents []instructions.SourceContent) []InlineFile {
	var out []InlineFile
	for _, c := range contents {
		out = append(out, InlineFile{Name: c.Path, Data: c.Data})
	}
	return out
}
