package main

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.podman.io/storage/pkg/archive"

	"github.com/skiff-project/skiff/engine"
	"github.com/skiff-project/skiff/engine/config"
)

// buildOptions are build's options: the engine's, less what the handler
// reads (the Containerfile, a context on stdin).
type buildOptions struct {
	engine.BuildOptions
	contextArg string // the context as given: a directory, or "-" for a tar on stdin
	file       string // -f as given: "" (look in the context), a path, or "-"
	iidFile    string
	// secretValues are --secret id=ID,env=VAR: ID → the value, written to
	// a file for the build's length.
	secretValues map[string]string
}

// buildFlags are the flags build binds before they become buildOptions.
type buildFlags struct {
	reg                              registryFlags
	tags, buildArgs, labels, secrets []string
	annotations, contexts            []string
	file, target, pull, format       string
	network, platform, progress      string
	runtime                          string
	ignoreFile, iidFile              string
	cacheTTL                         time.Duration
	noCache, quiet, layers, squash   bool
	rm, forceRm                      bool
	jobs                             int
}

func newBuildCmd(g *globalOptions, use string) *cobra.Command {
	var f buildFlags
	c := &cobra.Command{
		Use:   use + " [flags] [CONTEXT]",
		Short: "Build an image from a Containerfile or Dockerfile",
		Long: `Build an image from the instructions of a Containerfile (or Dockerfile) and the files of a
build context: a directory (default: the current one), or a tar archive on standard input ("-").
Each step is looked up in the build cache first; independent stages run at the same time.`,
		Args: rangeArgs(0, 1),
		RunE: action(g, func(c *cobra.Command, args []string) (buildOptions, error) {
			return f.options(c, args)
		}, runBuild),
	}
	fs := c.Flags()
	f.reg.bind(fs, false)
	fs.StringArrayVarP(&f.tags, "tag", "t", nil, "name the image NAME[:TAG] (repeatable)")
	fs.StringVarP(&f.file, "file", "f", "", "the Containerfile, or - for standard input (default: CONTEXT/Containerfile, else CONTEXT/Dockerfile)")
	fs.StringArrayVar(&f.buildArgs, "build-arg", nil, "set the build argument NAME=VALUE (NAME alone: its value in this environment)")
	fs.StringVar(&f.target, "target", "", "build the stage of this name (default: the last)")
	fs.BoolVar(&f.noCache, "no-cache", false, "run every step, looking nothing up in the build cache")
	fs.StringVar(&f.pull, "pull", "missing", "pull base images: always, missing or never (bare --pull: always)")
	fs.Lookup("pull").NoOptDefVal = "always"
	fs.BoolVarP(&f.quiet, "quiet", "q", false, "print only the image ID")
	fs.StringVar(&f.iidFile, "iidfile", "", "write the image ID to this file")
	fs.StringArrayVar(&f.labels, "label", nil, "set the label NAME=VALUE on the image (repeatable)")
	fs.StringArrayVar(&f.annotations, "annotation", nil, "set the manifest annotation NAME=VALUE (repeatable; --format oci)")
	fs.StringVar(&f.format, "format", "oci", "image format: oci or docker")
	fs.BoolVar(&f.layers, "layers", true, "commit and cache each step (false: one layer a stage, no cache)")
	fs.BoolVar(&f.squash, "squash", false, "make the image's layers above its base one layer")
	fs.StringArrayVar(&f.secrets, "secret", nil, "give RUN --mount=type=secret the secret id=ID,src=FILE")
	fs.StringVar(&f.network, "network", "", "network of RUN steps: host (the default, rootless) or none")
	fs.StringVar(&f.runtime, "runtime", "", "OCI runtime of RUN steps: crun, runc or a path (default from containers.conf, else crun)")
	fs.StringVar(&f.platform, "platform", "", "build for OS/ARCH; only this machine's platform")
	fs.StringVar(&f.progress, "progress", "auto", "progress output: auto, plain or tty (all print podman's lines)")
	fs.StringArrayVar(&f.contexts, "build-context", nil, "NAME=DIR: COPY --from=NAME reads the directory DIR")
	fs.DurationVar(&f.cacheTTL, "cache-ttl", 0, "use only cached steps made less than this long ago (0: any)")
	fs.StringVar(&f.ignoreFile, "ignorefile", "", "read exclusion patterns from this file instead of CONTEXT/.containerignore or .dockerignore")
	fs.BoolVar(&f.rm, "rm", true, "remove intermediate containers after a successful build (false: keep them; ps --external lists them)")
	fs.BoolVar(&f.forceRm, "force-rm", true, "remove intermediate containers even after a failed build (false: keep the failed RUN's)")
	fs.IntVar(&f.jobs, "jobs", 0, "stages to run at once (default: the number of CPUs)")
	return withStore(c)
}

