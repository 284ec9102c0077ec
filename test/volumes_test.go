package test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

const volumeImage = plainRegistry + "/skiff/volume:latest"

func volumeNames(e *env) []string {
	e.t.Helper()
	return lines(e.ok("volume", "ls", "-q"))
}

// TestVolumeLifecycle: volume create/ls/inspect/rm/prune with labels,
// options and filters; data written by one container survives its removal
// and is seen by the next; a volume in use is kept unless forced.
func TestVolumeLifecycle(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	if got := e.ok("volume", "create", "--label", "team=a", "--label", "tier", "data"); strings.TrimSpace(got) != "data" {
		t.Fatalf("volume create printed %q", got)
	}
	e.ok("volume", "create", "--opt", "o=uid=1000,gid=1000", "owned")
	e.ok("volume", "create", "--ignore", "data")
	e.fails(125, "already exists", "volume", "create", "data")

	var vols []struct {
		Name, Driver, Mountpoint, Scope string
		Labels                          map[string]string
	}
	if err := json.Unmarshal([]byte(e.ok("volume", "inspect", "data")), &vols); err != nil || len(vols) != 1 {
		t.Fatalf("inspect: %v", err)
	}
	v := vols[0]
	if v.Name != "data" || v.Driver != "local" || v.Scope != "local" || v.Labels["team"] != "a" {
		t.Fatalf("inspect: %+v", v)
	}
	if !strings.HasPrefix(v.Mountpoint, e.home) || !strings.HasSuffix(v.Mountpoint, "/data/_data") {
		t.Fatalf("mountpoint %s is not under the user's data home", v.Mountpoint)
	}
	if got := e.ok("volume", "inspect", "--format", "{{.Name}} {{.Labels.team}}", "data"); strings.TrimSpace(got) != "data a" {
		t.Fatalf("inspect --format: %q", got)
	}
	if got := lines(e.ok("volume", "ls", "--filter", "label=team=a", "-q")); !slices.Equal(got, []string{"data"}) {
		t.Fatalf("ls --filter label: %v", got)
	}
	if got := lines(e.ok("volume", "ls", "--filter", "name=own", "--format", "{{.Name}}:{{.Driver}}")); !slices.Equal(got, []string{"owned:local"}) {
		t.Fatalf("ls --filter name --format: %v", got)
	}
	if out := e.ok("volume", "ls"); !strings.Contains(out, "VOLUME NAME") || !strings.Contains(out, "owned") {
		t.Fatalf("ls table:\n%s", out)
	}
	// o=uid,gid owns the data for that user inside (the host sees the
	// mapped subordinate id).
	if got := e.ok("run", "--rm", "-v", "owned:/o", busybox, "stat", "-c", "%u:%g", "/o"); strings.TrimSpace(got) != "1000:1000" {
		t.Fatalf("owned volume is %q inside", got)
	}

	// Data outlives the container that wrote it.
	e.ok("run", "--name", "writer", "-v", "data:/data", busybox, "sh", "-c", "echo kept > /data/file")
	e.ok("rm", "writer")
	if got := e.ok("run", "--rm", "-v", "data:/data", busybox, "cat", "/data/file"); got != "kept\n" {
		t.Fatalf("next container reads %q", got)
	}
	// In use: refused; dangling filter; prune keeps it.
	e.ok("create", "--name", "user", "-v", "data:/data", busybox, "true")
	e.fails(125, "in use.*user", "volume", "rm", "data")
	if got := lines(e.ok("volume", "ls", "-q", "--filter", "dangling=true")); !slices.Equal(got, []string{"owned"}) {
		t.Fatalf("dangling volumes: %v", got)
	}
	if got := lines(e.ok("volume", "prune", "-f")); !slices.Equal(got, []string{"owned"}) {
		t.Fatalf("prune removed %v", got)
	}
	if got := volumeNames(e); !slices.Equal(got, []string{"data"}) {
		t.Fatalf("after prune: %v", got)
	}
	// -f removes the containers that use it, then the volume and its data.
	e.ok("volume", "rm", "-f", "data")
	if got := volumeNames(e); len(got) != 0 {
		t.Fatalf("after rm -f: %v", got)
	}
	if e.run("inspect", "user").code == 0 {
		t.Fatal("volume rm -f left the container that used it")
	}
	if _, err := os.Stat(filepath.Dir(v.Mountpoint)); !os.IsNotExist(err) {
		t.Fatalf("volume data left behind: %v", err)
	}
	e.fails(125, "no such volume", "volume", "rm", "data")
	e.fails(125, "no such volume", "volume", "inspect", "nothere")
	// Label filter of prune.
	e.ok("volume", "create", "--label", "keep=no", "p1")
	e.ok("volume", "create", "p2")
	if got := lines(e.ok("volume", "prune", "-f", "--filter", "label=keep=no")); !slices.Equal(got, []string{"p1"}) {
		t.Fatalf("prune --filter removed %v", got)
	}
	// Completion knows volume names, for volume commands and -v.
	for _, args := range [][]string{{"volume", "rm", "p"}, {"volume", "inspect", "p"}, {"run", "-v", "p"}} {
		r := e.run(append([]string{"__complete"}, args...)...)
		if !strings.Contains(r.stdout, "p2") {
			t.Fatalf("completion of %v: %q", args, r.stdout)
		}
	}
}

