package build

import "os"

// RunStep is a RUN instruction, ready for an [Executor].
type RunStep struct {
	// Args is the command: SHELL (or /bin/sh -c) and the command line for the
	// shell form, the JSON array for the exec form.
	Args  []string
	Files []InlineFile `json:",omitempty"` // heredoc scripts, mounted read-only in /dev/pipes/
	// Mounts are the --mount flags, in order.
	Mounts  []Mount `json:",omitempty"`
	Network string  `json:",omitempty"` // --network: "", default, none or host

	// ArgEnv are the build arguments this RUN sees, NAME=value: the ARGs in
	// scope and the predefined proxy arguments given with --build-arg.
	ArgEnv []string `json:"-"`

	// Filled by the scheduler just before the executor runs the step, from
	// the stage's configuration at that point; not part of the plan.
	Env     []string `json:"-"` // the image's environment over ArgEnv; PATH defaulted
	WorkDir string   `json:"-"`
	User    string   `json:"-"`
}

// InlineFile is a file whose content is in the Containerfile (a heredoc).
type InlineFile struct {
	Name string
	Data string
}

// Mount is one RUN --mount, with buildkit's defaults filled in.
type Mount struct {
	Type     string  // bind, cache, tmpfs, secret or ssh
	Target   string  // absolute path in the container
	Source   string  `json:",omitempty"` // bind/cache: path in From's tree
	From     *Source `json:",omitempty"` // bind/cache: what Source is read from; nil for others
	ReadOnly bool    `json:",omitempty"`
	ID       string  `json:",omitempty"` // cache: cache id (default: Target); secret: secret id
	Sharing  string  `json:",omitempty"` // cache: shared, private or locked
	Required bool    `json:",omitempty"` // secret: fail when not given
	Env      string  `json:",omitempty"` // secret: also expose it as this variable
	Mode     *uint64 `json:",omitempty"`
	UID      *uint64 `json:",omitempty"`
	GID      *uint64 `json:",omitempty"`
	Size     int64   `json:",omitempty"` // tmpfs: size limit in bytes

	// Filled by the scheduler, not part of the plan: the host directory or
	// file to mount (a bind source in a build context, a cache directory, a
	// secret file), or the image whose tree a bind from a stage or image reads.
	HostPath string `json:"-"`
	Image    *State `json:"-"`
	// Seed is set on a cache mount whose directory is new and has a from=:
	// it starts with Source of Image's tree (a stage or an image), or of
	// SeedPath (a build context's directory), as buildkit's does.
	Seed     bool   `json:"-"`
	SeedPath string `json:"-"`
}

// CopyStep is a COPY or an ADD, ready for an [Executor].
type CopyStep struct {
	Add      bool
	From     Source       // where Sources are read
	Sources  []string     `json:",omitempty"` // paths or globs in From, as written after expansion; ADD: also URLs
	Contents []InlineFile `json:",omitempty"` // heredoc sources (COPY <<EOF)
	// Dest is absolute; it ends in "/" when it must be a directory.
	Dest     string
	Chown    string   `json:",omitempty"` // user[:group], names resolved in the image
	Chmod    string   `json:",omitempty"`
	Link     bool     `json:",omitempty"`
	Checksum string   `json:",omitempty"` // ADD --checksum for URL sources
	Excludes []string `json:",omitempty"` // --exclude patterns
	Parents  bool     `json:",omitempty"` // --parents
}

// Owner is the mode, uid and gid a mount's file or directory gets: its
// mode=, uid= and gid=, else def and root (buildkit's defaults: 0400 for a
// secret, 0755 for a cache).
func (m Mount) Owner(def os.FileMode) (mode os.FileMode, uid, gid int) {
	mode = def
	if m.Mode != nil {
		mode = os.FileMode(*m.Mode & 0o7777)
	}
	if m.UID != nil {
		uid = int(*m.UID)
	}
	if m.GID != nil {
		gid = int(*m.GID)
	}
	return mode, uid, gid
}
