package test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Corpus cases podman 4.3.1 cannot build (test/testdata/build/README.md),
// checked against what docker's reference says they make.

// TestBuildCasesPodmanCannot: heredocs in RUN and COPY, COPY --link, ADD
// --checksum and COPY --from a stage defined later build and give docker's
// files.
func TestBuildCasesPodmanCannot(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	for _, tc := range []struct {
		name  string
		check string // a shell command run in the image
		want  string
	}{
		{"run-heredoc", "cat /heredoc /script /cat-heredoc", "first\nsecond\nscript with a shebang\nwritten by cat\n"},
		{"copy-heredoc", "cat /greeting /literal", "hello world\nno ${NAME} expansion\n"},
		{"copy-link", "cat /linked/file.txt; test -s /linked/hostname && echo copied", "linked copy\ncopied\n"},
		{"add-checksum", "for f in /config/*; do sha256sum $f; done | cut -c1-64 | wc -l", "1\n"},
		{"copy-from-later-stage", "cat /later", "later\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := e.at(t)
			flags := e.caseFlagsAll(tc.name)
			e.copyCase(tc.name)
			tag := "localhost/case-" + tc.name
			e.ok(append(append([]string{"build", "-q", "-t", tag}, flags...), tc.name)...)
			if got := e.ok("run", "--rm", tag, "sh", "-c", tc.check); got != tc.want {
				t.Fatalf("%s: %q gives %q, want %q", tc.name, tc.check, got, tc.want)
			}
		})
	}
}

// TestBuildStagesRunInParallel: two independent stages of a second each
// build in less wall time than one after the other (--jobs 1), and a cached
// rebuild of them takes a fraction of either.
func TestBuildStagesRunInParallel(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.copyCase("parallel-stages")
	timed := func(args ...string) time.Duration {
		start := time.Now()
		e.ok(append([]string{"build", "-q"}, args...)...)
		return time.Since(start)
	}
	serial := timed("--no-cache", "--jobs", "1", "parallel-stages")
	parallel := timed("--no-cache", "parallel-stages")
	if parallel > serial-400*time.Millisecond {
		t.Fatalf("two 1 s stages took %v at once and %v one after the other", parallel, serial)
	}
	if cached := timed("parallel-stages"); cached > parallel/2 {
		t.Fatalf("a cached rebuild took %v (the build %v)", cached, parallel)
	}
	t.Logf("serial %v, parallel %v", serial, parallel)
}

// TestBuildFromStdin: the Containerfile from standard input (-f -) with a
// context directory, and a whole context as a tar archive on standard input
// (CONTEXT -), as docker and podman take them.
func TestBuildFromStdin(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/file.txt", "from the context\n")
	out := e.runIn("FROM "+busybox+"\nCOPY file.txt /\nCMD [\"cat\", \"/file.txt\"]\n", "build", "-q", "-t", "stdin-file", "-f", "-", "ctx")
	if out.code != 0 {
		t.Fatalf("build -f -:\n%s", out)
	}
	if got := e.ok("run", "--rm", "stdin-file"); got != "from the context\n" {
		t.Fatalf("the image built from -f - runs to %q", got)
	}
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nCOPY file.txt /copied\nCMD [\"cat\", \"/copied\"]\n")
	if r := e.sh(`cd ctx && tar -cf - . | "$SKIFF" build -q -t stdin-tar -`); r.code != 0 {
		t.Fatalf("build - with a tar on stdin:\n%s", r)
	}
	if got := e.ok("run", "--rm", "stdin-tar"); got != "from the context\n" {
		t.Fatalf("the image built from a tar on stdin runs to %q", got)
	}
}

// TestBuildArgsAndTheCache: a build argument a RUN uses is in its cache
// key (changing it misses), one no instruction declares is not (changing it
// hits), --no-cache runs every step again (and records them), and builder
// prune empties the cache.
func TestBuildArgsAndTheCache(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nARG USED=one\nRUN echo $USED > /used\nCMD [\"cat\", \"/used\"]\n")
	build := func(args ...string) (string, int) {
		out := e.ok(append([]string{"build", "-t", "args"}, append(args, "ctx")...)...)
		return lastLine(out), strings.Count(out, "--> Using cache")
	}
	first, _ := build("--build-arg", "USED=one", "--build-arg", "UNUSED=a")
	if id, hits := build("--build-arg", "USED=one", "--build-arg", "UNUSED=b"); id != first || hits != 3 {
		t.Fatalf("changing an undeclared build argument missed (%d hits)", hits)
	}
	if id, hits := build("--build-arg", "USED=two"); id == first || hits != 1 {
		t.Fatalf("changing a build argument a RUN uses hit (%d hits)", hits)
	}
	if got := e.ok("run", "--rm", "args"); got != "two\n" {
		t.Fatalf("the image runs to %q", got)
	}
	if _, hits := build("--no-cache", "--build-arg", "USED=two"); hits != 0 {
		t.Fatalf("--no-cache used the cache %d times", hits)
	}
	if _, hits := build("--build-arg", "USED=two"); hits != 3 {
		t.Fatalf("a rebuild after --no-cache hit %d times, want 3", hits)
	}
	e.ok("builder", "prune", "-f")
	if _, hits := build("--build-arg", "USED=two"); hits != 0 {
		t.Fatalf("a rebuild after builder prune hit %d times", hits)
	}
}