// options turns the flags into build's options, refusing bad ones.
func (f *buildFlags) options(c *cobra.Command, args []string) (buildOptions, error) {
	o := buildOptions{contextArg: ".", file: f.file, iidFile: f.iidFile}
	if len(args) == 1 {
		o.contextArg = args[0]
	}
	if o.contextArg == "-" && o.file == "-" {
		return o, usagef("the build context and the Containerfile cannot both come from standard input")
	}
	b := &o.BuildOptions
	b.Tags, b.Target, b.NoCache, b.Quiet, b.Jobs = f.tags, f.target, f.noCache || !f.layers, f.quiet, f.jobs
	b.NoLayers = !f.layers
	b.KeepIntermediate, b.KeepFailed = !f.rm, !f.forceRm
	b.Registry, b.Platform, b.IgnoreFile = f.reg.resolve(), f.platform, f.ignoreFile
	if _, err := os.Stat(f.ignoreFile); err == nil && f.ignoreFile != "" {
		// From the working directory, as podman reads it; else the context's.
		if b.IgnoreFile, err = filepath.Abs(f.ignoreFile); err != nil {
			return o, err
		}
	}
	var err error
	pull := map[string]string{"true": "always", "false": "missing"}[f.pull]
	if pull == "" {
		pull = f.pull
	}
	if b.Pull, err = engine.ParsePullPolicy(pull); err != nil {
		return o, usagef("--pull %s: want always, missing or never", f.pull)
	}
	switch f.format {
	case "oci", "docker":
		b.Docker = f.format == "docker"
	default:
		return o, usagef("--format %s: want oci or docker", f.format)
	}
	switch f.network {
	case "", "host", "none", "default":
		b.Network = f.network
	default:
		return o, usagef("--network %s: a build's RUN steps use host or none", f.network)
	}
	switch f.progress {
	case "auto", "plain", "tty":
	default:
		return o, usagef("--progress %s: want auto, plain or tty", f.progress)
	}
	b.CacheTTL = f.cacheTTL
	b.Runtime = f.runtime
	b.Squash = f.squash
	if b.Annotations, err = keyValues("--annotation", f.annotations); err != nil {
		return o, err
	}
	if b.BuildArgs, err = buildArgs(f.buildArgs); err != nil {
		return o, err
	}
	if b.Labels, err = keyValues("--label", f.labels); err != nil {
		return o, err
	}
	if b.Secrets, o.secretValues, err = parseSecrets(f.secrets); err != nil {
		return o, err
	}
	if b.BuildContexts, err = keyValues("--build-context", f.contexts); err != nil {
		return o, err
	}
	for name, dir := range b.BuildContexts {
		if b.BuildContexts[name], err = filepath.Abs(dir); err != nil {
			return o, err
		}
	}
	return o, nil
}

// buildArgs parses --build-arg NAME=VALUE; NAME alone takes its value from
// the environment, and is left out when the environment has none (docker).
func buildArgs(list []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if k == "" {
			return nil, usagef("invalid --build-arg %q: want NAME=VALUE", kv)
		}
		if !ok {
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		out[k] = v
	}
	return out, nil
}

