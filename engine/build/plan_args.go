package build

import (
	"runtime"
	"slices"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// proxyArgs are docker's predefined ARGs: a --build-arg of one of them
// reaches every RUN as an environment variable without an ARG line, and,
// unless an ARG declares it, stays out of the cache key and the history.
var proxyArgs = []string{
	"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
}

func isProxyArg(name string) bool { return slices.Contains(proxyArgs, name) }

// globalArgs is the global scope: the platform arguments and the ARGs
// before the first FROM, usable in FROM lines, and inherited by a stage only
// where an ARG NAME without a value re-declares them.
type globalArgs struct {
	env      []string
	declared map[string]bool // ARG names declared anywhere in the file
	lex      *shell.Lex
}

func newGlobalArgs(f *parsedFile, opts PlanOptions) (*globalArgs, error) {
	g := &globalArgs{declared: map[string]bool{}, lex: shell.NewLex(f.escape)}
	for _, kv := range platformArgs(opts.Platform, opts.Target) {
		v := kv.Value
		if ov, ok := opts.BuildArgs[kv.Key]; ok {
			v = ov
		}
		g.env = setEnv(g.env, kv.Key, v)
	}
	for _, a := range f.metaArgs {
		for _, kv := range a.cmd.Args {
			g.declared[kv.Key] = true
			if v, ok := opts.BuildArgs[kv.Key]; ok {
				g.env = setEnv(g.env, kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := g.lex.ProcessWord(*kv.Value, shell.EnvsFromSlice(g.env))
			if err != nil {
				return nil, &Error{File: f.name, Line: a.line, Err: syntaxError(err)}
			}
			g.env = setEnv(g.env, kv.Key, v)
		}
	}
	for _, s := range f.stages {
		for _, c := range s.cmds {
			if a, ok := c.cmd.(*instructions.ArgCommand); ok {
				for _, kv := range a.Args {
					g.declared[kv.Key] = true
				}
			}
		}
	}
	return g, nil
}

// expand expands a FROM line's word with the global scope only.
func (g *globalArgs) expand(word string) (string, error) {
	v, _, err := g.lex.ProcessWord(word, shell.EnvsFromSlice(g.env))
	return v, err
}

func (g *globalArgs) get(name string) (string, bool) { return getEnv(g.env, name) }

// unused lists the --build-arg names no ARG declares, proxy and platform
// arguments aside, sorted.
func (g *globalArgs) unused(buildArgs map[string]string) []string {
	var out []string
	for k := range buildArgs {
		if g.declared[k] || isProxyArg(k) {
			continue
		}
		if _, platform := getEnv(g.env, k); platform {
			continue
		}
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// platformArgs are buildkit's automatic platform arguments.
func platformArgs(platform, target string) []KeyValue {
	os, arch, variant := splitPlatform(platform)
	bvariant := ""
	if runtime.GOARCH == "arm" {
		bvariant = "v7"
	}
	if target == "" {
		target = "default"
	}
	bp := runtime.GOOS + "/" + runtime.GOARCH
	if bvariant != "" {
		bp += "/" + bvariant
	}
	return []KeyValue{
		{"BUILDPLATFORM", bp}, {"BUILDOS", runtime.GOOS}, {"BUILDARCH", runtime.GOARCH}, {"BUILDVARIANT", bvariant},
		{"TARGETPLATFORM", platform}, {"TARGETOS", os}, {"TARGETARCH", arch}, {"TARGETVARIANT", variant},
		{"TARGETSTAGE", target},
	}
}

func splitPlatform(p string) (os, arch, variant string) {
	parts := strings.SplitN(p, "/", 3)
	os = parts[0]
	if len(parts) > 1 {
		arch = parts[1]
	}
	if len(parts) > 2 {
		variant = parts[2]
	}
	return os, arch, variant
}