// TestBuildRunMounts: a secret is a file of the mode and owner asked for
// and, with env=, a variable, and is in no layer of the image (the
// Containerfile does not spell it: its RUN lines are in the history); a writable
// bind of the context (rw) lets the RUN write, but what it wrote is
// discarded and the user's files are untouched; a bind is read-only by
// default.
func TestBuildRunMounts(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+`
RUN --mount=type=secret,id=tok,env=TOKEN test "$TOKEN" = "$(printf 's3cr3t-%s' value)" && test ! -e /run/secrets/tok && echo env > /secret-env
RUN --mount=type=secret,id=tok,mode=0440,uid=5 stat -c "%a %u" /run/secrets/tok > /secret-stat
RUN --mount=type=bind,source=data,target=/data,rw echo changed > /data/f && cat /data/f > /bind-saw
RUN --mount=type=bind,source=data,target=/data cat /data/f > /ro-saw && (touch /data/g 2>/dev/null || echo read-only > /ro-denied)
`)
	e.writeFile("work/ctx/data/f", "original\n")
	e.writeFile("work/tok", "s3cr3t-value")
	e.ok("build", "-q", "--secret", "id=tok,src=tok", "-t", "mounts", "ctx")
	if got := e.ok("run", "--rm", "mounts", "cat", "/secret-env", "/secret-stat", "/bind-saw", "/ro-saw", "/ro-denied"); got != "env\n440 5\nchanged\noriginal\nread-only\n" {
		t.Fatalf("the RUN steps saw %q", got)
	}
	if data, _ := os.ReadFile(filepath.Join(e.root, "work/ctx/data/f")); string(data) != "original\n" {
		t.Fatalf("a rw bind changed the build context: %q", data)
	}
	if _, err := os.Stat(filepath.Join(e.root, "work/ctx/data/g")); err == nil {
		t.Fatal("a read-only bind let the RUN write into the build context")
	}
	saved := filepath.Join(e.root, "work/mounts.tar")
	e.ok("save", "-o", saved, "mounts")
	if data, err := os.ReadFile(saved); err != nil || bytes.Contains(data, []byte("s3cr3t-value")) {
		t.Fatalf("the secret is in a layer of the image (or save failed: %v)", err)
	}
}

// TestBuildSquash: --squash makes the layers above the base one layer
// (podman's --squash keeps the base's), with every file and the
// configuration of the unsquashed build, and names it; on scratch the
// image has one layer.
func TestBuildSquash(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nCOPY a /a\nRUN echo ran > /ran && rm /bin/whoami\nENV SQUASHED=yes\nCMD [\"sh\", \"-c\", \"cat /a /ran; echo $SQUASHED; test -e /bin/whoami || echo removed\"]\n")
	e.writeFile("work/ctx/a", "copied\n")
	e.writeFile("work/scratch/Containerfile", "FROM scratch\nCOPY --from="+busybox+" /bin/busybox /bin/sh\nCOPY a /a\n")
	e.writeFile("work/scratch/a", "on scratch\n")
	id := lastLine(e.ok("build", "--squash", "-t", "squashed", "ctx"))
	if got := e.ok("run", "--rm", "squashed"); got != "copied\nran\nyes\nremoved\n" {
		t.Fatalf("the squashed image runs to %q", got)
	}
	if got := strings.TrimSpace(e.ok("image", "inspect", "--format", "{{.Id}} {{len .RootFS.Layers}}", "squashed")); got != "sha256:"+id+" 2" {
		t.Fatalf("squashed: %q, want the ID build printed and 2 layers (the base's and one)", got)
	}
	e.ok("build", "-q", "--squash", "-t", "squashed-scratch", "scratch")
	if got := strings.TrimSpace(e.ok("image", "inspect", "--format", "{{len .RootFS.Layers}}", "squashed-scratch")); got != "1" {
		t.Fatalf("a squashed image on scratch has %s layers", got)
	}
	if got := e.ok("run", "--rm", "squashed-scratch", "/bin/sh", "-c", "read l < /a; echo $l"); got != "on scratch\n" {
		t.Fatalf("the squashed scratch image runs to %q", got)
	}
}