// TestAnonymousVolumes: an image's VOLUME gets a volume filled with the
// image's files (owners, modes, symlinks kept); rm keeps it, rm -v and
// --rm remove it; -v /path makes one too.
func TestAnonymousVolumes(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", volumeImage)
	out := e.ok("run", "--name", "v1", volumeImage, "sh", "-c", "stat -c '%n %u:%g %a' /data /data/seed.txt /data/sub; readlink /data/link; cat /data/seed.txt")
	for _, want := range []string{"/data 100:101 750", "/data/seed.txt 100:101 640", "/data/sub 0:0 700", "seed.txt", "seeded by the image"} {
		if !strings.Contains(out, want) {
			t.Fatalf("volume copied from the image lacks %q:\n%s", want, out)
		}
	}
	anon := volumeNames(e)
	if len(anon) != 1 || len(anon[0]) != 64 {
		t.Fatalf("anonymous volumes: %v", anon)
	}
	var info []struct {
		Mounts []struct{ Type, Name, Source, Destination string }
	}
	if err := json.Unmarshal([]byte(e.ok("inspect", "v1")), &info); err != nil || len(info[0].Mounts) != 1 {
		t.Fatalf("inspect mounts: %v %+v", err, info)
	}
	if m := info[0].Mounts[0]; m.Type != "volume" || m.Name != anon[0] || m.Destination != "/data" {
		t.Fatalf("inspect mount: %+v", m)
	}
	// nocopy: an empty volume stays empty.
	if got := e.ok("run", "--rm", "-v", "empty:/data:nocopy", volumeImage, "ls", "-A", "/data"); got != "" {
		t.Fatalf("nocopy volume holds %q", got)
	}
	e.ok("rm", "v1")
	if got := volumeNames(e); !slices.Contains(got, anon[0]) {
		t.Fatalf("rm without -v removed the anonymous volume: %v", got)
	}
	e.ok("volume", "rm", anon[0])
	e.ok("run", "--name", "v2", "-v", "/scratch", busybox, "true")
	if len(volumeNames(e)) != 2 { // empty, and v2's
		t.Fatalf("-v /scratch made no volume: %v", volumeNames(e))
	}
	e.ok("rm", "-v", "v2")
	e.ok("run", "--rm", volumeImage, "true")
	if got := volumeNames(e); !slices.Equal(got, []string{"empty"}) {
		t.Fatalf("rm -v / --rm left volumes: %v", got)
	}
}

// TestBindMounts: a file written to a bind mount appears on the host owned
// by the user; ro is enforced; U hands the source to the container user;
// --mount and --volumes-from carry the same mounts.
func TestBindMounts(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	dir := filepath.Join(e.root, "work", "shared")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	e.chownAll()
	e.ok("run", "--rm", "-v", dir+":/host", busybox, "sh", "-c", "echo from-container > /host/out")
	st, err := os.Stat(filepath.Join(dir, "out"))
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); int(sys.Uid) != e.uid() || int(sys.Gid) != e.gid() {
		t.Fatalf("file written through the bind mount is owned by %d:%d, want the user %d:%d", sys.Uid, sys.Gid, e.uid(), e.gid())
	}
	r := e.run("run", "--rm", "-v", dir+":/host:ro,z", busybox, "sh", "-c", "echo x > /host/ro")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
		t.Fatalf("write to a ro bind mount:\n%s", r)
	}
	if got := e.ok("run", "--rm", "--mount", "type=bind,source="+dir+",target=/m,readonly,relabel=private", "-v", dir+":/z:Z", busybox, "cat", "/m/out", "/z/out"); got != "from-container\nfrom-container\n" {
		t.Fatalf("--mount type=bind reads %q", got)
	}
	// A relative source is taken from the working directory.
	if got := e.sh(`cd shared && "$SKIFF" run --rm -v ./:/rel ` + busybox + ` cat /rel/out`); got.code != 0 || got.stdout != "from-container\n" {
		t.Fatalf("relative bind source:\n%s", got)
	}
	// U: the container's user owns the source (the host sees its mapped id).
	udir := filepath.Join(e.root, "work", "forU")
	os.MkdirAll(udir, 0o755)
	e.chownAll()
	e.ok("run", "--rm", "-u", "1000:1000", "-v", udir+":/u:U", busybox, "touch", "/u/mine")
	st, err = os.Stat(udir)
	if err != nil {
		t.Fatal(err)
	}
	if sys := st.Sys().(*syscall.Stat_t); sys.Uid == uint32(e.uid()) || sys.Uid < uint32(e.subStart(t)) {
		t.Fatalf("U left the source owned by host uid %d", sys.Uid)
	}
	// --volumes-from: the same mounts, read-only on request.
	e.ok("create", "--name", "src", "-v", dir+":/host", "-v", "named:/named", busybox, "true")
	if got := e.ok("run", "--rm", "--volumes-from", "src", busybox, "cat", "/host/out"); got != "from-container\n" {
		t.Fatalf("--volumes-from reads %q", got)
	}
	r = e.run("run", "--rm", "--volumes-from", "src:ro", busybox, "touch", "/named/x")
	if r.code == 0 {
		t.Fatalf("--volumes-from src:ro is writable\n%s", r)
	}
}