// parseSecrets parses --secret id=ID,src=FILE (type=file, the default) and
// id=ID,env=VAR (type=env: the variable's value), as docker's: id alone
// reads the variable of that name when it is set, else the file of that
// name. Files map to their absolute paths, variables to their values.
func parseSecrets(list []string) (files, values map[string]string, err error) {
	files, values = map[string]string{}, map[string]string{}
	for _, s := range list {
		var id, src, env, typ string
		for _, field := range strings.Split(s, ",") {
			k, v, _ := strings.Cut(field, "=")
			switch k {
			case "id":
				id = v
			case "src", "source":
				src = v
			case "env":
				env = v
			case "type":
				if v != "file" && v != "env" {
					return nil, nil, usagef("--secret %s: type=%s: want file or env", s, v)
				}
				typ = v
			default:
				return nil, nil, usagef("--secret %s: unknown field %q (want id=ID,src=FILE or id=ID,env=VAR)", s, k)
			}
		}
		if typ == "env" && env == "" {
			env, src = cmp.Or(src, id), ""
		}
		if src == "" && env == "" && typ == "" {
			if _, ok := os.LookupEnv(id); ok {
				env = id
			} else {
				src = id
			}
		}
		if id == "" {
			id = cmp.Or(env, filepath.Base(src))
		}
		if id == "" || (src == "") == (env == "") {
			return nil, nil, usagef("--secret %s: want id=ID,src=FILE or id=ID,env=VAR", s)
		}
		if env != "" {
			v, ok := os.LookupEnv(env)
			if !ok {
				return nil, nil, usagef("--secret %s: the variable %s is not set", s, env)
			}
			values[id] = v
			continue
		}
		abs, err := filepath.Abs(src)
		if err != nil {
			return nil, nil, err
		}
		if _, err := os.Stat(abs); err != nil {
			return nil, nil, usagef("--secret %s: %v", s, err)
		}
		files[id] = abs
	}
	return files, values, nil
}

