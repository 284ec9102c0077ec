package build

import (
	"context"
	"io"
)

// State is where a stage is: the last image committed for it, its
// configuration as the plan has edited it so far, and the executor's
// uncommitted working changes on top of that image, if any.
type State struct {
	ImageID string      // "" for scratch before anything was committed
	Config  ImageConfig // the configuration the next commit writes
	// Work is the executor's handle on changes made since ImageID (a
	// working container or layer); "" when there are none.
	Work string
	// Dirty is set when Config differs from ImageID's, or Work is set: a
	// commit of a state that is not dirty only adds names to ImageID.
	Dirty bool
	// CreatedBy is the history line the next commit records for the step
	// that made this state ("": the executor's own).
	CreatedBy string `json:",omitempty"`
}

// Executor does the work of a build over skiff's store: the engine
// implements it (pulling, mounting layers, running a process on a rootfs,
// committing); this package decides what to do and when, and never touches
// storage itself. Methods may be called from several goroutines at once, for
// different stages.
type Executor interface {
	// From returns the image a reference names (name[:tag], name@digest or
	// an image ID), pulling it when the store lacks it.
	From(ctx context.Context, ref string) (State, error)
	// Load returns an image in the store by ID, never pulling: the cache's
	// index names images that may since have been removed, and an error here
	// makes the step a cache miss.
	Load(ctx context.Context, imageID string) (State, error)
	// Run runs step.Args in a container on st's filesystem with step.Env,
	// step.WorkDir, step.User and step.Mounts (every HostPath and Image set),
	// sending its output to out, and returns st with the changes as Work.
	Run(ctx context.Context, st State, step RunStep, out io.Writer) (State, error)
	// Copy writes files into st's filesystem: a COPY or ADD from src, or,
	// for a WORKDIR, only the directory step.Dest (owned by st.Config.User,
	// as buildkit makes it). It returns st with the changes as Work.
	Copy(ctx context.Context, st State, step CopyStep, src CopySource) (State, error)
	// Commit makes an image of st: its Work on top of ImageID with Config.
	// A state that is not Dirty is already an image: Commit only names it.
	// names may be empty (an intermediate image). It returns the image ID
	// and the names as the store spells them (e.g. localhost/NAME:latest).
	Commit(ctx context.Context, st State, names []string) (id string, tagged []string, err error)
}

// CopySource is what the scheduler resolved a COPY's or ADD's sources to.
// Exactly one of its fields is set, except for a heredoc-only COPY.
type CopySource struct {
	// Context is the build context (or a --build-context directory) with its
	// ignore rules; Paths are the context-relative paths the sources matched
	// (globs expanded), in the order docker copies them. Copy walks each with
	// Context.Walk, which leaves out ignored files.
	Context *Context
	Paths   []string
	// Image is the result of a stage or an image: the step's Sources are
	// paths or globs in its tree.
	Image *State
	// Downloads are ADD's URL sources, fetched: each a local file and the
	// name docker gives it in the destination directory.
	Downloads []Download
	// MkdirOnly is set for a WORKDIR: Copy makes step.Dest and nothing else.
	MkdirOnly bool
}

// Download is an ADD URL fetched into a local file.
type Download struct {
	URL  string
	Path string // the file on the host, with the modification time the server gave (Last-Modified, else the epoch)
	Name string // the base name in the destination
}