// TestTmpfsAndReadOnly: --tmpfs and --mount type=tmpfs mount a tmpfs with
// the options given; --read-only makes / read-only with tmpfs on /tmp,
// /var/tmp and /run unless --read-only-tmpfs=false.
func TestTmpfsAndReadOnly(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	out := e.ok("run", "--rm", "--tmpfs", "/scratch:size=2m,mode=1777", "--mount", "type=tmpfs,target=/t2,tmpfs-size=1m", busybox, "sh", "-c", "grep -E ' /(scratch|t2) ' /proc/mounts")
	if !strings.Contains(out, "/scratch tmpfs") || !strings.Contains(out, "size=2048k") || !strings.Contains(out, "/t2 tmpfs") || !strings.Contains(out, "size=1024k") {
		t.Fatalf("tmpfs mounts:\n%s", out)
	}
	r := e.run("run", "--rm", "--read-only", busybox, "sh", "-c", "touch /tmp/ok /var/tmp/ok /run/ok && touch /etc/no")
	if r.code == 0 || !strings.Contains(r.stderr, "Read-only") {
		t.Fatalf("--read-only:\n%s", r)
	}
	if !strings.Contains(r.stderr, "/etc/no") || strings.Contains(r.stderr, "/tmp/ok") {
		t.Fatalf("--read-only should leave /tmp, /var/tmp and /run writable:\n%s", r)
	}
	if r := e.run("run", "--rm", "--read-only", "--read-only-tmpfs=false", busybox, "touch", "/tmp/no"); r.code == 0 {
		t.Fatalf("--read-only-tmpfs=false left /tmp writable\n%s", r)
	}
	var info []struct{ HostConfig struct{ ReadonlyRootfs bool } }
	e.ok("create", "--name", "ro", "--read-only", busybox, "true")
	if err := json.Unmarshal([]byte(e.ok("inspect", "ro")), &info); err != nil || !info[0].HostConfig.ReadonlyRootfs {
		t.Fatalf("inspect ReadonlyRootfs: %v %+v", err, info)
	}
}

// TestBadMountInput: bad -v, --mount, --tmpfs and --volumes-from values
// and a missing host path fail with one line and exit 125, leaving no
// container and no volume.
func TestBadMountInput(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	missing := filepath.Join(e.root, "no", "such", "dir")
	cases := []struct {
		args []string
		re   string
	}{
		{[]string{"-v", missing + ":/x"}, "does not exist"},
		{[]string{"-v", "data:relative"}, "not an absolute path"},
		{[]string{"-v", "data:/x:bogus"}, "unknown option"},
		{[]string{"-v", "a:b:c:d"}, "want \\[SOURCE:\\]DESTINATION"},
		{[]string{"-v", "/etc:/"}, "cannot mount over /"},
		{[]string{"-v", "bad name!:/x"}, "neither an absolute host path nor a volume name"},
		{[]string{"-v", "/etc:/x:nocopy"}, "applies to volumes"},
		{[]string{"--mount", "type=nfs,target=/x"}, "want bind, volume or tmpfs"},
		{[]string{"--mount", "type=bind,target=/x"}, "needs a source"},
		{[]string{"--mount", "type=volume,src=v,target=/x,color=red"}, "unknown key"},
		{[]string{"--mount", "type=tmpfs,target=/x,tmpfs-size=lots"}, "tmpfs-size"},
		{[]string{"--tmpfs", "relative"}, "not an absolute path"},
		{[]string{"--volumes-from", "nosuchcontainer"}, "no such container"},
		{[]string{"-v", "v1:/x", "-v", "v2:/x"}, "mounted twice"},
	}
	for _, c := range cases {
		args := append(append([]string{"run", "--rm"}, c.args...), busybox, "true")
		e.fails(125, c.re, args...)
	}
	e.fails(125, "only uid= and gid=", "volume", "create", "--opt", "o=size=1g", "x")
	e.fails(125, "needs root", "volume", "create", "--opt", "type=tmpfs", "x")
	e.fails(125, "volume name", "volume", "create", "bad/name")
	if got := e.ok("ps", "-a", "-q"); got != "" {
		t.Fatalf("bad input left containers: %q", got)
	}
	if got := volumeNames(e); len(got) != 0 {
		t.Fatalf("bad input left volumes: %v", got)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Fatal("a missing bind source was created")
	}
}