// TestBuildAnnotations: --annotation puts annotations in the OCI manifest of
// the image, as save writes it; the image without them, from the same
// cached steps, keeps its own manifest.
func TestBuildAnnotations(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN echo x > /x\n")
	e.ok("build", "-q", "-t", "plain", "ctx")
	e.ok("build", "-q", "--annotation", "org.example.team=builders", "--annotation", "note=a b", "-t", "annotated", "ctx")
	manifestAnnotations := func(image string) map[string]string {
		out := filepath.Join(e.root, "work", image+".tar")
		e.ok("save", "--format", "oci-archive", "-o", out, image)
		f, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		blobs := map[string][]byte{}
		tr := tar.NewReader(f)
		for h, err := tr.Next(); err == nil; h, err = tr.Next() {
			if h.Size < 1<<20 {
				blobs[h.Name], _ = io.ReadAll(tr)
			}
		}
		var index struct{ Manifests []struct{ Digest string } }
		if err := json.Unmarshal(blobs["index.json"], &index); err != nil || len(index.Manifests) != 1 {
			t.Fatalf("%s's index.json: %s (%v)", image, blobs["index.json"], err)
		}
		var man struct{ Annotations map[string]string }
		if err := json.Unmarshal(blobs["blobs/sha256/"+strings.TrimPrefix(index.Manifests[0].Digest, "sha256:")], &man); err != nil {
			t.Fatal(err)
		}
		return man.Annotations
	}
	if got := manifestAnnotations("annotated"); got["org.example.team"] != "builders" || got["note"] != "a b" {
		t.Fatalf("the annotated image's manifest has %v", got)
	}
	if got := manifestAnnotations("plain"); len(got) != 0 {
		t.Fatalf("the image built without --annotation has %v", got)
	}
}

// TestImportAndCommitChangesUseTheContainerfileParser: import --change and
// commit --change take what a Containerfile takes (buildkit's parser):
// exec and shell forms, $VAR from earlier ENVs, a relative WORKDIR; a
// malformed one is refused on one line with 125.
func TestImportAndCommitChangesUseTheContainerfileParser(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.ok("create", "--name", "src", busybox, "true")
	rootfs := filepath.Join(e.root, "work", "rootfs.tar")
	e.ok("export", "-o", rootfs, "src")
	e.ok("import", "-c", "ENV BASE=/srv", "-c", "WORKDIR $BASE", "-c", "WORKDIR app", "-c", `CMD echo "$BASE" from $(pwd)`, rootfs, "imported")
	if got := e.ok("run", "--rm", "imported"); got != "/srv from /srv/app\n" {
		t.Fatalf("the imported image runs to %q", got)
	}
	e.ok("commit", "-c", `ENTRYPOINT ["echo", "entry"]`, "-c", "LABEL a=b c=d", "src", "committed")
	if got := e.ok("run", "--rm", "committed"); got != "entry\n" {
		t.Fatalf("the committed image runs to %q", got)
	}
	e.fails(125, `invalid --change "FROB x"`, "import", "-c", "FROB x", rootfs)
	e.fails(125, `invalid --change "ENV"`, "import", "-c", "ENV", rootfs)
	e.fails(125, `invalid --change "RUN true"`, "commit", "-c", "RUN true", "src")
}

// TestBuildNetwork: RUN --network=none and build --network none run in a
// network namespace of their own with only a loopback device; by default a
// RUN has the network of skiff's namespace (the host's, rootless).
func TestBuildNetwork(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN --network=none grep -c : /proc/net/dev > /none\nRUN grep -c : /proc/net/dev > /default\n")
	e.ok("build", "-q", "-t", "net", "ctx")
	host, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("1\n%d\n", strings.Count(string(host), ":"))
	if got := e.ok("run", "--rm", "net", "cat", "/none", "/default"); got != want {
		t.Fatalf("devices seen by RUN --network=none and by default: %q, want %q", got, want)
	}
	e.ok("build", "-q", "--network", "none", "-t", "net-none", "ctx")
	if got := e.ok("run", "--rm", "net-none", "cat", "/default"); got != "1\n" {
		t.Fatalf("build --network none: a RUN saw %q devices", got)
	}
}

// TestBuildFormat: --format gives the image's manifest type (docker's v2s2
// or OCI's, as a registry serves it after push), also when every step comes
// from the cache of a build in the other format.
func TestBuildFormat(t *testing.T) {
	e := newEnv(t)
	e.ok("pull", "-q", busybox)
	e.writeFile("work/ctx/Containerfile", "FROM "+busybox+"\nRUN echo x > /x\n")
	repo := plainRegistry + "/e2e/build-format-" + e.user.Username
	for _, tc := range []struct{ format, want string }{
		{"oci", "application/vnd.oci.image.manifest.v1+json"},
		{"docker", "application/vnd.docker.distribution.manifest.v2+json"},
		{"oci", "application/vnd.oci.image.manifest.v1+json"},
	} {
		e.ok("build", "-q", "--format", tc.format, "-t", repo+":"+tc.format, "ctx")
		e.ok("push", "-q", repo+":"+tc.format)
		req, _ := http.NewRequest("GET", "http://"+repo[:strings.Index(repo, "/")]+"/v2/"+repo[strings.Index(repo, "/")+1:]+"/manifests/"+tc.format, nil)
		req.Header.Set("Accept", "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if got := resp.Header.Get("Content-Type"); got != tc.want {
			t.Fatalf("build --format %s pushed a manifest of type %s", tc.format, got)
		}
	}
}
