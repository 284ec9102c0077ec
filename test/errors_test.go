package test

import (
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// badInput cases: each must print one line on stderr, exit 125 and leave
// the store as it was.
var badInput = []struct {
	name string
	args []string
	err  string // regexp for the one stderr line
}{
	{"bad reference", []string{"pull", "::bad"}, `invalid reference "::bad"`},
	{"uppercase reference", []string{"pull", "UPPER/case"}, `invalid reference`},
	{"rmi unknown image", []string{"rmi", "nosuch"}, `no such image: nosuch`},
	{"unknown flag", []string{"images", "--bogus"}, `unknown flag: --bogus`},
	{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
	{"missing argument", []string{"pull"}, `requires exactly 1 argument`},
	{"bad filter key", []string{"images", "--filter", "color=blue"}, `unknown key "color"`},
	{"bad dangling value", []string{"images", "--filter", "dangling=maybe"}, `dangling takes true or false`},
	{"bad template", []string{"images", "--format", "{{.Nope"}, `invalid --format template`},
	{"missing template field", []string{"images", "--format", "{{.Nope}}"}, `can't evaluate field Nope`},
	{"bad save format", []string{"save", "--format", "zip", "-o", "x.tar", busybox}, `invalid --format "zip"`},
	{"tag to bad name", []string{"tag", busybox, "Bad:Name:x"}, `invalid reference`},
	{"tag unknown image", []string{"tag", "nosuch", "localhost/x:y"}, `no such image: nosuch`},
	{"untag unknown name", []string{"untag", busybox, "localhost/not:tagged"}, `is not tagged`},
	{"bad platform", []string{"pull", "--platform", "amd64", busybox}, `invalid platform "amd64"`},
	{"bad log level", []string{"--log-level", "loud", "images"}, `invalid --log-level "loud"`},
	{"bad storage driver", []string{"--storage-driver", "zfs", "images"}, `invalid --storage-driver "zfs"`},
	{"load missing file", []string{"load", "-i", "/nonexistent.tar"}, `cannot read /nonexistent.tar`},
	{"inspect unknown image", []string{"image", "inspect", "nosuch"}, `no such image: nosuch`},
	{"history unknown image", []string{"history", "nosuch"}, `no such image: nosuch`},
	{"push unknown image", []string{"push", "nosuch"}, `no such image: nosuch`},
	{"completion unknown shell", []string{"completion", "tcsh"}, `unknown shell "tcsh"`},
	{"rmi without names", []string{"rmi"}, `takes image names, or --all`},
	{"login no credentials", []string{"login", authRegistry}, `no credentials given`},
	{"unknown image subcommand", []string{"image", "frob"}, `unknown command "frob"`},
	{"pull unknown repository", []string{"pull", plainRegistry + "/skiff/nothere:latest"}, `pulling .*nothere`},
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	before := e.state()
	for _, c := range badInput {
		t.Run(c.name, func(t *testing.T) {
			r := e.run(c.args...)
			checkFailure(t, r, 125, c.err)
			if got := e.state(); got != before {
				t.Fatalf("store changed:\nbefore %s\nafter  %s", before, got)
			}
		})
	}
}

func TestNoSubordinateIDs(t *testing.T) {
	requireE2E(t)
	if noSubUser == nil {
		t.Skip("requires the skiffnosub user from test/setup.sh")
	}
	e := newEnvFor(t, noSubUser)
	e.fails(125, `no entry in /etc/subuid.*usermod --add-subuids`, "images")
	// Commands that need no store do not enter the namespace and work.
	if out := e.ok("version"); !strings.Contains(out, "Version:") {
		t.Fatalf("version: %q", out)
	}
	e.ok("--help")
	e.ok("completion", "bash")
	e.ok("logout", "--all")
	r := e.runIn(authPassword, "login", "-u", authUser, "--password-stdin", authRegistry)
	if r.code != 0 {
		t.Fatalf("login must not need the namespace\n%s", r)
	}
	if _, err := os.Stat(filepath.Join(e.home, ".local/share/skiff")); err == nil {
		t.Fatal("a command that does not need storage created the store")
	}
}

func TestNoNewuidmap(t *testing.T) {
	e := newEnv(t)
	bin := filepath.Join(e.root, "bin")
	os.MkdirAll(bin, 0o755)
	// A PATH with the basics but without newuidmap/newgidmap.
	for _, tool := range []string{"sh", "cat"} {
		os.Symlink("/bin/"+tool, filepath.Join(bin, tool))
	}
	e.path = bin
	e.fails(125, `newuidmap not found.*apt-get install uidmap`, "images")
}

func TestNoXDGRuntimeDirFallback(t *testing.T) {
	e := newEnv(t)
	e.noXDGRuntime = true
	uid := strconv.Itoa(e.uid())
	want := "/tmp/skiff-run-" + uid
	got := strings.TrimSpace(e.ok("info", "--format", "{{.Host.RuntimeDir}} {{.Store.RunRoot}}"))
	if !regexp.MustCompile(`^` + want + ` ` + want + `/skiff/ns-\d+/storage$`).MatchString(got) {
		t.Fatalf("runtime dir without XDG_RUNTIME_DIR: %q, want %s", got, want)
	}
	st, err := os.Stat(want)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o700 {
		t.Fatalf("%s has mode %v, want 0700", want, st.Mode().Perm())
	}
	if uidOf(st) != e.uid() {
		t.Fatalf("%s is owned by %d, want %d", want, uidOf(st), e.uid())
	}
	// login keeps its auth.json there too.
	e.ok("login", "-u", authUser, "-p", authPassword, authRegistry)
	if _, err := os.Stat(filepath.Join(want, "containers", "auth.json")); err != nil {
		t.Fatalf("auth.json not in the fallback runtime dir: %v", err)
	}
	e.ok("logout", "--all")
}

func TestNamespaceMapsFullRange(t *testing.T) {
	e := newEnv(t)
	out := e.ok("info", "--format", "{{range .Host.UIDMap}}{{.ContainerID}}:{{.HostID}}:{{.Size}} {{end}}")
	if strings.TrimSpace(out) != "0:"+e.user.Uid+":1 1:"+strconv.Itoa(e.subStart(t))+":65536" {
		t.Fatalf("uid map %q", out)
	}
}

func TestStoreLockedToFuseOverlayfs(t *testing.T) {
	e := newEnv(t)
	if st, err := os.Stat("/dev/fuse"); err == nil && st.Mode().Perm()&0o006 == 0o006 {
		t.Skip("requires a /dev/fuse the test user cannot open")
	}
	flag := e.writeFile("home/.local/share/skiff/storage/overlay/.has-mount-program", "true")
	for p := flag; p != e.home; p = filepath.Dir(p) {
		os.Chown(p, e.uid(), e.gid()) // writeFile leaves store paths alone
	}
	e.fails(125, `marked for fuse-overlayfs.*delete that file`, "images")
}

// badCreate cases: a create or run that fails with exit 125 leaves nothing
// behind (docker and podman leave a Created container for several of them;
// skiff's contract is that 125 changes no state). Each case runs as create,
// run --rm, run and run -d, with a named volume the command would make and
// a --cidfile; setup, when set, prepares the env and returns global flags.
var badCreate = []struct {
	name    string
	args    []string
	err     string
	runOnly bool // create succeeds (docker's too): the failure is at start
	setup   func(e *env) []string
}{
	{"unknown user", []string{"--user", "nosuchuser", busybox, "true"}, `unable to find user nosuchuser`, false, nil},
	{"unknown group", []string{"--user", "0:nosuchgroup", busybox, "true"}, `unable to find group nosuchgroup`, false, nil},
	{"unknown group-add", []string{"--group-add", "nosuchgroup", busybox, "true"}, `--group-add: unable to find group nosuchgroup`, false, nil},
	{"uid out of range", []string{"-u", "99999999999", busybox, "true"}, `uids and gids must be in range`, false, nil},
	{"refused keep-id directory", []string{"--userns", "keep-id", busybox, "true"}, `skiff-nested-\d+ is not a directory of mode 0711`, false, refuseNestedBundleRoot},
	{"netavark fails", []string{"--network", "h5net", "-p", "20501:80", busybox, "true"}, `netavark setup`, true, pathWithoutIptables},
	{"no space for the layer", []string{busybox, "true"}, `creating the container's layer: .*no space left on device`, false, fullStore},
}

func TestBadCreateChangesNothing(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	verbs := [][]string{{"create"}, {"run", "--rm"}, {"run"}, {"run", "-d"}}
	for _, c := range badCreate {
		t.Run(c.name, func(t *testing.T) {
			e := e.at(t)
			var global []string
			if c.setup != nil {
				global = c.setup(e)
			}
			before := e.fullState(global...)
			work, err := os.MkdirTemp(filepath.Join(e.root, "work"), "cid-")
			if err != nil {
				t.Fatal(err)
			}
			os.Chown(work, e.uid(), e.gid())
			for i, verb := range verbs {
				if c.runOnly && verb[0] == "create" {
					continue
				}
				cid := filepath.Join(work, strconv.Itoa(i))
				args := append(append(append(append([]string{}, global...), verb...), "-v", "made-by-it:/data", "--cidfile", cid), c.args...)
				checkFailure(t, e.run(args...), 125, c.err)
				if got := e.fullState(global...); got != before {
					t.Fatalf("%v changed the state:\nbefore %s\nafter  %s", verb, before, got)
				}
				waitNoSkiffLeft(t, e) // nothing of it keeps running
				if _, err := os.Stat(cid); err == nil {
					t.Fatalf("%v left its --cidfile", verb)
				}
				if port := publishedPort(c.args); port != "" {
					l, err := net.Listen("tcp", "0.0.0.0:"+port)
					if err != nil {
						t.Fatalf("%v left port %s taken: %v", verb, port, err)
					}
					l.Close()
				}
			}
		})
	}
}