// secretFiles writes the secrets given as values to files of the user's
// alone, for the build's secret mounts; cleanup removes them.
func secretFiles(values map[string]string, into map[string]string) (cleanup func(), err error) {
	if len(values) == 0 {
		return func() {}, nil
	}
	dir, err := os.MkdirTemp("", "skiff-build-secrets-")
	if err != nil {
		return nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	i := 0
	for id, v := range values {
		f := filepath.Join(dir, strconv.Itoa(i))
		i++
		if err := os.WriteFile(f, []byte(v), 0o600); err != nil {
			cleanup()
			return nil, err
		}
		into[id] = f
	}
	return cleanup, nil
}

func runBuild(ctx context.Context, g *globalOptions, o buildOptions, stdout io.Writer) error {
	b := o.BuildOptions
	ctxDir, stdinFile, cleanup, err := buildContextDir(o.contextArg, g.stdin)
	if err != nil {
		return err
	}
	defer cleanup()
	removeSecrets, err := secretFiles(o.secretValues, b.Secrets)
	if err != nil {
		return err
	}
	defer removeSecrets()
	b.ContextDir = ctxDir
	switch {
	case stdinFile != nil && o.file == "":
		b.File, b.Containerfile = "-", stdinFile
	case stdinFile != nil:
		return fmt.Errorf("%w: -f %s with a Containerfile on standard input: give one or the other", config.ErrBadOption, o.file)
	default:
		var path string
		if b.File, path, b.Containerfile, err = readContainerfile(o.file, ctxDir, g.stdin); err != nil {
			if o.contextArg == "-" {
				err = errors.New(strings.ReplaceAll(err.Error(), ctxDir, "the context from standard input"))
			}
			return err
		}
		if b.IgnoreFile == "" && o.file != "" {
			b.IgnoreFile = ownIgnoreFile(path)
		}
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	b.Out, b.PullOutput = stdout, progressWriter(g.stderr, o.Quiet)
	res, err := e.Build(ctx, b)
	if err != nil && ctx.Err() != nil {
		// SIGINT or SIGTERM: the RUN under way was killed and nothing
		// tagged; podman build exits 1 so.
		return &codedError{err: errors.New("build interrupted: nothing was tagged"), code: 1}
	}
	if err != nil {
		var failed *engine.RunFailedError
		if errors.As(err, &failed) {
			// podman exits with the code of the RUN that failed.
			return &codedError{err: err, code: failed.Code}
		}
		return err
	}
	if o.iidFile != "" {
		if err := os.WriteFile(o.iidFile, []byte("sha256:"+res.ImageID), 0o644); err != nil {
			return fmt.Errorf("writing --iidfile: %w", err)
		}
	}
	return nil
}

// buildContextDir is the context directory, absolute: the one given, or,
// for "-", what standard input holds: a tar archive (compressed or not),
// unpacked into a temporary directory that cleanup removes, or else a
// Containerfile with no context, as docker build - takes it (stdinFile).
func buildContextDir(arg string, stdin io.Reader) (dir string, stdinFile []byte, cleanup func(), err error) {
	if arg != "-" {
		abs, err := filepath.Abs(arg)
		if err != nil {
			return "", nil, nil, err
		}
		if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
			return "", nil, nil, fmt.Errorf("%w: the build context %s is not a directory", config.ErrBadOption, arg)
		}
		return abs, nil, func() {}, nil
	}
	dir, err = os.MkdirTemp("", "skiff-build-context-")
	if err != nil {
		return "", nil, nil, err
	}
	cleanup = func() { _ = os.RemoveAll(dir) }
	in := bufio.NewReaderSize(stdin, 1024)
	head, _ := in.Peek(archive.HeaderSize)
	if !archive.IsArchive(head) { // docker's test for build -
		data, err := io.ReadAll(in)
		if err != nil {
			cleanup()
			return "", nil, nil, err
		}
		return dir, data, cleanup, nil
	}
	if err := archive.Untar(in, dir, &archive.TarOptions{NoLchown: true}); err != nil {
		cleanup()
		return "", nil, nil, fmt.Errorf("%w: reading the build context from standard input: %v", config.ErrBadOption, err)
	}
	return dir, nil, cleanup, nil
}

// ownIgnoreFile is the ignore file of the Containerfile at path (read with
// -f), when it has one beside it (FILE.containerignore or
// FILE.dockerignore), which buildkit and podman read instead of the
// context's; "" otherwise.
func ownIgnoreFile(path string) string {
	if path == "" {
		return ""
	}
	for _, ext := range []string{".containerignore", ".dockerignore"} {
		if _, err := os.Stat(path + ext); err == nil {
			abs, _ := filepath.Abs(path + ext)
			return abs
		}
	}
	return ""
}

// readContainerfile reads -f (a path from the working directory, else from
// the context; "-": stdin), or the context's Containerfile or Dockerfile.
// It returns the name errors give with the file's line, and the path it
// read ("" for stdin).
func readContainerfile(file, ctxDir string, stdin io.Reader) (name, path string, data []byte, err error) {
	if file == "-" {
		data, err := io.ReadAll(stdin)
		return "-", "", data, err
	}
	var tries []string
	if file == "" {
		tries = []string{filepath.Join(ctxDir, "Containerfile"), filepath.Join(ctxDir, "Dockerfile")}
	} else {
		tries = []string{file}
		if !filepath.IsAbs(file) {
			tries = append(tries, filepath.Join(ctxDir, file))
		}
	}
	for _, p := range tries {
		data, err := os.ReadFile(p)
		if err == nil {
			return cmp.Or(file, filepath.Base(p)), p, data, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", "", nil, err
		}
	}
	if file == "" {
		return "", "", nil, fmt.Errorf("%w: no Containerfile or Dockerfile in %s (give one with -f)", config.ErrBadOption, ctxDir)
	}
	return "", "", nil, fmt.Errorf("%w: the Containerfile %s does not exist", config.ErrBadOption, file)
}

// builderPruneOptions are builder prune's options.
type builderPruneOptions struct{ force bool }

func newBuilderCmd(g *globalOptions) *cobra.Command {
	c := newGroupCmd("builder", "Manage builds and the build cache")
	c.AddCommand(newBuildCmd(g, "build"), newBuilderPruneCmd(g))
	return c
}

func newBuilderPruneCmd(g *globalOptions) *cobra.Command {
	var force bool
	c := &cobra.Command{
		Use:   "prune [flags]",
		Short: "Empty the build cache: its step index, RUN cache mounts and intermediate images",
		Args:  exactArgs(0),
		RunE: action(g, func(c *cobra.Command, args []string) (builderPruneOptions, error) {
			return builderPruneOptions{force: force}, nil
		}, runBuilderPrune),
	}
	c.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return withStore(c)
}

func runBuilderPrune(ctx context.Context, g *globalOptions, o builderPruneOptions, stdout io.Writer) error {
	if !o.force && !g.confirm(stdout, warnPruneBuildCache) {
		return nil
	}
	e, err := g.engine(ctx)
	if err != nil {
		return err
	}
	ids, err := e.PruneBuildCache(ctx)
	for _, id := range ids {
		fmt.Fprintln(stdout, id)
	}
	return err
}
